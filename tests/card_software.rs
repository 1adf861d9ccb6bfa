//! The card layer against a real software card (`virtual_card::VirtualCard`) behind the
//! in-process software reader: bind, signatures checked with the public key, PIN
//! operations, a reset by "another process", removal.
//!
//! The card image comes from `common` (EC keys, public keys in the PuKDF).

mod common;

use common::{ec_keys, image, rsa_key};
use eimza_pkcs11::card::{
    Card, CardError, HashAlg, PinStatus, PublicKey, SignAlgorithm, TokenData,
};
use eimza_pkcs11::reader::software::{SoftCard, SoftwareReader, VirtualSoftCard};
use eimza_pkcs11::reader::{Reader, ReaderError, SteppedChannel};
use std::sync::Arc;
use virtual_card::VirtualCard;

struct Setup {
    soft: Arc<VirtualSoftCard>,
    reader: SoftwareReader,
}

fn setup() -> Setup {
    let card = VirtualCard::from_image(image(&ec_keys()), None).expect("virtual card");
    let soft = Arc::new(VirtualSoftCard::new(card));
    let reader = SoftwareReader::new(
        "eimza software card 0".into(),
        Some(soft.clone() as Arc<dyn SoftCard>),
    );
    Setup { soft, reader }
}

fn connect(s: &Setup) -> Card {
    Card::new(s.reader.connect().expect("connect"))
}

fn bound(s: &Setup) -> (Card, TokenData) {
    let mut card = connect(s);
    let token = card.bind().expect("bind");
    (card, token)
}

#[test]
fn bind_reads_the_token() {
    let s = setup();
    let before = s.soft.card().stats();
    let (card, t) = bound(&s);
    let after = s.soft.card().stats();
    let apdus = after.apdus - before.apdus;
    println!(
        "bind of a 2-key EC card (no certificates, PuKDF): {apdus} APDUs, {} bytes in, {} bytes out, {} transaction(s)",
        after.bytes_in - before.bytes_in,
        after.bytes_out - before.bytes_out,
        after.transactions - before.transactions
    );
    assert_eq!(apdus, card.apdus_sent());
    assert_eq!(after.transactions - before.transactions, 1);
    // SELECT, ODF, TokenInfo, AODF, PrKDF, PuKDF, 2 SPKI files, VERIFY PIN, VERIFY PUK.
    assert_eq!(apdus, 10);
    assert_eq!(t.serial, "0A1B2C3D");
    assert_eq!(t.manufacturer, "eimza software card");
    assert_eq!(t.model, "AKIS");
    assert_eq!(t.user_pin.status, PinStatus::TriesLeft(3));
    assert_eq!(
        t.puk.as_ref().map(|p| p.status),
        Some(PinStatus::TriesLeft(10))
    );
    assert_eq!(t.keys.len(), 2);
    assert_eq!(t.keys[0].bits, 256);
    assert_eq!(t.keys[1].bits, 384);
    for (k, want) in t.keys.iter().zip(ec_keys()) {
        let PublicKey::Ec { point, .. } = &k.public else {
            panic!("EC key expected");
        };
        // The point is the SPKI's subjectPublicKey (its last 1 + 2·n bytes).
        assert!(want.spki.ends_with(point));
    }
}

#[test]
fn ecdsa_signatures_verify() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let s = setup();
    let (mut card, t) = bound(&s);
    card.verify(&t.user_pin, b"123456").expect("login");
    let hash = [0x5Au8; 32];
    let sig = card
        .sign(t.keys[0].key_ref, SignAlgorithm::Ecdsa, &hash, None)
        .expect("sign P-256");
    assert_eq!(sig.len(), 64);
    let PublicKey::Ec { point, .. } = &t.keys[0].public else {
        panic!("EC");
    };
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("P-256 point");
    let sig = p256::ecdsa::Signature::from_slice(&sig).expect("r||s");
    vk.verify_prehash(&hash, &sig)
        .expect("P-256 signature valid");

    let hash = [0xA5u8; 48];
    let sig = card
        .sign(t.keys[1].key_ref, SignAlgorithm::Ecdsa, &hash, None)
        .expect("sign P-384");
    assert_eq!(sig.len(), 96);
    let PublicKey::Ec { point, .. } = &t.keys[1].public else {
        panic!("EC");
    };
    let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("P-384 point");
    let sig = p384::ecdsa::Signature::from_slice(&sig).expect("r||s");
    vk.verify_prehash(&hash, &sig)
        .expect("P-384 signature valid");

    // An EC key refuses an RSA algorithm at MSE.
    assert_eq!(
        card.sign(t.keys[0].key_ref, SignAlgorithm::RsaPkcs1, &[1; 35], None),
        Err(CardError::DataInvalid)
    );
    // No such key.
    assert_eq!(
        card.sign(7, SignAlgorithm::Ecdsa, &[1; 32], None),
        Err(CardError::KeyNotFound)
    );
}

