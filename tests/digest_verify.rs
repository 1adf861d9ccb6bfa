//! Digesting and verification (pkcs11-spec.md §2.12) through the module's C ABI
//! (dlopen), over a software card in process: known answers, multi-part equal to
//! single-part, every signing mechanism × key type verified and every kind of bad
//! signature refused with the exact code, the operation-state rules, and no card I/O.
//! One test binary of its own: the debug log (configured once per process) is on for
//! every test here, so the no-card-I/O check can read it.

mod p11;

use cryptoki_sys::*;
use p11::*;
use sha2::Digest;
use std::path::Path;
use std::ptr::null_mut;
use std::sync::OnceLock;

const PIN: &[u8] = b"123456";

/// Two RSA-2048 keys (a wrong key of the same size), an RSA-3072, a P-256 and two
/// P-384 keys, made once per test process.
fn card() -> &'static Path {
    static CARD: OnceLock<std::path::PathBuf> = OnceLock::new();
    CARD.get_or_init(|| {
        make_card(
            "digest-verify",
            &[
                "--key",
                "rsa2048",
                "--key",
                "rsa2048",
                "--key",
                "rsa3072",
                "--key",
                "p256",
                "--key",
                "p384",
                "--key",
                "p384",
                "--serial",
                "0D1E0D1E0D1E0001",
            ],
        )
    })
}

fn log_path() -> std::path::PathBuf {
    target_dir().join(format!("digest-verify-{}.log", std::process::id()))
}

/// Initialise the library over the card (debug log on) and open a session.
fn start() -> (CK_SLOT_ID, CK_SESSION_HANDLE) {
    std::env::set_var("EIMZA_VIRTUAL_CARD", card());
    std::env::set_var("EIMZA_PKCS11_PCSC", "0");
    std::env::set_var("EIMZA_PKCS11_LOG", log_path());
    std::env::set_var("EIMZA_PKCS11_LOG_LEVEL", "debug");
    let _ = finalize();
    assert_eq!(initialize(), CKR_OK);
    let f = functions();
    let mut slots = [0; 8];
    let mut count = slots.len() as CK_ULONG;
    assert_eq!(
        unsafe { (f.C_GetSlotList.unwrap())(CK_TRUE, slots.as_mut_ptr(), &mut count) },
        CKR_OK
    );
    assert_eq!(count, 1, "one software card, no PC/SC");
    (slots[0], open_session(slots[0]))
}

fn open_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let mut session = 0;
    let rv = unsafe {
        (functions().C_OpenSession.unwrap())(
            slot,
            CKF_SERIAL_SESSION,
            null_mut(),
            None,
            &mut session,
        )
    };
    assert_eq!(rv, CKR_OK);
    session
}

fn login(session: CK_SESSION_HANDLE) {
    let rv = unsafe {
        (functions().C_Login.unwrap())(
            session,
            CKU_USER,
            PIN.as_ptr() as *mut _,
            PIN.len() as CK_ULONG,
        )
    };
    assert_eq!(rv, CKR_OK);
}

// ---- digests ----

