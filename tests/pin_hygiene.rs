//! PIN hygiene: with the most verbose log (trace: every call and every APDU), run every
//! PIN-carrying flow — login, wrong logins until blocked, PIN change, unblock with the
//! PUK (SO login + C_InitPIN, and C_SetPIN(PUK, new)), context-specific login before a
//! signature — then look for each PIN, PUK and wrong value in the log, as ASCII and as
//! hex in every spelling. Nothing may be found. Its own test binary: the log is
//! configured once per process.
//!
//! (The software card's file holds the PIN and PUK by design — it is the card — so only
//! the module's log is checked.)

mod p11;

use cryptoki_sys::*;
use p11::*;
use std::ptr::null_mut;

const PIN_FIRST: &[u8] = b"837261";
const PIN_CHANGED: &[u8] = b"594730";
const PIN_SO_RESET: &[u8] = b"246813";
const PIN_UNBLOCKED: &[u8] = b"135792";
const PUK: &[u8] = b"73920185";
const WRONG: [&[u8]; 3] = [b"918273", b"918274", b"918275"];

fn login(s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> CK_RV {
    unsafe { (functions().C_Login.unwrap())(s, user, pin.as_ptr() as *mut _, pin.len() as _) }
}

fn logout(s: CK_SESSION_HANDLE) -> CK_RV {
    unsafe { (functions().C_Logout.unwrap())(s) }
}

fn set_pin(s: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CK_RV {
    unsafe {
        (functions().C_SetPIN.unwrap())(
            s,
            old.as_ptr() as *mut _,
            old.len() as _,
            new.as_ptr() as *mut _,
            new.len() as _,
        )
    }
}

/// Every way a secret could be written: ASCII, hex upper/lower, with and without
/// spaces, and BCD (two digits per byte).
fn spellings(secret: &[u8]) -> Vec<String> {
    let ascii = String::from_utf8(secret.to_vec()).expect("digits");
    let upper: Vec<String> = secret.iter().map(|b| format!("{b:02X}")).collect();
    let lower: Vec<String> = secret.iter().map(|b| format!("{b:02x}")).collect();
    let bcd: Vec<String> = secret
        .chunks(2)
        .map(|p| format!("{}{}", p[0] as char, p.get(1).map_or('F', |d| *d as char)))
        .collect();
    vec![
        ascii,
        upper.join(" "),
        upper.concat(),
        lower.join(" "),
        lower.concat(),
        bcd.join(" "),
    ]
}

#[test]
fn no_pin_or_puk_reaches_the_trace_log() {
    let _guard = serial();
    let log_path = target_dir().join(format!("pin-hygiene-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log_path);
    std::env::set_var("EIMZA_PKCS11_LOG", &log_path);
    std::env::set_var("EIMZA_PKCS11_LOG_LEVEL", "trace");
    let card = make_card(
        "pin-hygiene",
        &[
            "--key",
            "p256",
            "--user-consent",
            "--pin",
            "837261",
            "--puk",
            "73920185",
        ],
    );
    std::env::set_var("EIMZA_VIRTUAL_CARD", &card);
    assert_eq!(initialize(), CKR_OK);
    let f = functions();
    let mut slots = [0; 8];
    let mut count = slots.len() as CK_ULONG;
    assert_eq!(
        unsafe { (f.C_GetSlotList.unwrap())(CK_TRUE, slots.as_mut_ptr(), &mut count) },
        CKR_OK
    );
    let slot = slots[count as usize - 1];
    let mut s = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(
        unsafe { (f.C_OpenSession.unwrap())(slot, flags, null_mut(), None, &mut s) },
        CKR_OK
    );

    // Login and PIN change.
    assert_eq!(login(s, CKU_USER, PIN_FIRST), CKR_OK);
    assert_eq!(set_pin(s, PIN_FIRST, PIN_CHANGED), CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    // Unblock by the SO (PUK) with C_InitPIN.
    assert_eq!(login(s, CKU_USER, WRONG[0]), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_SO, PUK), CKR_OK);
    let rv = unsafe {
        (f.C_InitPIN.unwrap())(s, PIN_SO_RESET.as_ptr() as *mut _, PIN_SO_RESET.len() as _)
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(logout(s), CKR_OK);
    // Block the PIN, then unblock with C_SetPIN(PUK, new) (RESET RETRY COUNTER PUK‖new).
    assert_eq!(login(s, CKU_USER, WRONG[1]), CKR_PIN_INCORRECT);
    assert_eq!(login(s, CKU_USER, WRONG[2]), CKR_PIN_INCORRECT);
    let third = login(s, CKU_USER, WRONG[0]);
    assert!(
        third == CKR_PIN_INCORRECT || third == CKR_PIN_LOCKED,
        "{third:#x}"
    );
    assert_eq!(login(s, CKU_USER, PIN_SO_RESET), CKR_PIN_LOCKED);
    assert_eq!(set_pin(s, PUK, PIN_UNBLOCKED), CKR_OK);
    // Login, then a signature with a userConsent key: context-specific login.
    assert_eq!(login(s, CKU_USER, PIN_UNBLOCKED), CKR_OK);
    let key = raw_find(s, &[(CKA_CLASS, CKO_PRIVATE_KEY.to_ne_bytes().to_vec())])[0];
    let mut m = CK_MECHANISM {
        mechanism: CKM_ECDSA,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    assert_eq!(unsafe { (f.C_SignInit.unwrap())(s, &mut m, key) }, CKR_OK);
    assert_eq!(login(s, CKU_CONTEXT_SPECIFIC, PIN_UNBLOCKED), CKR_OK);
    let data = [0x42u8; 32];
    let mut signature = [0u8; 64];
    let mut len = signature.len() as CK_ULONG;
    let rv = unsafe {
        (f.C_Sign.unwrap())(
            s,
            data.as_ptr() as *mut _,
            32,
            signature.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(rv, CKR_OK);
    assert_eq!(finalize(), CKR_OK);

    let log = std::fs::read_to_string(&log_path).expect("trace log written");
    // The log really is at trace level with APDUs, and the PIN commands are in it.
    for expected in [
        "C_Login(",
        "C_SetPIN(",
        "C_InitPIN(",
        "> 00 20 00 81",
        "> 00 24 00 81",
        "> 00 2C 00 81",
        "> 00 2C 02 81",
        "redacted",
    ] {
        assert!(log.contains(expected), "{expected} missing from the log");
    }
    // Control: the signed data went to the card in a PSO APDU, and the search finds it
    // (so it would find a PIN written the same way).
    assert!(
        spellings(&[b'B'; 32]).iter().any(|s| log.contains(s)),
        "the search does not see data that is in the log"
    );
    let secrets = [PIN_FIRST, PIN_CHANGED, PIN_SO_RESET, PIN_UNBLOCKED, PUK]
        .into_iter()
        .chain(WRONG);
    for secret in secrets {
        for spelling in spellings(secret) {
            assert!(
                !log.contains(&spelling),
                "{spelling:?} (a PIN or PUK) is in the log"
            );
        }
    }
    let _ = std::fs::remove_file(&log_path);
}
