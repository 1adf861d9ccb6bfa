//! The card layer against a real software card (`virtual_card::VirtualCard`) behind the
//! in-process software reader: bind, signatures checked with the public key, PIN
//! operations, a reset by "another process", removal.
//!
//! The card image is built here from `eimza_pkcs15` encoders and fixed EC keys
//! (no certificates: public keys come from the PuKDF).

use eimza_pkcs11::card::{Card, CardError, PinStatus, PublicKey, SignAlgorithm, TokenData};
use eimza_pkcs11::reader::software::{SoftCard, SoftwareReader, VirtualSoftCard};
use eimza_pkcs11::reader::{Reader, ReaderError};
use eimza_pkcs15 as p15;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use std::sync::Arc;
use virtual_card::{CardImage, CardKey, FileNode, KeyAlgorithm, PinRecord, VirtualCard};
use zeroize::Zeroizing;

const AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];

fn ef(path: &[u16], mut body: Vec<u8>, size: usize) -> FileNode {
    body.resize(size.max(body.len()), 0);
    FileNode {
        path: path.to_vec(),
        df_name: None,
        body: Some(body),
    }
}

fn p15_path(fid: u16, len: usize) -> p15::Path {
    let mut p = vec![0x3F, 0x00, 0x3D, 0x00];
    p.extend_from_slice(&fid.to_be_bytes());
    p15::Path::with_length(&p, len as u32)
}

struct Key {
    key_ref: u8,
    algorithm: KeyAlgorithm,
    pkcs8: Vec<u8>,
    spki: Vec<u8>,
    curve: p15::ObjectIdentifier,
    bits: u32,
}

fn ec_keys() -> Vec<Key> {
    let k256 = p256::SecretKey::from_slice(&[0x42; 32]).expect("P-256 scalar");
    let k384 = p384::SecretKey::from_slice(&[0x24; 48]).expect("P-384 scalar");
    vec![
        Key {
            key_ref: 1,
            algorithm: KeyAlgorithm::P256,
            pkcs8: k256.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec(),
            spki: k256
                .public_key()
                .to_public_key_der()
                .expect("spki")
                .as_bytes()
                .to_vec(),
            curve: p15::curves::P256,
            bits: 256,
        },
        Key {
            key_ref: 2,
            algorithm: KeyAlgorithm::P384,
            pkcs8: k384.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec(),
            spki: k384
                .public_key()
                .to_public_key_der()
                .expect("spki")
                .as_bytes()
                .to_vec(),
            curve: p15::curves::P384,
            bits: 384,
        },
    ]
}

