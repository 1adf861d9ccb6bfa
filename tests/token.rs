//! The module over software cards (EIMZA_VIRTUAL_CARD), driven through its C ABI by
//! the `cryptoki` crate and by raw calls where exact C semantics matter.

mod p11;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::rsa::PkcsMgfType;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use der::{Decode, Encode};
use p11::*;
use std::path::Path;
use std::ptr::null_mut;
use std::sync::OnceLock;
use x509_cert::Certificate;

const PIN: &str = "123456";
const PUK: &str = "12345678";

/// One card with an RSA, a P-256 and a P-384 key, made once per test process
/// (key generation is the slow part); tests that change PINs make their own.
fn shared_card() -> &'static Path {
    static CARD: OnceLock<std::path::PathBuf> = OnceLock::new();
    CARD.get_or_init(|| {
        make_card(
            "three-keys",
            &[
                "--key",
                "rsa2048",
                "--key",
                "p256",
                "--key",
                "p384",
                "--serial",
                "0A0B0C0D01020304",
            ],
        )
    })
}

/// 2 × the field size of an EC key, from its curve (CKA_EC_PARAMS, a named-curve OID).
fn ecdsa_signature_len(session: &Session, key: ObjectHandle) -> CK_ULONG {
    const P256: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
    match session
        .get_attributes(key, &[AttributeType::EcParams])
        .unwrap()
        .as_slice()
    {
        [Attribute::EcParams(p)] if p.as_slice() == P256 => 64,
        [Attribute::EcParams(p)] if p.as_slice() == P384 => 96,
        other => panic!("not a P-256 or P-384 key: {other:?}"),
    }
}

fn open(cards: &[&Path]) -> Pkcs11 {
    // ':'-separated, ';' on Windows (like PATH).
    let list = std::env::join_paths(cards).expect("card paths");
    std::env::set_var("EIMZA_VIRTUAL_CARD", list);
    // A test that failed half-way may have left the library initialised.
    let _ = finalize();
    let pkcs11 = Pkcs11::new(module_path()).expect("load module");
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    pkcs11
}

/// The slot of the first software card (PC/SC readers, if any, come first).
fn card_slot(pkcs11: &Pkcs11) -> Slot {
    let slots = pkcs11.get_slots_with_token().expect("slots");
    *slots
        .iter()
        .find(|s| !pkcs11.get_slot_info(**s).unwrap().hardware_slot())
        .expect("a software card slot")
}

fn pin(value: &str) -> AuthPin {
    AuthPin::new(value.into())
}

fn rv<T: std::fmt::Debug>(result: cryptoki::error::Result<T>) -> RvError {
    match result {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

fn find(session: &Session, template: &[Attribute]) -> Vec<ObjectHandle> {
    session.find_objects(template).expect("find")
}

fn bytes_attr(session: &Session, object: ObjectHandle, t: AttributeType) -> Vec<u8> {
    match session
        .get_attributes(object, &[t])
        .expect("attribute")
        .pop()
    {
        Some(Attribute::Value(v))
        | Some(Attribute::Id(v))
        | Some(Attribute::Subject(v))
        | Some(Attribute::Issuer(v))
        | Some(Attribute::SerialNumber(v))
        | Some(Attribute::Modulus(v))
        | Some(Attribute::PublicExponent(v))
        | Some(Attribute::EcParams(v))
        | Some(Attribute::EcPoint(v))
        | Some(Attribute::Label(v)) => v,
        other => panic!("{t:?}: {other:?}"),
    }
}

fn ulong_attr(session: CK_SESSION_HANDLE, object: ObjectHandle, t: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
    let (code, _, value) = raw_attribute(session, object.handle(), t, Some(8));
    assert_eq!(code, CKR_OK, "attribute {t:#x}");
    CK_ULONG::from_ne_bytes(value.try_into().expect("CK_ULONG"))
}

fn bool_attr(session: CK_SESSION_HANDLE, object: ObjectHandle, t: CK_ATTRIBUTE_TYPE) -> bool {
    let (code, len, value) = raw_attribute(session, object.handle(), t, Some(1));
    assert_eq!((code, len), (CKR_OK, 1), "attribute {t:#x}");
    value[0] == CK_TRUE
}

#[test]
fn slots_and_token_info() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let slot_info = pkcs11.get_slot_info(slot).unwrap();
    assert!(slot_info.token_present());
    assert!(slot_info.removable_device());
    assert!(
        !slot_info.hardware_slot(),
        "software card is not a hardware slot"
    );
    let all = pkcs11.get_all_slots().unwrap();
    assert!(all.contains(&slot));

    let info = pkcs11.get_token_info(slot).unwrap();
    assert_eq!(info.label(), "AKIS_0A0B0C0D01020304");
    assert_eq!(info.serial_number(), "0A0B0C0D01020304");
    assert!(!info.manufacturer_id().is_empty());
    assert!(
        info.token_initialized()
            && info.login_required()
            && info.user_pin_initialized()
            && info.rng()
    );
    assert!(!info.write_protected());
    assert!(!info.user_pin_count_low() && !info.user_pin_locked());
    assert_eq!((info.min_pin_length(), info.max_pin_length()), (6, 6));
    assert_eq!(info.session_count(), Some(0));
    assert_eq!(info.total_public_memory(), None);

    // Raw: label space padding and session counters.
    let ro = pkcs11.open_ro_session(slot).unwrap();
    let rw = pkcs11.open_rw_session(slot).unwrap();
    let mut raw: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (functions().C_GetTokenInfo.unwrap())(CK_SLOT_ID::from(slot), &mut raw) },
        CKR_OK
    );
    assert_eq!(&raw.label[21..], &[b' '; 11]);
    assert_eq!((raw.ulSessionCount, raw.ulRwSessionCount), (2, 1));
    assert_eq!({ raw.ulMaxSessionCount }, CK_EFFECTIVELY_INFINITE);
    assert_eq!({ raw.ulFreePrivateMemory }, CK_UNAVAILABLE_INFORMATION);
    drop((ro, rw));

    // Mechanisms for RSA and EC keys: hardware signing, verification in the module.
    let mechanisms = pkcs11.get_mechanism_list(slot).unwrap();
    for m in [
        MechanismType::RSA_PKCS,
        MechanismType::SHA256_RSA_PKCS,
        MechanismType::RSA_PKCS_PSS,
        MechanismType::SHA512_RSA_PKCS_PSS,
        MechanismType::ECDSA,
        MechanismType::ECDSA_SHA384,
    ] {
        assert!(mechanisms.contains(&m), "{m}");
        let mi = pkcs11.get_mechanism_info(slot, m).unwrap();
        assert!(
            mi.hardware() && mi.sign() && mi.verify() && !mi.digest() && !mi.decrypt(),
            "{m}"
        );
    }
    let mut count: CK_ULONG = 0;
    let code = unsafe {
        (functions().C_GetMechanismList.unwrap())(CK_SLOT_ID::from(slot), null_mut(), &mut count)
    };
    // 12 RSA and 6 ECDSA signing mechanisms, 5 digests (tests/digest_verify.rs).
    assert_eq!((code, count), (CKR_OK, 23));
    let ec = pkcs11
        .get_mechanism_info(slot, MechanismType::ECDSA)
        .unwrap();
    assert_eq!((ec.min_key_size(), ec.max_key_size()), (256, 384));
    assert!(ec.ec_f_p() && ec.ec_from_oid() && ec.ec_uncompressed());
    let rsa = pkcs11
        .get_mechanism_info(slot, MechanismType::SHA256_RSA_PKCS)
        .unwrap();
    assert_eq!((rsa.min_key_size(), rsa.max_key_size()), (2048, 2048));
    assert_eq!(
        rv(pkcs11.get_mechanism_info(slot, MechanismType::AES_CBC)),
        RvError::MechanismInvalid
    );

    // No event pending right after start; a missing slot is invalid.
    assert_eq!(pkcs11.get_slot_event().unwrap(), None);
    let mut raw_slot = CK_SLOT_INFO {
        ..unsafe { std::mem::zeroed() }
    };
    assert_eq!(
        unsafe { (functions().C_GetSlotInfo.unwrap())(999, &mut raw_slot) },
        CKR_SLOT_ID_INVALID
    );
    pkcs11.finalize().unwrap();
}

