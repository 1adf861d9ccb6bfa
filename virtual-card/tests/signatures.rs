//! MSE SET DST + PSO COMPUTE DIGITAL SIGNATURE: every algorithm id on every key type,
//! verified with RustCrypto; the error cases; userConsent; GET RESPONSE chaining.

mod common;

use common::*;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, Pss};
use sha2::Digest;
use virtual_card::{KeyAlgorithm, VirtualCard};

const ALL: [(KeyAlgorithm, bool); 4] = [
    (KeyAlgorithm::Rsa2048, false),
    (KeyAlgorithm::Rsa3072, false),
    (KeyAlgorithm::P256, false),
    (KeyAlgorithm::P384, false),
];

fn card(keys: &[(KeyAlgorithm, bool)]) -> VirtualCard {
    VirtualCard::from_image(image(keys), None).unwrap()
}

fn rsa_public(algorithm: KeyAlgorithm) -> rsa::PublicKey {
    rsa::PrivateKey::from_pkcs8_der(&pkcs8(algorithm))
        .unwrap()
        .to_public_key()
}

/// DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO: &str = "3031300d060960864801650304020105000420";

#[test]
fn rsa_pkcs1_over_digest_info_and_raw_data() {
    let card = card(&ALL);
    assert_eq!(verify_pin(&card), 0x9000);
    for (key_ref, algorithm, k) in [
        (1, KeyAlgorithm::Rsa2048, 256),
        (2, KeyAlgorithm::Rsa3072, 384),
    ] {
        let public = rsa_public(algorithm);
        assert_eq!(mse(&card, key_ref, 0x02), 0x9000);
        let hash = sha2::Sha256::digest(b"hello card");
        let mut digest_info = h(SHA256_DIGEST_INFO);
        digest_info.extend_from_slice(&hash);
        let (signature, sw) = pso(&card, &digest_info);
        assert_eq!((signature.len(), sw), (k, 0x9000));
        public
            .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature)
            .unwrap();
        // Raw data up to k - 11 bytes (TLS 1.0-style MD5+SHA1, or anything).
        for len in [36, k - 11] {
            let raw: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (signature, sw) = pso(&card, &raw);
            assert_eq!(sw, 0x9000);
            public
                .verify(Pkcs1v15Sign::new_unprefixed(), &raw, &signature)
                .unwrap();
        }
        assert_eq!(
            pso(&card, &vec![1; k - 10]).1,
            0x6A80,
            "no room for the padding"
        );
    }
}

#[test]
fn rsa_pss_for_every_hash() {
    let card = card(&ALL);
    assert_eq!(verify_pin(&card), 0x9000);
    for (key_ref, algorithm, k) in [
        (1, KeyAlgorithm::Rsa2048, 256),
        (2, KeyAlgorithm::Rsa3072, 384),
    ] {
        let public = rsa_public(algorithm);
        let message = b"PSS message";
        let cases: [(u8, Vec<u8>); 5] = [
            (0x11, sha1::Sha1::digest(message).to_vec()),
            (0x12, sha2::Sha224::digest(message).to_vec()),
            (0x13, sha2::Sha256::digest(message).to_vec()),
            (0x14, sha2::Sha384::digest(message).to_vec()),
            (0x15, sha2::Sha512::digest(message).to_vec()),
        ];
        for (alg, hash) in cases {
            assert_eq!(mse(&card, key_ref, alg), 0x9000);
            let (signature, sw) = pso(&card, &hash);
            assert_eq!((signature.len(), sw), (k, 0x9000), "alg {alg:02X}");
            // Pss::new: MGF1 with the same hash, salt length = hash length (checked).
            let verified = match alg {
                0x11 => public.verify(Pss::<sha1::Sha1>::new(), &hash, &signature),
                0x12 => public.verify(Pss::<sha2::Sha224>::new(), &hash, &signature),
                0x13 => public.verify(Pss::<sha2::Sha256>::new(), &hash, &signature),
                0x14 => public.verify(Pss::<sha2::Sha384>::new(), &hash, &signature),
                _ => public.verify(Pss::<sha2::Sha512>::new(), &hash, &signature),
            };
            verified.unwrap_or_else(|e| panic!("alg {alg:02X}: {e}"));
            let mut wrong_length = hash.clone();
            wrong_length.push(0);
            assert_eq!(
                pso(&card, &wrong_length).1,
                0x6A80,
                "alg {alg:02X} input must be the hash"
            );
        }
    }
}

#[test]
fn ecdsa_over_any_prehash_length() {
    let card = card(&ALL);
    assert_eq!(verify_pin(&card), 0x9000);
    let p256_key = p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8(KeyAlgorithm::P256)).unwrap();
    let p384_key = p384::ecdsa::SigningKey::from_pkcs8_der(&pkcs8(KeyAlgorithm::P384)).unwrap();
    let message = b"ecdsa message";
    let inputs = [
        sha1::Sha1::digest(message).to_vec(),
        sha2::Sha256::digest(message).to_vec(),
        sha2::Sha384::digest(message).to_vec(),
        sha2::Sha512::digest(message).to_vec(),
    ];
    assert_eq!(mse(&card, 3, 0x30), 0x9000);
    for input in &inputs {
        let (signature, sw) = pso(&card, input);
        assert_eq!((signature.len(), sw), (64, 0x9000));
        let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
        // RustCrypto applies the same X9.62 conversion on its side.
        p256_key
            .verifying_key()
            .verify_prehash(input, &signature)
            .unwrap();
    }
    assert_eq!(mse(&card, 4, 0x30), 0x9000);
    for input in &inputs {
        let (signature, sw) = pso(&card, input);
        assert_eq!((signature.len(), sw), (96, 0x9000));
        let signature = p384::ecdsa::Signature::from_slice(&signature).unwrap();
        p384_key
            .verifying_key()
            .verify_prehash(input, &signature)
            .unwrap();
    }
    assert_eq!(pso(&card, &[7; 65]).1, 0x6A80, "at most 64 bytes");
    // A short input is the same integer left-padded with zeros.
    let (signature, sw) = pso(&card, &[0x2A; 8]);
    assert_eq!(sw, 0x9000);
    let mut padded = [0u8; 48];
    padded[40..].copy_from_slice(&[0x2A; 8]);
    let signature = p384::ecdsa::Signature::from_slice(&signature).unwrap();
    p384_key
        .verifying_key()
        .verify_prehash(&padded, &signature)
        .unwrap();
}

