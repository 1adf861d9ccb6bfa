//! Several cards at once, in process: two and four software cards, each signed from its
//! own thread through the module's own function table. Every signature is verified
//! against its card's public key, and the cards must really sign at the same moment:
//! each card's signature hook waits in a rendezvous until every card is inside a
//! signature, round after round. A module that serialised the cards (a lock shared by
//! them held across card I/O) leaves the first card waiting alone until the rendezvous
//! gives up, and the test fails. No timing is measured here (that is
//! `scripts/bench.sh`'s parallel-cards rows, BENCHMARKS.md).

mod p11;

use cryptoki_sys::*;
use eimza_pkcs11::ffi::FUNCTION_LIST as F;
use eimza_pkcs11::reader::software::software_card;
use p11::in_process::*;
use p11::rendezvous::Rendezvous;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const PIN: &[u8] = b"123456";
const ROUNDS: usize = 10;

fn token_serial(slot: CK_SLOT_ID) -> String {
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { (F.C_GetTokenInfo.unwrap())(slot, &mut info) },
        CKR_OK
    );
    String::from_utf8_lossy(&info.serialNumber)
        .trim()
        .to_string()
}

/// One card's thread: log in, then ROUNDS raw ECDSA signatures of distinct hashes, each
/// verified. Returns how many verified.
fn sign_rounds(slot: CK_SLOT_ID, card: usize) -> usize {
    let session = open_session(slot).expect("C_OpenSession");
    assert_eq!(login_user(session, PIN), CKR_OK, "card {card}: C_Login");
    let public_key = p256_public_key(session);
    let key = find_first(session, CKO_PRIVATE_KEY)
        .expect("find private key")
        .expect("a private key");
    let mut verified = 0;
    for round in 0..ROUNDS {
        let hash = [(card * 16 + round) as u8; 32];
        let mut mechanism = CK_MECHANISM {
            mechanism: CKM_ECDSA,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        assert_eq!(
            unsafe { (F.C_SignInit.unwrap())(session, &mut mechanism, key) },
            CKR_OK
        );
        let mut signature = [0u8; 64];
        let mut len = signature.len() as CK_ULONG;
        let rv = unsafe {
            (F.C_Sign.unwrap())(
                session,
                hash.as_ptr() as *mut _,
                hash.len() as CK_ULONG,
                signature.as_mut_ptr(),
                &mut len,
            )
        };
        assert_eq!(rv, CKR_OK, "card {card}, round {round}: C_Sign");
        if p256_verifies(&public_key, &hash, &signature[..len as usize]) {
            verified += 1;
        }
    }
    assert_eq!(
        unsafe { (F.C_CloseSession.unwrap())(session) },
        CKR_OK,
        "card {card}: C_CloseSession"
    );
    verified
}

fn cards_sign_at_the_same_time(count: usize) {
    let _guard = p11::serial_in_process();
    let paths: Vec<_> = (0..count)
        .map(|i| {
            let serial = format!("0A7A11E1000000{i:02}");
            p11::make_card(
                &format!("parallel-{count}-{i}"),
                &["--key", "p256", "--serial", &serial],
            )
        })
        .collect();
    // ':'-separated, ';' on Windows (like PATH).
    std::env::set_var(
        "EIMZA_VIRTUAL_CARD",
        std::env::join_paths(&paths).expect("card paths"),
    );
    assert_eq!(unsafe { (F.C_Initialize.unwrap())(null_mut()) }, CKR_OK);

    // The software slots, in EIMZA_VIRTUAL_CARD's order (PC/SC readers come first).
    let mut slots = [0; 32];
    let mut listed = slots.len() as CK_ULONG;
    assert_eq!(
        unsafe { (F.C_GetSlotList.unwrap())(CK_TRUE, slots.as_mut_ptr(), &mut listed) },
        CKR_OK
    );
    let slots: Vec<CK_SLOT_ID> = slots[..listed as usize]
        .iter()
        .copied()
        .filter(|slot| is_software_slot(*slot))
        .collect();
    assert_eq!(slots.len(), count, "one software slot per card");
    for (i, slot) in slots.iter().enumerate() {
        assert_eq!(token_serial(*slot), format!("0A7A11E1000000{i:02}"));
    }

    let rendezvous = Arc::new(Rendezvous::new(count));
    let cards: Vec<_> = paths
        .iter()
        .map(|path| software_card(&path.to_string_lossy()).expect("the module's software card"))
        .collect();
    let before: Vec<u64> = cards
        .iter()
        .map(|c| c.card().command_counts().signatures)
        .collect();
    for card in &cards {
        let rendezvous = rendezvous.clone();
        card.card()
            .set_signature_hook(Some(Arc::new(move || rendezvous.meet())));
    }
    let verified = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = slots
        .iter()
        .enumerate()
        .map(|(card, slot)| {
            let (slot, verified) = (*slot, verified.clone());
            std::thread::spawn(move || {
                verified.fetch_add(sign_rounds(slot, card), Ordering::Relaxed);
            })
        })
        .collect();
    let panics = threads.into_iter().filter_map(|t| t.join().err()).count();
    for card in &cards {
        card.card().set_signature_hook(None);
    }
    assert_eq!(unsafe { (F.C_Finalize.unwrap())(null_mut()) }, CKR_OK);

    assert_eq!(panics, 0, "a signing thread failed (see above)");
    rendezvous.assert_met(ROUNDS);
    assert_eq!(verified.load(Ordering::Relaxed), count * ROUNDS);
    for (card, before) in cards.iter().zip(before) {
        assert_eq!(
            card.card().command_counts().signatures - before,
            ROUNDS as u64,
            "each card computed exactly its own signatures"
        );
    }
}

#[test]
fn two_cards_sign_at_the_same_time() {
    cards_sign_at_the_same_time(2);
}

#[test]
fn four_cards_sign_at_the_same_time() {
    cards_sign_at_the_same_time(4);
}