#[test]
fn objects_attributes_and_search() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let session = pkcs11.open_ro_session(slot).unwrap();
    let h = session.handle();

    // Before login: certificates (3 user + 2 CA) and public keys (3), no private keys.
    let all = find(&session, &[]);
    assert_eq!(all.len(), 8);
    assert!(find(&session, &[Attribute::Class(ObjectClass::PRIVATE_KEY)]).is_empty());
    let certs = find(&session, &[Attribute::Class(ObjectClass::CERTIFICATE)]);
    assert_eq!(certs.len(), 5);
    // Unknown class or attribute: no hit, no error.
    let vendor_class = (CKO_VENDOR_DEFINED | 7).to_ne_bytes().to_vec();
    assert!(raw_find(h, &[(CKA_CLASS, vendor_class)]).is_empty());
    assert!(raw_find(h, &[(CKA_VENDOR_DEFINED | 0x4242, vec![1])]).is_empty());
    assert_eq!(raw_find(h, &[]).len(), 8);
    assert!(find(&session, &[Attribute::Class(ObjectClass::PROFILE)]).is_empty());

    session.login(UserType::User, Some(&pin(PIN))).unwrap();
    let private = find(&session, &[Attribute::Class(ObjectClass::PRIVATE_KEY)]);
    assert_eq!(private.len(), 3);
    assert_eq!(find(&session, &[]).len(), 11);

    let mut user_certs = 0;
    for cert in certs {
        let value = bytes_attr(&session, cert, AttributeType::Value);
        let parsed = Certificate::from_der(&value).expect("certificate DER");
        let tbs = parsed.tbs_certificate();
        assert_eq!(
            bytes_attr(&session, cert, AttributeType::Subject),
            tbs.subject().to_der().unwrap()
        );
        assert_eq!(
            bytes_attr(&session, cert, AttributeType::Issuer),
            tbs.issuer().to_der().unwrap()
        );
        assert_eq!(
            bytes_attr(&session, cert, AttributeType::SerialNumber),
            tbs.serial_number().to_der().unwrap()
        );
        assert_eq!(ulong_attr(h, cert, CKA_CERTIFICATE_TYPE), CKC_X_509);
        assert!(!bool_attr(h, cert, CKA_PRIVATE) && bool_attr(h, cert, CKA_TOKEN));
        assert!(!bool_attr(h, cert, CKA_TRUSTED) && !bool_attr(h, cert, CKA_MODIFIABLE));
        let category = ulong_attr(h, cert, CKA_CERTIFICATE_CATEGORY);
        let id = bytes_attr(&session, cert, AttributeType::Id);
        assert!(!id.is_empty());
        let label = bytes_attr(&session, cert, AttributeType::Label);
        assert!(label.is_ascii());
        let (code, len, _) = raw_attribute(h, cert.handle(), CKA_START_DATE, Some(8));
        assert_eq!((code, len), (CKR_OK, 8));
        if category == CK_CERTIFICATE_CATEGORY_AUTHORITY {
            continue;
        }
        assert_eq!(category, CK_CERTIFICATE_CATEGORY_TOKEN_USER);
        user_certs += 1;
        // The key triple: same ID and LABEL.
        let same_id = find(&session, &[Attribute::Id(id.clone())]);
        assert_eq!(same_id.len(), 3, "certificate, public key, private key");
        for o in &same_id {
            assert_eq!(bytes_attr(&session, *o, AttributeType::Label), label);
        }
        let public = find(
            &session,
            &[
                Attribute::Id(id.clone()),
                Attribute::Class(ObjectClass::PUBLIC_KEY),
            ],
        );
        let private = find(
            &session,
            &[
                Attribute::Id(id.clone()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ],
        );
        let (public, private) = (public[0], private[0]);
        assert!(bool_attr(h, public, CKA_VERIFY) && !bool_attr(h, public, CKA_PRIVATE));
        assert!(bool_attr(h, private, CKA_PRIVATE) && bool_attr(h, private, CKA_SIGN));
        assert!(bool_attr(h, private, CKA_SENSITIVE) && !bool_attr(h, private, CKA_EXTRACTABLE));
        assert!(
            bool_attr(h, private, CKA_ALWAYS_SENSITIVE)
                && bool_attr(h, private, CKA_NEVER_EXTRACTABLE)
        );
        assert!(!bool_attr(h, private, CKA_ALWAYS_AUTHENTICATE));
        assert!(!bool_attr(h, private, CKA_DECRYPT) && !bool_attr(h, private, CKA_UNWRAP));
        assert!(!bool_attr(h, private, CKA_SIGN_RECOVER));
        let spki = tbs.subject_public_key_info();
        match ulong_attr(h, private, CKA_KEY_TYPE) {
            CKK_RSA => {
                use rsa::pkcs8::DecodePublicKey;
                use rsa::traits::PublicKeyParts;
                let key = rsa::PublicKey::from_public_key_der(&spki.to_der().unwrap()).unwrap();
                let modulus = key.n().to_be_bytes_trimmed_vartime();
                for o in [public, private] {
                    assert_eq!(
                        bytes_attr(&session, o, AttributeType::Modulus),
                        modulus.to_vec()
                    );
                    assert_eq!(
                        bytes_attr(&session, o, AttributeType::PublicExponent),
                        key.e().to_be_bytes_trimmed_vartime().to_vec()
                    );
                }
                assert_eq!(ulong_attr(h, public, CKA_MODULUS_BITS), 2048);
                let (code, len, _) =
                    raw_attribute(h, private.handle(), CKA_PRIVATE_EXPONENT, Some(512));
                assert_eq!(
                    (code, len),
                    (CKR_ATTRIBUTE_SENSITIVE, CK_UNAVAILABLE_INFORMATION)
                );
            }
            CKK_EC => {
                let point = spki.subject_public_key.raw_bytes();
                let ec_point = bytes_attr(&session, public, AttributeType::EcPoint);
                assert_eq!(ec_point[0], 0x04, "DER OCTET STRING");
                assert_eq!(&ec_point[ec_point.len() - point.len()..], point);
                let params = bytes_attr(&session, public, AttributeType::EcParams);
                assert_eq!(params[0], 0x06, "named curve OID");
                assert_eq!(
                    bytes_attr(&session, private, AttributeType::EcParams),
                    params
                );
                let (code, _, _) = raw_attribute(h, private.handle(), CKA_VALUE, Some(64));
                assert_eq!(code, CKR_ATTRIBUTE_SENSITIVE);
            }
            other => panic!("key type {other}"),
        }
    }
    assert_eq!(user_certs, 3);
    pkcs11.finalize().unwrap();
}