#[test]
fn sign_needs_login_and_logout_clears_it() {
    let s = setup();
    let (mut card, t) = bound(&s);
    assert_eq!(
        card.sign(1, SignAlgorithm::Ecdsa, &[1; 32], None),
        Err(CardError::SecurityStatusNotSatisfied)
    );
    card.verify(&t.user_pin, b"123456").expect("login");
    assert_eq!(card.pin_status(&t.user_pin), Ok(PinStatus::Verified));
    card.logout().expect("logout");
    assert_eq!(card.pin_status(&t.user_pin), Ok(PinStatus::TriesLeft(3)));
    assert_eq!(
        card.sign(1, SignAlgorithm::Ecdsa, &[1; 32], None),
        Err(CardError::SecurityStatusNotSatisfied)
    );
}

#[test]
fn pin_operations() {
    let s = setup();
    let (mut card, t) = bound(&s);
    let puk = t.puk.clone().expect("PUK");
    assert_eq!(
        card.verify(&t.user_pin, b"000000"),
        Err(CardError::PinIncorrect { tries_left: 2 })
    );
    assert_eq!(card.pin_status(&t.user_pin), Ok(PinStatus::TriesLeft(2)));
    card.change_reference_data(&t.user_pin, b"123456", b"654321")
        .expect("change PIN");
    assert_eq!(
        card.verify(&t.user_pin, b"123456"),
        Err(CardError::PinIncorrect { tries_left: 2 })
    );
    card.verify(&t.user_pin, b"654321").expect("new PIN");
    // Block the PIN, then unblock it with the PUK (P1 00).
    for left in [2u8, 1, 0] {
        assert_eq!(
            card.verify(&t.user_pin, b"999999"),
            Err(CardError::PinIncorrect { tries_left: left })
        );
    }
    // Blocked: even the right value is refused, and no try is spent.
    assert_eq!(
        card.verify(&t.user_pin, b"654321"),
        Err(CardError::PinBlocked)
    );
    assert_eq!(card.pin_status(&t.user_pin), Ok(PinStatus::Blocked));
    assert_eq!(
        card.reset_retry_counter(&t.user_pin, Some((&puk, b"00000000")), b"111111"),
        Err(CardError::PinIncorrect { tries_left: 9 })
    );
    card.reset_retry_counter(&t.user_pin, Some((&puk, b"12345678")), b"111111")
        .expect("unblock");
    card.verify(&t.user_pin, b"111111").expect("unblocked PIN");
    // SO flow: VERIFY PUK, then RRC P1 02.
    card.logout().expect("logout");
    assert_eq!(
        card.reset_retry_counter(&t.user_pin, None, b"222222"),
        Err(CardError::SecurityStatusNotSatisfied)
    );
    card.verify(&puk, b"12345678").expect("SO login");
    card.reset_retry_counter(&t.user_pin, None, b"222222")
        .expect("init PIN");
    card.verify(&t.user_pin, b"222222").expect("PIN set by SO");
}

#[test]
fn reset_by_another_process_loses_login() {
    let s = setup();
    let (mut card, t) = bound(&s);
    card.verify(&t.user_pin, b"123456").expect("login");
    card.sign(1, SignAlgorithm::Ecdsa, &[3; 32], None)
        .expect("sign");
    let epoch = card.reset_epoch();
    let before = s.soft.card().stats().apdus;
    // Another application resets the card between our operations.
    s.soft.card().reset();
    assert_eq!(
        card.sign(1, SignAlgorithm::Ecdsa, &[3; 32], None),
        Err(CardError::ResetLostLogin)
    );
    assert_eq!(
        s.soft.card().stats().apdus,
        before,
        "no APDU after the reset"
    );
    assert_eq!(card.reset_epoch(), epoch + 1);
    // Logged in again, signing works.
    card.verify(&t.user_pin, b"123456").expect("login again");
    card.sign(1, SignAlgorithm::Ecdsa, &[3; 32], None)
        .expect("sign after login");
    // A reset through the reader (another connection) is seen too.
    let mut other = s.reader.open().expect("second connection");
    SteppedChannel::reset(&mut other).expect("reset");
    assert_eq!(
        card.sign(1, SignAlgorithm::Ecdsa, &[3; 32], None),
        Err(CardError::ResetLostLogin)
    );
}

