//! The card layer against software cards made by `virtual_card::personalise::create`
//! (the same cards as `eimza-vcard create`): certificates, every key type, every
//! signature algorithm verified with the public key bind found, userConsent.

use eimza_pkcs11::card::{
    Card, CardError, Curve, HashAlg, PinStatus, PublicKey, SignAlgorithm, TokenData,
};
use eimza_pkcs11::reader::software::{SoftCard, SoftwareReader, VirtualSoftCard};
use eimza_pkcs11::reader::Reader;
use std::sync::Arc;
use virtual_card::personalise::{create, CreateOptions};
use virtual_card::{KeyAlgorithm, VirtualCard};

struct Setup {
    soft: Arc<VirtualSoftCard>,
    reader: SoftwareReader,
}

fn personalised(keys: &[KeyAlgorithm], user_consent: bool) -> Setup {
    let image = create(&CreateOptions {
        keys: keys.to_vec(),
        serial: Some(vec![0x0A, 0x0B, 0x0C, 0x0D, 0x01, 0x02, 0x03, 0x04]),
        user_consent,
        ..CreateOptions::default()
    })
    .expect("personalise");
    let card = VirtualCard::from_image(image, None).expect("card");
    let soft = Arc::new(VirtualSoftCard::new(card));
    let reader = SoftwareReader::new(
        "eimza software card 0".into(),
        Some(soft.clone() as Arc<dyn SoftCard>),
    );
    Setup { soft, reader }
}

fn bind(s: &Setup) -> (Card, TokenData, u64) {
    let mut card = Card::new(s.reader.connect().expect("connect"));
    let before = s.soft.card().stats().apdus;
    let t = std::time::Instant::now();
    let token = card.bind().expect("bind");
    println!("bind in process: {:?}", t.elapsed());
    let apdus = s.soft.card().stats().apdus - before;
    (card, token, apdus)
}

#[test]
fn default_card_bind() {
    let s = personalised(&[KeyAlgorithm::Rsa2048], false);
    let (card, t, apdus) = bind(&s);
    println!(
        "bind of the default one-key card (RSA-2048 + NES CA + root certificates): {apdus} APDUs"
    );
    assert_eq!(apdus, card.apdus_sent());
    // SELECT, ODF, TokenInfo, AODF, PrKDF, CDF, 3 certificates, 2 counters.
    assert_eq!(apdus, 11);
    assert_eq!(t.serial, "0A0B0C0D01020304");
    assert_eq!(t.label, "AKIS_0A0B0C0D01020304");
    assert_eq!(t.manufacturer, "eimza software card");
    assert_eq!(t.model, "AKIS");
    assert!(t.last_update.is_some());
    assert_eq!(t.user_pin.status, PinStatus::TriesLeft(3));
    assert_eq!((t.user_pin.min_len, t.user_pin.max_len), (6, 6));
    let puk = t.puk.as_ref().expect("PUK");
    assert_eq!((puk.min_len, puk.max_len, puk.max_tries), (8, 8, 10));
    assert_eq!(t.keys.len(), 1);
    let k = &t.keys[0];
    assert_eq!(k.label, "12345678950NES0");
    assert_eq!(k.bits, 2048);
    assert_eq!(k.key_ref, 1);
    assert!(!k.user_consent);
    assert!(k.usage_non_repudiation);
    assert_eq!(t.certificates.len(), 3);
    let own: Vec<_> = t.certificates.iter().filter(|c| !c.authority).collect();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].id, k.id);
    assert_eq!(t.certificates.iter().filter(|c| c.authority).count(), 2);
    // Each certificate exactly its DER length (not the padded file).
    for c in &t.certificates {
        assert_eq!(c.der[0], 0x30);
        let declared = eimza_pkcs15::der_total_length(&c.der);
        assert_eq!(declared, Some(c.der.len()));
    }
}