#[test]
fn get_attribute_value_semantics() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let session = pkcs11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin(PIN))).unwrap();
    let h = session.handle();
    let key = find(
        &session,
        &[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::RSA),
        ],
    )[0];
    let get = functions().C_GetAttributeValue.unwrap();

    // NULL pValue → length; exact buffer → value; short buffer → BUFFER_TOO_SMALL.
    let (code, len, _) = raw_attribute(h, key.handle(), CKA_MODULUS, None);
    assert_eq!((code, len), (CKR_OK, 256));
    let (code, len, value) = raw_attribute(h, key.handle(), CKA_MODULUS, Some(256));
    assert_eq!((code, len, value.len()), (CKR_OK, 256, 256));
    let (code, len, _) = raw_attribute(h, key.handle(), CKA_MODULUS, Some(255));
    assert_eq!(
        (code, len),
        (CKR_BUFFER_TOO_SMALL, CK_UNAVAILABLE_INFORMATION)
    );
    let (code, len, _) = raw_attribute(h, key.handle(), CKA_VENDOR_DEFINED + 1, Some(8));
    assert_eq!(
        (code, len),
        (CKR_ATTRIBUTE_TYPE_INVALID, CK_UNAVAILABLE_INFORMATION)
    );

    // Every attribute is processed; SENSITIVE > TYPE_INVALID > BUFFER_TOO_SMALL.
    let mut small = [0u8; 1];
    let mut class = [0u8; std::mem::size_of::<CK_ULONG>()];
    let mut template = [
        CK_ATTRIBUTE {
            type_: CKA_MODULUS,
            pValue: small.as_mut_ptr() as *mut _,
            ulValueLen: 1,
        },
        CK_ATTRIBUTE {
            type_: CKA_VENDOR_DEFINED + 1,
            pValue: null_mut(),
            ulValueLen: 0,
        },
        CK_ATTRIBUTE {
            type_: CKA_PRIME_1,
            pValue: null_mut(),
            ulValueLen: 0,
        },
        CK_ATTRIBUTE {
            type_: CKA_CLASS,
            pValue: class.as_mut_ptr() as *mut _,
            ulValueLen: class.len() as CK_ULONG,
        },
    ];
    let code = unsafe { get(h, key.handle(), template.as_mut_ptr(), 4) };
    assert_eq!(code, CKR_ATTRIBUTE_SENSITIVE);
    assert_eq!({ template[0].ulValueLen }, CK_UNAVAILABLE_INFORMATION);
    assert_eq!({ template[1].ulValueLen }, CK_UNAVAILABLE_INFORMATION);
    assert_eq!({ template[2].ulValueLen }, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(template[3].ulValueLen as usize, class.len());
    assert_eq!(CK_ULONG::from_ne_bytes(class), CKO_PRIVATE_KEY);
    template[0].ulValueLen = 1;
    let code = unsafe { get(h, key.handle(), template.as_mut_ptr(), 2) };
    assert_eq!(code, CKR_ATTRIBUTE_TYPE_INVALID);
    template[0].ulValueLen = 1;
    let code = unsafe { get(h, key.handle(), template.as_mut_ptr(), 1) };
    assert_eq!(code, CKR_BUFFER_TOO_SMALL);

    // Bad arguments and handles.
    assert_eq!(
        unsafe { get(h, key.handle(), null_mut(), 1) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        unsafe { get(h, 0x7FFF_0000, template.as_mut_ptr(), 1) },
        CKR_OBJECT_HANDLE_INVALID
    );
    assert_eq!(
        unsafe { get(0x7FFF_0000, key.handle(), template.as_mut_ptr(), 1) },
        CKR_SESSION_HANDLE_INVALID
    );

    // Objects are read-only.
    assert_eq!(rv(session.destroy_object(key)), RvError::ActionProhibited);
    assert_eq!(
        rv(session.update_attributes(key, &[Attribute::Label(b"x".to_vec())])),
        RvError::ActionProhibited
    );

    // Search: one active search per session; the handles come out in parts.
    let find_init = functions().C_FindObjectsInit.unwrap();
    let find_next = functions().C_FindObjects.unwrap();
    let find_final = functions().C_FindObjectsFinal.unwrap();
    unsafe {
        assert_eq!(find_init(h, null_mut(), 0), CKR_OK);
        assert_eq!(find_init(h, null_mut(), 0), CKR_OPERATION_ACTIVE);
        let mut out = [0 as CK_OBJECT_HANDLE; 4];
        let mut count = 0;
        assert_eq!(find_next(h, out.as_mut_ptr(), 4, &mut count), CKR_OK);
        assert_eq!(count, 4);
        let mut total = count;
        loop {
            assert_eq!(find_next(h, out.as_mut_ptr(), 4, &mut count), CKR_OK);
            if count == 0 {
                break;
            }
            total += count;
        }
        assert_eq!(total, 11);
        assert_eq!(
            find_next(h, out.as_mut_ptr(), 4, null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(find_final(h), CKR_OK);
        assert_eq!(find_final(h), CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(
            find_next(h, out.as_mut_ptr(), 4, &mut count),
            CKR_OPERATION_NOT_INITIALIZED
        );
    }
    // After logout the private keys disappear.
    session.logout().unwrap();
    assert_eq!(find(&session, &[]).len(), 8);
    let (code, _, _) = raw_attribute(h, key.handle(), CKA_CLASS, Some(8));
    assert_eq!(code, CKR_OBJECT_HANDLE_INVALID);
    pkcs11.finalize().unwrap();
}

#[test]
fn every_mechanism_signs_and_verifies() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let session = pkcs11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin(PIN))).unwrap();
    let rsa_keys = keys_of_type(&session, cryptoki::object::KeyType::RSA);
    let ec_keys = keys_of_type(&session, cryptoki::object::KeyType::EC);
    assert_eq!((rsa_keys.len(), ec_keys.len()), (1, 2));
    for key in rsa_keys.into_iter().chain(ec_keys) {
        sign_every_mechanism(&session, key);
    }
    pkcs11.finalize().unwrap();
}

#[test]
fn signing_rules_and_length_queries() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let session = pkcs11.open_ro_session(slot).unwrap();
    let h = session.handle();
    let f = functions();
    let (sign_init, sign, sign_update) = (
        f.C_SignInit.unwrap(),
        f.C_Sign.unwrap(),
        f.C_SignUpdate.unwrap(),
    );

    // Not logged in: private keys cannot be found, and signing is refused.
    session.login(UserType::User, Some(&pin(PIN))).unwrap();
    let rsa_key = keys_of_type(&session, cryptoki::object::KeyType::RSA)[0];
    let ec_keys = keys_of_type(&session, cryptoki::object::KeyType::EC);
    let ec_key = ec_keys[0];
    // The card holds a P-256 and a P-384 key: r ‖ s is 64 and 96 bytes (§2.6).
    let ecdsa_lengths: Vec<(ObjectHandle, CK_ULONG)> = ec_keys
        .iter()
        .map(|key| (*key, ecdsa_signature_len(&session, *key)))
        .collect();
    let mut lengths: Vec<_> = ecdsa_lengths.iter().map(|(_, len)| *len).collect();
    lengths.sort();
    assert_eq!(lengths, [64, 96]);
    let public = find(&session, &[Attribute::Class(ObjectClass::PUBLIC_KEY)])[0];
    session.logout().unwrap();
    assert_eq!(
        rv(session.sign_init(&Mechanism::Sha256RsaPkcs, rsa_key)),
        RvError::UserNotLoggedIn
    );
    session.login(UserType::User, Some(&pin(PIN))).unwrap();

    let mut mech = CK_MECHANISM {
        mechanism: CKM_SHA256_RSA_PKCS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let data = b"abc";
    unsafe {
        assert_eq!(
            sign_init(h, null_mut(), rsa_key.handle()),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            sign_init(0x7FFF_0000, &mut mech, rsa_key.handle()),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(sign_init(h, &mut mech, 0x7FFF_0000), CKR_KEY_HANDLE_INVALID);
        assert_eq!(
            sign_init(h, &mut mech, public.handle()),
            CKR_KEY_FUNCTION_NOT_PERMITTED
        );
        assert_eq!(
            sign_init(h, &mut mech, ec_key.handle()),
            CKR_KEY_TYPE_INCONSISTENT
        );
        let mut bad = CK_MECHANISM {
            mechanism: CKM_MD5_RSA_PKCS,
            ..mech
        };
        assert_eq!(
            sign_init(h, &mut bad, rsa_key.handle()),
            CKR_MECHANISM_INVALID
        );
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, null_mut(), &mut 0),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // Length answers keep the operation and cost no card I/O.
        assert_eq!(sign_init(h, &mut mech, rsa_key.handle()), CKR_OK);
        assert_eq!(
            sign_init(h, &mut mech, rsa_key.handle()),
            CKR_OPERATION_ACTIVE
        );
        let mut len: CK_ULONG = 0;
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, null_mut(), &mut len),
            CKR_OK
        );
        assert_eq!(len, 256);
        let mut out = vec![0u8; 300];
        len = 10;
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut len),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 256);
        len = 300;
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut len),
            CKR_OK
        );
        assert_eq!(len, 256);
        // The operation ended with the signature.
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // Any other failure ends the operation, a bad argument too (PKCS#11 §5.11).
        assert_eq!(sign_init(h, &mut mech, rsa_key.handle()), CKR_OK);
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, out.as_mut_ptr(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );

        // Raw mechanisms are single-part: C_SignUpdate fails and ends the operation.
        let mut raw = CK_MECHANISM {
            mechanism: CKM_RSA_PKCS,
            ..mech
        };
        assert_eq!(sign_init(h, &mut raw, rsa_key.handle()), CKR_OK);
        assert_eq!(
            sign_update(h, data.as_ptr() as *mut _, 3),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_eq!(
            sign(h, data.as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // Too long for PKCS#1 v1.5 with a 2048-bit key.
        assert_eq!(sign_init(h, &mut raw, rsa_key.handle()), CKR_OK);
        let long = [1u8; 246];
        len = 300;
        assert_eq!(
            sign(h, long.as_ptr() as *mut _, 246, out.as_mut_ptr(), &mut len),
            CKR_DATA_LEN_RANGE
        );

        // ECDSA length: 2 × field size.
        let mut ecdsa = CK_MECHANISM {
            mechanism: CKM_ECDSA_SHA256,
            ..mech
        };
        for (key, expected) in &ecdsa_lengths {
            assert_eq!(sign_init(h, &mut ecdsa, key.handle()), CKR_OK);
            assert_eq!(
                sign(h, data.as_ptr() as *mut _, 3, null_mut(), &mut len),
                CKR_OK
            );
            assert_eq!(len, *expected);
            len = out.len() as CK_ULONG;
            assert_eq!(
                sign(h, data.as_ptr() as *mut _, 3, out.as_mut_ptr(), &mut len),
                CKR_OK
            );
            assert_eq!(len, *expected);
        }
    }

    // C_SessionCancel (3.0) ends an operation.
    session
        .sign_init(&Mechanism::Sha256RsaPkcs, rsa_key)
        .unwrap();
    let cancel = functions_3_0().C_SessionCancel.unwrap();
    assert_eq!(unsafe { cancel(h, CKF_SIGN) }, CKR_OK);
    session
        .sign_init(&Mechanism::Sha256RsaPkcs, rsa_key)
        .unwrap();
    assert_eq!(unsafe { cancel(h, CKF_SIGN | CKF_FIND_OBJECTS) }, CKR_OK);
    assert_eq!(
        unsafe { cancel(0x7FFF_0000, CKF_SIGN) },
        CKR_SESSION_HANDLE_INVALID
    );

    // PSS parameters must match the card: same hash, MGF1 of it, salt = hash length.
    for bad in [
        Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48)),
        Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA1, 32)),
        Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 0)),
        Mechanism::RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 20)),
    ] {
        assert_eq!(
            rv(session.sign_init(&bad, rsa_key)),
            RvError::MechanismParamInvalid,
            "{bad:?}"
        );
    }
    // Raw PSS input must be a hash of the named length.
    let raw_pss = Mechanism::RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32));
    assert_eq!(
        rv(session.sign(&raw_pss, rsa_key, &[0u8; 20])),
        RvError::DataLenRange
    );

    // Logging out in another session ends the right to sign everywhere.
    let other = pkcs11.open_ro_session(slot).unwrap();
    session
        .sign_init(&Mechanism::Sha256RsaPkcs, rsa_key)
        .unwrap();
    other.logout().unwrap();
    assert_eq!(
        rv(session.sign(&Mechanism::Sha256RsaPkcs, rsa_key, b"x")),
        RvError::OperationActive
    );
    assert_eq!(
        unsafe {
            let mut len = 256;
            let mut out = [0u8; 256];
            sign(h, b"x".as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut len)
        },
        CKR_USER_NOT_LOGGED_IN
    );
    pkcs11.finalize().unwrap();
}