fn image(keys: &[Key]) -> CardImage {
    let pin = p15::PinObject {
        common: p15::CommonObjectAttributes {
            label: Some("PIN".into()),
            flags: p15::object_flags::PRIVATE,
            auth_id: Some(vec![0x02]),
            user_consent: None,
        },
        auth_id: Some(vec![0x01]),
        attributes: p15::PinAttributes {
            flags: p15::pin_flags::LOCAL | p15::pin_flags::INITIALIZED,
            pin_type: p15::PinType::AsciiNumeric,
            min_length: 6,
            stored_length: 6,
            max_length: Some(6),
            reference: 0x81,
            pad_char: None,
            path: None,
        },
    };
    let mut puk = pin.clone();
    puk.common.label = Some("PUK".into());
    puk.common.auth_id = None;
    puk.auth_id = Some(vec![0x02]);
    puk.attributes.flags |= p15::pin_flags::UNBLOCKING_PIN | p15::pin_flags::SO_PIN;
    puk.attributes.min_length = 8;
    puk.attributes.stored_length = 8;
    puk.attributes.max_length = Some(8);
    puk.attributes.reference = 0x82;
    let aodf = p15::encode_aodf(&[pin, puk]);

    let mut prk = Vec::new();
    let mut puk_objects = Vec::new();
    let mut files = vec![
        FileNode {
            path: vec![0x3F00],
            df_name: None,
            body: None,
        },
        FileNode {
            path: vec![0x3F00, 0x3D00],
            df_name: Some(AID.to_vec()),
            body: None,
        },
    ];
    for k in keys {
        let id = vec![k.key_ref; 20];
        let attrs = p15::CommonKeyAttributes {
            id,
            usage: p15::key_usage::SIGN | p15::key_usage::NON_REPUDIATION,
            native: true,
            access_flags: p15::key_access::SENSITIVE,
            key_reference: Some(u32::from(k.key_ref)),
        };
        let kind = p15::KeyKind::Ec {
            field_size: Some(k.bits),
            curve: Some(k.curve),
        };
        let label = format!("12345678950NES{}", k.key_ref - 1);
        prk.push(p15::PrivateKeyObject {
            common: p15::CommonObjectAttributes {
                label: Some(label.clone()),
                flags: p15::object_flags::PRIVATE,
                auth_id: Some(vec![0x01]),
                user_consent: None,
            },
            key: attrs.clone(),
            kind: kind.clone(),
            path: None,
        });
        let fid = 0x4214 + u16::from(k.key_ref);
        puk_objects.push(p15::PublicKeyObject {
            common: p15::CommonObjectAttributes {
                label: Some(label),
                ..Default::default()
            },
            key: attrs,
            kind,
            value: p15::ObjectValue::Path(p15_path(fid, k.spki.len())),
        });
        files.push(ef(&[0x3F00, 0x3D00, fid], k.spki.clone(), 512));
    }
    let prkdf = p15::encode_prkdf(&prk);
    let pukdf = p15::encode_pukdf(&puk_objects);
    let cdf: Vec<u8> = Vec::new();
    let odf = p15::encode_odf(&[
        p15::OdfEntry {
            kind: p15::OdfKind::AuthObjects,
            path: p15_path(0x4401, aodf.len()),
        },
        p15::OdfEntry {
            kind: p15::OdfKind::PrivateKeys,
            path: p15_path(0x4402, prkdf.len()),
        },
        p15::OdfEntry {
            kind: p15::OdfKind::PublicKeys,
            path: p15_path(0x4403, pukdf.len()),
        },
        p15::OdfEntry {
            kind: p15::OdfKind::Certificates,
            path: p15_path(0x4404, cdf.len()),
        },
    ]);
    let info = p15::encode_token_info(&p15::TokenInfo {
        version: 0,
        serial_number: vec![0x0A, 0x1B, 0x2C, 0x3D],
        manufacturer_id: Some("eimza software card".into()),
        label: Some("AKIS_0A1B2C3D".into()),
        token_flags: p15::token_flags::LOGIN_REQUIRED | p15::token_flags::PRN_GENERATION,
        last_update: Some("20261124120000Z".into()),
    })
    .expect("TokenInfo");
    let dir = p15::encode_dir_records(&[p15::DirRecord {
        aid: AID.to_vec(),
        label: Some("AKIS e-imza".into()),
        path: Some(vec![0x3F, 0x00, 0x3D, 0x00]),
    }]);
    files.push(ef(&[0x3F00, 0x2F00], dir, 64));
    files.push(ef(&[0x3F00, 0x3D00, 0x5031], odf, 256));
    files.push(ef(&[0x3F00, 0x3D00, 0x5032], info, 256));
    files.push(ef(&[0x3F00, 0x3D00, 0x4401], aodf, 512));
    files.push(ef(&[0x3F00, 0x3D00, 0x4402], prkdf, 1024));
    files.push(ef(&[0x3F00, 0x3D00, 0x4403], pukdf, 1024));
    files.push(ef(&[0x3F00, 0x3D00, 0x4404], cdf, 1024));
    CardImage {
        serial: vec![0x0A, 0x1B, 0x2C, 0x3D],
        files,
        keys: keys
            .iter()
            .map(|k| CardKey {
                key_ref: k.key_ref,
                algorithm: k.algorithm,
                pkcs8_der: Zeroizing::new(k.pkcs8.clone()),
                user_consent: false,
            })
            .collect(),
        pins: vec![
            PinRecord {
                reference: 0x81,
                value: Zeroizing::new(b"123456".to_vec()),
                length: 6,
                max_tries: 3,
                tries_left: 3,
            },
            PinRecord {
                reference: 0x82,
                value: Zeroizing::new(b"12345678".to_vec()),
                length: 8,
                max_tries: 10,
                tries_left: 10,
            },
        ],
    }
}

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
    assert_eq!(t.model, "eimza software card");
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
    for left in [2u8, 1] {
        assert_eq!(
            card.verify(&t.user_pin, b"999999"),
            Err(CardError::PinIncorrect { tries_left: left })
        );
    }
    assert_eq!(
        card.verify(&t.user_pin, b"999999"),
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
    let mut other = s.reader.connect().expect("second connection");
    other.reset().expect("reset");
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
