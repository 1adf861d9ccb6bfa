//! The built module (libeimza_pkcs11.so, loaded by the `cryptoki` crate) over a REAL
//! pcscd with the vpcd virtual reader: software cards are served into vpcd from this
//! process (`virtual_card::serve`), and a few hand-made cards speak the vpcd protocol
//! directly (foreign cards, a card pulled in the middle of a signature).
//!
//! Ignored by a plain `cargo test` (they need a pcscd with vpcd's two readers,
//! "Virtual PCD 00 00" on 127.0.0.1:35963 and "... 00 01" on :35964, to themselves):
//! `scripts/test-pcsc-module.sh` starts one and runs them with `--ignored`.

mod common;
mod p11;

use common::worker_threads;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use p11::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use virtual_card::personalise::PIN_REFERENCE;
use virtual_card::serve::Plugged;
use virtual_card::VirtualCard;

const PIN: &str = "123456";
const READERS: [(&str, u16); 2] = [("Virtual PCD 00 00", 35963), ("Virtual PCD 00 01", 35964)];
/// vpcd notices a card at its next ATR poll (~0.44 s); generous for loaded machines.
const SEEN_WITHIN: Duration = Duration::from_secs(5);

const SERIAL_A: &str = "0A0B0C0D0E0F0001";
const SERIAL_B: &str = "0A0B0C0D0E0F0002";

/// Card A: RSA-2048, P-256, P-384. Card B: RSA-3072, P-384. Made once per process.
fn card_files() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let a = make_card(
            "pcsc-a",
            &[
                "--key", "rsa2048", "--key", "p256", "--key", "p384", "--serial", SERIAL_A,
            ],
        );
        let b = make_card(
            "pcsc-b",
            &["--key", "rsa3072", "--key", "p384", "--serial", SERIAL_B],
        );
        (a, b)
    })
}

fn card_a() -> Arc<VirtualCard> {
    Arc::new(VirtualCard::open(&card_files().0).expect("card A"))
}

fn card_b() -> Arc<VirtualCard> {
    Arc::new(VirtualCard::open(&card_files().1).expect("card B"))
}

/// What a hand-made card does with one vpcd message.
enum Reply {
    Answer(Vec<u8>),
    /// Control messages other than "get ATR" have no reply.
    Silent,
    /// Close the connection without answering: the card is pulled out.
    Pull,
}

/// A card written directly against the vpcd protocol (pcsc-stack.md): a 2-byte
/// big-endian length and a body, both ways. `handle` sees every body (1-byte controls
/// too) and is called on this thread only.
struct RawCard {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    apdus: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RawCard {
    fn new(reader: usize, handle: impl FnMut(&[u8]) -> Reply + Send + 'static) -> RawCard {
        let stop = Arc::new(AtomicBool::new(false));
        let apdus = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, apdus) = (stop.clone(), apdus.clone());
            let port = READERS[reader].1;
            std::thread::spawn(move || raw_card_loop(port, &stop, &apdus, handle))
        };
        RawCard {
            stop,
            thread: Some(thread),
            apdus,
        }
    }

    /// A card that answers "get ATR" with `atr` and every APDU with `answer(apdu)`.
    fn answering(
        reader: usize,
        atr: Vec<u8>,
        answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
    ) -> RawCard {
        RawCard::new(reader, move |body| match body {
            [0x04] => Reply::Answer(atr.clone()),
            [_] => Reply::Silent,
            apdu => Reply::Answer(answer(apdu)),
        })
    }

    fn apdus(&self) -> Vec<Vec<u8>> {
        self.apdus.lock().map(|a| a.clone()).unwrap_or_default()
    }

    fn unplug(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RawCard {
    fn drop(&mut self) {
        self.unplug();
    }
}

fn raw_card_loop(
    port: u16,
    stop: &AtomicBool,
    apdus: &Mutex<Vec<Vec<u8>>>,
    mut handle: impl FnMut(&[u8]) -> Reply,
) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    loop {
        let mut header = [0u8; 2];
        if !read_full(&mut stream, &mut header, stop) {
            return;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(header))];
        if !read_full(&mut stream, &mut body, stop) {
            return;
        }
        if body.len() > 1 {
            if let Ok(mut list) = apdus.lock() {
                list.push(body.clone());
            }
        }
        match handle(&body) {
            Reply::Answer(reply) => {
                let mut message = (reply.len() as u16).to_be_bytes().to_vec();
                message.extend_from_slice(&reply);
                if stream.write_all(&message).is_err() {
                    return;
                }
            }
            Reply::Silent => {}
            Reply::Pull => return,
        }
    }
}