#[test]
fn random_and_unsupported_functions() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let session = pkcs11.open_ro_session(slot).unwrap();
    let a = session.generate_random_vec(32).unwrap();
    let b = session.generate_random_vec(32).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_eq!(session.generate_random_vec(300).unwrap().len(), 300);
    assert_eq!(
        rv(session.seed_random(b"seed")),
        RvError::RandomSeedNotSupported
    );
    let h = session.handle();
    let f = functions();
    unsafe {
        assert_eq!(
            (f.C_GenerateRandom.unwrap())(h, null_mut(), 5),
            CKR_ARGUMENTS_BAD
        );
        let mut mech = CK_MECHANISM {
            mechanism: CKM_SHA256,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        // Digests and verification exist (tests/digest_verify.rs); these do not.
        assert_eq!(
            (f.C_EncryptInit.unwrap())(h, &mut mech, 1),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_eq!(
            (f.C_EncryptInit.unwrap())(0x7FFF_0000, &mut mech, 1),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(
            (f.C_VerifyRecoverInit.unwrap())(h, &mut mech, 1),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_eq!(
            (f.C_CreateObject.unwrap())(h, null_mut(), 0, null_mut()),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_eq!(
            (f.C_InitToken.unwrap())(CK_SLOT_ID::from(slot), null_mut(), 0, null_mut()),
            CKR_FUNCTION_NOT_SUPPORTED
        );
    }
    pkcs11.finalize().unwrap();
}

#[test]
fn sessions_and_login_state() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let ro = pkcs11.open_ro_session(slot).unwrap();
    let rw = pkcs11.open_rw_session(slot).unwrap();
    assert_eq!(
        ro.get_session_info().unwrap().session_state(),
        SessionState::RoPublic
    );
    assert_eq!(
        rw.get_session_info().unwrap().session_state(),
        SessionState::RwPublic
    );
    assert!(ro.handle() < 0x8000_0000 && rw.handle() < 0x8000_0000);
    // Login is per token: shared by every session.
    rw.login(UserType::User, Some(&pin(PIN))).unwrap();
    assert_eq!(
        ro.get_session_info().unwrap().session_state(),
        SessionState::RoUser
    );
    assert_eq!(
        rw.get_session_info().unwrap().session_state(),
        SessionState::RwUser
    );
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin(PIN)))),
        RvError::UserAlreadyLoggedIn
    );
    assert_eq!(
        rv(ro.login(UserType::So, Some(&pin(PUK)))),
        RvError::UserAnotherAlreadyLoggedIn
    );
    // Parallel sessions are not a thing.
    let mut handle = 0;
    let rv_parallel = unsafe {
        (functions().C_OpenSession.unwrap())(
            CK_SLOT_ID::from(slot),
            0,
            null_mut(),
            None,
            &mut handle,
        )
    };
    assert_eq!(rv_parallel, CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    // Closing every session logs out.
    let ro_handle = ro.handle();
    std::mem::forget(ro);
    std::mem::forget(rw);
    assert_eq!(
        unsafe { (functions().C_CloseAllSessions.unwrap())(CK_SLOT_ID::from(slot)) },
        CKR_OK
    );
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (functions().C_GetSessionInfo.unwrap())(ro_handle, &mut info) },
        CKR_SESSION_HANDLE_INVALID
    );
    let again = pkcs11.open_ro_session(slot).unwrap();
    assert_eq!(
        again.get_session_info().unwrap().session_state(),
        SessionState::RoPublic
    );
    assert_eq!(rv(again.logout()), RvError::UserNotLoggedIn);
    pkcs11.finalize().unwrap();
}