#[test]
fn every_key_type_and_algorithm_verifies() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use rsa::{Pkcs1v15Sign, Pss};
    use sha2::Digest;

    let s = personalised(
        &[
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::P256,
            KeyAlgorithm::P384,
        ],
        false,
    );
    let (mut card, t, apdus) = bind(&s);
    println!("bind of a four-key card: {apdus} APDUs");
    assert_eq!(t.keys.len(), 4);
    assert_eq!(
        t.keys.iter().map(|k| k.bits).collect::<Vec<_>>(),
        [2048, 3072, 256, 384]
    );
    card.verify(&t.user_pin, b"123456").expect("login");
    let message = b"e-imza";
    let mut signatures = 0;
    for k in &t.keys {
        match &k.public {
            PublicKey::Rsa { modulus, exponent } => {
                assert_ne!(modulus[0], 0, "no leading zero");
                let public = rsa::PublicKey::new(
                    rsa::BoxedUint::from_be_slice_vartime(modulus),
                    rsa::BoxedUint::from_be_slice_vartime(exponent),
                )
                .expect("RSA public key");
                let hash = sha2::Sha256::digest(message);
                let mut digest_info = vec![
                    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                    0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
                ];
                digest_info.extend_from_slice(&hash);
                let sig = card
                    .sign(k.key_ref, SignAlgorithm::RsaPkcs1, &digest_info, None)
                    .expect("PKCS#1 sign");
                assert_eq!(sig.len(), k.bits / 8);
                public
                    .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &sig)
                    .expect("PKCS#1 v1.5 valid");
                signatures += 1;
                for alg in [
                    HashAlg::Sha1,
                    HashAlg::Sha224,
                    HashAlg::Sha256,
                    HashAlg::Sha384,
                    HashAlg::Sha512,
                ] {
                    let hash = match alg {
                        HashAlg::Sha1 => sha1::Sha1::digest(message).to_vec(),
                        HashAlg::Sha224 => sha2::Sha224::digest(message).to_vec(),
                        HashAlg::Sha256 => sha2::Sha256::digest(message).to_vec(),
                        HashAlg::Sha384 => sha2::Sha384::digest(message).to_vec(),
                        HashAlg::Sha512 => sha2::Sha512::digest(message).to_vec(),
                    };
                    let sig = card
                        .sign(k.key_ref, SignAlgorithm::RsaPss(alg), &hash, None)
                        .expect("PSS sign");
                    let ok = match alg {
                        HashAlg::Sha1 => public.verify(Pss::<sha1::Sha1>::new(), &hash, &sig),
                        HashAlg::Sha224 => public.verify(Pss::<sha2::Sha224>::new(), &hash, &sig),
                        HashAlg::Sha256 => public.verify(Pss::<sha2::Sha256>::new(), &hash, &sig),
                        HashAlg::Sha384 => public.verify(Pss::<sha2::Sha384>::new(), &hash, &sig),
                        HashAlg::Sha512 => public.verify(Pss::<sha2::Sha512>::new(), &hash, &sig),
                    };
                    ok.unwrap_or_else(|e| panic!("PSS {alg:?} on {} bits: {e}", k.bits));
                    signatures += 1;
                }
            }
            PublicKey::Ec {
                curve,
                ec_params,
                point,
            } => {
                let hash = sha2::Sha384::digest(message);
                let sig = card
                    .sign(k.key_ref, SignAlgorithm::Ecdsa, &hash, None)
                    .expect("ECDSA sign");
                match curve {
                    Curve::P256 => {
                        assert_eq!(ec_params[..2], [0x06, 0x08]);
                        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("point");
                        let sig = p256::ecdsa::Signature::from_slice(&sig).expect("r||s");
                        vk.verify_prehash(&hash, &sig).expect("P-256 valid");
                    }
                    Curve::P384 => {
                        assert_eq!(ec_params[..2], [0x06, 0x05]);
                        let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("point");
                        let sig = p384::ecdsa::Signature::from_slice(&sig).expect("r||s");
                        vk.verify_prehash(&hash, &sig).expect("P-384 valid");
                    }
                    Curve::P521 => panic!("no P-521 keys on the software card"),
                }
                signatures += 1;
            }
        }
    }
    assert_eq!(signatures, 2 * 6 + 2);
}

#[test]
fn user_consent_needs_the_pin_right_before_each_signature() {
    let s = personalised(&[KeyAlgorithm::P256], true);
    let (mut card, t, _) = bind(&s);
    let k = &t.keys[0];
    assert!(k.user_consent);
    card.verify(&t.user_pin, b"123456").expect("login");
    // A plain login is not enough for a userConsent key.
    assert_eq!(
        card.sign(k.key_ref, SignAlgorithm::Ecdsa, &[7; 32], None),
        Err(CardError::SecurityStatusNotSatisfied)
    );
    let pin = t.user_pin.clone();
    for _ in 0..2 {
        let before = s.soft.card().stats().apdus;
        let sig = card
            .sign(
                k.key_ref,
                SignAlgorithm::Ecdsa,
                &[7; 32],
                Some((&pin, b"123456")),
            )
            .expect("sign with the PIN first");
        assert_eq!(sig.len(), 64);
        // MSE, VERIFY, PSO.
        assert_eq!(s.soft.card().stats().apdus - before, 3);
    }
    // A wrong PIN there costs exactly one try and no signature.
    assert_eq!(
        card.sign(
            k.key_ref,
            SignAlgorithm::Ecdsa,
            &[7; 32],
            Some((&pin, b"000000"))
        ),
        Err(CardError::PinIncorrect { tries_left: 2 })
    );
}