/// Fill `buf`; false when the peer closed, on error, or when `stop` is set while idle.
fn read_full(stream: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return false,
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if filled == 0 && stop.load(Ordering::SeqCst) {
                    return false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

// ---- the module ----

/// Load the module over PC/SC only (no software cards) and wait until both vpcd
/// readers are empty and every event of earlier tests has been taken.
fn open() -> Pkcs11 {
    std::env::remove_var("EIMZA_VIRTUAL_CARD");
    let _ = finalize();
    let pkcs11 = Pkcs11::new(module_path()).expect("load module");
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    for (reader, (name, _)) in READERS.iter().enumerate() {
        let slot = reader_slot(&pkcs11, reader);
        assert!(
            wait_presence(&pkcs11, slot, false).is_some(),
            "a card of an earlier test is still in {name}"
        );
    }
    while pkcs11
        .get_slot_event()
        .expect("C_WaitForSlotEvent")
        .is_some()
    {}
    pkcs11
}

/// The slot of vpcd reader `reader`, by its description.
fn reader_slot(pkcs11: &Pkcs11, reader: usize) -> Slot {
    let slots = pkcs11.get_all_slots().expect("C_GetSlotList");
    *slots
        .iter()
        .find(|s| {
            pkcs11
                .get_slot_info(**s)
                .is_ok_and(|i| i.slot_description().trim_end() == READERS[reader].0)
        })
        .unwrap_or_else(|| panic!("no slot for {}", READERS[reader].0))
}

/// Poll C_GetSlotInfo until CKF_TOKEN_PRESENT is `present`; how long it took.
fn wait_presence(pkcs11: &Pkcs11, slot: Slot, present: bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < SEEN_WITHIN {
        if pkcs11.get_slot_info(slot).ok()?.token_present() == present {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Serve `card` into vpcd reader `reader` (until the result is dropped).
fn plug_into(card: Arc<VirtualCard>, reader: usize) -> Plugged {
    Plugged::new(card, format!("127.0.0.1:{}", READERS[reader].1))
}

fn plug(pkcs11: &Pkcs11, card: Arc<VirtualCard>, reader: usize) -> Plugged {
    let plugged = plug_into(card, reader);
    let slot = reader_slot(pkcs11, reader);
    assert!(
        wait_presence(pkcs11, slot, true).is_some(),
        "card never appeared"
    );
    plugged
}

fn rv<T: std::fmt::Debug>(result: cryptoki::error::Result<T>) -> RvError {
    match result {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

fn pin() -> AuthPin {
    AuthPin::new(PIN.into())
}

fn token_rv(slot: Slot) -> CK_RV {
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    unsafe { (functions().C_GetTokenInfo.unwrap())(CK_SLOT_ID::from(slot), &mut info) }
}

fn session_info_rv(session: CK_SESSION_HANDLE) -> CK_RV {
    let mut info: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    unsafe { (functions().C_GetSessionInfo.unwrap())(session, &mut info) }
}

/// Raw C_SignInit + C_Sign (cryptoki's session wrapper cannot outlive a removal test's
/// expectations about exact return values); returns (rv of C_Sign, signature).
fn raw_sign(
    session: CK_SESSION_HANDLE,
    mechanism: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> (CK_RV, Vec<u8>) {
    let f = functions();
    let mut m = CK_MECHANISM {
        mechanism,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let rv = unsafe { (f.C_SignInit.unwrap())(session, &mut m, key) };
    if rv != CKR_OK {
        return (rv, Vec::new());
    }
    let mut signature = vec![0u8; 512];
    let mut len = signature.len() as CK_ULONG;
    let rv = unsafe {
        (f.C_Sign.unwrap())(
            session,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            signature.as_mut_ptr(),
            &mut len,
        )
    };
    signature.truncate(if rv == CKR_OK { len as usize } else { 0 });
    (rv, signature)
}

fn private_keys(session: &Session) -> Vec<cryptoki::object::ObjectHandle> {
    session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .expect("find keys")
}

fn certificate_ids(session: &Session) -> Vec<Vec<u8>> {
    let certs = session
        .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
        .expect("find certificates");
    certs
        .into_iter()
        .map(|c| {
            match session
                .get_attributes(c, &[AttributeType::Value])
                .unwrap()
                .pop()
            {
                Some(Attribute::Value(v)) => v,
                other => panic!("certificate value: {other:?}"),
            }
        })
        .collect()
}

// ---- tests ----

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn hardware_slots_token_info_and_every_mechanism() {
    let _guard = serial();
    let pkcs11 = open();
    let slot_a = reader_slot(&pkcs11, 0);
    let slot_b = reader_slot(&pkcs11, 1);
    assert_ne!(slot_a, slot_b);
    let _a = plug(&pkcs11, card_a(), 0);
    let _b = plug(&pkcs11, card_b(), 1);

    for (slot, serial, keys) in [(slot_a, SERIAL_A, 3), (slot_b, SERIAL_B, 2)] {
        let info = pkcs11.get_slot_info(slot).unwrap();
        assert!(info.hardware_slot() && info.removable_device() && info.token_present());
        let token = pkcs11.get_token_info(slot).unwrap();
        assert_eq!(token.serial_number(), serial);
        assert_eq!(token.label(), format!("AKIS_{serial}"));
        assert!(token.token_initialized() && token.login_required() && token.rng());
        assert!(token.user_pin_initialized() && !token.user_pin_locked());

        let session = pkcs11.open_ro_session(slot).unwrap();
        // Not logged in: private keys are hidden, and a key handle learnt while logged
        // in cannot sign.
        assert!(private_keys(&session).is_empty());
        session.login(UserType::User, Some(&pin())).unwrap();
        let handles = private_keys(&session);
        assert_eq!(handles.len(), keys);
        session.logout().unwrap();
        assert_eq!(
            rv(session.sign(&Mechanism::Sha256RsaPkcs, handles[0], b"x")),
            RvError::UserNotLoggedIn
        );
        session.login(UserType::User, Some(&pin())).unwrap();
        let started = Instant::now();
        let mut signatures = 0;
        for key in handles {
            signatures += sign_every_mechanism(&session, key);
        }
        eprintln!(
            "{serial}: {signatures} signatures verified through pcscd in {:?}",
            started.elapsed()
        );
    }
    // RSA-3072 is announced by the mechanism info of card B's slot.
    let rsa = pkcs11
        .get_mechanism_info(slot_b, MechanismType::SHA256_RSA_PKCS)
        .unwrap();
    assert_eq!(rsa.max_key_size(), 3072);
    // Array outputs: NULL → count; too small → count and CKR_BUFFER_TOO_SMALL.
    let f = functions();
    unsafe {
        let mut count: CK_ULONG = 0;
        assert_eq!(
            (f.C_GetSlotList.unwrap())(CK_TRUE, null_mut(), &mut count),
            CKR_OK
        );
        assert!(count >= 2, "both vpcd readers hold a card");
        let mut one = [0 as CK_SLOT_ID; 1];
        let mut room: CK_ULONG = 1;
        assert_eq!(
            (f.C_GetSlotList.unwrap())(CK_TRUE, one.as_mut_ptr(), &mut room),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(room, count);
        let mut mechanisms = [0 as CK_MECHANISM_TYPE; 2];
        let mut room: CK_ULONG = 2;
        assert_eq!(
            (f.C_GetMechanismList.unwrap())(
                CK_SLOT_ID::from(slot_b),
                mechanisms.as_mut_ptr(),
                &mut room
            ),
            CKR_BUFFER_TOO_SMALL
        );
        assert!(room > 2);
    }
    let slots_before: Vec<Slot> = pkcs11.get_all_slots().unwrap();
    drop((_a, _b));
    assert_eq!(pkcs11.get_all_slots().unwrap(), slots_before);
    pkcs11.finalize().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn removal_reinsertion_and_another_card_in_the_same_reader() {
    let _guard = serial();
    let pkcs11 = open();
    let slot = reader_slot(&pkcs11, 0);
    let mut plugged = plug(&pkcs11, card_a(), 0);
    let session = pkcs11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let key = keys_of_type(&session, KeyType::EC)[0];
    let handle = session.handle();
    let (code, _) = raw_sign(handle, CKM_ECDSA_SHA256, key.handle(), b"before");
    assert_eq!(code, CKR_OK);
    let certs_a = certificate_ids(&session);

    // Card pulled before C_Sign: the call fails with "removed" or "not present"
    // whether or not the module has noticed yet.
    plugged.unplug();
    let pulled = Instant::now();
    let (code, _) = raw_sign(handle, CKM_ECDSA_SHA256, key.handle(), b"after removal");
    eprintln!(
        "C_Sign right after the card was pulled: {code:#x} in {:?}",
        pulled.elapsed()
    );
    assert!(
        [
            CKR_DEVICE_REMOVED,
            CKR_TOKEN_NOT_PRESENT,
            CKR_SESSION_HANDLE_INVALID
        ]
        .contains(&code),
        "C_Sign after removal: {code:#x}"
    );
    let seen = wait_presence(&pkcs11, slot, false).expect("removal never seen");
    eprintln!(
        "removal seen by C_GetSlotInfo {:?} after the card was pulled",
        pulled.elapsed().max(seen)
    );
    assert_eq!(session_info_rv(handle), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(token_rv(slot), CKR_TOKEN_NOT_PRESENT);
    assert_eq!(reader_slot(&pkcs11, 0), slot, "slot ID changed");
    assert!(pkcs11.get_all_slots().unwrap().contains(&slot));
    assert!(!pkcs11.get_slots_with_token().unwrap().contains(&slot));
    drop(session); // its handle is already gone with the card

    // The same card back: a new token, logged out.
    let plugged = plug(&pkcs11, card_a(), 0);
    assert_eq!(reader_slot(&pkcs11, 0), slot);
    let session = pkcs11.open_ro_session(slot).unwrap();
    assert_eq!(
        session.get_session_info().unwrap().session_state(),
        SessionState::RoPublic
    );
    assert!(private_keys(&session).is_empty(), "still logged in");
    assert!(!plugged.card.is_verified(PIN_REFERENCE));
    session.login(UserType::User, Some(&pin())).unwrap();
    let key = keys_of_type(&session, KeyType::EC)[0];
    let (code, _) = raw_sign(session.handle(), CKM_ECDSA_SHA256, key.handle(), b"again");
    assert_eq!(code, CKR_OK);
    drop(session);
    drop(plugged);
    assert!(wait_presence(&pkcs11, slot, false).is_some());

    // Another card in the same reader is a different token.
    let plugged_b = plug(&pkcs11, card_b(), 0);
    let token = pkcs11.get_token_info(slot).unwrap();
    assert_eq!(token.serial_number(), SERIAL_B);
    let session = pkcs11.open_ro_session(slot).unwrap();
    let certs_b = certificate_ids(&session);
    assert!(certs_b.iter().all(|c| !certs_a.contains(c)));
    assert!(
        private_keys(&session).is_empty(),
        "card B logged in by card A's PIN"
    );
    assert!(!plugged_b.card.is_verified(PIN_REFERENCE));
    session.login(UserType::User, Some(&pin())).unwrap();
    let rsa = keys_of_type(&session, KeyType::RSA)[0];
    let spki = certificate_spki(&session, rsa);
    let signature = session
        .sign(&Mechanism::Sha256RsaPkcs, rsa, b"card B")
        .unwrap();
    verify_rsa(&spki, &Mechanism::Sha256RsaPkcs, b"card B", &signature);

    // Swapped back to card A while the application looks away (no call in between):
    // the logged-in session of card B must not carry over to card A.
    let handle_b = session.handle();
    let mut plugged_b = plugged_b;
    plugged_b.unplug();
    let plugged_a = plug_into(card_a(), 0);
    std::thread::sleep(Duration::from_millis(1500));
    let (code, _) = raw_sign(handle_b, CKM_SHA256_RSA_PKCS, rsa.handle(), b"swapped");
    assert!(
        [CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID].contains(&code),
        "C_Sign on card B's session with card A inserted: {code:#x}"
    );
    assert_eq!(session_info_rv(handle_b), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(
        pkcs11.get_token_info(slot).unwrap().serial_number(),
        SERIAL_A
    );
    let session_a = pkcs11.open_ro_session(slot).unwrap();
    assert!(private_keys(&session_a).is_empty(), "swap kept the login");
    assert!(!plugged_a.card.is_verified(PIN_REFERENCE));
    drop((session, session_a, plugged_a));
    pkcs11.finalize().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn card_pulled_during_sign() {
    let _guard = serial();
    let pkcs11 = open();
    let slot = reader_slot(&pkcs11, 0);
    // Card A over a hand-written vpcd loop that drops the connection, unanswered, at
    // the first PSO: COMPUTE DIGITAL SIGNATURE once `pull` is set.
    let card = card_a();
    let pull = Arc::new(AtomicBool::new(false));
    let _raw = {
        let (card, pull) = (card.clone(), pull.clone());
        RawCard::new(0, move |body| match body {
            [0x00] => {
                card.power_off();
                Reply::Silent
            }
            [0x01] | [0x02] => {
                card.power_on();
                Reply::Silent
            }
            [0x04] => Reply::Answer(card.atr()),
            [_] => Reply::Silent,
            [0x00, 0x2A, 0x9E, 0x9A, ..] if pull.load(Ordering::SeqCst) => {
                card.remove();
                Reply::Pull
            }
            apdu => Reply::Answer(card.transmit(apdu)),
        })
    };
    assert!(wait_presence(&pkcs11, slot, true).is_some());
    let session = pkcs11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let key = keys_of_type(&session, KeyType::EC)[0];
    let handle = session.handle();
    assert_eq!(
        raw_sign(handle, CKM_ECDSA_SHA256, key.handle(), b"ok").0,
        CKR_OK
    );
    pull.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let (code, _) = raw_sign(handle, CKM_ECDSA_SHA256, key.handle(), b"pulled");
    eprintln!(
        "C_Sign with the card pulled mid-APDU returned {code:#x} after {:?}",
        started.elapsed()
    );
    assert!(
        code == CKR_DEVICE_REMOVED || code == CKR_TOKEN_NOT_PRESENT,
        "C_Sign: {code:#x}"
    );
    assert_eq!(session_info_rv(handle), CKR_SESSION_HANDLE_INVALID);
    assert!(wait_presence(&pkcs11, slot, false).is_some());
    assert_eq!(token_rv(slot), CKR_TOKEN_NOT_PRESENT);
    assert_eq!(reader_slot(&pkcs11, 0), slot);
    drop(session);
    pkcs11.finalize().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn reset_by_another_process_logs_out_without_replaying_the_pin() {
    let _guard = serial();
    let pkcs11 = open();
    let slot = reader_slot(&pkcs11, 0);
    let plugged = plug(&pkcs11, card_a(), 0);
    let session = pkcs11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let key = keys_of_type(&session, KeyType::EC)[0];
    session.logout().unwrap();
    let tries = plugged.card.status().pin.map(|p| p.tries_left);
    // Another application (its own PC/SC context) resets the card, 100 times, each
    // time between our C_Login and our C_Sign.
    const RESETS: usize = 100;
    let (mut refused, mut stale_signatures, mut logins) = (0, 0, 0);
    let started = Instant::now();
    for round in 0..RESETS {
        session.login(UserType::User, Some(&pin())).unwrap();
        logins += 1;
        if round % 2 == 0 {
            // Half the rounds sign once first, so the reset hits a working session.
            session
                .sign(&Mechanism::EcdsaSha256, key, b"before reset")
                .unwrap();
        }
        assert!(plugged.card.is_verified(PIN_REFERENCE));
        other_application()
            .disconnect(pcsc::Disposition::ResetCard)
            .map_err(|(_, e)| e)
            .expect("reset by the other application");
        assert!(!plugged.card.is_verified(PIN_REFERENCE));

        let (code, signature) =
            raw_sign(session.handle(), CKM_ECDSA_SHA256, key.handle(), b"after");
        if code == CKR_OK || !signature.is_empty() {
            stale_signatures += 1;
        }
        if code == CKR_USER_NOT_LOGGED_IN {
            refused += 1;
        }
        // The module did not log in again by itself: no VERIFY reached the card.
        assert!(!plugged.card.is_verified(PIN_REFERENCE), "PIN replayed");
        assert_eq!(plugged.card.status().pin.map(|p| p.tries_left), tries);
        assert_eq!(
            session.get_session_info().unwrap().session_state(),
            SessionState::RoPublic,
            "round {round}"
        );
    }
    eprintln!(
        "{RESETS} resets by another application between C_Login and C_Sign in {:.1?}: \
         {refused} refused with CKR_USER_NOT_LOGGED_IN, {stale_signatures} signatures \
         under the stale login, {logins} logins",
        started.elapsed()
    );
    assert_eq!((refused, stale_signatures), (RESETS, 0));
    assert_eq!(
        pkcs11.get_token_info(slot).unwrap().serial_number(),
        SERIAL_A
    );
    session.login(UserType::User, Some(&pin())).unwrap();
    session
        .sign(&Mechanism::EcdsaSha256, key, b"after login")
        .unwrap();
    drop(session);
    drop(plugged);
    pkcs11.finalize().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn eight_threads_sign_at_once() {
    let _guard = serial();
    let pkcs11 = open();
    let slot = reader_slot(&pkcs11, 0);
    let plugged = plug(&pkcs11, card_a(), 0);
    let login = pkcs11.open_ro_session(slot).unwrap();
    login.login(UserType::User, Some(&pin())).unwrap();
    let keys: Vec<_> = private_keys(&login)
        .into_iter()
        .map(|k| (k, certificate_spki(&login, k)))
        .collect();
    let transactions = plugged.card.stats().apdus;
    let started = Instant::now();
    let verified = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (pkcs11, keys, verified) = (&pkcs11, &keys, &verified);
            s.spawn(move || {
                let session = pkcs11.open_ro_session(slot).unwrap();
                for i in 0..5 {
                    let (key, spki) = &keys[(t + i) % keys.len()];
                    let message = format!("thread {t} message {i}");
                    let ec = spki.len() < 200;
                    let mechanism = if ec {
                        Mechanism::EcdsaSha256
                    } else {
                        Mechanism::Sha256RsaPkcs
                    };
                    let signature = session.sign(&mechanism, *key, message.as_bytes()).unwrap();
                    if ec {
                        verify_ec(
                            spki,
                            &hash(MechanismType::SHA256, message.as_bytes()),
                            &signature,
                        );
                    } else {
                        verify_rsa(spki, &mechanism, message.as_bytes(), &signature);
                    }
                    verified.fetch_add(1, Ordering::SeqCst);
                    pkcs11.get_token_info(slot).unwrap();
                }
            });
        }
    });
    assert_eq!(verified.load(Ordering::SeqCst), 40);
    eprintln!(
        "40 signatures (RSA-2048, P-256, P-384) on 8 threads through pcscd in {:?}, {} APDUs",
        started.elapsed(),
        plugged.card.stats().apdus - transactions
    );
    drop(login);
    drop(plugged);
    pkcs11.finalize().unwrap();
}

/// Two vpcd readers, each card signed from its own thread: every signature verified,
/// and in every round both cards are inside a signature at the same moment (their
/// signature hooks meet; tests/parallel_cards.rs does the same in process).
#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn two_readers_sign_at_the_same_time() {
    const ROUNDS: usize = 10;
    let _guard = serial();
    let pkcs11 = open();
    let rendezvous = Arc::new(p11::rendezvous::Rendezvous::new(READERS.len()));
    let cards = [card_a(), card_b()];
    let before: Vec<u64> = cards
        .iter()
        .map(|c| c.command_counts().signatures)
        .collect();
    for card in &cards {
        let rendezvous = rendezvous.clone();
        card.set_signature_hook(Some(Arc::new(move || rendezvous.meet())));
    }
    let plugged: Vec<Plugged> = cards
        .iter()
        .enumerate()
        .map(|(reader, card)| plug(&pkcs11, card.clone(), reader))
        .collect();
    let verified = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for reader in 0..READERS.len() {
            let (pkcs11, verified) = (&pkcs11, &verified);
            s.spawn(move || {
                let session = pkcs11.open_ro_session(reader_slot(pkcs11, reader)).unwrap();
                session.login(UserType::User, Some(&pin())).unwrap();
                let key = keys_of_type(&session, KeyType::EC)[0];
                let spki = certificate_spki(&session, key);
                for round in 0..ROUNDS {
                    let message = format!("reader {reader}, round {round}");
                    let signature = session
                        .sign(&Mechanism::EcdsaSha256, key, message.as_bytes())
                        .unwrap();
                    verify_ec(
                        &spki,
                        &hash(MechanismType::SHA256, message.as_bytes()),
                        &signature,
                    );
                    verified.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    for card in &cards {
        card.set_signature_hook(None);
    }
    drop(plugged);
    pkcs11.finalize().unwrap();
    rendezvous.assert_met(ROUNDS);
    assert_eq!(verified.load(Ordering::SeqCst), READERS.len() * ROUNDS);
    for (card, before) in cards.iter().zip(before) {
        assert_eq!(card.command_counts().signatures - before, ROUNDS as u64);
    }
    eprintln!("{ROUNDS} rounds: both vpcd cards inside a signature at the same moment");
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn slot_events_through_pcscd() {
    let _guard = serial();
    let pkcs11 = open();
    let slot = reader_slot(&pkcs11, 0);
    let f = functions();
    let wait = |flags: CK_FLAGS| -> Result<CK_SLOT_ID, CK_RV> {
        let mut id = 0;
        match unsafe { (functions().C_WaitForSlotEvent.unwrap())(flags, &mut id, null_mut()) } {
            CKR_OK => Ok(id),
            code => Err(code),
        }
    };
    assert_eq!(wait(CKF_DONT_BLOCK), Err(CKR_NO_EVENT));

    // Insertion wakes a blocked wait.
    let waiter = std::thread::spawn(move || (wait(0), Instant::now()));
    std::thread::sleep(Duration::from_millis(200));
    let plugged_at = Instant::now();
    let mut plugged = plug_into(card_a(), 0);
    let (event, at) = waiter.join().unwrap();
    assert_eq!(event, Ok(CK_SLOT_ID::from(slot)));
    eprintln!(
        "insertion reported by C_WaitForSlotEvent after {:?}",
        at - plugged_at
    );
    assert!(pkcs11.get_slot_info(slot).unwrap().token_present());
    assert_eq!(wait(CKF_DONT_BLOCK), Err(CKR_NO_EVENT));

    // Removal too.
    let waiter = std::thread::spawn(move || (wait(0), Instant::now()));
    std::thread::sleep(Duration::from_millis(200));
    // Measured from the closed vpcd connection (unplug waits for the serving thread).
    plugged.unplug();
    let pulled_at = Instant::now();
    let (event, at) = waiter.join().unwrap();
    assert_eq!(event, Ok(CK_SLOT_ID::from(slot)));
    eprintln!(
        "removal reported by C_WaitForSlotEvent after {:?}",
        at - pulled_at
    );
    assert!(!pkcs11.get_slot_info(slot).unwrap().token_present());
    assert_eq!(wait(CKF_DONT_BLOCK), Err(CKR_NO_EVENT));

    // C_Finalize from another thread releases a blocked wait.
    let waiter = std::thread::spawn(move || (wait(0), Instant::now()));
    std::thread::sleep(Duration::from_millis(300));
    let finalized_at = Instant::now();
    assert_eq!(unsafe { (f.C_Finalize.unwrap())(null_mut()) }, CKR_OK);
    let (event, at) = waiter.join().unwrap();
    assert_eq!(event, Err(CKR_CRYPTOKI_NOT_INITIALIZED));
    let took = at - finalized_at;
    eprintln!("C_Finalize released the blocked wait in {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop(pkcs11); // already finalized through the raw call
}

/// Answer of the AKIS-looking card without a PKCS#15 application: only the MF exists.
fn no_application(apdu: &[u8]) -> Vec<u8> {
    match apdu {
        [0x00, 0xA4, 0x00, _, 0x02, 0x3F, 0x00, ..] => vec![0x90, 0x00],
        [_, 0xA4, ..] | [_, 0xB0, ..] | [_, 0xB2, ..] => vec![0x6A, 0x82],
        _ => vec![0x6D, 0x00],
    }
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn foreign_cards_are_not_recognized() {
    let _guard = serial();
    let pkcs11 = open();
    // A non-AKIS ATR (a generic T=1 card) in reader 0, and the AKIS software card's ATR
    // on a card without the PKCS#15 application in reader 1.
    let foreign_atr = vec![
        0x3B, 0x88, 0x80, 0x01, 0x4A, 0x43, 0x4F, 0x50, 0x32, 0x34, 0x32, 0x52, 0x03,
    ];
    let foreign = RawCard::answering(0, foreign_atr, |_| vec![0x6D, 0x00]);
    let empty = RawCard::answering(1, virtual_card::ATR.to_vec(), no_application);
    for (reader, (name, _)) in READERS.iter().enumerate() {
        let slot = reader_slot(&pkcs11, reader);
        assert!(wait_presence(&pkcs11, slot, true).is_some());
        let info = pkcs11.get_slot_info(slot).unwrap();
        assert!(info.token_present() && info.hardware_slot());
        assert_eq!(
            rv(pkcs11.get_token_info(slot)),
            RvError::TokenNotRecognized,
            "{name}"
        );
        assert_eq!(
            rv(pkcs11.open_ro_session(slot)),
            RvError::TokenNotRecognized
        );
        assert_eq!(
            rv(pkcs11.get_mechanism_list(slot)),
            RvError::TokenNotRecognized
        );
        // Listed with tokenPresent = TRUE (a card is there), as PKCS#11 wants.
        assert!(pkcs11.get_slots_with_token().unwrap().contains(&slot));
    }
    // The foreign ATR is refused without a single APDU; the AKIS-looking card was asked
    // for the application (by AID, then through EF.DIR) and nothing else.
    assert_eq!(foreign.apdus(), Vec::<Vec<u8>>::new());
    let asked = empty.apdus();
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|a| matches!(a[1], 0xA4 | 0xB0 | 0xB2 | 0xC0)),
        "{asked:02X?}"
    );
    assert!(
        !asked.iter().any(|a| a[1] == 0x20),
        "a PIN command sent to a foreign card"
    );
    // A second query is answered from memory (no new APDUs).
    let count = asked.len();
    let _ = pkcs11.get_token_info(reader_slot(&pkcs11, 1));
    assert_eq!(empty.apdus().len(), count);

    // The verdict belongs to that insertion: an AKIS card in the same reader is bound.
    let slot = reader_slot(&pkcs11, 1);
    drop(empty);
    assert!(wait_presence(&pkcs11, slot, false).is_some());
    let _plugged = plug(&pkcs11, card_a(), 1);
    assert_eq!(
        pkcs11.get_token_info(slot).unwrap().serial_number(),
        SERIAL_A
    );
    drop(foreign);
    pkcs11.finalize().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn random_through_get_challenge_and_length_queries() {
    let _guard = serial();
    let pkcs11 = open();
    let slot = reader_slot(&pkcs11, 0);
    let plugged = plug(&pkcs11, card_a(), 0);
    let session = pkcs11.open_ro_session(slot).unwrap();
    let before = plugged.card.stats().apdus;
    let a = session.generate_random_vec(32).unwrap();
    let b = session.generate_random_vec(32).unwrap();
    assert_ne!(a, b);
    assert!(
        plugged.card.stats().apdus >= before + 2,
        "GET CHALLENGE not sent"
    );
    let long = session.generate_random_vec(1000).unwrap();
    assert_eq!(long.len(), 1000);
    assert!(long.windows(32).any(|w| w != &long[..32]));

    // Length queries answer without the card; a too-small buffer keeps the operation.
    session.login(UserType::User, Some(&pin())).unwrap();
    let rsa = keys_of_type(&session, KeyType::RSA)[0];
    let spki = certificate_spki(&session, rsa);
    let f = functions();
    let h = session.handle();
    let mut m = CK_MECHANISM {
        mechanism: CKM_SHA256_RSA_PKCS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let data = b"length queries";
    unsafe {
        assert_eq!((f.C_SignInit.unwrap())(h, &mut m, rsa.handle()), CKR_OK);
        let apdus = plugged.card.stats().apdus;
        let mut len: CK_ULONG = 0;
        let sign = f.C_Sign.unwrap();
        assert_eq!(
            sign(
                h,
                data.as_ptr() as *mut _,
                data.len() as _,
                null_mut(),
                &mut len
            ),
            CKR_OK
        );
        assert_eq!(len, 256);
        assert_eq!(
            plugged.card.stats().apdus,
            apdus,
            "length query reached the card"
        );
        let mut small = [0u8; 16];
        len = 16;
        assert_eq!(
            sign(
                h,
                data.as_ptr() as *mut _,
                data.len() as _,
                small.as_mut_ptr(),
                &mut len
            ),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 256);
        let mut signature = vec![0u8; 256];
        assert_eq!(
            sign(
                h,
                data.as_ptr() as *mut _,
                data.len() as _,
                signature.as_mut_ptr(),
                &mut len
            ),
            CKR_OK
        );
        verify_rsa(
            &spki,
            &Mechanism::Sha256RsaPkcs,
            data,
            &signature[..len as usize],
        );
    }
    drop(session);
    drop(plugged);
    pkcs11.finalize().unwrap();
}

// ---- other applications: this test binary run again as a child process ----

/// Set in a child started by [`App::start`]: the test it runs then serves commands
/// (see [`serve_if_other_application`]).
const CHILD_ENV: &str = "EIMZA_TEST_CHILD_APPLICATION";
/// A child that does not answer in this time is taken as hung (a deadlock or a wait
/// for the card that is not bounded).
const CHILD_ANSWER_WITHIN: Duration = Duration::from_secs(180);

/// Another application using the module in its own process (its own module state,
/// PC/SC context and login), driven line by line; see [`child_application`].
/// The child is this test binary running the same test (`test`, which calls
/// [`serve_if_other_application`] first), so no helper test exists that a run would
/// count as passed while it did nothing.
struct App {
    name: &'static str,
    child: std::process::Child,
    commands: std::process::ChildStdin,
    answers: std::sync::mpsc::Receiver<String>,
}

impl App {
    fn start(test: &str, name: &'static str, env: &[(&str, &str)]) -> App {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args([
                test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, name)
            .env_remove("EIMZA_VIRTUAL_CARD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the child application");
        let commands = child.stdin.take().expect("child stdin");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The test harness may print "test <name> ... " first.
                if let Some(at) = line.find("@@ ") {
                    if tx.send(line[at + 3..].to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut app = App {
            name,
            child,
            commands,
            answers,
        };
        assert_eq!(app.answer(), "ready", "{name} did not start");
        app
    }

    fn send(&mut self, command: &str) {
        writeln!(self.commands, "{command}").expect("write to the child");
        self.commands.flush().expect("flush to the child");
    }

    fn answer(&mut self) -> String {
        match self.answers.recv_timeout(CHILD_ANSWER_WITHIN) {
            Ok(answer) => answer,
            Err(e) => panic!("{}: no answer ({e}); see its output above", self.name),
        }
    }

    fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.answer()
    }

    /// `C_Finalize` and wait for the process to end.
    fn finish(mut self) -> String {
        let answer = self.ask("finalize");
        let status = self.child.wait().expect("child exit");
        assert!(status.success(), "{}: {status}", self.name);
        answer
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What one `sign KEY N` command reports.
#[derive(Debug)]
struct SignRun {
    verified: usize,
    /// Return values other than CKR_OK, by name.
    errors: String,
    median_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Unix time (µs) of the first and the last signature.
    first_us: u128,
    last_us: u128,
}

impl SignRun {
    fn parse(answer: &str) -> SignRun {
        let field = |name: &str| {
            answer
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("no {name} in '{answer}'"))
                .to_string()
        };
        SignRun {
            verified: field("verified").parse().expect("verified"),
            errors: field("errors"),
            median_ms: field("median_ms").parse().expect("median"),
            p99_ms: field("p99_ms").parse().expect("p99"),
            max_ms: field("max_ms").parse().expect("max"),
            first_us: field("first_us").parse().expect("first"),
            last_us: field("last_us").parse().expect("last"),
        }
    }
}

fn rv_text<T>(result: cryptoki::error::Result<T>) -> String {
    match result {
        Ok(_) => "Ok".into(),
        Err(Error::Pkcs11(rv, _)) => format!("{rv:?}"),
        Err(other) => format!("error {other}"),
    }
}

fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// The private key `rsa` (RSA-2048), `p256` or `p384` of card A, with its certificate's
/// public key.
fn key_named(session: &Session, name: &str) -> (cryptoki::object::ObjectHandle, Vec<u8>) {
    use der::Decode;
    let with_spki = |k| (k, p11::verify::certificate_spki(session, k));
    if name == "rsa" {
        return with_spki(keys_of_type(session, KeyType::RSA)[0]);
    }
    let point_len = if name == "p256" { 65 } else { 97 };
    keys_of_type(session, KeyType::EC)
        .into_iter()
        .map(with_spki)
        .find(|(_, spki)| {
            let parsed = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki).unwrap();
            parsed.subject_public_key.raw_bytes().len() == point_len
        })
        .unwrap_or_else(|| panic!("no {name} key"))
}

/// `n` signatures with key `name`, each verified with the key's certificate.
fn sign_many(session: &Session, name: &str, n: usize) -> String {
    let (key, spki) = key_named(session, name);
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    let mut times = Vec::new();
    let (mut verified, mut first_us, mut last_us, mut slowest) = (0, 0, 0, 0);
    for i in 0..n {
        let message = format!("application {} signature {i}", std::process::id());
        let mechanism = if name == "rsa" {
            Mechanism::Sha256RsaPkcs
        } else {
            Mechanism::EcdsaSha384
        };
        let started = Instant::now();
        let at = now_us();
        match session.sign(&mechanism, key, message.as_bytes()) {
            Ok(signature) => {
                if times.iter().all(|t| *t < started.elapsed()) {
                    slowest = i;
                }
                times.push(started.elapsed());
                if first_us == 0 {
                    first_us = at;
                }
                last_us = at;
                // Panics (and so fails the run) when a signature does not verify.
                if name == "rsa" {
                    verify_rsa(&spki, &mechanism, message.as_bytes(), &signature);
                } else {
                    let prehash = hash(MechanismType::SHA384, message.as_bytes());
                    verify_ec(&spki, &prehash, &signature);
                }
                verified += 1;
            }
            Err(e) => *errors.entry(rv_text::<()>(Err(e))).or_default() += 1,
        }
    }
    times.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let errors = if errors.is_empty() {
        "none".to_string()
    } else {
        errors
            .iter()
            .map(|(rv, count)| format!("{rv}:{count}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "verified={verified} errors={errors} median_ms={:.2} p99_ms={:.2} max_ms={:.2} \
         slowest={slowest} first_us={first_us} last_us={last_us}",
        ms(times.get(times.len() / 2)),
        ms(times.get(times.len() * 99 / 100)),
        ms(times.last()),
    )
}

/// First line of every test that starts other applications: in such a child, serve
/// the parent's commands and exit (the harness never reports the child's run); in the
/// test itself, do nothing.
fn serve_if_other_application() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child_application();
        std::process::exit(0);
    }
}

/// The child side of [`App`]: loads the module, opens an RW session on reader 0 and
/// answers each command on stdin with one `@@ ` line: `login`, `logout`, `state`,
/// `sign rsa|p256|p384 N`, `finalize` (then it exits).
fn child_application() {
    use std::io::BufRead;
    // Built by the parent already (module_path() would run cargo, which waits for the
    // parent's cargo to release its lock).
    let pkcs11 = Pkcs11::new(target_dir().join("libeimza_pkcs11.so")).expect("load module");
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = reader_slot(&pkcs11, 0);
    let session = pkcs11.open_rw_session(slot).expect("C_OpenSession");
    println!("@@ ready");
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap_or_default();
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            ["login"] => rv_text(session.login(UserType::User, Some(&pin()))),
            ["logout"] => rv_text(session.logout()),
            ["state"] => match session.get_session_info() {
                Ok(info) => format!("{:?}", info.session_state()),
                Err(e) => rv_text::<()>(Err(e)),
            },
            ["sign", key, n] => sign_many(&session, key, n.parse().expect("count")),
            ["pin-flows", file] => pin_flows_then_scan_memory(&session, file),
            ["finalize"] => {
                drop(session);
                println!("@@ {}", rv_text(pkcs11.finalize()));
                return;
            }
            _ => format!("unknown command '{line}'"),
        };
        println!("@@ {answer}");
    }
}

/// Another application: its own PC/SC context, connected (shared) to vpcd reader 0.
fn other_application() -> pcsc::Card {
    let context = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
    let name = std::ffi::CString::new(READERS[0].0).unwrap();
    context
        .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .expect("the other application connects")
}

/// A PC/SC transaction on reader 0 can be started at once (nobody left one open).
fn card_is_free() -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut card = other_application();
        let free = card.transaction().is_ok();
        let _ = tx.send(free);
        let _ = card.disconnect(pcsc::Disposition::LeaveCard);
    });
    rx.recv_timeout(Duration::from_secs(2)).unwrap_or(false)
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn two_applications_sign_500_times_each_with_their_own_key() {
    serve_if_other_application();
    let _guard = serial();
    let pkcs11 = open();
    let plugged = plug(&pkcs11, card_a(), 0);
    let mut rsa_app = App::start(
        "two_applications_sign_500_times_each_with_their_own_key",
        "rsa application",
        &[],
    );
    let mut ec_app = App::start(
        "two_applications_sign_500_times_each_with_their_own_key",
        "P-384 application",
        &[],
    );
    assert_eq!(rsa_app.ask("login"), "Ok");
    assert_eq!(ec_app.ask("login"), "Ok");
    let started = Instant::now();
    rsa_app.send("sign rsa 500");
    ec_app.send("sign p384 500");
    let (rsa_answer, ec_answer) = (rsa_app.answer(), ec_app.answer());
    eprintln!("RSA application: {rsa_answer}\nP-384 application: {ec_answer}");
    let rsa = SignRun::parse(&rsa_answer);
    let ec = SignRun::parse(&ec_answer);
    let wall = started.elapsed();
    eprintln!(
        "2 applications x 500 signatures in {wall:.1?}: RSA-2048 median {:.2} ms p99 {:.2} ms \
         max {:.2} ms ({}), P-384 median {:.2} ms p99 {:.2} ms max {:.2} ms ({})",
        rsa.median_ms,
        rsa.p99_ms,
        rsa.max_ms,
        rsa.errors,
        ec.median_ms,
        ec.p99_ms,
        ec.max_ms,
        ec.errors
    );
    assert_eq!((rsa.verified, rsa.errors.as_str()), (500, "none"));
    assert_eq!((ec.verified, ec.errors.as_str()), (500, "none"));
    // Interleaved, not one after the other.
    assert!(
        rsa.first_us < ec.last_us && ec.first_us < rsa.last_us,
        "the two runs did not overlap: {rsa:?} {ec:?}"
    );
    assert!(card_is_free(), "a PC/SC transaction was left open");
    // Both logged in: the first C_Finalize logs the card out for both.
    assert!(plugged.card.is_verified(PIN_REFERENCE));
    assert_eq!(rsa_app.finish(), "Ok");
    assert!(!plugged.card.is_verified(PIN_REFERENCE));
    assert_eq!(ec_app.finish(), "Ok");
    assert!(card_is_free());
    drop(plugged);
    pkcs11.finalize().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn logout_and_finalize_in_one_application_log_out_the_other() {
    serve_if_other_application();
    let _guard = serial();
    let pkcs11 = open();
    let plugged = plug(&pkcs11, card_a(), 0);
    let tries = || plugged.card.status().pin.map(|p| p.tries_left);
    let full = tries();
    let mut a = App::start(
        "logout_and_finalize_in_one_application_log_out_the_other",
        "application A",
        &[],
    );
    let mut b = App::start(
        "logout_and_finalize_in_one_application_log_out_the_other",
        "application B",
        &[],
    );
    let signed = |answer: String| SignRun::parse(&answer);
    assert_eq!(a.ask("login"), "Ok");
    assert_eq!(b.ask("login"), "Ok");
    assert_eq!(signed(b.ask("sign p256 1")).verified, 1);

    // A logs out: the card's security state is cleared, so B cannot sign on A's PIN.
    assert_eq!(a.ask("logout"), "Ok");
    assert!(!plugged.card.is_verified(PIN_REFERENCE));
    let refused = signed(b.ask("sign p256 1"));
    assert_eq!(
        (refused.verified, refused.errors.as_str()),
        (0, "UserNotLoggedIn:1")
    );
    assert_eq!(
        b.ask("state"),
        "RwPublic",
        "B is logged out, not left in a lie"
    );
    assert!(!plugged.card.is_verified(PIN_REFERENCE), "no PIN replayed");
    assert_eq!(tries(), full);
    assert_eq!(b.ask("login"), "Ok");
    assert_eq!(signed(b.ask("sign p256 1")).verified, 1);

    // A logs in again and ends without C_Logout: its C_Finalize logs the card out.
    assert_eq!(a.ask("login"), "Ok");
    assert_eq!(a.finish(), "Ok");
    assert!(!plugged.card.is_verified(PIN_REFERENCE));
    let refused = signed(b.ask("sign rsa 1"));
    assert_eq!(
        (refused.verified, refused.errors.as_str()),
        (0, "UserNotLoggedIn:1")
    );
    assert_eq!(b.ask("state"), "RwPublic");
    assert_eq!(tries(), full);
    assert_eq!(b.finish(), "Ok");
    drop(plugged);
    pkcs11.finalize().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn a_card_held_by_another_application_gives_a_clear_error_after_a_bounded_wait() {
    serve_if_other_application();
    let _guard = serial();
    let pkcs11 = open();
    let plugged = plug(&pkcs11, card_a(), 0);
    let mut app = App::start(
        "a_card_held_by_another_application_gives_a_clear_error_after_a_bounded_wait",
        "waiting application",
        &[("EIMZA_PKCS11_CARD_WAIT_MS", "1000")],
    );
    assert_eq!(app.ask("login"), "Ok");
    assert_eq!(SignRun::parse(&app.ask("sign p256 1")).verified, 1);

    // Another application takes the card and keeps it for 4 s.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut card = other_application();
        {
            let _tx = card.transaction().expect("transaction");
            held_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(4));
        }
        let _ = card.disconnect(pcsc::Disposition::LeaveCard);
    });
    held_rx.recv().unwrap();
    let apdus_before = plugged.card.stats().apdus;
    let started = Instant::now();
    let busy = SignRun::parse(&app.ask("sign p256 1"));
    let waited = started.elapsed();
    eprintln!(
        "C_Sign on a card held by another application: {} after {waited:.1?}",
        busy.errors
    );
    assert_eq!((busy.verified, busy.errors.as_str()), (0, "DeviceError:1"));
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(
        waited < Duration::from_millis(3500),
        "not bounded: {waited:?}"
    );
    assert_eq!(
        plugged.card.stats().apdus,
        apdus_before,
        "no APDU while held"
    );
    holder.join().unwrap();

    // The card is free again. The module could not see what happened to the card
    // meanwhile, so it took the login as lost (spec §2.6): log in, then it signs.
    let after = SignRun::parse(&app.ask("sign p256 1"));
    assert_eq!(after.errors, "UserNotLoggedIn:1");
    assert_eq!(app.ask("login"), "Ok");
    assert_eq!(SignRun::parse(&app.ask("sign p256 1")).verified, 1);
    assert_eq!(app.finish(), "Ok");
    assert!(card_is_free());
    drop(plugged);
    pkcs11.finalize().unwrap();
}

/// Writable memory of this process (heap, stacks, anonymous and library data maps).
fn writable_memory() -> Vec<(usize, Vec<u8>)> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let mut mem = std::fs::File::open("/proc/self/mem").expect("mem");
    let mut regions = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = line.split_whitespace().nth(5).unwrap_or("");
        if !perms.starts_with("rw") || name == "[vvar]" || name == "[vsyscall]" {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        let mut bytes = vec![0u8; end - start];
        if mem.seek(SeekFrom::Start(start as u64)).is_ok() && mem.read_exact(&mut bytes).is_ok() {
            regions.push((start, bytes));
        }
    }
    regions
}

fn occurrences(regions: &[(usize, Vec<u8>)], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    for (start, bytes) in regions {
        for (i, window) in bytes.windows(needle.len()).enumerate() {
            if window == needle {
                found.push(start + i);
            }
        }
    }
    found
}

/// Child side of the memory test: the PINs come from `file` (never as literals, so
/// they are not in the binary), are passed to the module from buffers this code wipes
/// after each call, and after every PIN flow the whole writable memory of the process
/// is searched for each of them. A control value left in an ordinary heap buffer must
/// be found, or the search proves nothing.
fn pin_flows_then_scan_memory(session: &Session, file: &str) -> String {
    use zeroize::Zeroize;
    let mut text = std::fs::read(file).expect("PIN file");
    let values: Vec<zeroize::Zeroizing<Vec<u8>>> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| zeroize::Zeroizing::new(l.to_vec()))
        .collect();
    text.zeroize();
    let [default_pin, pin, new_pin, wrong, control] = &values[..] else {
        panic!("PIN file: card's PIN, pin, new pin, wrong pin, control")
    };
    let f = functions();
    let h = session.handle();
    let call = |name: &str, rv: CK_RV, want: CK_RV| assert_eq!(rv, want, "{name}");
    unsafe {
        let login =
            |p: &[u8]| (f.C_Login.unwrap())(h, CKU_USER, p.as_ptr() as *mut _, p.len() as _);
        let set_pin = |old: &[u8], new: &[u8]| {
            (f.C_SetPIN.unwrap())(
                h,
                old.as_ptr() as *mut _,
                old.len() as _,
                new.as_ptr() as *mut _,
                new.len() as _,
            )
        };
        call("C_SetPIN(default, pin)", set_pin(default_pin, pin), CKR_OK);
        call("C_Login(wrong)", login(wrong), CKR_PIN_INCORRECT);
        call("C_Login", login(pin), CKR_OK);
        let key = keys_of_type(session, KeyType::EC)[0];
        let (rv, _) = raw_sign(h, CKM_ECDSA_SHA256, key.handle(), b"memory test");
        call("C_Sign", rv, CKR_OK);
        call("C_SetPIN(pin, new)", set_pin(pin, new_pin), CKR_OK);
        call("C_Logout", (f.C_Logout.unwrap())(h), CKR_OK);
        call("C_Login(new)", login(new_pin), CKR_OK);
        call("C_SetPIN(new, pin)", set_pin(new_pin, default_pin), CKR_OK);
        call("C_Logout", (f.C_Logout.unwrap())(h), CKR_OK);
    }
    // An ordinary (not wiped) heap copy of the control value, alive during the scan.
    let control_copy: Vec<u8> = control.to_vec();
    let regions = writable_memory();
    let total: usize = regions.iter().map(|(_, b)| b.len()).sum();
    let mut report = format!("scanned={}KiB", total / 1024);
    // The test's own copies (wiped when this function returns) are not the module's.
    let own = |value: &[u8], hits: Vec<usize>| -> usize {
        hits.into_iter()
            .filter(|at| *at != value.as_ptr() as usize)
            .count()
    };
    for (name, value) in [("pin", pin), ("new_pin", new_pin), ("wrong", wrong)] {
        let hits = occurrences(&regions, value);
        report += &format!(" {name}={}", own(value, hits));
    }
    let control_hits = own(control, occurrences(&regions, control));
    report += &format!(" control={control_hits}");
    drop(control_copy);
    for mut region in regions {
        region.1.zeroize();
    }
    report
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn no_pin_left_in_the_memory_of_an_application_after_pin_flows() {
    serve_if_other_application();
    let _guard = serial();
    let pkcs11 = open();
    let plugged = plug(&pkcs11, card_a(), 0);
    // Fresh random values each run: a PIN that happens to be in memory for another
    // reason cannot pass unnoticed twice.
    let seed = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
    let random = hash(MechanismType::SHA256, seed.as_bytes());
    let digits =
        |bytes: &[u8]| -> String { bytes.iter().map(|b| char::from(b'0' + b % 10)).collect() };
    let pin_file = target_dir().join("pin-memory-test.txt");
    let control = format!("control-{}", digits(&random[18..24]));
    // Card A has the default PIN, which is common enough to be in memory by chance:
    // the flow changes it to a random one first and only random values are searched.
    let (first, new_pin, wrong) = (
        digits(&random[..6]),
        digits(&random[6..12]),
        digits(&random[12..18]),
    );
    std::fs::write(
        &pin_file,
        format!("{PIN}\n{first}\n{new_pin}\n{wrong}\n{control}\n"),
    )
    .unwrap();
    let mut app = App::start(
        "no_pin_left_in_the_memory_of_an_application_after_pin_flows",
        "PIN memory application",
        &[],
    );
    let report = app.ask(&format!("pin-flows {}", pin_file.display()));
    let _ = std::fs::remove_file(&pin_file);
    eprintln!("memory of the application after login, sign, PIN change and back: {report}");
    assert!(
        report.contains(" control=") && !report.contains(" control=0"),
        "{report}"
    );
    for name in ["pin", "new_pin", "wrong"] {
        assert!(
            report.contains(&format!(" {name}=0")),
            "{name} left in memory: {report}"
        );
    }
    assert_eq!(app.finish(), "Ok");
    assert!(card_is_free());
    drop(plugged);
    pkcs11.finalize().unwrap();
}

/// After C_Finalize returns, no thread of the module is left: applications unload the
/// module and exit right after it, and a worker still inside libpcsclite then raced
/// pcsc-lite's exit-time clean-up (pkcs11-tool aborted with "double free or
/// corruption" in CI). Two cards, one logged in (LOGOUT at C_Finalize), one only bound.
#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-module.sh"]
fn no_worker_thread_outlives_c_finalize() {
    let _guard = serial();
    let pkcs11 = open();
    let slot_a = reader_slot(&pkcs11, 0);
    let slot_b = reader_slot(&pkcs11, 1);
    let _a = plug(&pkcs11, card_a(), 0);
    let _b = plug(&pkcs11, card_b(), 1);
    let session = pkcs11.open_ro_session(slot_a).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    assert_eq!(
        pkcs11.get_token_info(slot_b).unwrap().serial_number(),
        SERIAL_B
    );
    assert_eq!(worker_threads(), 2, "one worker per bound card");
    // The session stays open: C_Finalize itself logs out and closes the connections.
    std::mem::forget(session);
    assert_eq!(finalize(), CKR_OK);
    assert_eq!(worker_threads(), 0, "a worker outlived C_Finalize");
    assert!(card_is_free());
}