#[test]
fn pin_flows_with_counters_and_flags() {
    let _guard = serial();
    let card = make_card(
        "pin-flows",
        &["--key", "p256", "--serial", "0C0C0C0C0C0C0C0C"],
    );
    let pkcs11 = open(&[&card]);
    let slot = card_slot(&pkcs11);
    let info = || pkcs11.get_token_info(slot).unwrap();
    let ro = pkcs11.open_ro_session(slot).unwrap();
    let rw = pkcs11.open_rw_session(slot).unwrap();

    // Malformed PINs: refused before any APDU, no try spent.
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin("12345")))),
        RvError::PinLenRange
    );
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin("1234567")))),
        RvError::PinLenRange
    );
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin("12a456")))),
        RvError::PinInvalid
    );
    assert!(!info().user_pin_count_low());

    // Change: RO session refused; RW session, not logged in.
    assert_eq!(
        rv(ro.set_pin(&pin(PIN), &pin("654321"))),
        RvError::SessionReadOnly
    );
    rw.set_pin(&pin(PIN), &pin("654321")).unwrap();
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin(PIN)))),
        RvError::PinIncorrect
    );
    let i = info();
    assert!(i.user_pin_count_low() && !i.user_pin_final_try());
    ro.login(UserType::User, Some(&pin("654321"))).unwrap();
    assert!(!info().user_pin_count_low(), "counter reset by a good PIN");
    // Change while logged in (Firefox: login, then C_SetPIN in an RW session).
    rw.set_pin(&pin("654321"), &pin(PIN)).unwrap();
    ro.logout().unwrap();

    // Three wrong PINs block it; flags follow each step.
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin("000000")))),
        RvError::PinIncorrect
    );
    assert!(info().user_pin_count_low());
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin("000000")))),
        RvError::PinIncorrect
    );
    assert!(info().user_pin_final_try());
    // §2.7: 63C0 (this try blocked it) is still CKR_PIN_INCORRECT.
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin("000000")))),
        RvError::PinIncorrect
    );
    assert!(info().user_pin_locked());
    assert_eq!(
        rv(ro.login(UserType::User, Some(&pin(PIN)))),
        RvError::PinLocked
    );

    // Unblock: SO login (an RO session exists, as with NSS) + C_InitPIN.
    assert_eq!(
        rv(rw.login(UserType::So, Some(&pin("00000000")))),
        RvError::PinIncorrect
    );
    assert!(info().so_pin_count_low());
    rw.login(UserType::So, Some(&pin(PUK))).unwrap();
    assert_eq!(
        rw.get_session_info().unwrap().session_state(),
        SessionState::RwSecurityOfficer
    );
    assert_eq!(rv(ro.init_pin(&pin("111111"))), RvError::SessionReadOnly);
    assert_eq!(rv(rw.init_pin(&pin("11111"))), RvError::PinLenRange);
    rw.init_pin(&pin("111111")).unwrap();
    assert!(!info().user_pin_locked() && !info().so_pin_count_low());
    // PUK change as SO.
    rw.set_pin(&pin(PUK), &pin("87654321")).unwrap();
    rw.logout().unwrap();
    ro.login(UserType::User, Some(&pin("111111"))).unwrap();
    ro.logout().unwrap();

    // pkcs11-tool --unlock-pin: C_SetPIN(PUK, new) not logged in; the value fits only
    // the PUK policy, so no user-PIN try is spent.
    rw.set_pin(&pin("87654321"), &pin("222222")).unwrap();
    ro.login(UserType::User, Some(&pin("222222"))).unwrap();
    ro.logout().unwrap();
    // A wrong PUK there costs a PUK try, never a PIN try.
    assert_eq!(
        rv(rw.set_pin(&pin("00000000"), &pin("333333"))),
        RvError::PinIncorrect
    );
    let i = info();
    assert!(i.so_pin_count_low() && !i.user_pin_count_low());
    // Context-specific login without a signature operation.
    ro.login(UserType::User, Some(&pin("222222"))).unwrap();
    assert_eq!(
        rv(ro.login(UserType::ContextSpecific, Some(&pin("222222")))),
        RvError::OperationNotInitialized
    );
    pkcs11.finalize().unwrap();
}

