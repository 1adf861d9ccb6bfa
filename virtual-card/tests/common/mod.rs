//! A small hand-made card image for tests (no personalisation needed): real keys, the
//! file structure of spec §1.3 with recognisable dummy contents.
#![allow(dead_code)]

use std::sync::OnceLock;

use getrandom::SysRng;
use rsa::pkcs8::EncodePrivateKey;
use rsa::Generate;
use virtual_card::{CardImage, CardKey, FileNode, KeyAlgorithm, PinRecord, VirtualCard};
use zeroize::Zeroizing;

pub const AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];
pub const PIN: &[u8] = b"123456";
pub const PUK: &[u8] = b"12345678";
pub const SERIAL: [u8; 8] = [0x0C, 0x0C, 0x0C, 0x0C, 0x01, 0x02, 0x03, 0x04];

/// PKCS#8 of one key per algorithm, generated once per test binary (RSA-3072
/// generation takes seconds).
pub fn pkcs8(algorithm: KeyAlgorithm) -> Vec<u8> {
    static KEYS: [OnceLock<Vec<u8>>; 4] = [const { OnceLock::new() }; 4];
    let slot = match algorithm {
        KeyAlgorithm::Rsa2048 => 0,
        KeyAlgorithm::Rsa3072 => 1,
        KeyAlgorithm::P256 => 2,
        KeyAlgorithm::P384 => 3,
    };
    KEYS[slot]
        .get_or_init(|| {
            let der = match algorithm {
                KeyAlgorithm::Rsa2048 => rsa::PrivateKey::new(&mut SysRng, 2048)
                    .expect("rsa keygen")
                    .to_pkcs8_der(),
                KeyAlgorithm::Rsa3072 => rsa::PrivateKey::new(&mut SysRng, 3072)
                    .expect("rsa keygen")
                    .to_pkcs8_der(),
                KeyAlgorithm::P256 => p256::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng)
                    .expect("p256 keygen")
                    .to_pkcs8_der(),
                KeyAlgorithm::P384 => p384::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng)
                    .expect("p384 keygen")
                    .to_pkcs8_der(),
            };
            der.expect("pkcs8").as_bytes().to_vec()
        })
        .clone()
}

/// Dummy EF content: `30 82 LL LL` + `len` bytes of `fill`, then `pad` zero bytes.
pub fn der_blob(len: usize, fill: u8, pad: usize) -> Vec<u8> {
    let mut body = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
    body.extend(std::iter::repeat_n(fill, len));
    body.extend(std::iter::repeat_n(0, pad));
    body
}

fn ef(fids: &[u16], body: Vec<u8>) -> FileNode {
    let mut path = vec![0x3F00];
    path.extend_from_slice(fids);
    FileNode {
        path,
        df_name: None,
        body: Some(body),
    }
}

/// A card with the given keys (key references 1, 2, ...), PIN 123456 (3 tries),
/// PUK 12345678 (10 tries).
pub fn image(keys: &[(KeyAlgorithm, bool)]) -> CardImage {
    let mut files = vec![
        FileNode {
            path: vec![0x3F00],
            df_name: None,
            body: None,
        },
        ef(&[0x2F00], der_blob(20, 0x61, 12)),
        FileNode {
            path: vec![0x3F00, 0x3D00],
            df_name: Some(AID.to_vec()),
            body: None,
        },
        ef(&[0x3D00, 0x5031], der_blob(40, 0x11, 24)),
        ef(&[0x3D00, 0x5032], der_blob(60, 0x12, 24)),
        ef(&[0x3D00, 0x4401], der_blob(100, 0x01, 50)),
        ef(&[0x3D00, 0x4402], der_blob(150, 0x02, 50)),
        ef(&[0x3D00, 0x4403], der_blob(150, 0x03, 50)),
        ef(&[0x3D00, 0x4404], der_blob(300, 0x04, 100)),
        ef(&[0x3D00, 0x430D], der_blob(700, 0x0D, 300)),
        ef(&[0x3D00, 0x430E], der_blob(650, 0x0E, 300)),
    ];
    let mut card_keys = Vec::new();
    for (i, (algorithm, user_consent)) in keys.iter().enumerate() {
        let n = i as u16;
        files.push(ef(
            &[0x3D00, 0x4305 + n],
            der_blob(1200, 0x50 + i as u8, 800),
        ));
        files.push(ef(
            &[0x3D00, 0x4215 + n],
            der_blob(290, 0x70 + i as u8, 100),
        ));
        card_keys.push(CardKey {
            key_ref: i as u8 + 1,
            algorithm: *algorithm,
            pkcs8_der: Zeroizing::new(pkcs8(*algorithm)),
            user_consent: *user_consent,
        });
    }
    CardImage {
        family: Default::default(),
        serial: SERIAL.to_vec(),
        files,
        keys: card_keys,
        pins: vec![
            PinRecord {
                reference: 0x81,
                value: Zeroizing::new(PIN.to_vec()),
                length: 6,
                max_tries: 3,
                tries_left: 3,
            },
            PinRecord {
                reference: 0x82,
                value: Zeroizing::new(PUK.to_vec()),
                length: 8,
                max_tries: 10,
                tries_left: 10,
            },
        ],
    }
}

/// Parses hex with optional spaces.
pub fn h(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("test hex"))
        .collect()
}

/// Sends an APDU; returns (data, SW).
pub fn tx(card: &VirtualCard, apdu: &[u8]) -> (Vec<u8>, u16) {
    let response = card.transmit(apdu);
    assert!(response.len() >= 2, "no status word in {response:02X?}");
    let (data, sw) = response.split_at(response.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

pub fn status(card: &VirtualCard, apdu: &[u8]) -> u16 {
    tx(card, apdu).1
}

/// A short APDU `CLA INS P1 P2 [Lc data] [Le]`.
pub fn apdu(header: [u8; 4], data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut out = header.to_vec();
    if !data.is_empty() {
        out.push(data.len() as u8);
        out.extend_from_slice(data);
    }
    if let Some(le) = le {
        out.push(le);
    }
    out
}

/// An extended APDU `CLA INS P1 P2 00 [Lc1 Lc2 data] [Le1 Le2]`.
pub fn apdu_ext(header: [u8; 4], data: &[u8], le: Option<u16>) -> Vec<u8> {
    let mut out = header.to_vec();
    out.push(0);
    if !data.is_empty() {
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }
    if let Some(le) = le {
        out.extend_from_slice(&le.to_be_bytes());
    }
    out
}

pub fn verify_pin(card: &VirtualCard) -> u16 {
    status(card, &apdu([0, 0x20, 0, 0x81], PIN, None))
}

pub fn mse(card: &VirtualCard, key_ref: u8, alg: u8) -> u16 {
    status(
        card,
        &apdu(
            [0, 0x22, 0x41, 0xB6],
            &[0x80, 1, alg, 0x84, 1, key_ref],
            None,
        ),
    )
}

/// PSO CDS with an extended Le so the whole signature comes at once.
pub fn pso(card: &VirtualCard, input: &[u8]) -> (Vec<u8>, u16) {
    tx(card, &apdu_ext([0, 0x2A, 0x9E, 0x9A], input, Some(0)))
}
