//! The shared card image (`eimza_pkcs15::fixture`) on a software card, with fixed EC
//! keys or a fresh RSA key (no certificates: public keys come from the PuKDF). Shared
//! by the integration tests.
#![allow(dead_code)]

// The tests run the module against software cards: a build without them would skip
// or fail everything for the wrong reason, so it stops here, loudly.
#[cfg(not(feature = "software-card"))]
compile_error!(
    "the tests need the software card: run them with the default features \
     (the `software-card` feature of eimza-pkcs11), not --no-default-features"
);

use eimza_pkcs15 as p15;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
use virtual_card::{CardImage, CardKey, FileNode, KeyAlgorithm, PinRecord};
use zeroize::Zeroizing;

pub struct Key {
    pub key_ref: u8,
    pub algorithm: KeyAlgorithm,
    pub pkcs8: Vec<u8>,
    pub spki: Vec<u8>,
    pub kind: p15::KeyKind,
}

pub fn ec_keys() -> Vec<Key> {
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
            kind: p15::KeyKind::Ec {
                field_size: Some(256),
                curve: Some(p15::curves::P256),
            },
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
            kind: p15::KeyKind::Ec {
                field_size: Some(384),
                curve: Some(p15::curves::P384),
            },
        },
    ]
}

/// A fresh RSA-3072 key (the rsa crate's default size), from the OS RNG.
pub fn rsa_key(key_ref: u8) -> (Key, rsa::PrivateKey) {
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
    use rsa::Generate;
    let key = rsa::PrivateKey::generate();
    let public = key.to_public_key();
    let k = Key {
        key_ref,
        algorithm: KeyAlgorithm::Rsa3072,
        pkcs8: key.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec(),
        spki: public
            .to_public_key_der()
            .expect("spki")
            .as_bytes()
            .to_vec(),
        kind: p15::KeyKind::Rsa {
            modulus_length: 3072,
        },
    };
    (k, key)
}

/// A lastUpdate no other image made by these tests shares (process id and a counter in
/// the fraction, which ends in 1 so DER keeps every digit): images differ in contents
/// under one serial, and a real card changes lastUpdate when its contents change.
fn unique_last_update() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("20261124120000.{}{:04}1Z", std::process::id(), n)
}

/// The shared card image (`eimza_pkcs15::fixture`) with these keys, on a software card
/// with PIN 123456 and PUK 12345678.
pub fn image(keys: &[Key]) -> CardImage {
    let card = p15::fixture::Card {
        serial: vec![0x0A, 0x1B, 0x2C, 0x3D],
        manufacturer: "eimza software card".into(),
        label: "AKIS_0A1B2C3D".into(),
        token_flags: p15::token_flags::LOGIN_REQUIRED | p15::token_flags::PRN_GENERATION,
        last_update: Some(unique_last_update()),
        keys: keys
            .iter()
            .map(|k| p15::fixture::Key {
                key_ref: k.key_ref,
                kind: k.kind.clone(),
                spki: k.spki.clone(),
                user_consent: false,
            })
            .collect(),
        declare_lengths: true,
    };
    let [mf, df] = p15::fixture::APPLICATION;
    let mut files = vec![
        FileNode {
            path: vec![mf],
            df_name: None,
            body: None,
        },
        FileNode {
            path: vec![mf, df],
            df_name: Some(p15::fixture::AID.to_vec()),
            body: None,
        },
    ];
    files.extend(card.files().iter().map(|f| FileNode {
        path: f.path.clone(),
        df_name: None,
        body: Some(f.padded()),
    }));
    CardImage {
        family: Default::default(),
        serial: card.serial.clone(),
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

/// PC/SC worker threads (named `eimza-pcsc`) of this process.
pub fn worker_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "eimza-pcsc")
        .count()
}