#[test]
fn always_authenticate_key_needs_context_login() {
    let _guard = serial();
    let card = make_card("consent", &["--key", "p256", "--user-consent"]);
    let pkcs11 = open(&[&card]);
    let slot = card_slot(&pkcs11);
    let session = pkcs11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin(PIN))).unwrap();
    let key = keys_of_type(&session, cryptoki::object::KeyType::EC)[0];
    assert!(bool_attr(session.handle(), key, CKA_ALWAYS_AUTHENTICATE));
    let spki = certificate_spki(&session, key);
    let message = b"consent";
    // Without the context login: refused.
    session.sign_init(&Mechanism::EcdsaSha256, key).unwrap();
    let mut out = [0u8; 64];
    let mut len: CK_ULONG = 64;
    let code = unsafe {
        (functions().C_Sign.unwrap())(
            session.handle(),
            message.as_ptr() as *mut _,
            7,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(code, CKR_USER_NOT_LOGGED_IN);
    // With it: one signature.
    session.sign_init(&Mechanism::EcdsaSha256, key).unwrap();
    session
        .login(UserType::ContextSpecific, Some(&pin(PIN)))
        .unwrap();
    let mut len: CK_ULONG = 64;
    let code = unsafe {
        (functions().C_Sign.unwrap())(
            session.handle(),
            message.as_ptr() as *mut _,
            7,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(code, CKR_OK);
    verify_ec(
        &spki,
        &hash(MechanismType::SHA256, message),
        &out[..len as usize],
    );
    pkcs11.finalize().unwrap();
}

#[test]
fn eight_threads_sign_concurrently() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let slot = card_slot(&pkcs11);
    let login = pkcs11.open_ro_session(slot).unwrap();
    login.login(UserType::User, Some(&pin(PIN))).unwrap();
    let key = keys_of_type(&login, cryptoki::object::KeyType::EC)[0];
    let spki = certificate_spki(&login, key);
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (pkcs11, spki) = (&pkcs11, &spki);
            s.spawn(move || {
                let session = pkcs11.open_ro_session(slot).unwrap();
                for i in 0..5 {
                    let message = format!("thread {t} message {i}");
                    let signature = session
                        .sign(&Mechanism::EcdsaSha256, key, message.as_bytes())
                        .unwrap();
                    verify_ec(
                        spki,
                        &hash(MechanismType::SHA256, message.as_bytes()),
                        &signature,
                    );
                    // Polling from the same threads never fails while others sign.
                    pkcs11.get_token_info(slot).unwrap();
                    session.get_session_info().unwrap();
                }
            });
        }
    });
    eprintln!("40 signatures on 8 threads in {:?}", started.elapsed());
    pkcs11.finalize().unwrap();
}

