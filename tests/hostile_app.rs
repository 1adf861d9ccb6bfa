//! A hostile application through the C ABI: NULL out-parameters, wrong and huge lengths,
//! invalid and stale handles, calls out of order. Every call must return a CKR code
//! (never crash, never CKR_OK for nonsense, never CKR_GENERAL_ERROR, which is what a
//! caught panic becomes), and the module must still work afterwards.
//!
//! Pointers are NULL or valid for the length stated: a caller lying about a buffer's
//! size is undefined behaviour by the PKCS#11 contract itself and cannot be defended.

mod p11;

use cryptoki_sys::*;
use p11::*;
use std::ptr::null_mut;

const PIN: &[u8] = b"123456";
const PUK: &[u8] = b"12345678";
const HUGE: CK_ULONG = 1 << 31;

fn f() -> &'static CK_FUNCTION_LIST {
    functions()
}

/// C_Initialize over one software card; returns its slot.
fn start(card: &std::path::Path) -> CK_SLOT_ID {
    std::env::set_var("EIMZA_VIRTUAL_CARD", card);
    assert_eq!(initialize(), CKR_OK);
    let mut slots = vec![0; 16];
    let mut count = slots.len() as CK_ULONG;
    let rv = unsafe { (f().C_GetSlotList.unwrap())(CK_TRUE, slots.as_mut_ptr(), &mut count) };
    assert_eq!(rv, CKR_OK);
    slots.truncate(count as usize);
    // The software card is the last slot (PC/SC readers, if any, come first).
    *slots.last().expect("the software card's slot")
}

fn open_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
    let mut session = 0;
    let rv = unsafe {
        (f().C_OpenSession.unwrap())(slot, CKF_SERIAL_SESSION, null_mut(), None, &mut session)
    };
    assert_eq!(rv, CKR_OK);
    session
}

fn login(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    unsafe { (f().C_Login.unwrap())(session, user, pin.as_ptr() as *mut _, pin.len() as _) }
}

fn find(session: CK_SESSION_HANDLE, class: CK_OBJECT_CLASS) -> Vec<CK_OBJECT_HANDLE> {
    raw_find(session, &[(CKA_CLASS, class.to_ne_bytes().to_vec())])
}

fn sign_init(
    session: CK_SESSION_HANDLE,
    mechanism: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    let mut m = CK_MECHANISM {
        mechanism,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    unsafe { (f().C_SignInit.unwrap())(session, &mut m, key) }
}

fn sign(session: CK_SESSION_HANDLE, data: &[u8]) -> (CK_RV, Vec<u8>) {
    let mut out = vec![0u8; 512];
    let mut len = out.len() as CK_ULONG;
    let rv = unsafe {
        (f().C_Sign.unwrap())(
            session,
            data.as_ptr() as *mut _,
            data.len() as _,
            out.as_mut_ptr(),
            &mut len,
        )
    };
    out.truncate(if rv == CKR_OK { len as usize } else { 0 });
    (rv, out)
}

/// The PIN's retry counter as the token flags say (no try spent to learn it).
fn token_flags(slot: CK_SLOT_ID) -> CK_FLAGS {
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (f().C_GetTokenInfo.unwrap())(slot, &mut info) },
        CKR_OK
    );
    info.flags
}

/// The one code the spec names for this call (pkcs11-spec.md Part 2), nothing else.
fn expect(what: &str, rv: CK_RV, expected: CK_RV) {
    assert_ne!(
        rv, CKR_GENERAL_ERROR,
        "{what}: internal error (a caught panic?)"
    );
    assert_eq!(
        rv,
        expected,
        "{what}: {rv:#x} ({}), the spec says {expected:#x} ({})",
        rv_name(rv),
        rv_name(expected)
    );
}

fn rv_name(rv: CK_RV) -> String {
    format!("{:?}", cryptoki::error::Rv::from(rv))
}

