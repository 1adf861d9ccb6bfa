//! Checking signatures made through the module against the certificate's public key
//! (rsa, p256 and p384 crates), for every signing mechanism of pkcs11-spec.md §2.6.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::{Decode, Encode};
use x509_cert::Certificate;

/// Hash of `data` with the named PKCS#11 hash mechanism.
pub fn hash(m: MechanismType, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match m {
        MechanismType::SHA1 => sha1::Sha1::digest(data).to_vec(),
        MechanismType::SHA224 => sha2::Sha224::digest(data).to_vec(),
        MechanismType::SHA256 => sha2::Sha256::digest(data).to_vec(),
        MechanismType::SHA384 => sha2::Sha384::digest(data).to_vec(),
        MechanismType::SHA512 => sha2::Sha512::digest(data).to_vec(),
        other => panic!("{other}"),
    }
}

fn bytes_of(session: &Session, object: ObjectHandle, t: AttributeType) -> Vec<u8> {
    match session
        .get_attributes(object, &[t])
        .expect("attribute")
        .pop()
    {
        Some(Attribute::Value(v)) | Some(Attribute::Id(v)) => v,
        other => panic!("{t:?}: {other:?}"),
    }
}

/// Public key of a private key object, from its certificate (same CKA_ID).
pub fn certificate_spki(session: &Session, key: ObjectHandle) -> Vec<u8> {
    let id = bytes_of(session, key, AttributeType::Id);
    let certs = session
        .find_objects(&[
            Attribute::Id(id),
            Attribute::Class(ObjectClass::CERTIFICATE),
        ])
        .expect("find certificate");
    let der = bytes_of(session, certs[0], AttributeType::Value);
    let parsed = Certificate::from_der(&der).expect("certificate DER");
    parsed
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .expect("SPKI DER")
}

pub fn keys_of_type(session: &Session, key_type: KeyType) -> Vec<ObjectHandle> {
    session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(key_type),
        ])
        .expect("find keys")
}

/// `s_len` is a CK_ULONG (32 bits on Windows).
pub fn pss(hash: MechanismType, mgf: PkcsMgfType, s_len: cryptoki_sys::CK_ULONG) -> PkcsPssParams {
    PkcsPssParams {
        hash_alg: hash,
        mgf,
        s_len: s_len.into(),
    }
}

/// Verify an RSA signature of `message` made with `m` against the certificate key.
pub fn verify_rsa(spki: &[u8], m: &Mechanism, message: &[u8], signature: &[u8]) {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    use rsa::{Pkcs1v15Sign, Pss};
    let key = rsa::PublicKey::from_public_key_der(spki).expect("RSA SPKI");
    assert_eq!(signature.len(), key.size(), "{m:?}: signature length");
    let result = match m {
        Mechanism::RsaPkcs => key.verify(Pkcs1v15Sign::new_unprefixed(), message, signature),
        Mechanism::Sha1RsaPkcs => key.verify(
            Pkcs1v15Sign::new::<sha1::Sha1>(),
            &hash(MechanismType::SHA1, message),
            signature,
        ),
        Mechanism::Sha224RsaPkcs => key.verify(
            Pkcs1v15Sign::new::<sha2::Sha224>(),
            &hash(MechanismType::SHA224, message),
            signature,
        ),
        Mechanism::Sha256RsaPkcs => key.verify(
            Pkcs1v15Sign::new::<sha2::Sha256>(),
            &hash(MechanismType::SHA256, message),
            signature,
        ),
        Mechanism::Sha384RsaPkcs => key.verify(
            Pkcs1v15Sign::new::<sha2::Sha384>(),
            &hash(MechanismType::SHA384, message),
            signature,
        ),
        Mechanism::Sha512RsaPkcs => key.verify(
            Pkcs1v15Sign::new::<sha2::Sha512>(),
            &hash(MechanismType::SHA512, message),
            signature,
        ),
        Mechanism::RsaPkcsPss(_) => key.verify(Pss::<sha2::Sha256>::new(), message, signature),
        Mechanism::Sha1RsaPkcsPss(_) => key.verify(
            Pss::<sha1::Sha1>::new(),
            &hash(MechanismType::SHA1, message),
            signature,
        ),
        Mechanism::Sha256RsaPkcsPss(_) => key.verify(
            Pss::<sha2::Sha256>::new(),
            &hash(MechanismType::SHA256, message),
            signature,
        ),
        Mechanism::Sha384RsaPkcsPss(_) => key.verify(
            Pss::<sha2::Sha384>::new(),
            &hash(MechanismType::SHA384, message),
            signature,
        ),
        Mechanism::Sha512RsaPkcsPss(_) => key.verify(
            Pss::<sha2::Sha512>::new(),
            &hash(MechanismType::SHA512, message),
            signature,
        ),
        other => panic!("{other:?}"),
    };
    assert!(result.is_ok(), "{m:?}: signature does not verify");
}