#[test]
fn wait_for_slot_event_wakes_on_finalize() {
    let _guard = serial();
    let pkcs11 = open(&[shared_card()]);
    let f = functions();
    let mut slot = 0;
    assert_eq!(
        unsafe { (f.C_WaitForSlotEvent.unwrap())(CKF_DONT_BLOCK, &mut slot, null_mut()) },
        CKR_NO_EVENT
    );
    let waiter = std::thread::spawn(move || {
        let mut slot = 0;
        unsafe { (functions().C_WaitForSlotEvent.unwrap())(0, &mut slot, null_mut()) }
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    pkcs11.finalize().unwrap();
    assert_eq!(waiter.join().unwrap(), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn polling_never_waits_for_a_signature() {
    let _guard = serial();
    // The software card holds each ECDSA signature for 400 ms, like a slow real card.
    std::env::set_var("EIMZA_VCARD_DELAYS", "ecdsa=400ms");
    let pkcs11 = open(&[shared_card()]);
    std::env::remove_var("EIMZA_VCARD_DELAYS");
    let slot = card_slot(&pkcs11);
    let signer = pkcs11.open_ro_session(slot).unwrap();
    let poller = pkcs11.open_ro_session(slot).unwrap();
    signer.login(UserType::User, Some(&pin(PIN))).unwrap();
    let key = keys_of_type(&signer, cryptoki::object::KeyType::EC)[0];
    let f = functions();
    let mut slowest = std::time::Duration::ZERO;
    let mut polls = 0;
    let signing_time = std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let started = std::time::Instant::now();
            for _ in 0..3 {
                signer
                    .sign(&Mechanism::EcdsaSha256, key, b"slow card")
                    .unwrap();
            }
            started.elapsed()
        });
        while !worker.is_finished() {
            let started = std::time::Instant::now();
            unsafe {
                let mut slot_info: CK_SLOT_INFO = std::mem::zeroed();
                assert_eq!(
                    (f.C_GetSlotInfo.unwrap())(CK_SLOT_ID::from(slot), &mut slot_info),
                    CKR_OK
                );
                let mut token_info: CK_TOKEN_INFO = std::mem::zeroed();
                assert_eq!(
                    (f.C_GetTokenInfo.unwrap())(CK_SLOT_ID::from(slot), &mut token_info),
                    CKR_OK
                );
                let mut session_info: CK_SESSION_INFO = std::mem::zeroed();
                assert_eq!(
                    (f.C_GetSessionInfo.unwrap())(poller.handle(), &mut session_info),
                    CKR_OK
                );
            }
            slowest = slowest.max(started.elapsed());
            polls += 1;
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        worker.join().unwrap()
    });
    eprintln!("3 slow signatures took {signing_time:?}; {polls} polls, slowest {slowest:?}");
    assert!(
        signing_time >= std::time::Duration::from_millis(1200),
        "card delay not in effect"
    );
    assert!(
        slowest < std::time::Duration::from_millis(200),
        "a poll waited for the card: {slowest:?}"
    );
    pkcs11.finalize().unwrap();
}

/// An AKIS v1.0 card (pkcs11-spec.md §1.4.1): RSA PKCS#1 v1.5 is all its public
/// command set signs with, so the token lists those mechanisms only, refuses the others
/// before any APDU, and knows no retry counter until a PIN command answers.
#[test]
fn akis_v10_token_offers_rsa_pkcs1_only() {
    use p11::verify::{certificate_spki, keys_of_type, verify_rsa};
    static CARD: OnceLock<std::path::PathBuf> = OnceLock::new();
    let card = CARD.get_or_init(|| {
        make_card(
            "akis-v10",
            &["--family", "v1.0", "--serial", "0A0B0C0D0A0B0C10"],
        )
    });
    let _guard = serial();
    let pkcs11 = open(&[card]);
    let slot = card_slot(&pkcs11);
    let info = pkcs11.get_token_info(slot).unwrap();
    assert_eq!(info.label(), "AKIS_0A0B0C0D0A0B0C10");
    // No counter known at bind: no counter flag (the card has 3 of 3 anyway).
    assert!(!info.user_pin_count_low() && !info.so_pin_count_low());
    // Raw C_GetMechanismList: the cryptoki crate leaves out types it does not name.
    let mut list = vec![0 as CK_MECHANISM_TYPE; 64];
    let mut count = list.len() as CK_ULONG;
    assert_eq!(
        unsafe {
            (functions().C_GetMechanismList.unwrap())(
                CK_SLOT_ID::from(slot),
                list.as_mut_ptr(),
                &mut count,
            )
        },
        CKR_OK
    );
    list.truncate(count as usize);
    // The 6 RSA PKCS#1 v1.5 mechanisms, then the 5 digests.
    assert_eq!(
        list,
        [
            CKM_RSA_PKCS,
            CKM_SHA1_RSA_PKCS,
            CKM_SHA224_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA384_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
            CKM_SHA_1,
            CKM_SHA224,
            CKM_SHA256,
            CKM_SHA384,
            CKM_SHA512,
        ]
    );
    for m in [
        MechanismType::RSA_PKCS_PSS,
        MechanismType::SHA256_RSA_PKCS_PSS,
        MechanismType::ECDSA,
        MechanismType::ECDSA_SHA256,
    ] {
        assert_eq!(
            rv(pkcs11.get_mechanism_info(slot, m)),
            RvError::MechanismInvalid,
            "{m}"
        );
    }
    let session = pkcs11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin(PIN))).unwrap();
    let keys = keys_of_type(&session, cryptoki::object::KeyType::RSA);
    assert_eq!(keys.len(), 1);
    let key = keys[0];
    let spki = certificate_spki(&session, key);
    let message = b"AKIS v1.0 document";
    for mechanism in [Mechanism::Sha256RsaPkcs, Mechanism::Sha1RsaPkcs] {
        let signature = session.sign(&mechanism, key, message).unwrap();
        assert_eq!(signature.len(), 256);
        verify_rsa(&spki, &mechanism, message, &signature);
    }
    // PSS (and its verification) is not offered on this token.
    let pss = Mechanism::Sha256RsaPkcsPss(p11::verify::pss(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        32,
    ));
    assert_eq!(
        rv(session.sign(&pss, key, message)),
        RvError::MechanismInvalid
    );
    let public = session
        .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
        .unwrap();
    assert_eq!(
        rv(session.verify(&pss, public[0], message, &[0; 256])),
        RvError::MechanismInvalid
    );
    // Raw PKCS#1 v1.5 input: at most 244 bytes, the largest command data of a v1.0 card
    // (k − 11 = 245 elsewhere), for signing and verification alike.
    let raw = [0x5A; 245];
    assert_eq!(
        rv(session.sign(&Mechanism::RsaPkcs, key, &raw)),
        RvError::DataLenRange
    );
    let signature = session.sign(&Mechanism::RsaPkcs, key, &raw[..244]).unwrap();
    verify_rsa(&spki, &Mechanism::RsaPkcs, &raw[..244], &signature);
    session
        .verify(&Mechanism::RsaPkcs, public[0], &raw[..244], &signature)
        .unwrap();
    assert_eq!(
        rv(session.verify(&Mechanism::RsaPkcs, public[0], &raw, &signature)),
        RvError::DataLenRange
    );
    pkcs11.finalize().unwrap();
    // Nothing spent: the card still has every try.
    let shown = std::process::Command::new(vcard_bin())
        .arg("show")
        .arg(card)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("PIN: 3 of 3 tries left") && shown.contains("PUK: 10 of 10 tries left"),
        "{shown}"
    );
}