#[test]
fn null_out_parameters_of_every_function_are_refused() {
    let _guard = serial();
    let card = make_card("hostile-null", &["--key", "p256"]);
    let slot = start(&card);
    let s = open_session(slot);
    assert_eq!(login(s, CKU_USER, PIN), CKR_OK);
    let key = find(s, CKO_PRIVATE_KEY)[0];
    let bad = CKR_ARGUMENTS_BAD;
    let flags_before = token_flags(slot);
    unsafe {
        let f = f();
        expect("C_GetInfo", (f.C_GetInfo.unwrap())(null_mut()), bad);
        expect(
            "C_GetFunctionList",
            (f.C_GetFunctionList.unwrap())(null_mut()),
            bad,
        );
        expect(
            "C_GetSlotList",
            (f.C_GetSlotList.unwrap())(CK_FALSE, null_mut(), null_mut()),
            bad,
        );
        let mut one = [0; 1];
        expect(
            "C_GetSlotList count",
            (f.C_GetSlotList.unwrap())(CK_FALSE, one.as_mut_ptr(), null_mut()),
            bad,
        );
        expect(
            "C_GetSlotInfo",
            (f.C_GetSlotInfo.unwrap())(slot, null_mut()),
            bad,
        );
        expect(
            "C_GetTokenInfo",
            (f.C_GetTokenInfo.unwrap())(slot, null_mut()),
            bad,
        );
        expect(
            "C_GetMechanismList",
            (f.C_GetMechanismList.unwrap())(slot, null_mut(), null_mut()),
            bad,
        );
        expect(
            "C_GetMechanismInfo",
            (f.C_GetMechanismInfo.unwrap())(slot, CKM_ECDSA, null_mut()),
            bad,
        );
        expect(
            "C_OpenSession",
            (f.C_OpenSession.unwrap())(slot, CKF_SERIAL_SESSION, null_mut(), None, null_mut()),
            bad,
        );
        expect(
            "C_GetSessionInfo",
            (f.C_GetSessionInfo.unwrap())(s, null_mut()),
            bad,
        );
        expect(
            "C_WaitForSlotEvent",
            (f.C_WaitForSlotEvent.unwrap())(CKF_DONT_BLOCK, null_mut(), null_mut()),
            bad,
        );
        // PIN pointers NULL with a length: no APDU, no try spent.
        expect(
            "C_Login NULL PIN",
            (f.C_Login.unwrap())(s, CKU_CONTEXT_SPECIFIC, null_mut(), 6),
            bad, // §2.1: pointers before the function's own checks
        );
        expect(
            "C_SetPIN NULL old",
            (f.C_SetPIN.unwrap())(s, null_mut(), 6, PIN.as_ptr() as *mut _, 6),
            bad, // §2.7: NULL is checked before the RO session
        );
        expect(
            "C_InitPIN NULL",
            (f.C_InitPIN.unwrap())(s, null_mut(), 6),
            bad,
        );
        // Templates and object lists.
        expect(
            "C_FindObjectsInit NULL template",
            (f.C_FindObjectsInit.unwrap())(s, null_mut(), 2),
            bad,
        );
        assert_eq!(
            (f.C_FindObjectsInit.unwrap())(s, null_mut(), 0),
            CKR_OK,
            "NULL, 0 is the empty template"
        );
        let mut count: CK_ULONG = 0;
        expect(
            "C_FindObjects NULL list",
            (f.C_FindObjects.unwrap())(s, null_mut(), 4, &mut count),
            bad,
        );
        let mut handles = [0; 4];
        expect(
            "C_FindObjects NULL count",
            (f.C_FindObjects.unwrap())(s, handles.as_mut_ptr(), 4, null_mut()),
            bad,
        );
        assert_eq!(
            (f.C_FindObjectsFinal.unwrap())(s),
            CKR_OK,
            "the search survived bad calls"
        );
        expect(
            "C_GetAttributeValue NULL template",
            (f.C_GetAttributeValue.unwrap())(s, key, null_mut(), 1),
            bad,
        );
        expect(
            "C_GetObjectSize",
            (f.C_GetObjectSize.unwrap())(s, key, null_mut()),
            bad,
        );
        expect(
            "C_SignInit NULL mechanism",
            (f.C_SignInit.unwrap())(s, null_mut(), key),
            bad,
        );
        expect(
            "C_GenerateRandom NULL",
            (f.C_GenerateRandom.unwrap())(s, null_mut(), 16),
            bad,
        );
        // Signing: NULL data with a length, NULL length pointer.
        assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
        let mut len: CK_ULONG = 0;
        expect(
            "C_Sign NULL data",
            (f.C_Sign.unwrap())(s, null_mut(), 32, null_mut(), &mut len),
            bad,
        );
        // A signing call that fails ends the operation, bad arguments included
        // (PKCS#11 §5.11, pkcs11-spec.md §2.6): a new one can start at once.
        let data = [7u8; 32];
        assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
        expect(
            "C_Sign NULL length",
            (f.C_Sign.unwrap())(s, data.as_ptr() as *mut _, 32, null_mut(), null_mut()),
            bad,
        );
        let (rv, _) = sign(s, &data);
        assert_eq!(
            rv, CKR_OPERATION_NOT_INITIALIZED,
            "C_Sign ended the operation"
        );
        assert_eq!(sign_init(s, CKM_ECDSA_SHA256, key), CKR_OK);
        expect(
            "C_SignUpdate NULL",
            (f.C_SignUpdate.unwrap())(s, null_mut(), 5),
            bad,
        );
        assert_eq!(
            (f.C_SignUpdate.unwrap())(s, data.as_ptr() as *mut _, 32),
            CKR_OPERATION_NOT_INITIALIZED,
            "C_SignUpdate ended the operation"
        );
        assert_eq!(sign_init(s, CKM_ECDSA_SHA256, key), CKR_OK);
        assert_eq!(
            (f.C_SignUpdate.unwrap())(s, data.as_ptr() as *mut _, 32),
            CKR_OK
        );
        expect(
            "C_SignFinal NULL length",
            (f.C_SignFinal.unwrap())(s, null_mut(), null_mut()),
            bad,
        );
        let mut out = [0u8; 64];
        let mut out_len = out.len() as CK_ULONG;
        assert_eq!(
            (f.C_SignFinal.unwrap())(s, out.as_mut_ptr(), &mut out_len),
            CKR_OPERATION_NOT_INITIALIZED,
            "C_SignFinal ended the operation"
        );
        // Too small a buffer keeps it (and touches no card): the signature follows.
        assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
        let mut small = [0u8; 10];
        let mut small_len = small.len() as CK_ULONG;
        assert_eq!(
            (f.C_Sign.unwrap())(
                s,
                data.as_ptr() as *mut _,
                32,
                small.as_mut_ptr(),
                &mut small_len
            ),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(small_len, 64);
        let (rv, signature) = sign(s, &data);
        assert_eq!((rv, signature.len()), (CKR_OK, 64));
    }
    // None of that reached the card's PIN counter, and the module still signs.
    assert_eq!(
        token_flags(slot) & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED),
        flags_before & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED)
    );
    assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
    let (rv, signature) = sign(s, &[1u8; 32]);
    assert_eq!(rv, CKR_OK);
    assert_eq!(signature.len(), 64);
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn wrong_and_huge_lengths_are_refused() {
    let _guard = serial();
    let card = make_card("hostile-lengths", &["--key", "p256"]);
    let slot = start(&card);
    let s = open_session(slot);
    unsafe {
        let f = f();
        // NULL pointers with huge counts/lengths: checked, not dereferenced.
        expect(
            "C_FindObjectsInit 2^31",
            (f.C_FindObjectsInit.unwrap())(s, null_mut(), HUGE),
            CKR_ARGUMENTS_BAD,
        );
        expect(
            "C_GetAttributeValue 2^31",
            (f.C_GetAttributeValue.unwrap())(s, 1, null_mut(), HUGE),
            CKR_ARGUMENTS_BAD,
        );
        expect(
            "C_GenerateRandom 2^31",
            (f.C_GenerateRandom.unwrap())(s, null_mut(), HUGE),
            CKR_ARGUMENTS_BAD,
        );
        expect(
            "C_Login NULL 2^31",
            (f.C_Login.unwrap())(s, CKU_USER, null_mut(), HUGE),
            CKR_ARGUMENTS_BAD,
        );
        expect(
            "C_SignUpdate NULL 2^31",
            (f.C_SignUpdate.unwrap())(s, null_mut(), HUGE),
            CKR_ARGUMENTS_BAD,
        );
        // Real but absurd PINs: empty and far too long are a length error, no try spent
        // (§2.7: outside the policy, also empty, and over 256 bytes → CKR_PIN_LEN_RANGE).
        let tries_flags = token_flags(slot) & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
        let empty = [0u8; 1];
        expect(
            "C_Login empty PIN",
            (f.C_Login.unwrap())(s, CKU_USER, empty.as_ptr() as *mut _, 0),
            CKR_PIN_LEN_RANGE,
        );
        let long = vec![b'1'; 70_000];
        expect(
            "C_Login 70000-byte PIN",
            (f.C_Login.unwrap())(s, CKU_USER, long.as_ptr() as *mut _, long.len() as _),
            CKR_PIN_LEN_RANGE,
        );
        assert_eq!(
            token_flags(slot) & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY),
            tries_flags,
            "a length error spent a try"
        );
        // Mechanism parameter lengths that do not fit the mechanism.
        assert_eq!(login(s, CKU_USER, PIN), CKR_OK);
        let key = find(s, CKO_PRIVATE_KEY)[0];
        let param = [0u64; 8];
        for len in [1, 7, 64, HUGE] {
            let mut m = CK_MECHANISM {
                mechanism: CKM_ECDSA,
                pParameter: if len == HUGE {
                    null_mut()
                } else {
                    param.as_ptr() as *mut _
                },
                ulParameterLen: len,
            };
            // §2.1: NULL with a length is a pointer error; §2.6: parameters on a
            // mechanism that takes none → CKR_MECHANISM_PARAM_INVALID.
            expect(
                &format!("C_SignInit ECDSA with {len} bytes of parameters (it has none)"),
                (f.C_SignInit.unwrap())(s, &mut m, key),
                if len == HUGE {
                    CKR_ARGUMENTS_BAD
                } else {
                    CKR_MECHANISM_PARAM_INVALID
                },
            );
        }
        // Data too long for ECDSA's raw input, and a signature buffer too small.
        assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
        let big = vec![1u8; 100_000];
        let (rv, signature) = sign(s, &big);
        // §2.6: raw ECDSA input is truncated to the field size (X9.62), so any length
        // signs, and the signature is over its leftmost 32 bytes.
        expect("C_Sign 100000 bytes of raw ECDSA input", rv, CKR_OK);
        let (rv, _, spki) = raw_attribute(s, key, CKA_PUBLIC_KEY_INFO, Some(256));
        assert_eq!(rv, CKR_OK, "CKA_PUBLIC_KEY_INFO of the private key");
        verify_ec(&spki, &big[..32], &signature);
        assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
        let data = [3u8; 32];
        let mut small = [0u8; 10];
        let mut len = small.len() as CK_ULONG;
        assert_eq!(
            (f.C_Sign.unwrap())(s, data.as_ptr() as *mut _, 32, small.as_mut_ptr(), &mut len),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 64, "the needed length is returned");
        assert!(
            small.iter().all(|b| *b == 0),
            "nothing written to a too-small buffer"
        );
        // The operation continues after BUFFER_TOO_SMALL.
        let (rv, signature) = sign(s, &data);
        assert_eq!((rv, signature.len()), (CKR_OK, 64));
        // Attribute buffers: too small → CK_UNAVAILABLE_INFORMATION, others still filled.
        let cert = find(s, CKO_CERTIFICATE)[0];
        let mut tiny = [0u8; 3];
        let mut class = [0u8; std::mem::size_of::<CK_ULONG>()];
        let mut template = [
            CK_ATTRIBUTE {
                type_: CKA_VALUE,
                pValue: tiny.as_mut_ptr() as *mut _,
                ulValueLen: 3,
            },
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                pValue: class.as_mut_ptr() as *mut _,
                ulValueLen: class.len() as _,
            },
        ];
        assert_eq!(
            (f.C_GetAttributeValue.unwrap())(s, cert, template.as_mut_ptr(), 2),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!({ template[0].ulValueLen }, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(CK_ULONG::from_ne_bytes(class), CKO_CERTIFICATE);
        // Random: zero bytes is fine, 64 KB arrives in full.
        let mut none = [0u8; 1];
        assert_eq!(
            (f.C_GenerateRandom.unwrap())(s, none.as_mut_ptr(), 0),
            CKR_OK
        );
        let mut too_much = vec![0u8; (1 << 20) + 1];
        expect(
            "C_GenerateRandom over 1 MiB",
            (f.C_GenerateRandom.unwrap())(s, too_much.as_mut_ptr(), too_much.len() as _),
            CKR_ARGUMENTS_BAD,
        );
        let mut lots = vec![0u8; 65_536];
        assert_eq!(
            (f.C_GenerateRandom.unwrap())(s, lots.as_mut_ptr(), lots.len() as _),
            CKR_OK
        );
        assert!(
            lots.iter().filter(|b| **b == 0).count() < 1024,
            "random buffer not filled"
        );
    }
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn invalid_and_stale_handles_are_refused() {
    let _guard = serial();
    let card = make_card("hostile-handles", &["--key", "p256"]);
    let slot = start(&card);
    let s = open_session(slot);
    assert_eq!(login(s, CKU_USER, PIN), CKR_OK);
    let key = find(s, CKO_PRIVATE_KEY)[0];
    let public = find(s, CKO_PUBLIC_KEY)[0];
    let cert = find(s, CKO_CERTIFICATE)[0];
    let second;
    unsafe {
        let f = f();
        for bad_slot in [slot + 1000, CK_ULONG::MAX, HUGE] {
            let mut info: CK_SLOT_INFO = std::mem::zeroed();
            expect(
                "C_GetSlotInfo bad slot",
                (f.C_GetSlotInfo.unwrap())(bad_slot, &mut info),
                CKR_SLOT_ID_INVALID,
            );
            expect(
                "C_CloseAllSessions bad slot",
                (f.C_CloseAllSessions.unwrap())(bad_slot),
                CKR_SLOT_ID_INVALID,
            );
            let mut session = 0;
            expect(
                "C_OpenSession bad slot",
                (f.C_OpenSession.unwrap())(
                    bad_slot,
                    CKF_SERIAL_SESSION,
                    null_mut(),
                    None,
                    &mut session,
                ),
                CKR_SLOT_ID_INVALID,
            );
        }
        let mut session = 0;
        expect(
            "C_OpenSession without CKF_SERIAL_SESSION",
            (f.C_OpenSession.unwrap())(slot, 0, null_mut(), None, &mut session),
            CKR_SESSION_PARALLEL_NOT_SUPPORTED,
        );
        for bad_session in [0, CK_ULONG::MAX, s + 1000, key] {
            let mut info: CK_SESSION_INFO = std::mem::zeroed();
            if bad_session == key && key == s {
                continue;
            }
            expect(
                "C_GetSessionInfo bad session",
                (f.C_GetSessionInfo.unwrap())(bad_session, &mut info),
                CKR_SESSION_HANDLE_INVALID,
            );
            expect(
                "C_SignInit bad session",
                sign_init(bad_session, CKM_ECDSA, key),
                CKR_SESSION_HANDLE_INVALID,
            );
            expect(
                "C_Logout bad session",
                (f.C_Logout.unwrap())(bad_session),
                CKR_SESSION_HANDLE_INVALID,
            );
        }
        for bad_object in [0, CK_ULONG::MAX, key + 1000, s] {
            if [key, public, cert].contains(&bad_object) {
                continue;
            }
            let (rv, _, _) = raw_attribute(s, bad_object, CKA_CLASS, Some(8));
            expect(
                "C_GetAttributeValue bad object",
                rv,
                CKR_OBJECT_HANDLE_INVALID,
            );
            expect(
                "C_SignInit bad key",
                sign_init(s, CKM_ECDSA, bad_object),
                CKR_KEY_HANDLE_INVALID, // §2.6: key handle unknown
            );
        }
        // Objects that are not signing keys, and a mechanism for the other key type
        // (§2.6, C_SignInit).
        expect(
            "C_SignInit with a public key",
            sign_init(s, CKM_ECDSA, public),
            CKR_KEY_FUNCTION_NOT_PERMITTED,
        );
        expect(
            "C_SignInit with a certificate",
            sign_init(s, CKM_ECDSA, cert),
            CKR_KEY_HANDLE_INVALID,
        );
        expect(
            "C_SignInit RSA mechanism on an EC key",
            sign_init(s, CKM_SHA256_RSA_PKCS, key),
            CKR_KEY_TYPE_INCONSISTENT,
        );
        expect(
            "C_SignInit unknown mechanism",
            sign_init(s, 0x7FFF_FFFF, key),
            CKR_MECHANISM_INVALID,
        );
        // A closed session's handle, and handles from before C_Finalize/C_Initialize.
        let other = open_session(slot);
        second = open_session(slot);
        assert_eq!((f.C_CloseSession.unwrap())(other), CKR_OK);
        expect(
            "C_CloseSession twice",
            (f.C_CloseSession.unwrap())(other),
            CKR_SESSION_HANDLE_INVALID,
        );
        expect(
            "C_SignInit closed session",
            sign_init(other, CKM_ECDSA, key),
            CKR_SESSION_HANDLE_INVALID,
        );
    }
    assert_eq!(finalize(), CKR_OK);
    let slot = start(&card);
    let fresh = open_session(slot);
    assert_eq!(login(fresh, CKU_USER, PIN), CKR_OK);
    // Session handles count from 1 again in the new state, so one of the two old
    // sessions may have the fresh one's number; the other must be unknown.
    let stale: Vec<_> = [s, second].into_iter().filter(|h| *h != fresh).collect();
    assert!(!stale.is_empty());
    for handle in stale {
        let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
        expect(
            "stale session handle",
            unsafe { (f().C_GetSessionInfo.unwrap())(handle, &mut info) },
            CKR_SESSION_HANDLE_INVALID,
        );
    }
    // Object handles come from a process-wide counter (§2.1): never handed out again.
    let current_keys = find(fresh, CKO_PRIVATE_KEY);
    assert!(
        !current_keys.contains(&key),
        "an object handle from before C_Finalize was reused"
    );
    expect(
        "stale key handle",
        sign_init(fresh, CKM_ECDSA, key),
        CKR_KEY_HANDLE_INVALID,
    );
    assert_eq!(sign_init(fresh, CKM_ECDSA, current_keys[0]), CKR_OK);
    assert_eq!(sign(fresh, &[9u8; 32]).0, CKR_OK);
    assert_eq!(finalize(), CKR_OK);
}

#[test]
fn calls_out_of_order_are_refused() {
    let _guard = serial();
    let card = make_card("hostile-order", &["--key", "p256"]);
    let slot = start(&card);
    let s = open_session(slot);
    let data = [5u8; 32];
    unsafe {
        let f = f();
        // Operations that were never started.
        let (rv, _) = sign(s, &data);
        expect(
            "C_Sign without C_SignInit",
            rv,
            CKR_OPERATION_NOT_INITIALIZED,
        );
        expect(
            "C_SignUpdate without init",
            (f.C_SignUpdate.unwrap())(s, data.as_ptr() as *mut _, 32),
            CKR_OPERATION_NOT_INITIALIZED,
        );
        let mut len: CK_ULONG = 0;
        expect(
            "C_SignFinal without init",
            (f.C_SignFinal.unwrap())(s, null_mut(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED,
        );
        let mut handles = [0; 4];
        let mut count = 0;
        expect(
            "C_FindObjects without init",
            (f.C_FindObjects.unwrap())(s, handles.as_mut_ptr(), 4, &mut count),
            CKR_OPERATION_NOT_INITIALIZED,
        );
        expect(
            "C_FindObjectsFinal without init",
            (f.C_FindObjectsFinal.unwrap())(s),
            CKR_OPERATION_NOT_INITIALIZED,
        );
        expect(
            "C_Logout before login",
            (f.C_Logout.unwrap())(s),
            CKR_USER_NOT_LOGGED_IN,
        );
        expect(
            "context login without an operation",
            login(s, CKU_CONTEXT_SPECIFIC, PIN),
            CKR_OPERATION_NOT_INITIALIZED, // §2.7: also when not logged in
        );
        // Searches: a second C_FindObjectsInit while one is active.
        assert_eq!((f.C_FindObjectsInit.unwrap())(s, null_mut(), 0), CKR_OK);
        expect(
            "C_FindObjectsInit twice",
            (f.C_FindObjectsInit.unwrap())(s, null_mut(), 0),
            CKR_OPERATION_ACTIVE,
        );
        assert_eq!(
            (f.C_FindObjects.unwrap())(s, handles.as_mut_ptr(), 4, &mut count),
            CKR_OK
        );
        assert!(count > 0, "the first search still runs");
        assert_eq!((f.C_FindObjectsFinal.unwrap())(s), CKR_OK);
        expect(
            "C_FindObjectsFinal twice",
            (f.C_FindObjectsFinal.unwrap())(s),
            CKR_OPERATION_NOT_INITIALIZED,
        );
        // Logins.
        assert_eq!(login(s, CKU_USER, PIN), CKR_OK);
        expect(
            "C_Login twice",
            login(s, CKU_USER, PIN),
            CKR_USER_ALREADY_LOGGED_IN,
        );
        expect(
            "SO login while the user is logged in",
            login(s, CKU_SO, PUK),
            // §2.7: RO sessions do not matter for an SO login; the user's login does.
            CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
        );
        let key = find(s, CKO_PRIVATE_KEY)[0];
        // Signing: init twice, final after a single-part sign, single-part after update.
        assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
        expect(
            "C_SignInit twice",
            sign_init(s, CKM_ECDSA, key),
            CKR_OPERATION_ACTIVE,
        );
        let (rv, signature) = sign(s, &data);
        assert_eq!(
            (rv, signature.len()),
            (CKR_OK, 64),
            "the first operation is intact"
        );
        expect(
            "C_SignFinal after C_Sign",
            (f.C_SignFinal.unwrap())(s, null_mut(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED,
        );
        let (rv, _) = sign(s, &data);
        expect("C_Sign twice", rv, CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(sign_init(s, CKM_ECDSA_SHA256, key), CKR_OK);
        assert_eq!(
            (f.C_SignUpdate.unwrap())(s, data.as_ptr() as *mut _, 32),
            CKR_OK
        );
        let (rv, _) = sign(s, &data);
        expect("C_Sign after C_SignUpdate", rv, CKR_OPERATION_ACTIVE);
        // §2.6: refused, and like every failed C_Sign it ended the multi-part operation.
        let mut out = [0u8; 64];
        let mut out_len = out.len() as CK_ULONG;
        assert_eq!(
            (f.C_SignFinal.unwrap())(s, out.as_mut_ptr(), &mut out_len),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // Logout in the middle of a search and a signature: both end.
        assert_eq!(sign_init(s, CKM_ECDSA, key), CKR_OK);
        assert_eq!((f.C_Logout.unwrap())(s), CKR_OK);
        // §2.6: C_Sign checks the login before any card I/O and ends the operation.
        let (rv, _) = sign(s, &data);
        expect("C_Sign after C_Logout", rv, CKR_USER_NOT_LOGGED_IN);
        let (rv, _) = sign(s, &data);
        expect(
            "C_Sign again: the operation ended",
            rv,
            CKR_OPERATION_NOT_INITIALIZED,
        );
        // §2.5: C_SignInit finds the private key and says the user is not logged in.
        expect(
            "C_SignInit on a private key after logout",
            sign_init(s, CKM_ECDSA, key),
            CKR_USER_NOT_LOGGED_IN,
        );
        // Library lifecycle.
        expect(
            "C_Initialize twice",
            initialize(),
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
        );
        let mut reserved = 1u8;
        expect(
            "C_Finalize with pReserved",
            (f.C_Finalize.unwrap())((&mut reserved as *mut u8).cast()),
            CKR_ARGUMENTS_BAD, // §2.2
        );
        assert_eq!(finalize(), CKR_OK);
        expect("C_Finalize twice", finalize(), CKR_CRYPTOKI_NOT_INITIALIZED);
        let (rv, _) = sign(s, &data);
        expect("C_Sign after C_Finalize", rv, CKR_CRYPTOKI_NOT_INITIALIZED);
        let mut info: CK_SESSION_INFO = std::mem::zeroed();
        expect(
            "C_GetSessionInfo after C_Finalize",
            (f.C_GetSessionInfo.unwrap())(s, &mut info),
            CKR_CRYPTOKI_NOT_INITIALIZED,
        );
        expect(
            "C_Finalize with pReserved after C_Finalize",
            (f.C_Finalize.unwrap())((&mut reserved as *mut u8).cast()),
            // §2.1: the library's state is checked first.
            CKR_CRYPTOKI_NOT_INITIALIZED,
        );
    }
}
