//! A software card image built from `eimza_pkcs15` encoders and fixed EC keys (no
//! certificates: public keys come from the PuKDF). Shared by the integration tests.
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

pub fn image(keys: &[Key]) -> CardImage {
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
        let kind = k.kind.clone();
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
        last_update: Some(unique_last_update()),
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
