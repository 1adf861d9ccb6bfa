//! 100 resets by "another application" injected at every point of a signature made by a
//! logged-in user, against the module's software card in process. After each reset the
//! signing call must be refused with CKR_USER_NOT_LOGGED_IN, the session must show the
//! user logged out, the module must send no VERIFY (no PIN) of its own and no PSO, the
//! card must compute no signature, no PIN try may be spent; logging in again must make
//! signing work (pkcs11-spec.md §2.4, §4.2). Its own test binary: it owns the library's
//! global state for its whole run.

mod p11;

use cryptoki_sys::*;
use eimza_pkcs11::ffi::FUNCTION_LIST as F;
use eimza_pkcs11::reader::software::{software_card, SoftCard};
use p11::in_process::*;
use sha2::Digest;
use std::ptr::null_mut;
use virtual_card::CommandCounts;

const PIN: &[u8] = b"123456";
const RESETS: usize = 100;

/// Where, in one signature, the other application resets the card.
#[derive(Clone, Copy, Debug)]
enum Point {
    /// After C_Login, before C_SignInit.
    AfterLogin,
    /// After C_SignInit, before C_Sign.
    AfterSignInit,
    /// Multi-part: after C_SignUpdate, before C_SignFinal.
    BeforeSignFinal,
    /// After one good signature, before the next C_SignInit + C_Sign.
    BetweenSignatures,
    /// After C_Login; the other application then verifies the right PIN itself, so the
    /// card *would* sign: only the module's reset detection stands in the way.
    AfterLoginThenForeignLogin,
}

const POINTS: [Point; 5] = [
    Point::AfterLogin,
    Point::AfterSignInit,
    Point::BeforeSignFinal,
    Point::BetweenSignatures,
    Point::AfterLoginThenForeignLogin,
];

