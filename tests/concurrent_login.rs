//! Threads of one application calling C_Login at the same moment on one token
//! (pkcs11-spec.md §2.7): one VERIFY reaches the card. With the right PIN one call
//! returns CKR_OK and the others CKR_USER_ALREADY_LOGGED_IN; with the same wrong PIN
//! every call returns CKR_PIN_INCORRECT and the card spends one try, not one per
//! thread. In process, against the module's software card, which answers each APDU
//! after 150 ms so the calls overlap. Its own test binary: it owns the library's
//! global state.

mod p11;

use cryptoki_sys::*;
use eimza_pkcs11::ffi::FUNCTION_LIST as F;
use eimza_pkcs11::reader::software::software_card;
use p11::in_process::*;
use std::ptr::null_mut;
use std::sync::Barrier;
use std::time::Duration;
use virtual_card::Delays;

const PIN: &[u8] = b"123456";
const WRONG: &[u8] = b"999999";
const THREADS: usize = 4;

/// C_Login(CKU_USER, pin) from `THREADS` threads released together, each on its own
/// session of the same token; the return values.
fn racing_logins(slot: CK_SLOT_ID, pin: &[u8]) -> Vec<CK_RV> {
    let sessions: Vec<CK_SESSION_HANDLE> = (0..THREADS)
        .map(|_| open_session(slot).expect("C_OpenSession"))
        .collect();
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        let calls: Vec<_> = sessions
            .iter()
            .map(|session| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    login_user(*session, pin)
                })
            })
            .collect();
        calls
            .into_iter()
            .map(|c| c.join().expect("login thread"))
            .collect()
    })
}

#[test]
fn racing_logins_send_one_verify() {
    let _guard = p11::serial_in_process();
    let card_path = p11::make_card("concurrent-login", &["--key", "p256"]);
    let path = card_path.display().to_string();
    std::env::set_var("EIMZA_VIRTUAL_CARD", &path);
    std::env::set_var("EIMZA_PKCS11_PCSC", "0");
    assert_eq!(unsafe { (F.C_Initialize.unwrap())(null_mut()) }, CKR_OK);
    let soft = software_card(&path).expect("the module's software card");
    let card = soft.card();
    let slot = software_slot();
    // Bind first (no delay needed for that), then make every APDU slow.
    let first = open_session(slot).expect("C_OpenSession");
    card.set_delays(Delays {
        per_apdu: Duration::from_millis(150),
        ..Delays::default()
    });
    let tries = |c: &virtual_card::VirtualCard| c.status().pin.expect("user PIN").tries_left;

    // The same wrong PIN from every thread: one try spent, every caller told.
    let before = card.command_counts().verify_with_data;
    let results = racing_logins(slot, WRONG);
    let verifies = card.command_counts().verify_with_data - before;
    println!("wrong PIN from {THREADS} threads: {results:02X?}, {verifies} VERIFY");
    assert_eq!(results, vec![CKR_PIN_INCORRECT; THREADS]);
    assert_eq!(verifies, 1, "one VERIFY for all the racing calls");
    assert_eq!(tries(card), 2, "one try spent, not {THREADS}");
    assert_eq!(session_state(first), Ok(CKS_RO_PUBLIC_SESSION));

    // The right PIN from every thread: one logs in, the others are told so.
    let before = card.command_counts().verify_with_data;
    let mut results = racing_logins(slot, PIN);
    let verifies = card.command_counts().verify_with_data - before;
    println!("right PIN from {THREADS} threads: {results:02X?}, {verifies} VERIFY");
    results.sort_unstable();
    let mut expected = vec![CKR_USER_ALREADY_LOGGED_IN; THREADS - 1];
    expected.push(CKR_OK);
    expected.sort_unstable();
    assert_eq!(results, expected);
    assert_eq!(verifies, 1, "one VERIFY for all the racing calls");
    assert_eq!(tries(card), 3, "the counter is full again");
    assert_eq!(session_state(first), Ok(CKS_RO_USER_FUNCTIONS));

    // One after the other, nothing is coalesced: a second wrong PIN is a second try.
    assert_eq!(unsafe { (F.C_Logout.unwrap())(first) }, CKR_OK);
    card.set_delays(Delays::default());
    let before = card.command_counts().verify_with_data;
    assert_eq!(login_user(first, WRONG), CKR_PIN_INCORRECT);
    assert_eq!(login_user(first, WRONG), CKR_PIN_INCORRECT);
    assert_eq!(card.command_counts().verify_with_data - before, 2);
    assert_eq!(tries(card), 1);
    assert_eq!(login_user(first, PIN), CKR_OK);
    assert_eq!(tries(card), 3);
    assert_eq!(unsafe { (F.C_Finalize.unwrap())(null_mut()) }, CKR_OK);
}