/// Verify a raw r ‖ s ECDSA signature of `prehash` against a P-256 or P-384 SPKI.
pub fn verify_ec(spki: &[u8], prehash: &[u8], signature: &[u8]) {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let parsed = x509_cert::spki::SubjectPublicKeyInfoRef::from_der(spki).expect("EC SPKI");
    let point = parsed.subject_public_key.raw_bytes();
    match point.len() {
        65 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("P-256 point");
            let sig = p256::ecdsa::Signature::from_slice(signature).expect("P-256 r||s");
            assert!(
                key.verify_prehash(prehash, &sig).is_ok(),
                "P-256 signature does not verify"
            );
        }
        97 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).expect("P-384 point");
            let sig = p384::ecdsa::Signature::from_slice(signature).expect("P-384 r||s");
            assert!(
                key.verify_prehash(prehash, &sig).is_ok(),
                "P-384 signature does not verify"
            );
        }
        n => panic!("point of {n} bytes"),
    }
}

/// Sign with every mechanism the key's type offers (single- and multi-part), and check
/// each signature against the key's certificate. Returns how many signatures verified.
pub fn sign_every_mechanism(session: &Session, key: ObjectHandle) -> usize {
    let message = b"e-imza test message, signed by every mechanism".as_slice();
    let spki = certificate_spki(session, key);
    let key_type = match session
        .get_attributes(key, &[AttributeType::KeyType])
        .expect("CKA_KEY_TYPE")
        .pop()
    {
        Some(Attribute::KeyType(t)) => t,
        other => panic!("CKA_KEY_TYPE: {other:?}"),
    };
    let mut verified = 0;
    if key_type == KeyType::RSA {
        let sha256 = hash(MechanismType::SHA256, message);
        let mut digest_info_sha256 = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        digest_info_sha256.extend(&sha256);
        let cases: Vec<(Mechanism, Vec<u8>)> = vec![
            (Mechanism::RsaPkcs, digest_info_sha256),
            (Mechanism::Sha1RsaPkcs, message.to_vec()),
            (Mechanism::Sha224RsaPkcs, message.to_vec()),
            (Mechanism::Sha256RsaPkcs, message.to_vec()),
            (Mechanism::Sha384RsaPkcs, message.to_vec()),
            (Mechanism::Sha512RsaPkcs, message.to_vec()),
            (
                Mechanism::RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32)),
                sha256,
            ),
            (
                Mechanism::Sha1RsaPkcsPss(pss(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, 20)),
                message.to_vec(),
            ),
            (
                Mechanism::Sha256RsaPkcsPss(pss(
                    MechanismType::SHA256,
                    PkcsMgfType::MGF1_SHA256,
                    32,
                )),
                message.to_vec(),
            ),
            (
                Mechanism::Sha384RsaPkcsPss(pss(
                    MechanismType::SHA384,
                    PkcsMgfType::MGF1_SHA384,
                    48,
                )),
                message.to_vec(),
            ),
            (
                Mechanism::Sha512RsaPkcsPss(pss(
                    MechanismType::SHA512,
                    PkcsMgfType::MGF1_SHA512,
                    64,
                )),
                message.to_vec(),
            ),
        ];
        for (mechanism, input) in &cases {
            let signature = session.sign(mechanism, key, input).expect("RSA sign");
            verify_rsa(&spki, mechanism, input, &signature);
            verified += 1;
            // Multi-part for the hashing mechanisms.
            if !matches!(mechanism, Mechanism::RsaPkcs | Mechanism::RsaPkcsPss(_)) {
                session.sign_init(mechanism, key).expect("sign init");
                for part in input.chunks(7) {
                    session.sign_update(part).expect("sign update");
                }
                let signature = session.sign_final().expect("sign final");
                verify_rsa(&spki, mechanism, input, &signature);
                verified += 1;
            }
        }
    } else {
        let field = if spki.len() > 100 { 48 } else { 32 };
        for (mechanism, h) in [
            (Mechanism::EcdsaSha1, MechanismType::SHA1),
            (Mechanism::EcdsaSha224, MechanismType::SHA224),
            (Mechanism::EcdsaSha256, MechanismType::SHA256),
            (Mechanism::EcdsaSha384, MechanismType::SHA384),
            (Mechanism::EcdsaSha512, MechanismType::SHA512),
        ] {
            let signature = session.sign(&mechanism, key, message).expect("ECDSA sign");
            assert_eq!(signature.len(), 2 * field);
            verify_ec(&spki, &hash(h, message), &signature);
            session.sign_init(&mechanism, key).expect("sign init");
            session.sign_update(&message[..10]).expect("sign update");
            session.sign_update(&message[10..]).expect("sign update");
            let signature = session.sign_final().expect("sign final");
            verify_ec(&spki, &hash(h, message), &signature);
            verified += 2;
        }
        let prehash = hash(MechanismType::SHA384, message);
        let signature = session
            .sign(&Mechanism::Ecdsa, key, &prehash)
            .expect("raw ECDSA sign");
        verify_ec(&spki, &prehash, &signature);
        verified += 1;
    }
    verified
}