fn mechanism(kind: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: kind,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

fn sign_init(session: CK_SESSION_HANDLE, kind: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE) -> CK_RV {
    let mut m = mechanism(kind);
    unsafe { (F.C_SignInit.unwrap())(session, &mut m, key) }
}

fn sign(session: CK_SESSION_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    let mut signature = vec![0u8; 64];
    let mut len = signature.len() as CK_ULONG;
    let rv = unsafe {
        (F.C_Sign.unwrap())(
            session,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            signature.as_mut_ptr(),
            &mut len,
        )
    };
    signature.truncate(len as usize);
    (rv == CKR_OK).then_some(signature).ok_or(rv)
}

fn sign_update(session: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
    unsafe { (F.C_SignUpdate.unwrap())(session, data.as_ptr() as *mut _, data.len() as CK_ULONG) }
}

fn sign_final(session: CK_SESSION_HANDLE) -> Result<Vec<u8>, CK_RV> {
    let mut signature = vec![0u8; 64];
    let mut len = signature.len() as CK_ULONG;
    let rv = unsafe { (F.C_SignFinal.unwrap())(session, signature.as_mut_ptr(), &mut len) };
    signature.truncate(len as usize);
    (rv == CKR_OK).then_some(signature).ok_or(rv)
}

/// SELECT the PKCS#15 application and VERIFY the PIN, as another application would,
/// straight to the card (not through the module).
fn foreign_login(card: &virtual_card::VirtualCard) -> bool {
    let mut select = vec![0x00, 0xA4, 0x04, 0x0C, 0x0C];
    select.extend_from_slice(&[
        0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
    ]);
    let mut verify = vec![0x00, 0x20, 0x00, 0x81, PIN.len() as u8];
    verify.extend_from_slice(PIN);
    card.transmit(&select).ends_with(&[0x90, 0x00])
        && card.transmit(&verify).ends_with(&[0x90, 0x00])
        && card.is_verified(0x81)
}

#[derive(Default, Debug)]
struct Figures {
    resets: usize,
    refused: usize,
    /// Signatures the card computed between a reset and the module's next login.
    stale_signatures: u64,
    /// PSO COMPUTE DIGITAL SIGNATURE commands the card received in that window.
    stale_sign_commands: u64,
    /// PIN-carrying VERIFYs the module sent in that window.
    stale_verifies: u64,
    logins: u64,
    foreign_verifies: u64,
    good_signatures: usize,
}

#[test]
fn hundred_injected_resets_give_no_signature_under_a_stale_login() {
    let _guard = p11::serial_in_process();
    let card_path = p11::make_card("reset-injection", &["--key", "p256"]);
    let path = card_path.display().to_string();
    std::env::set_var("EIMZA_VIRTUAL_CARD", &path);
    assert_eq!(unsafe { (F.C_Initialize.unwrap())(null_mut()) }, CKR_OK);
    let soft = software_card(&path).expect("the module's software card");
    let card = soft.card();
    let slot = software_slot();
    let session = open_session(slot).expect("C_OpenSession");
    let public_key = p256_public_key(session);
    let full_tries = card.status().pin.expect("a user PIN").tries_left;
    let start = card.command_counts();

    let mut figures = Figures::default();
    let mut failures: Vec<String> = Vec::new();
    let mut key = None;
    let message = b"reset injection: a message signed in two parts".as_slice();
    for i in 0..RESETS {
        let point = POINTS[i % POINTS.len()];
        let mut fail = |what: String| failures.push(format!("#{i} {point:?}: {what}"));
        assert_eq!(login_user(session, PIN), CKR_OK, "#{i}: C_Login");
        figures.logins += 1;
        let key = *key.get_or_insert_with(|| {
            find_first(session, CKO_PRIVATE_KEY)
                .expect("find private key")
                .expect("a private key")
        });

        // Another application resets the card; the card's counters at that moment.
        let inject = |figures: &mut Figures| -> CommandCounts {
            SoftCard::reset(&*soft);
            figures.resets += 1;
            card.command_counts()
        };
        let (at_reset, refused_rv) = match point {
            Point::AfterLogin => {
                let at_reset = inject(&mut figures);
                // The module cannot know yet: no card I/O in C_SignInit.
                let rv = match sign_init(session, CKM_ECDSA, key) {
                    CKR_OK => sign(session, &[0x11; 32]).err(),
                    rv => Some(rv),
                };
                (at_reset, rv)
            }
            Point::AfterLoginThenForeignLogin => {
                inject(&mut figures);
                if !foreign_login(card) {
                    fail("the other application could not log in".into());
                }
                figures.foreign_verifies += 1;
                // Counted from here: that VERIFY is the other application's.
                let at_reset = card.command_counts();
                let rv = match sign_init(session, CKM_ECDSA, key) {
                    CKR_OK => sign(session, &[0x22; 32]).err(),
                    rv => Some(rv),
                };
                (at_reset, rv)
            }
            Point::AfterSignInit => {
                assert_eq!(sign_init(session, CKM_ECDSA, key), CKR_OK);
                let at_reset = inject(&mut figures);
                (at_reset, sign(session, &[0x33; 32]).err())
            }
            Point::BeforeSignFinal => {
                assert_eq!(sign_init(session, CKM_ECDSA_SHA256, key), CKR_OK);
                assert_eq!(sign_update(session, &message[..20]), CKR_OK);
                let at_reset = inject(&mut figures);
                let rv = sign_update(session, &message[20..]);
                if rv != CKR_OK {
                    fail(format!("C_SignUpdate (no card I/O) returned {rv:#x}"));
                }
                (at_reset, sign_final(session).err())
            }
            Point::BetweenSignatures => {
                assert_eq!(sign_init(session, CKM_ECDSA, key), CKR_OK);
                match sign(session, &[0x44; 32]) {
                    // (and not for other data: the check itself can fail)
                    Ok(sig)
                        if p256_verifies(&public_key, &[0x44; 32], &sig)
                            && !p256_verifies(&public_key, &[0x45; 32], &sig) =>
                    {
                        figures.good_signatures += 1
                    }
                    other => fail(format!("the signature before the reset: {other:?}")),
                }
                let at_reset = inject(&mut figures);
                let rv = match sign_init(session, CKM_ECDSA, key) {
                    CKR_OK => sign(session, &[0x55; 32]).err(),
                    rv => Some(rv),
                };
                (at_reset, rv)
            }
        };

        // The refusal and the state it leaves.
        match refused_rv {
            Some(CKR_USER_NOT_LOGGED_IN) => figures.refused += 1,
            Some(rv) => fail(format!("signing returned {rv:#x}")),
            None => fail("signing succeeded under a stale login".into()),
        }
        match session_state(session) {
            Ok(CKS_RO_PUBLIC_SESSION) => {}
            other => fail(format!("session state after the refusal: {other:?}")),
        }
        let rv = sign_init(session, CKM_ECDSA, key);
        if rv != CKR_USER_NOT_LOGGED_IN {
            fail(format!("C_SignInit once logged out returned {rv:#x}"));
        }
        let now = card.command_counts();
        figures.stale_signatures += now.signatures - at_reset.signatures;
        figures.stale_sign_commands += now.sign_commands - at_reset.sign_commands;
        figures.stale_verifies += now.verify_with_data - at_reset.verify_with_data;
        let tries = card.status().pin.map(|p| p.tries_left);
        if tries != Some(full_tries) {
            fail(format!("PIN tries left {tries:?}, not {full_tries}"));
        }

        // Logging in again makes signing work.
        assert_eq!(login_user(session, PIN), CKR_OK, "#{i}: C_Login again");
        figures.logins += 1;
        if session_state(session) != Ok(CKS_RO_USER_FUNCTIONS) {
            fail("not logged in after C_Login".into());
        }
        assert_eq!(sign_init(session, CKM_ECDSA_SHA256, key), CKR_OK);
        assert_eq!(sign_update(session, message), CKR_OK);
        match sign_final(session) {
            Ok(sig) if p256_verifies(&public_key, &sha2::Sha256::digest(message), &sig) => {
                figures.good_signatures += 1
            }
            other => fail(format!("signature after logging in again: {other:?}")),
        }
        assert_eq!(unsafe { (F.C_Logout.unwrap())(session) }, CKR_OK);
    }
    let end = card.command_counts();
    assert_eq!(unsafe { (F.C_Finalize.unwrap())(null_mut()) }, CKR_OK);

    let verifies = end.verify_with_data - start.verify_with_data;
    let module_verifies = verifies - figures.foreign_verifies;
    eprintln!(
        "{} resets injected: {} refused with CKR_USER_NOT_LOGGED_IN, {} signatures \
         (and {} PSO commands, {} VERIFY) under stale state; {} VERIFY from the module \
         for {} C_Login (+{} by the other application); {} good signatures verified",
        figures.resets,
        figures.refused,
        figures.stale_signatures,
        figures.stale_sign_commands,
        figures.stale_verifies,
        module_verifies,
        figures.logins,
        figures.foreign_verifies,
        figures.good_signatures,
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(figures.resets, RESETS);
    assert_eq!(figures.refused, RESETS);
    assert_eq!(figures.stale_signatures, 0);
    assert_eq!(figures.stale_sign_commands, 0);
    assert_eq!(figures.stale_verifies, 0);
    assert_eq!(module_verifies, figures.logins, "one VERIFY per C_Login");
    assert_eq!(
        figures.good_signatures,
        RESETS + RESETS / POINTS.len(),
        "every signature outside a stale state verified"
    );
}

/// The same for the other operation that rests on a login: C_InitPIN rests on the SO
/// login. Another application resets the card and verifies the PUK itself; the
/// module's C_InitPIN must not set a PIN with that foreign security status.
#[test]
fn init_pin_after_a_reset_does_not_use_another_applications_so_login() {
    const PUK: &[u8] = b"12345678";
    const NEW_PIN: &[u8] = b"654321";
    let _guard = p11::serial_in_process();
    let card_path = p11::make_card("reset-injection-so", &["--key", "p256"]);
    let path = card_path.display().to_string();
    std::env::set_var("EIMZA_VIRTUAL_CARD", &path);
    assert_eq!(unsafe { (F.C_Initialize.unwrap())(null_mut()) }, CKR_OK);
    let soft = software_card(&path).expect("the module's software card");
    let card = soft.card();
    let slot = software_slot();
    let mut session = 0;
    let rv = unsafe {
        (F.C_OpenSession.unwrap())(
            slot,
            CKF_SERIAL_SESSION | CKF_RW_SESSION,
            null_mut(),
            None,
            &mut session,
        )
    };
    assert_eq!(rv, CKR_OK);
    let so_login = || unsafe {
        (F.C_Login.unwrap())(
            session,
            CKU_SO,
            PUK.as_ptr() as *mut _,
            PUK.len() as CK_ULONG,
        )
    };
    let init_pin = || unsafe {
        (F.C_InitPIN.unwrap())(
            session,
            NEW_PIN.as_ptr() as *mut _,
            NEW_PIN.len() as CK_ULONG,
        )
    };
    let image_pin = || {
        card.image()
            .pins
            .iter()
            .find(|p| p.reference == 0x81)
            .map(|p| p.value.clone())
    };
    let pin_before = image_pin();

    assert_eq!(so_login(), CKR_OK);
    assert_eq!(session_state(session), Ok(CKS_RW_SO_FUNCTIONS));
    SoftCard::reset(&*soft);
    let mut verify_puk = vec![0x00, 0x20, 0x00, 0x82, PUK.len() as u8];
    verify_puk.extend_from_slice(PUK);
    assert!(card.transmit(&verify_puk).ends_with(&[0x90, 0x00]));
    assert!(
        card.is_verified(0x82),
        "the other application is logged in as SO"
    );
    assert_eq!(init_pin(), CKR_USER_NOT_LOGGED_IN);
    assert_eq!(session_state(session), Ok(CKS_RW_PUBLIC_SESSION));
    assert_eq!(
        image_pin(),
        pin_before,
        "the PIN was set under a stale SO login"
    );

    // Logging in again as SO makes C_InitPIN work.
    assert_eq!(so_login(), CKR_OK);
    assert_eq!(init_pin(), CKR_OK);
    assert_ne!(image_pin(), pin_before);
    assert_eq!(unsafe { (F.C_Finalize.unwrap())(null_mut()) }, CKR_OK);
}

/// A userConsent key: the PIN given with C_Login(CKU_CONTEXT_SPECIFIC) is sent by the
/// module itself, VERIFY right before the PSO. After a reset between that login and
/// C_Sign, the module must not send it (that would log the card in again on its own).
#[test]
fn user_consent_pin_is_not_sent_after_a_reset() {
    const ROUNDS: usize = 20;
    let _guard = p11::serial_in_process();
    let card_path = p11::make_card(
        "reset-injection-consent",
        &["--key", "p256", "--user-consent"],
    );
    let path = card_path.display().to_string();
    std::env::set_var("EIMZA_VIRTUAL_CARD", &path);
    assert_eq!(unsafe { (F.C_Initialize.unwrap())(null_mut()) }, CKR_OK);
    let soft = software_card(&path).expect("the module's software card");
    let card = soft.card();
    let session = open_session(software_slot()).expect("C_OpenSession");
    let public_key = p256_public_key(session);
    let context_login = || unsafe {
        (F.C_Login.unwrap())(
            session,
            CKU_CONTEXT_SPECIFIC,
            PIN.as_ptr() as *mut _,
            PIN.len() as CK_ULONG,
        )
    };
    let start = card.command_counts();
    let (mut logins, mut refused, mut signatures) = (0u64, 0, 0u64);
    for i in 0..ROUNDS {
        assert_eq!(login_user(session, PIN), CKR_OK);
        logins += 1;
        let key = find_first(session, CKO_PRIVATE_KEY)
            .expect("find")
            .expect("a private key");
        assert_eq!(sign_init(session, CKM_ECDSA, key), CKR_OK);
        assert_eq!(context_login(), CKR_OK);
        SoftCard::reset(&*soft);
        let at_reset = card.command_counts();
        match sign(session, &[0x66; 32]) {
            Err(CKR_USER_NOT_LOGGED_IN) => refused += 1,
            other => panic!("#{i}: C_Sign after the reset: {other:?}"),
        }
        assert_eq!(
            card.command_counts(),
            at_reset,
            "#{i}: the module sent VERIFY or PSO after the reset"
        );
        assert_eq!(session_state(session), Ok(CKS_RO_PUBLIC_SESSION));

        assert_eq!(login_user(session, PIN), CKR_OK);
        logins += 1;
        assert_eq!(sign_init(session, CKM_ECDSA, key), CKR_OK);
        assert_eq!(context_login(), CKR_OK);
        let signature = sign(session, &[0x77; 32]).expect("signature after logging in again");
        assert!(p256_verifies(&public_key, &[0x77; 32], &signature));
        signatures += 1;
        assert_eq!(unsafe { (F.C_Logout.unwrap())(session) }, CKR_OK);
    }
    let sent = card.command_counts();
    assert_eq!(unsafe { (F.C_Finalize.unwrap())(null_mut()) }, CKR_OK);
    let verifies = sent.verify_with_data - start.verify_with_data;
    eprintln!(
        "userConsent: {ROUNDS} resets after C_Login(CKU_CONTEXT_SPECIFIC): {refused} refused; \
         {verifies} VERIFY = {logins} C_Login + {signatures} signatures (one each)"
    );
    assert_eq!(refused, ROUNDS);
    assert_eq!(verifies, logins + signatures);
    assert_eq!(sent.signatures - start.signatures, signatures);
}