fn mechanism(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

fn digest_init(s: CK_SESSION_HANDLE, m: CK_MECHANISM_TYPE) -> CK_RV {
    let mut mech = mechanism(m);
    unsafe { (functions().C_DigestInit.unwrap())(s, &mut mech) }
}

/// C_Digest with an output buffer of `capacity` bytes (None: NULL buffer).
fn digest(s: CK_SESSION_HANDLE, data: &[u8], capacity: Option<usize>) -> (CK_RV, usize, Vec<u8>) {
    let mut out = vec![0u8; capacity.unwrap_or(0)];
    let mut len = out.len() as CK_ULONG;
    let ptr = if capacity.is_some() {
        out.as_mut_ptr()
    } else {
        null_mut()
    };
    let rv = unsafe {
        (functions().C_Digest.unwrap())(
            s,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            ptr,
            &mut len,
        )
    };
    out.truncate(len as usize);
    (rv, len as usize, out)
}

fn digest_update(s: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
    unsafe {
        (functions().C_DigestUpdate.unwrap())(s, data.as_ptr() as *mut _, data.len() as CK_ULONG)
    }
}

fn digest_final(s: CK_SESSION_HANDLE, capacity: Option<usize>) -> (CK_RV, usize, Vec<u8>) {
    let mut out = vec![0u8; capacity.unwrap_or(0)];
    let mut len = out.len() as CK_ULONG;
    let ptr = if capacity.is_some() {
        out.as_mut_ptr()
    } else {
        null_mut()
    };
    let rv = unsafe { (functions().C_DigestFinal.unwrap())(s, ptr, &mut len) };
    out.truncate(len as usize);
    (rv, len as usize, out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const DIGESTS: [(CK_MECHANISM_TYPE, usize); 5] = [
    (CKM_SHA_1, 20),
    (CKM_SHA224, 28),
    (CKM_SHA256, 32),
    (CKM_SHA384, 48),
    (CKM_SHA512, 64),
];

fn reference_hash(m: CK_MECHANISM_TYPE, data: &[u8]) -> Vec<u8> {
    match m {
        CKM_SHA_1 => sha1::Sha1::digest(data).to_vec(),
        CKM_SHA224 => sha2::Sha224::digest(data).to_vec(),
        CKM_SHA256 => sha2::Sha256::digest(data).to_vec(),
        CKM_SHA384 => sha2::Sha384::digest(data).to_vec(),
        CKM_SHA512 => sha2::Sha512::digest(data).to_vec(),
        _ => panic!("{m:#x}"),
    }
}

#[test]
fn digests_equal_known_answers_and_multi_part_equals_single_part() {
    let _guard = serial();
    let (_, s) = start();
    // FIPS 180-4 example vectors: "abc" and the 448-bit message.
    let abc = [
        (CKM_SHA_1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (CKM_SHA224, "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
        (CKM_SHA256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            CKM_SHA384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            CKM_SHA512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];
    let long_vector = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let long_answers = [
        (CKM_SHA_1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (
            CKM_SHA256,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    for (m, answer) in abc {
        assert_eq!(digest_init(s, m), CKR_OK);
        let (rv, _, out) = digest(s, b"abc", Some(64));
        assert_eq!((rv, hex(&out)), (CKR_OK, answer.to_string()), "{m:#x}");
    }
    for (m, answer) in long_answers {
        assert_eq!(digest_init(s, m), CKR_OK);
        let (rv, _, out) = digest(s, long_vector, Some(64));
        assert_eq!((rv, hex(&out)), (CKR_OK, answer.to_string()), "{m:#x}");
    }
    // Multi-part, in many splits (empty parts included), equals single-part and the
    // reference implementation, for 0 bytes up to 1 MiB.
    let message: Vec<u8> = (0..(1 << 20) + 13)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    for (m, len) in DIGESTS {
        for size in [0, 1, 55, 56, 64, 111, 112, 128, 1000, message.len()] {
            let data = &message[..size];
            let expected = reference_hash(m, data);
            assert_eq!(expected.len(), len);
            assert_eq!(digest_init(s, m), CKR_OK);
            assert_eq!(digest(s, data, Some(len)), (CKR_OK, len, expected.clone()));
            for chunk in [1, 7, 64, 4096] {
                if size > 5000 && chunk < 64 {
                    continue;
                }
                assert_eq!(digest_init(s, m), CKR_OK);
                assert_eq!(digest_update(s, &[]), CKR_OK);
                for part in data.chunks(chunk) {
                    assert_eq!(digest_update(s, part), CKR_OK);
                }
                assert_eq!(
                    digest_final(s, Some(len)),
                    (CKR_OK, len, expected.clone()),
                    "{m:#x} {size} {chunk}"
                );
            }
        }
        // C_DigestInit then C_DigestFinal: the digest of the empty message.
        assert_eq!(digest_init(s, m), CKR_OK);
        assert_eq!(
            digest_final(s, Some(64)),
            (CKR_OK, len, reference_hash(m, b""))
        );
    }
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn digest_length_queries_and_operation_state() {
    let _guard = serial();
    let (_, s) = start();
    let f = functions();
    let abc_sha256 = reference_hash(CKM_SHA256, b"abc");
    // Not started.
    assert_eq!(digest(s, b"abc", Some(32)).0, CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(digest_update(s, b"abc"), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(digest_final(s, Some(32)).0, CKR_OPERATION_NOT_INITIALIZED);
    // Mechanisms and parameters.
    for m in [
        CKM_MD5,
        CKM_SHA256_RSA_PKCS,
        CKM_ECDSA,
        CKM_SHA512_256,
        CKM_SHA3_256,
    ] {
        assert_eq!(digest_init(s, m), CKR_MECHANISM_INVALID, "{m:#x}");
    }
    let param = [0u8; 4];
    let mut with_params = CK_MECHANISM {
        mechanism: CKM_SHA256,
        pParameter: param.as_ptr() as *mut _,
        ulParameterLen: 4,
    };
    assert_eq!(
        unsafe { (f.C_DigestInit.unwrap())(s, &mut with_params) },
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        unsafe { (f.C_DigestInit.unwrap())(s, null_mut()) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        unsafe { (f.C_DigestInit.unwrap())(0x7FFF_0000, &mut mechanism(CKM_SHA256)) },
        CKR_SESSION_HANDLE_INVALID
    );
    // A refused init leaves nothing active.
    assert_eq!(digest_update(s, b"x"), CKR_OPERATION_NOT_INITIALIZED);

    // C_Digest: NULL buffer → length; short buffer → CKR_BUFFER_TOO_SMALL and length;
    // both keep the operation, which then delivers and ends.
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OPERATION_ACTIVE);
    assert_eq!(digest(s, b"abc", None), (CKR_OK, 32, vec![]));
    assert_eq!(digest(s, b"abc", Some(31)).0, CKR_BUFFER_TOO_SMALL);
    assert_eq!(digest(s, b"abc", Some(31)).1, 32);
    assert_eq!(
        digest(s, b"abc", Some(0)),
        (CKR_BUFFER_TOO_SMALL, 32, vec![])
    );
    // A failed call ends the digest, bad pointers included (PKCS#11 §5.12; spec §2.12).
    let mut len: CK_ULONG = 32;
    assert_eq!(
        unsafe { (f.C_Digest.unwrap())(s, null_mut(), 3, null_mut(), &mut len) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        digest(s, b"abc", Some(100)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
    assert_eq!(
        unsafe { (f.C_Digest.unwrap())(s, b"abc".as_ptr() as *mut _, 3, null_mut(), null_mut()) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        digest(s, b"abc", Some(100)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
    assert_eq!(
        digest(s, b"abc", Some(100)),
        (CKR_OK, 32, abc_sha256.clone())
    );
    assert_eq!(
        digest(s, b"abc", Some(100)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );

    // C_DigestFinal likewise.
    assert_eq!(digest_init(s, CKM_SHA384), CKR_OK);
    assert_eq!(digest_update(s, b"ab"), CKR_OK);
    assert_eq!(digest_final(s, None), (CKR_OK, 48, vec![]));
    assert_eq!(digest_final(s, Some(47)).0, CKR_BUFFER_TOO_SMALL);
    assert_eq!(digest_update(s, b"c"), CKR_OK);
    assert_eq!(
        digest_final(s, Some(48)),
        (CKR_OK, 48, reference_hash(CKM_SHA384, b"abc"))
    );
    // A C_DigestUpdate refused for a bad pointer ends the digest too.
    assert_eq!(digest_init(s, CKM_SHA384), CKR_OK);
    assert_eq!(
        unsafe { (f.C_DigestUpdate.unwrap())(s, null_mut(), 1) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(digest_update(s, b"c"), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(digest_final(s, Some(48)).0, CKR_OPERATION_NOT_INITIALIZED);

    // C_Digest cannot finish a multi-part digest: CKR_OPERATION_ACTIVE, and like any
    // failed C_Digest it ends the operation.
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
    assert_eq!(digest_update(s, b"a"), CKR_OK);
    assert_eq!(digest(s, b"bc", Some(32)).0, CKR_OPERATION_ACTIVE);
    assert_eq!(digest_update(s, b"bc"), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
    assert_eq!(digest_update(s, b"abc"), CKR_OK);
    assert_eq!(digest_final(s, Some(32)), (CKR_OK, 32, abc_sha256.clone()));

    // C_SessionCancel(CKF_DIGEST) ends it; CKF_VERIFY does not.
    let cancel = functions_3_0().C_SessionCancel.unwrap();
    assert_eq!(digest_init(s, CKM_SHA_1), CKR_OK);
    assert_eq!(unsafe { cancel(s, CKF_VERIFY | CKF_SIGN) }, CKR_OK);
    assert_eq!(digest_update(s, b"x"), CKR_OK);
    assert_eq!(unsafe { cancel(s, CKF_DIGEST) }, CKR_OK);
    assert_eq!(digest_update(s, b"x"), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(digest_init(s, CKM_SHA_1), CKR_OK);
    assert_eq!(digest_final(s, Some(20)).0, CKR_OK);

    // Digesting needs no login and the operation belongs to its session.
    let other = open_session(slot_of(s));
    assert_eq!(digest_init(s, CKM_SHA512), CKR_OK);
    assert_eq!(digest_init(other, CKM_SHA224), CKR_OK);
    assert_eq!(digest_update(other, b"abc"), CKR_OK);
    assert_eq!(
        digest(s, b"abc", Some(64)),
        (CKR_OK, 64, reference_hash(CKM_SHA512, b"abc"))
    );
    assert_eq!(
        digest_final(other, Some(28)),
        (CKR_OK, 28, reference_hash(CKM_SHA224, b"abc"))
    );
    // Closing a session drops its operation with it.
    assert_eq!(digest_init(other, CKM_SHA224), CKR_OK);
    assert_eq!(unsafe { (f.C_CloseSession.unwrap())(other) }, CKR_OK);
    assert_eq!(digest_update(other, b"x"), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(finalize(), CKR_OK);
}

fn slot_of(s: CK_SESSION_HANDLE) -> CK_SLOT_ID {
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (functions().C_GetSessionInfo.unwrap())(s, &mut info) },
        CKR_OK
    );
    info.slotID
}

#[test]
fn digest_key_refuses_the_cards_keys() {
    let _guard = serial();
    let (_, s) = start();
    let f = functions();
    let digest_key = |key| unsafe { (f.C_DigestKey.unwrap())(s, key) };
    let keys = keys(s);
    let certificate = raw_find(s, &[(CKA_CLASS, CKO_CERTIFICATE.to_ne_bytes().to_vec())])[0];
    assert_eq!(digest_key(keys[0].public), CKR_OPERATION_NOT_INITIALIZED);
    // Every failure ends the digest (as a failed C_DigestUpdate does).
    for (key, expected) in [
        (keys[0].public, CKR_KEY_INDIGESTIBLE),
        (keys[3].public, CKR_KEY_INDIGESTIBLE),
        (certificate, CKR_KEY_HANDLE_INVALID),
        (0x7FFF_0000, CKR_KEY_HANDLE_INVALID),
        // Not logged in: private objects do not exist for the application.
        (keys[0].private, CKR_KEY_HANDLE_INVALID),
    ] {
        assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
        assert_eq!(digest_update(s, b"a"), CKR_OK);
        assert_eq!(digest_key(key), expected, "key {key}");
        assert_eq!(digest_update(s, b"a"), CKR_OPERATION_NOT_INITIALIZED);
    }
    login(s);
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
    assert_eq!(digest_key(keys[0].private), CKR_KEY_INDIGESTIBLE);
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn mechanisms_list_digests_and_verification() {
    let _guard = serial();
    let (slot, _) = start();
    let f = functions();
    let mut list = [0; 64];
    let mut count = list.len() as CK_ULONG;
    assert_eq!(
        unsafe { (f.C_GetMechanismList.unwrap())(slot, list.as_mut_ptr(), &mut count) },
        CKR_OK
    );
    let list = &list[..count as usize];
    assert_eq!(list.len(), 12 + 6 + 5);
    for m in list {
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { (f.C_GetMechanismInfo.unwrap())(slot, *m, &mut info) },
            CKR_OK
        );
        if let Some((_, _)) = DIGESTS.iter().find(|(d, _)| d == m) {
            // Computed in the module: CKF_DIGEST only, no CKF_HW, no key sizes.
            assert_eq!(
                (info.flags, info.ulMinKeySize, info.ulMaxKeySize),
                (CKF_DIGEST, 0, 0),
                "{m:#x}"
            );
        } else {
            assert_eq!(
                info.flags & (CKF_HW | CKF_SIGN | CKF_VERIFY),
                CKF_HW | CKF_SIGN | CKF_VERIFY,
                "{m:#x}"
            );
            assert_eq!(info.flags & CKF_DIGEST, 0);
        }
    }
    for (m, _) in DIGESTS {
        assert!(list.contains(&m), "{m:#x} listed");
    }
    let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (f.C_GetMechanismInfo.unwrap())(slot, CKM_MD5, &mut info) },
        CKR_MECHANISM_INVALID
    );
    assert_eq!(finalize(), CKR_OK);
}

// ---- keys and signatures ----

#[derive(Debug, Clone, Copy, PartialEq)]
enum KeyKind {
    Rsa(usize),
    P256,
    P384,
}

#[derive(Debug, Clone, Copy)]
struct Key {
    private: CK_OBJECT_HANDLE,
    public: CK_OBJECT_HANDLE,
    kind: KeyKind,
    /// Position in the card file (key reference − 1).
    index: usize,
}

fn attribute(s: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    let (rv, _, value) = raw_attribute(s, object, t, Some(1024));
    assert_eq!(rv, CKR_OK, "attribute {t:#x}");
    value
}

/// The card's keys in card order: public-key handles (always visible) and the private
/// key of the same CKA_ID (its handle, even while not logged in, is what C_SignInit takes).
fn keys(s: CK_SESSION_HANDLE) -> Vec<Key> {
    let publics = raw_find(s, &[(CKA_CLASS, CKO_PUBLIC_KEY.to_ne_bytes().to_vec())]);
    assert_eq!(publics.len(), 6);
    // Private objects are visible only after login: log in on a second session briefly.
    let other = open_session(slot_of(s));
    let logged_in = {
        let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
        unsafe { (functions().C_GetSessionInfo.unwrap())(s, &mut info) };
        info.state == CKS_RO_USER_FUNCTIONS
    };
    if !logged_in {
        login(other);
    }
    let mut keys = Vec::new();
    for (index, public) in publics.into_iter().enumerate() {
        let id = attribute(s, public, CKA_ID);
        let private = raw_find(
            other,
            &[
                (CKA_CLASS, CKO_PRIVATE_KEY.to_ne_bytes().to_vec()),
                (CKA_ID, id),
            ],
        );
        assert_eq!(private.len(), 1);
        let key_type =
            CK_ULONG::from_ne_bytes(attribute(s, public, CKA_KEY_TYPE).try_into().unwrap());
        let kind = if key_type == CKK_RSA {
            KeyKind::Rsa(attribute(s, public, CKA_MODULUS).len() * 8)
        } else if attribute(s, public, CKA_EC_POINT).len() == 67 {
            KeyKind::P256
        } else {
            KeyKind::P384
        };
        keys.push(Key {
            private: private[0],
            public,
            kind,
            index,
        });
    }
    unsafe {
        if !logged_in {
            (functions().C_Logout.unwrap())(other);
        }
        (functions().C_CloseSession.unwrap())(other);
    }
    let kinds: Vec<KeyKind> = keys.iter().map(|k| k.kind).collect();
    assert_eq!(
        kinds,
        [
            KeyKind::Rsa(2048),
            KeyKind::Rsa(2048),
            KeyKind::Rsa(3072),
            KeyKind::P256,
            KeyKind::P384,
            KeyKind::P384
        ]
    );
    keys
}

/// A mechanism with its (optional) PSS parameters, owned so the pointer stays valid.
struct Mech {
    mechanism: CK_MECHANISM_TYPE,
    pss: Option<CK_RSA_PKCS_PSS_PARAMS>,
}

impl Mech {
    fn plain(mechanism: CK_MECHANISM_TYPE) -> Mech {
        Mech {
            mechanism,
            pss: None,
        }
    }

    fn pss(
        mechanism: CK_MECHANISM_TYPE,
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        salt: CK_ULONG,
    ) -> Mech {
        Mech {
            mechanism,
            pss: Some(CK_RSA_PKCS_PSS_PARAMS {
                hashAlg: hash,
                mgf,
                sLen: salt,
            }),
        }
    }

    fn raw(&mut self) -> CK_MECHANISM {
        match self.pss.as_mut() {
            Some(p) => CK_MECHANISM {
                mechanism: self.mechanism,
                pParameter: p as *mut _ as *mut _,
                ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
            },
            None => mechanism(self.mechanism),
        }
    }

    fn hashes(&self) -> bool {
        !matches!(self.mechanism, CKM_RSA_PKCS | CKM_RSA_PKCS_PSS | CKM_ECDSA)
    }
}

fn sign(s: CK_SESSION_HANDLE, m: &mut Mech, key: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
    let f = functions();
    let mut mech = m.raw();
    assert_eq!(
        unsafe { (f.C_SignInit.unwrap())(s, &mut mech, key) },
        CKR_OK,
        "{:#x}",
        m.mechanism
    );
    let mut out = vec![0u8; 512];
    let mut len = out.len() as CK_ULONG;
    let rv = unsafe {
        (f.C_Sign.unwrap())(
            s,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(rv, CKR_OK, "sign {:#x}", m.mechanism);
    out.truncate(len as usize);
    out
}

fn verify_init(s: CK_SESSION_HANDLE, m: &mut Mech, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut mech = m.raw();
    unsafe { (functions().C_VerifyInit.unwrap())(s, &mut mech, key) }
}

fn verify_call(s: CK_SESSION_HANDLE, data: &[u8], signature: &[u8]) -> CK_RV {
    unsafe {
        (functions().C_Verify.unwrap())(
            s,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            signature.as_ptr() as *mut _,
            signature.len() as CK_ULONG,
        )
    }
}

fn verify_update(s: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
    unsafe {
        (functions().C_VerifyUpdate.unwrap())(s, data.as_ptr() as *mut _, data.len() as CK_ULONG)
    }
}

fn verify_final(s: CK_SESSION_HANDLE, signature: &[u8]) -> CK_RV {
    unsafe {
        (functions().C_VerifyFinal.unwrap())(
            s,
            signature.as_ptr() as *mut _,
            signature.len() as CK_ULONG,
        )
    }
}

/// Single-part verification: init and C_Verify.
fn verify(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    signature: &[u8],
) -> CK_RV {
    let rv = verify_init(s, m, key);
    assert_eq!(rv, CKR_OK, "C_VerifyInit {:#x}", m.mechanism);
    let rv = verify_call(s, data, signature);
    // Whatever the answer, the operation is over.
    assert_eq!(
        verify_call(s, data, signature),
        CKR_OPERATION_NOT_INITIALIZED
    );
    rv
}

/// Multi-part verification in `chunk`-byte parts (an empty part first).
fn verify_parts(
    s: CK_SESSION_HANDLE,
    m: &mut Mech,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    signature: &[u8],
    chunk: usize,
) -> CK_RV {
    assert_eq!(verify_init(s, m, key), CKR_OK);
    assert_eq!(verify_update(s, &[]), CKR_OK);
    for part in data.chunks(chunk) {
        assert_eq!(verify_update(s, part), CKR_OK);
    }
    let rv = verify_final(s, signature);
    assert_eq!(verify_final(s, signature), CKR_OPERATION_NOT_INITIALIZED);
    rv
}

const MESSAGE: &[u8] = b"e-imza: verified by the module, refused when anything changes";

fn digest_info_sha256(message: &[u8]) -> Vec<u8> {
    let mut info = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    info.extend(sha2::Sha256::digest(message));
    info
}

/// Every signing mechanism of a key kind with the input C_Sign takes.
fn cases(kind: KeyKind) -> Vec<(Mech, Vec<u8>)> {
    let m = MESSAGE.to_vec();
    match kind {
        KeyKind::Rsa(_) => vec![
            (Mech::plain(CKM_RSA_PKCS), digest_info_sha256(MESSAGE)),
            (Mech::plain(CKM_RSA_PKCS), b"any short data".to_vec()),
            (Mech::plain(CKM_SHA1_RSA_PKCS), m.clone()),
            (Mech::plain(CKM_SHA224_RSA_PKCS), m.clone()),
            (Mech::plain(CKM_SHA256_RSA_PKCS), m.clone()),
            (Mech::plain(CKM_SHA384_RSA_PKCS), m.clone()),
            (Mech::plain(CKM_SHA512_RSA_PKCS), m.clone()),
            (
                Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1, 20),
                reference_hash(CKM_SHA_1, MESSAGE),
            ),
            (
                Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32),
                reference_hash(CKM_SHA256, MESSAGE),
            ),
            (
                Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 64),
                reference_hash(CKM_SHA512, MESSAGE),
            ),
            (
                Mech::pss(CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1, 20),
                m.clone(),
            ),
            (
                Mech::pss(CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, CKG_MGF1_SHA224, 28),
                m.clone(),
            ),
            (
                Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32),
                m.clone(),
            ),
            (
                Mech::pss(CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48),
                m.clone(),
            ),
            (
                Mech::pss(CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 64),
                m,
            ),
        ],
        KeyKind::P256 | KeyKind::P384 => vec![
            // Raw ECDSA: hashes shorter and longer than the order (X9.62 conversion).
            (Mech::plain(CKM_ECDSA), reference_hash(CKM_SHA_1, MESSAGE)),
            (Mech::plain(CKM_ECDSA), reference_hash(CKM_SHA256, MESSAGE)),
            (Mech::plain(CKM_ECDSA), reference_hash(CKM_SHA384, MESSAGE)),
            (Mech::plain(CKM_ECDSA), reference_hash(CKM_SHA512, MESSAGE)),
            (Mech::plain(CKM_ECDSA_SHA1), m.clone()),
            (Mech::plain(CKM_ECDSA_SHA224), m.clone()),
            (Mech::plain(CKM_ECDSA_SHA256), m.clone()),
            (Mech::plain(CKM_ECDSA_SHA384), m.clone()),
            (Mech::plain(CKM_ECDSA_SHA512), m),
        ],
    }
}

fn flip(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 0x01;
    out
}

#[test]
fn every_mechanism_and_key_verifies_and_refuses_bad_signatures() {
    let _guard = serial();
    let (_, s) = start();
    let keys = keys(s);
    login(s);
    let mut checked = 0;
    for key in &keys {
        // The same-size other key (SIGNATURE_INVALID) and an other-size one (LEN_RANGE).
        let same_size = keys
            .iter()
            .find(|k| k.kind == key.kind && k.index != key.index);
        let other_size = keys.iter().find(|k| {
            k.kind != key.kind
                && matches!(
                    (k.kind, key.kind),
                    (KeyKind::Rsa(_), KeyKind::Rsa(_))
                        | (KeyKind::P256 | KeyKind::P384, KeyKind::P256 | KeyKind::P384)
                )
        });
        for (mut m, data) in cases(key.kind) {
            let what = format!("{:?} {:#x} {} bytes", key.kind, m.mechanism, data.len());
            let signature = sign(s, &mut m, key.private, &data);
            assert_eq!(
                verify(s, &mut m, key.public, &data, &signature),
                CKR_OK,
                "{what}"
            );
            if m.hashes() {
                for chunk in [1, 7, 1000] {
                    assert_eq!(
                        verify_parts(s, &mut m, key.public, &data, &signature, chunk),
                        CKR_OK,
                        "{what}"
                    );
                }
                assert_eq!(
                    verify_parts(s, &mut m, key.public, &flip(&data, 3), &signature, 5),
                    CKR_SIGNATURE_INVALID,
                    "{what}"
                );
                assert_eq!(
                    verify_parts(s, &mut m, key.public, &data, &flip(&signature, 9), 5),
                    CKR_SIGNATURE_INVALID,
                    "{what}"
                );
                assert_eq!(
                    verify_parts(s, &mut m, key.public, &data, &signature[1..], 5),
                    CKR_SIGNATURE_LEN_RANGE,
                    "{what}"
                );
            }
            let last = signature.len() - 1;
            for bad in [
                flip(&signature, 0),
                flip(&signature, last),
                flip(&signature, last / 2),
            ] {
                assert_eq!(
                    verify(s, &mut m, key.public, &data, &bad),
                    CKR_SIGNATURE_INVALID,
                    "{what}"
                );
            }
            assert_eq!(
                verify(s, &mut m, key.public, &flip(&data, 0), &signature),
                CKR_SIGNATURE_INVALID,
                "{what}"
            );
            let mut longer = signature.clone();
            longer.push(0);
            for bad in [&signature[..last], &longer[..], &[][..]] {
                assert_eq!(
                    verify(s, &mut m, key.public, &data, bad),
                    CKR_SIGNATURE_LEN_RANGE,
                    "{what} {}",
                    bad.len()
                );
            }
            // A signature of zeros or of all ones (r, s out of range for ECDSA;
            // s ≥ n for RSA) is simply invalid.
            for fill in [0x00, 0xFF] {
                let bad = vec![fill; signature.len()];
                assert_eq!(
                    verify(s, &mut m, key.public, &data, &bad),
                    CKR_SIGNATURE_INVALID,
                    "{what} {fill:#x}"
                );
            }
            if let Some(other) = same_size {
                assert_eq!(
                    verify(s, &mut m, other.public, &data, &signature),
                    CKR_SIGNATURE_INVALID,
                    "{what} wrong key"
                );
            }
            if let Some(other) = other_size {
                assert_eq!(
                    verify(s, &mut m, other.public, &data, &signature),
                    CKR_SIGNATURE_LEN_RANGE,
                    "{what} wrong key size"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 15 + 3 * 9);
    assert_eq!(finalize(), CKR_OK);
}

/// Signatures made outside the module with the card file's own private keys: PSS with
/// salts the card never uses, PKCS#1 v1.5 and ECDSA from the RustCrypto signers.
#[test]
fn signatures_made_elsewhere_verify() {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use rsa::pkcs8::DecodePrivateKey;
    let _guard = serial();
    let (_, s) = start();
    let keys = keys(s);
    let image = virtual_card::store::load(card()).expect("card file");
    let rsa_key = rsa::PrivateKey::from_pkcs8_der(&image.keys[0].pkcs8_der).expect("RSA key");
    let public = keys[0].public;
    let hash = reference_hash(CKM_SHA256, MESSAGE);
    // k = 256, hLen = 32: the largest salt is 256 − 32 − 2 = 222.
    for salt in [0usize, 20, 32, 100, 222] {
        let signature = rsa_key
            .sign(rsa::Pss::<sha2::Sha256>::new_with_salt(salt), &hash)
            .expect("PSS sign");
        let salt_param = salt as CK_ULONG;
        let mut raw = Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, salt_param);
        assert_eq!(
            verify(s, &mut raw, public, &hash, &signature),
            CKR_OK,
            "salt {salt}"
        );
        let mut hashing = Mech::pss(
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_SHA256,
            CKG_MGF1_SHA256,
            salt_param,
        );
        assert_eq!(
            verify(s, &mut hashing, public, MESSAGE, &signature),
            CKR_OK,
            "salt {salt}"
        );
        // The salt length is part of the check.
        let wrong = if salt == 32 { 20 } else { 32 };
        let mut other = Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, wrong);
        assert_eq!(
            verify(s, &mut other, public, &hash, &signature),
            CKR_SIGNATURE_INVALID,
            "salt {salt} as {wrong}"
        );
    }
    let mut too_long = Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 223);
    assert_eq!(
        verify_init(s, &mut too_long, public),
        CKR_MECHANISM_PARAM_INVALID
    );
    let pkcs1 = rsa_key
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            &reference_hash(CKM_SHA384, MESSAGE),
        )
        .expect("PKCS#1 sign");
    assert_eq!(
        verify(
            s,
            &mut Mech::plain(CKM_SHA384_RSA_PKCS),
            public,
            MESSAGE,
            &pkcs1
        ),
        CKR_OK
    );
    // A PKCS#1 signature is not a PSS one, nor one over another hash.
    assert_eq!(
        verify(
            s,
            &mut Mech::pss(CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48),
            public,
            MESSAGE,
            &pkcs1
        ),
        CKR_SIGNATURE_INVALID
    );
    assert_eq!(
        verify(
            s,
            &mut Mech::plain(CKM_SHA512_RSA_PKCS),
            public,
            MESSAGE,
            &pkcs1
        ),
        CKR_SIGNATURE_INVALID
    );

    let p384_key =
        p384::ecdsa::SigningKey::from_pkcs8_der(&image.keys[4].pkcs8_der).expect("P-384 key");
    let prehash = reference_hash(CKM_SHA384, MESSAGE);
    let signature: p384::ecdsa::Signature = p384_key.sign_prehash(&prehash).expect("ECDSA sign");
    let bytes = signature.to_bytes().to_vec();
    assert_eq!(
        verify(
            s,
            &mut Mech::plain(CKM_ECDSA_SHA384),
            keys[4].public,
            MESSAGE,
            &bytes
        ),
        CKR_OK
    );
    assert_eq!(
        verify(
            s,
            &mut Mech::plain(CKM_ECDSA),
            keys[4].public,
            &prehash,
            &bytes
        ),
        CKR_OK
    );
    assert_eq!(
        verify(
            s,
            &mut Mech::plain(CKM_ECDSA_SHA256),
            keys[4].public,
            MESSAGE,
            &bytes
        ),
        CKR_SIGNATURE_INVALID
    );
    // (r, n − s) is the other valid signature of the same message: it verifies too, as
    // X9.62 (no low-s rule) says.
    let (r, s_scalar) = signature.split_scalars();
    let mirrored = p384::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s_scalar).to_bytes())
        .expect("(r, n - s)");
    assert_ne!(mirrored, signature);
    assert_eq!(
        verify(
            s,
            &mut Mech::plain(CKM_ECDSA_SHA384),
            keys[4].public,
            MESSAGE,
            &mirrored.to_bytes()
        ),
        CKR_OK
    );
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn verify_init_checks_key_mechanism_and_parameters() {
    let _guard = serial();
    let (_, s) = start();
    let keys = keys(s);
    let rsa = keys[0];
    let ec = keys[4];
    let certificate = raw_find(s, &[(CKA_CLASS, CKO_CERTIFICATE.to_ne_bytes().to_vec())])[0];
    let init = |m: &mut Mech, key| {
        let rv = verify_init(s, m, key);
        if rv == CKR_OK {
            assert_eq!(
                unsafe { functions_3_0().C_SessionCancel.unwrap()(s, CKF_VERIFY) },
                CKR_OK
            );
        }
        rv
    };
    // No login needed: public keys are public objects.
    assert_eq!(
        init(&mut Mech::plain(CKM_SHA256_RSA_PKCS), rsa.public),
        CKR_OK
    );
    assert_eq!(init(&mut Mech::plain(CKM_ECDSA), ec.public), CKR_OK);
    // Keys: a certificate or unknown handle is not a key; a private key is invisible
    // before login, and after login not a verification key.
    assert_eq!(
        init(&mut Mech::plain(CKM_SHA256_RSA_PKCS), certificate),
        CKR_KEY_HANDLE_INVALID
    );
    assert_eq!(
        init(&mut Mech::plain(CKM_SHA256_RSA_PKCS), 0x7FFF_0000),
        CKR_KEY_HANDLE_INVALID
    );
    assert_eq!(
        init(&mut Mech::plain(CKM_SHA256_RSA_PKCS), rsa.private),
        CKR_KEY_HANDLE_INVALID
    );
    login(s);
    assert_eq!(
        init(&mut Mech::plain(CKM_SHA256_RSA_PKCS), rsa.private),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    // Mechanisms.
    for m in [
        CKM_SHA256,
        CKM_MD5_RSA_PKCS,
        CKM_RSA_X_509,
        CKM_SHA3_256_RSA_PKCS,
        CKM_ECDSA_SHA3_256,
    ] {
        assert_eq!(
            init(&mut Mech::plain(m), rsa.public),
            CKR_MECHANISM_INVALID,
            "{m:#x}"
        );
    }
    assert_eq!(
        init(&mut Mech::plain(CKM_ECDSA_SHA256), rsa.public),
        CKR_KEY_TYPE_INCONSISTENT
    );
    assert_eq!(
        init(&mut Mech::plain(CKM_SHA256_RSA_PKCS), ec.public),
        CKR_KEY_TYPE_INCONSISTENT
    );
    assert_eq!(
        init(
            &mut Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32),
            ec.public
        ),
        CKR_KEY_TYPE_INCONSISTENT
    );
    // PSS parameters: required; hashAlg = the mechanism's hash (any of the five for
    // CKM_RSA_PKCS_PSS); MGF1 with that hash; salt 0 ..= emLen − hLen − 2.
    for bad in [
        Mech::plain(CKM_RSA_PKCS_PSS),
        Mech::plain(CKM_SHA256_RSA_PKCS_PSS),
        Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48),
        Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA1, 32),
        Mech::pss(CKM_RSA_PKCS_PSS, CKM_MD5, CKG_MGF1_SHA256, 16),
        Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 256 - 64 - 1),
        Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, CK_ULONG::MAX),
        // Parameters on a mechanism that takes none.
        Mech::pss(CKM_SHA256_RSA_PKCS, CKM_SHA256, CKG_MGF1_SHA256, 32),
    ] {
        let mut bad = bad;
        assert_eq!(
            init(&mut bad, rsa.public),
            CKR_MECHANISM_PARAM_INVALID,
            "{:#x} {:?}",
            bad.mechanism,
            bad.pss.map(|p| (p.hashAlg, p.mgf, p.sLen))
        );
    }
    let mut ecdsa_with_params = Mech::pss(CKM_ECDSA, CKM_SHA256, CKG_MGF1_SHA256, 32);
    assert_eq!(
        init(&mut ecdsa_with_params, ec.public),
        CKR_MECHANISM_PARAM_INVALID
    );
    for good in [
        Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 256 - 64 - 2),
        Mech::pss(CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, CKG_MGF1_SHA224, 0),
    ] {
        let mut good = good;
        assert_eq!(init(&mut good, rsa.public), CKR_OK);
    }
    // A refused init leaves nothing active; NULL mechanism is refused at the C edge.
    assert_eq!(
        verify_call(s, b"x", &[0; 256]),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        unsafe { (functions().C_VerifyInit.unwrap())(s, null_mut(), rsa.public) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn verify_operation_state_rules() {
    let _guard = serial();
    let (_, s) = start();
    let keys = keys(s);
    let f = functions();
    login(s);
    let rsa = keys[0];
    let ec = keys[3];
    let mut sha256 = Mech::plain(CKM_SHA256_RSA_PKCS);
    let signature = sign(s, &mut sha256, rsa.private, MESSAGE);
    // Not started.
    assert_eq!(
        verify_call(s, MESSAGE, &signature),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(verify_update(s, MESSAGE), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(verify_final(s, &signature), CKR_OPERATION_NOT_INITIALIZED);
    // One verification at a time.
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(
        verify_init(s, &mut sha256, rsa.public),
        CKR_OPERATION_ACTIVE
    );
    // A failed call ends the verification, bad pointers included (PKCS#11 §5.14).
    assert_eq!(
        unsafe { (f.C_Verify.unwrap())(s, null_mut(), 5, signature.as_ptr() as *mut _, 256) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(verify_final(s, &signature), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(
        unsafe { (f.C_Verify.unwrap())(s, MESSAGE.as_ptr() as *mut _, 5, null_mut(), 256) },
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(verify_final(s, &signature), CKR_OPERATION_NOT_INITIALIZED);
    // C_Verify cannot finish a multi-part verification: CKR_OPERATION_ACTIVE, and like
    // any failed C_Verify it ends the operation.
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(verify_update(s, &MESSAGE[..10]), CKR_OK);
    assert_eq!(verify_call(s, MESSAGE, &signature), CKR_OPERATION_ACTIVE);
    assert_eq!(
        verify_update(s, &MESSAGE[10..]),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(verify_update(s, &MESSAGE[..10]), CKR_OK);
    assert_eq!(verify_update(s, &MESSAGE[10..]), CKR_OK);
    assert_eq!(verify_final(s, &signature), CKR_OK);
    // A refused signature ends the operation like a good one.
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(
        verify_call(s, MESSAGE, &flip(&signature, 7)),
        CKR_SIGNATURE_INVALID
    );
    assert_eq!(
        verify_call(s, MESSAGE, &signature),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(verify_final(s, &signature[..100]), CKR_SIGNATURE_LEN_RANGE);
    assert_eq!(verify_final(s, &signature), CKR_OPERATION_NOT_INITIALIZED);

    // Raw mechanisms are single-part: C_VerifyUpdate and C_VerifyFinal fail and end it.
    for (mut m, key) in [
        (Mech::plain(CKM_RSA_PKCS), rsa.public),
        (
            Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32),
            rsa.public,
        ),
        (Mech::plain(CKM_ECDSA), ec.public),
    ] {
        assert_eq!(verify_init(s, &mut m, key), CKR_OK);
        assert_eq!(verify_update(s, b"part"), CKR_FUNCTION_NOT_SUPPORTED);
        assert_eq!(
            verify_call(s, b"part", &signature),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(verify_init(s, &mut m, key), CKR_OK);
        assert_eq!(verify_final(s, &signature), CKR_FUNCTION_NOT_SUPPORTED);
        assert_eq!(
            verify_call(s, b"part", &signature),
            CKR_OPERATION_NOT_INITIALIZED
        );
    }
    // Input rules are those of signing: CKR_DATA_LEN_RANGE, after the signature length.
    let mut raw = Mech::plain(CKM_RSA_PKCS);
    assert_eq!(
        verify(s, &mut raw, rsa.public, &[1; 246], &signature),
        CKR_DATA_LEN_RANGE
    );
    assert_eq!(
        verify(s, &mut raw, rsa.public, &[], &signature),
        CKR_DATA_LEN_RANGE
    );
    assert_eq!(
        verify(s, &mut raw, rsa.public, &[1; 246], &signature[1..]),
        CKR_SIGNATURE_LEN_RANGE
    );
    assert_eq!(
        verify(s, &mut raw, rsa.public, &[1; 245], &signature),
        CKR_SIGNATURE_INVALID
    );
    let mut raw_pss = Mech::pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32);
    assert_eq!(
        verify(s, &mut raw_pss, rsa.public, &[0; 20], &signature),
        CKR_DATA_LEN_RANGE
    );
    let mut raw_ecdsa = Mech::plain(CKM_ECDSA);
    assert_eq!(
        verify(s, &mut raw_ecdsa, ec.public, &[], &[1; 64]),
        CKR_DATA_LEN_RANGE
    );
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn one_cryptographic_operation_per_session() {
    let _guard = serial();
    let (_, s) = start();
    let keys = keys(s);
    login(s);
    let f = functions();
    let rsa = keys[0];
    let mut sha256 = Mech::plain(CKM_SHA256_RSA_PKCS);
    let sign_init = |m: &mut Mech| {
        let mut mech = m.raw();
        unsafe { (f.C_SignInit.unwrap())(s, &mut mech, rsa.private) }
    };
    // Digest active: no signature, no verification.
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OK);
    assert_eq!(sign_init(&mut sha256), CKR_OPERATION_ACTIVE);
    assert_eq!(
        verify_init(s, &mut sha256, rsa.public),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(
        verify_call(s, MESSAGE, &[0; 256]),
        CKR_OPERATION_NOT_INITIALIZED,
        "no verification"
    );
    // ... but an object search is independent, as before.
    assert_eq!(
        unsafe { (f.C_FindObjectsInit.unwrap())(s, null_mut(), 0) },
        CKR_OK
    );
    assert_eq!(unsafe { (f.C_FindObjectsFinal.unwrap())(s) }, CKR_OK);
    assert_eq!(digest(s, b"abc", Some(32)).0, CKR_OK);
    // Signature active: no digest, no verification.
    assert_eq!(sign_init(&mut sha256), CKR_OK);
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OPERATION_ACTIVE);
    assert_eq!(
        verify_init(s, &mut sha256, rsa.public),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(
        digest_update(s, b"x"),
        CKR_OPERATION_NOT_INITIALIZED,
        "no digest"
    );
    assert_eq!(
        unsafe { functions_3_0().C_SessionCancel.unwrap()(s, CKF_SIGN) },
        CKR_OK
    );
    // Verification active: no digest, no signature; C_Digest* see no digest.
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(digest_init(s, CKM_SHA256), CKR_OPERATION_ACTIVE);
    assert_eq!(sign_init(&mut sha256), CKR_OPERATION_ACTIVE);
    assert_eq!(digest_final(s, Some(32)).0, CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(
        unsafe { (f.C_DigestKey.unwrap())(s, rsa.public) },
        CKR_OPERATION_NOT_INITIALIZED
    );
    // ... and the verification survived those calls.
    let signature = {
        let other = open_session(slot_of(s));
        let sig = sign(other, &mut sha256, rsa.private, MESSAGE);
        unsafe { (f.C_CloseSession.unwrap())(other) };
        sig
    };
    assert_eq!(verify_call(s, MESSAGE, &signature), CKR_OK);
    // C_SessionCancel(CKF_VERIFY) ends a verification.
    assert_eq!(verify_init(s, &mut sha256, rsa.public), CKR_OK);
    assert_eq!(
        unsafe { functions_3_0().C_SessionCancel.unwrap()(s, CKF_DIGEST) },
        CKR_OK
    );
    assert_eq!(verify_update(s, b"x"), CKR_OK);
    assert_eq!(
        unsafe { functions_3_0().C_SessionCancel.unwrap()(s, CKF_VERIFY) },
        CKR_OK
    );
    assert_eq!(verify_update(s, b"x"), CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(sign_init(&mut sha256), CKR_OK);
    assert_eq!(finalize(), CKR_OK);
}

/// Runs last in name order is not guaranteed: it makes its own calls and then checks
/// every digest and verification call in the log so far.
#[test]
fn digests_and_verifications_send_nothing_to_the_card() {
    let _guard = serial();
    let (_, s) = start();
    let keys = keys(s);
    login(s);
    for key in [keys[0], keys[3], keys[4]] {
        for (mut m, data) in cases(key.kind) {
            let signature = sign(s, &mut m, key.private, &data);
            assert_eq!(verify(s, &mut m, key.public, &data, &signature), CKR_OK);
            if m.hashes() {
                assert_eq!(
                    verify_parts(s, &mut m, key.public, &data, &signature, 9),
                    CKR_OK
                );
            }
        }
    }
    for (m, len) in DIGESTS {
        assert_eq!(digest_init(s, m), CKR_OK);
        assert_eq!(digest(s, MESSAGE, None).0, CKR_OK);
        assert_eq!(digest(s, MESSAGE, Some(len)).0, CKR_OK);
    }
    assert_eq!(finalize(), CKR_OK);
    let log = std::fs::read_to_string(log_path()).expect("debug log");
    let lines = |prefix: &str| -> Vec<&str> {
        log.lines()
            .filter(|l| l.contains(&format!("{prefix}(")))
            .collect()
    };
    let ours: Vec<&str> = [
        "C_DigestInit",
        "C_Digest",
        "C_DigestUpdate",
        "C_DigestFinal",
        "C_DigestKey",
        "C_VerifyInit",
        "C_Verify",
        "C_VerifyUpdate",
        "C_VerifyFinal",
    ]
    .iter()
    .flat_map(|name| lines(name))
    .collect();
    assert!(
        ours.len() > 150,
        "{} digest/verify calls logged",
        ours.len()
    );
    for line in &ours {
        assert!(
            line.ends_with(" apdus=0 bytes=0 tx=0"),
            "card I/O in: {line}"
        );
    }
    // The counter works: every signature did reach the card.
    let signs = lines("C_Sign");
    assert!(!signs.is_empty());
    assert!(
        signs
            .iter()
            .filter(|l| l.contains("= CKR_OK"))
            .all(|l| !l.ends_with(" apdus=0 bytes=0 tx=0")),
        "a signature without card I/O?"
    );
}