#[test]
fn mse_errors() {
    let card = card(&[(KeyAlgorithm::Rsa2048, false), (KeyAlgorithm::P256, false)]);
    assert_eq!(mse(&card, 9, 0x02), 0x6A88, "no key 9");
    assert_eq!(mse(&card, 1, 0x30), 0x6A80, "ECDSA on an RSA key");
    assert_eq!(mse(&card, 2, 0x02), 0x6A80, "PKCS#1 on an EC key");
    assert_eq!(mse(&card, 1, 0x16), 0x6A80, "unknown algorithm");
    let mse_data = |data: &str| status(&card, &apdu([0, 0x22, 0x41, 0xB6], &h(data), None));
    assert_eq!(mse_data("800102"), 0x6A80, "no key reference");
    assert_eq!(mse_data("840101"), 0x6A80, "no algorithm");
    assert_eq!(mse_data("800102 840101 830101"), 0x6A80, "unknown tag");
    assert_eq!(mse_data("800102 840101 840101"), 0x6A80, "repeated tag");
    assert_eq!(mse_data("80020002 840101"), 0x6A80, "long value");
    assert_eq!(mse_data("800102 8402"), 0x6A80, "truncated TLV");
    assert_eq!(mse_data("840101 800102"), 0x9000, "any order");
    assert_eq!(
        status(
            &card,
            &apdu([0, 0x22, 0x41, 0xA4], &h("800102840101"), None)
        ),
        0x6A86
    );
    // A failed MSE leaves no environment behind.
    assert_eq!(mse_data("840109 800102"), 0x6A88);
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6985);
}

#[test]
fn pso_needs_mse_and_pin() {
    let card = card(&[(KeyAlgorithm::P256, false)]);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6985, "no MSE");
    assert_eq!(mse(&card, 1, 0x30), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6982, "PIN not verified");
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x9000);
    assert_eq!(
        pso(&card, &[2; 32]).1,
        0x9000,
        "the status stays for ordinary keys"
    );
    assert_eq!(
        status(&card, &apdu([0, 0x2A, 0x9E, 0x9B], &[1; 32], Some(0))),
        0x6A86
    );
    assert_eq!(status(&card, &h("801A0000")), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6982, "after LOGOUT");
    card.reset();
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(
        pso(&card, &[1; 32]).1,
        0x6985,
        "the environment does not survive a reset"
    );
}

#[test]
fn user_consent_needs_verify_right_before_each_signature() {
    let card = card(&[(KeyAlgorithm::P256, true), (KeyAlgorithm::P256, false)]);
    assert_eq!(mse(&card, 1, 0x30), 0x9000);
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6982, "consumed by the signature");
    assert!(!card.is_verified(0x81), "the PIN status is consumed too");
    // Something between VERIFY and PSO: refused.
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(status(&card, &h("0084000008")), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6982);
    // MSE after VERIFY also breaks "immediately preceding".
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(mse(&card, 1, 0x30), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6982);
    // A counter query is not a verification.
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(status(&card, &h("00200081")), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6982);
    // The ordinary key works with the (still set) status, the consent key does not.
    assert_eq!(mse(&card, 2, 0x30), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x9000);
}

#[test]
fn rsa_3072_signature_with_short_le_comes_in_pieces() {
    let card = card(&[(KeyAlgorithm::Rsa3072, false)]);
    let public = rsa_public(KeyAlgorithm::Rsa3072);
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(mse(&card, 1, 0x13), 0x9000);
    let hash = sha2::Sha256::digest(b"chained").to_vec();
    let (first, sw) = tx(&card, &apdu([0, 0x2A, 0x9E, 0x9A], &hash, Some(0)));
    assert_eq!((first.len(), sw), (256, 0x6180));
    let (rest, sw) = tx(&card, &h("00C0000080"));
    assert_eq!((rest.len(), sw), (128, 0x9000));
    let signature = [first, rest].concat();
    public
        .verify(Pss::<sha2::Sha256>::new(), &hash, &signature)
        .unwrap();
    // Without Le everything waits for GET RESPONSE, which may ask for more than is left.
    let (none, sw) = tx(&card, &apdu([0, 0x2A, 0x9E, 0x9A], &hash, None));
    assert_eq!((none.len(), sw), (0, 0x6100));
    let (first, sw) = tx(&card, &h("00C0000000"));
    assert_eq!((first.len(), sw), (256, 0x6180));
    let (rest, sw) = tx(&card, &h("00C0000000"));
    assert_eq!((rest.len(), sw), (128, 0x9000));
    public
        .verify(Pss::<sha2::Sha256>::new(), &hash, &[first, rest].concat())
        .unwrap();
}