#[test]
fn removal_is_reported() {
    let s = setup();
    let (mut card, t) = bound(&s);
    let st = s.reader.state();
    assert!(st.present);
    s.soft.card().remove();
    let gone = s.reader.state();
    assert!(!gone.present);
    assert_ne!(gone.insertions, st.insertions);
    assert_eq!(
        card.verify(&t.user_pin, b"123456"),
        Err(CardError::Reader(ReaderError::Removed))
    );
    assert_eq!(s.reader.connect().err(), Some(ReaderError::NoCard));
    s.soft.card().insert();
    let back = s.reader.state();
    assert!(back.present);
    assert_ne!(back.insertions, gone.insertions);
    // The old connection stays dead; a new one binds.
    assert_eq!(
        card.verify(&t.user_pin, b"123456"),
        Err(CardError::Reader(ReaderError::Removed))
    );
    let (_card, t2) = bound(&s);
    assert_eq!(t2.serial, t.serial);
}

#[test]
fn random_from_the_card() {
    let s = setup();
    let mut card = connect(&s);
    let a = card.get_challenge(300).expect("random");
    let b = card.get_challenge(300).expect("random");
    assert_eq!(a.len(), 300);
    assert_ne!(a.to_vec(), b.to_vec());
}

#[test]
fn rsa_signatures_verify_for_every_algorithm() {
    use rsa::{Pkcs1v15Sign, Pss};
    use sha2::Digest;
    let (key, private) = rsa_key(3);
    let card = VirtualCard::from_image(image(&[key]), None).expect("card");
    let soft = Arc::new(VirtualSoftCard::new(card));
    let reader = SoftwareReader::new("rsa".into(), Some(soft.clone() as Arc<dyn SoftCard>));
    let mut card = Card::new(reader.connect().expect("connect"));
    let t = card.bind().expect("bind");
    let k = &t.keys[0];
    assert_eq!(k.bits, 3072);
    let PublicKey::Rsa { modulus, exponent } = &k.public else {
        panic!("RSA key expected");
    };
    assert_eq!(modulus.len(), 384);
    assert_ne!(modulus[0], 0);
    assert_eq!(exponent, &[0x01, 0x00, 0x01]);
    let public = private.to_public_key();
    card.verify(&t.user_pin, b"123456").expect("login");

    // PKCS#1 v1.5 over a SHA-256 DigestInfo.
    let message = b"e-imza";
    let hash = sha2::Sha256::digest(message);
    let mut digest_info = vec![
        0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    digest_info.extend_from_slice(&hash);
    let sig = card
        .sign(k.key_ref, SignAlgorithm::RsaPkcs1, &digest_info, None)
        .expect("PKCS#1 sign");
    assert_eq!(sig.len(), 384);
    public
        .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &sig)
        .expect("PKCS#1 v1.5 signature valid");

    // PSS with each hash.
    let cases: [(HashAlg, Vec<u8>); 5] = [
        (HashAlg::Sha1, sha1::Sha1::digest(message).to_vec()),
        (HashAlg::Sha224, sha2::Sha224::digest(message).to_vec()),
        (HashAlg::Sha256, sha2::Sha256::digest(message).to_vec()),
        (HashAlg::Sha384, sha2::Sha384::digest(message).to_vec()),
        (HashAlg::Sha512, sha2::Sha512::digest(message).to_vec()),
    ];
    for (alg, hash) in cases {
        let sig = card
            .sign(k.key_ref, SignAlgorithm::RsaPss(alg), &hash, None)
            .expect("PSS sign");
        assert_eq!(sig.len(), 384);
        let verified = match alg {
            HashAlg::Sha1 => public.verify(Pss::<sha1::Sha1>::new(), &hash, &sig),
            HashAlg::Sha224 => public.verify(Pss::<sha2::Sha224>::new(), &hash, &sig),
            HashAlg::Sha256 => public.verify(Pss::<sha2::Sha256>::new(), &hash, &sig),
            HashAlg::Sha384 => public.verify(Pss::<sha2::Sha384>::new(), &hash, &sig),
            HashAlg::Sha512 => public.verify(Pss::<sha2::Sha512>::new(), &hash, &sig),
        };
        verified.unwrap_or_else(|e| panic!("PSS {alg:?} signature invalid: {e}"));
    }
    // ECDSA with an RSA key: refused at MSE.
    assert_eq!(
        card.sign(k.key_ref, SignAlgorithm::Ecdsa, &[1; 32], None),
        Err(CardError::DataInvalid)
    );
}
