//! The debug log: enabled by EIMZA_PKCS11_LOG at the first C_Initialize, every call
//! with its arguments and result, PINs never written. Its own test binary, because
//! the log is configured once per process.

mod p11;

use cryptoki_sys::*;
use p11::*;

#[test]
fn calls_are_logged_and_pins_are_not() {
    let _guard = serial();
    let path = target_dir().join(format!("pkcs11-log-test-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&path);
    std::env::set_var("EIMZA_PKCS11_LOG", &path);
    std::env::set_var("EIMZA_PKCS11_LOG_LEVEL", "debug");
    std::env::remove_var("EIMZA_VIRTUAL_CARD");
    let f = functions();
    // Before C_Initialize nothing is configured, so nothing is written.
    let mut info: CK_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (f.C_GetInfo.unwrap())(&mut info) },
        CKR_CRYPTOKI_NOT_INITIALIZED
    );
    assert!(
        !path.exists(),
        "the log must not be opened before C_Initialize"
    );

    assert_eq!(initialize(), CKR_OK);
    let secret = b"918273";
    let rv = unsafe { (f.C_Login.unwrap())(0x1234, CKU_USER, secret.as_ptr() as *mut _, 6) };
    assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
    let old = b"56473829";
    let rv = unsafe {
        (f.C_SetPIN.unwrap())(
            0x1234,
            old.as_ptr() as *mut _,
            8,
            secret.as_ptr() as *mut _,
            6,
        )
    };
    assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
    assert_eq!(unsafe { (f.C_GetInfo.unwrap())(&mut info) }, CKR_OK);
    assert_eq!(finalize(), CKR_OK);

    let log = std::fs::read_to_string(&path).expect("log file written");
    assert!(
        log.contains("C_Initialize(pInitArgs=0x0) = CKR_OK"),
        "{log}"
    );
    assert!(log.contains("C_Login(hSession=4660, userType=1"), "{log}");
    assert!(
        log.contains("ulPinLen=6) = CKR_SESSION_HANDLE_INVALID"),
        "{log}"
    );
    assert!(
        log.contains(
            "C_SetPIN(hSession=4660, ulOldLen=8, ulNewLen=6) = CKR_SESSION_HANDLE_INVALID"
        ),
        "{log}"
    );
    assert!(log.contains("C_GetInfo("), "{log}");
    // Every call line ends with the card I/O it caused (none here: no card).
    assert!(
        log.contains("C_Initialize(pInitArgs=0x0) = CKR_OK apdus=0 bytes=0 tx=0"),
        "{log}"
    );
    assert!(
        log.lines()
            .filter(|l| l.contains(") = CKR_"))
            .all(|l| l.ends_with(" apdus=0 bytes=0 tx=0")),
        "{log}"
    );
    assert!(log.contains("C_Finalize(pReserved=0x0) = CKR_OK"), "{log}");
    assert!(
        !log.contains("918273") && !log.contains("56473829"),
        "a PIN reached the log"
    );

    // With a card: the call that binds the token shows the bind's APDUs (11 for a
    // one-key card, cache off, one transaction); the same call again shows none.
    let card = make_card("log-counters", &["--key", "rsa2048"]);
    std::env::set_var("EIMZA_VIRTUAL_CARD", &card);
    std::env::set_var("EIMZA_PKCS11_CACHE", "0");
    // The log stays open on the same file (configured once per process): read on from here.
    let before = log.len();
    assert_eq!(initialize(), CKR_OK);
    // The software card's slot: PC/SC readers (pcscd running) come first.
    let mut slots = [0; 16];
    let mut count = slots.len() as CK_ULONG;
    assert_eq!(
        unsafe { (f.C_GetSlotList.unwrap())(CK_FALSE, slots.as_mut_ptr(), &mut count) },
        CKR_OK
    );
    let slot = slots[..count as usize]
        .iter()
        .copied()
        .find(|slot| {
            let mut info: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
            let rv = unsafe { (f.C_GetSlotInfo.unwrap())(*slot, &mut info) };
            rv == CKR_OK && info.flags & CKF_HW_SLOT == 0
        })
        .expect("the software card's slot");
    let mut token: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    for _ in 0..2 {
        assert_eq!(
            unsafe { (f.C_GetTokenInfo.unwrap())(slot, &mut token) },
            CKR_OK
        );
    }
    assert_eq!(finalize(), CKR_OK);
    std::env::remove_var("EIMZA_VIRTUAL_CARD");
    std::env::remove_var("EIMZA_PKCS11_CACHE");
    let all = std::fs::read_to_string(&path).expect("log file written");
    let log = &all[before..];
    let token_calls: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("C_GetTokenInfo("))
        .collect();
    assert_eq!(token_calls.len(), 2, "{log}");
    assert!(token_calls[0].contains(" apdus=11 bytes="), "{log}");
    assert!(token_calls[0].ends_with(" tx=1"), "{log}");
    assert!(token_calls[1].ends_with(" apdus=0 bytes=0 tx=0"), "{log}");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&card);
}
