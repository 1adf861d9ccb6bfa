//! Signature verification (`C_Verify*`, pkcs11-spec.md §2.12) with the token's public
//! keys, computed in the module (RustCrypto `rsa`, `p256`, `p384`), no card I/O. Every
//! signing mechanism verifies with the same input rules as signing
//! ([`crate::mechanism::card_input`]), so what C_Sign accepts C_Verify accepts too.

use crate::card::{Curve, HashAlg};
use crate::digest::hash_of;
use crate::mechanism::{card_input, hash_len, sign_kind, Hasher, PssParams, SignKind};
use crate::object::{AttrLookup, KeyKind, Object, SigningKey};
use crate::operation::Operation;
use crate::session::Session;
use cryptoki_sys::*;
use der::Decode;
use p256::ecdsa::signature::hazmat::PrehashVerifier;

/// DER of the named-curve OIDs in CKA_EC_PARAMS.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22];
const P521_PARAMS: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23];

/// A public key ready to verify with.
#[derive(Debug)]
pub enum VerifyKey {
    Rsa(rsa::PublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

fn bytes(object: &Object, attribute: CK_ATTRIBUTE_TYPE) -> Result<&[u8], CK_RV> {
    match object.lookup(attribute) {
        AttrLookup::Value(v) => Ok(v),
        // A public key without its key material: nothing this module built.
        _ => Err(CKR_FUNCTION_FAILED),
    }
}

impl VerifyKey {
    /// The key of a public-key object, from its attributes. A key the card reported
    /// that cannot be used: P-521 (no verifier in the module) and RSA moduli outside
    /// 1024..=8192 bits → `CKR_KEY_SIZE_RANGE`; malformed values → `CKR_FUNCTION_FAILED`.
    pub fn from_object(object: &Object) -> Result<VerifyKey, CK_RV> {
        let key_type = bytes(object, CKA_KEY_TYPE)?;
        let key_type =
            CK_ULONG::from_ne_bytes(key_type.try_into().map_err(|_| CKR_FUNCTION_FAILED)?);
        match key_type {
            CKK_RSA => {
                let n = rsa::BoxedUint::from_be_slice_vartime(bytes(object, CKA_MODULUS)?);
                let e = rsa::BoxedUint::from_be_slice_vartime(bytes(object, CKA_PUBLIC_EXPONENT)?);
                rsa::PublicKey::new(n, e)
                    .map(VerifyKey::Rsa)
                    .map_err(|e| match e {
                        rsa::Error::ModulusTooSmall | rsa::Error::ModulusTooLarge => {
                            CKR_KEY_SIZE_RANGE
                        }
                        _ => CKR_FUNCTION_FAILED,
                    })
            }
            CKK_EC => {
                let params = bytes(object, CKA_EC_PARAMS)?;
                let point = <&der::asn1::OctetStringRef>::from_der(bytes(object, CKA_EC_POINT)?)
                    .map_err(|_| CKR_FUNCTION_FAILED)?
                    .as_bytes();
                if params == P256_PARAMS {
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(VerifyKey::P256)
                        .map_err(|_| CKR_FUNCTION_FAILED)
                } else if params == P384_PARAMS {
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(VerifyKey::P384)
                        .map_err(|_| CKR_FUNCTION_FAILED)
                } else if params == P521_PARAMS {
                    Err(CKR_KEY_SIZE_RANGE)
                } else {
                    Err(CKR_FUNCTION_FAILED)
                }
            }
            _ => Err(CKR_KEY_TYPE_INCONSISTENT),
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            VerifyKey::Rsa(_) => KeyKind::Rsa,
            _ => KeyKind::Ec,
        }
    }

    /// The length a signature must have: RSA k bytes, ECDSA 2 × field size.
    pub fn signature_len(&self) -> usize {
        match self {
            VerifyKey::Rsa(key) => rsa::traits::PublicKeyParts::size(key),
            VerifyKey::P256(_) => 64,
            VerifyKey::P384(_) => 96,
        }
    }

    /// The facts the signing-input rules use ([`card_input`]).
    fn input_facts(&self) -> SigningKey {
        let (bits, curve) = match self {
            VerifyKey::Rsa(key) => (
                rsa::traits::PublicKeyParts::n_bits_precision(key) as usize,
                None,
            ),
            VerifyKey::P256(_) => (256, Some(Curve::P256)),
            VerifyKey::P384(_) => (384, Some(Curve::P384)),
        };
        SigningKey {
            key_ref: 0,
            kind: self.kind(),
            bits,
            signature_len: self.signature_len(),
            always_authenticate: false,
            curve,
        }
    }

    /// Largest PSS salt for this key and hash (RFC 8017 §9.1.1: emLen ≥ hLen + sLen + 2).
    fn max_pss_salt(&self, hash: HashAlg) -> usize {
        match self {
            VerifyKey::Rsa(key) => {
                let em_bits = rsa::traits::PublicKeyParts::n(key).bit_width_vartime() as usize - 1;
                em_bits.div_ceil(8).saturating_sub(hash_len(hash) + 2)
            }
            _ => 0,
        }
    }
}

/// The verification rule for a mechanism and its parameters: the signing rule of
/// pkcs11-spec.md §2.6, except that a PSS salt may have any length the key allows (a
/// signature made elsewhere), returned beside the kind. MGF1 must use the message hash.
pub fn verify_kind(
    mechanism: CK_MECHANISM_TYPE,
    has_params: bool,
    pss: Option<PssParams>,
) -> Result<(SignKind, Option<usize>), CK_RV> {
    // Check hash and MGF with the signing rule, the salt separately.
    let as_signing = pss.map(|p| PssParams {
        salt_len: hash_of(p.hash_alg).map_or(p.salt_len, |h| hash_len(h) as CK_ULONG),
        ..p
    });
    let kind = sign_kind(mechanism, has_params, as_signing)?;
    let salt = match kind {
        SignKind::RsaPssRaw(_) | SignKind::RsaPssHash(_) => {
            let salt = pss.map(|p| p.salt_len).ok_or(CKR_MECHANISM_PARAM_INVALID)?;
            Some(usize::try_from(salt).map_err(|_| CKR_MECHANISM_PARAM_INVALID)?)
        }
        _ => None,
    };
    Ok((kind, salt))
}

/// Check `signature` over `input` (what the card would have signed: the data, the
/// DigestInfo or the hash) → `CKR_OK` or `CKR_SIGNATURE_INVALID`.
fn check(
    kind: SignKind,
    key: &VerifyKey,
    salt: Option<usize>,
    input: &[u8],
    signature: &[u8],
) -> Result<(), CK_RV> {
    use rsa::{Pkcs1v15Sign, Pss};
    let valid = match (key, kind) {
        (VerifyKey::Rsa(key), SignKind::RsaPkcsRaw | SignKind::RsaPkcsHash(_)) => key
            .verify(Pkcs1v15Sign::new_unprefixed(), input, signature)
            .is_ok(),
        (VerifyKey::Rsa(key), SignKind::RsaPssRaw(h) | SignKind::RsaPssHash(h)) => {
            let salt = salt.unwrap_or(hash_len(h));
            match h {
                HashAlg::Sha1 => {
                    key.verify(Pss::<sha1::Sha1>::new_with_salt(salt), input, signature)
                }
                HashAlg::Sha224 => {
                    key.verify(Pss::<sha2::Sha224>::new_with_salt(salt), input, signature)
                }
                HashAlg::Sha256 => {
                    key.verify(Pss::<sha2::Sha256>::new_with_salt(salt), input, signature)
                }
                HashAlg::Sha384 => {
                    key.verify(Pss::<sha2::Sha384>::new_with_salt(salt), input, signature)
                }
                HashAlg::Sha512 => {
                    key.verify(Pss::<sha2::Sha512>::new_with_salt(salt), input, signature)
                }
            }
            .is_ok()
        }
        (VerifyKey::P256(key), SignKind::EcdsaRaw | SignKind::EcdsaHash(_)) => {
            // r or s zero or not below the order: not a signature.
            p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_prehash(input, &sig).is_ok())
        }
        (VerifyKey::P384(key), SignKind::EcdsaRaw | SignKind::EcdsaHash(_)) => {
            p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_prehash(input, &sig).is_ok())
        }
        _ => return Err(CKR_KEY_TYPE_INCONSISTENT),
    };
    if valid {
        Ok(())
    } else {
        Err(CKR_SIGNATURE_INVALID)
    }
}

/// An active verification of a session.
pub struct VerifyOperation {
    kind: SignKind,
    key: VerifyKey,
    /// The token's largest command data: its input limits are the signing ones (§2.12).
    max_command_data: usize,
    salt: Option<usize>,
    hasher: Option<Hasher>,
    /// C_VerifyUpdate was called: only C_VerifyUpdate/C_VerifyFinal may follow.
    multipart: bool,
}

impl VerifyOperation {
    pub fn new(
        kind: SignKind,
        key: VerifyKey,
        salt: Option<usize>,
        max_command_data: usize,
    ) -> Result<Self, CK_RV> {
        if kind.key_kind() != key.kind() {
            return Err(CKR_KEY_TYPE_INCONSISTENT);
        }
        if let (Some(salt), SignKind::RsaPssRaw(h) | SignKind::RsaPssHash(h)) = (salt, kind) {
            if salt > key.max_pss_salt(h) {
                return Err(CKR_MECHANISM_PARAM_INVALID);
            }
        }
        Ok(VerifyOperation {
            kind,
            hasher: kind.module_hash().map(Hasher::new),
            key,
            max_command_data,
            salt,
            multipart: false,
        })
    }

    /// The end of every verification: the signature's length first (PKCS#11: a
    /// signature invalid by its length alone is `CKR_SIGNATURE_LEN_RANGE`), then the
    /// input rules of signing (`CKR_DATA_LEN_RANGE`), then the signature itself.
    fn finish(self, data: &[u8], hashed: Option<Vec<u8>>, signature: &[u8]) -> Result<(), CK_RV> {
        if signature.len() != self.key.signature_len() {
            return Err(CKR_SIGNATURE_LEN_RANGE);
        }
        let input = card_input(
            self.kind,
            &self.key.input_facts(),
            data,
            hashed,
            self.max_command_data,
        )?;
        check(self.kind, &self.key, self.salt, &input, signature)
    }
}

/// A `C_Verify`, `C_VerifyUpdate` or `C_VerifyFinal` result, after which a failed call
/// has ended the verification — whatever failed, the arguments included (PKCS#11
/// §5.14). A digest or signature is left alone.
pub fn end_on_failure<T>(session: &Session, result: Result<T, CK_RV>) -> Result<T, CK_RV> {
    if result.is_err() {
        session.operations.cancel(false, true);
    }
    result
}

/// C_VerifyInit with a public-key object of the token.
pub fn verify_init(
    session: &Session,
    mechanism: CK_MECHANISM_TYPE,
    has_params: bool,
    pss: Option<PssParams>,
    key_handle: CK_OBJECT_HANDLE,
) -> Result<(), CK_RV> {
    let token = &session.token;
    session.start_operation(|| {
        // A private key the application cannot see does not exist for it; one it
        // can see has no CKA_VERIFY (verification is the public key's job), as a
        // public key has no CKA_SIGN for C_SignInit.
        let object = token
            .visible_object(key_handle)
            .map_err(|_| CKR_KEY_HANDLE_INVALID)?;
        match object.class {
            CKO_PUBLIC_KEY => {}
            CKO_PRIVATE_KEY => return Err(CKR_KEY_FUNCTION_NOT_PERMITTED),
            _ => return Err(CKR_KEY_HANDLE_INVALID),
        }
        // The token's mechanisms only (an AKIS v1.0 token lists no PSS, no ECDSA).
        if !crate::mechanism::offered(mechanism, token.data.family) {
            return Err(CKR_MECHANISM_INVALID);
        }
        let (kind, salt) = verify_kind(mechanism, has_params, pss)?;
        let key = VerifyKey::from_object(object)?;
        Ok(Operation::Verify(VerifyOperation::new(
            kind,
            key,
            salt,
            token.data.max_command_data,
        )?))
    })
}

/// C_Verify: ends the operation whatever it returns, except `CKR_OPERATION_ACTIVE`
/// after C_VerifyUpdate (the multi-part operation stays).
pub fn verify(session: &Session, data: &[u8], signature: &[u8]) -> Result<(), CK_RV> {
    session.operations.with(|slot| {
        let Some(Operation::Verify(op)) = slot.as_ref() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        if op.multipart {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let Some(Operation::Verify(op)) = slot.take() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        op.finish(data, None, signature)
    })
}

pub fn verify_update(session: &Session, data: &[u8]) -> Result<(), CK_RV> {
    session.operations.with(|slot| {
        let Some(Operation::Verify(op)) = slot.as_mut() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        match op.hasher.as_mut() {
            Some(hasher) => {
                hasher.update(data);
                op.multipart = true;
                Ok(())
            }
            None => {
                // Raw mechanisms are single-part, as for signing; the call ends it.
                *slot = None;
                Err(CKR_FUNCTION_NOT_SUPPORTED)
            }
        }
    })
}

pub fn verify_final(session: &Session, signature: &[u8]) -> Result<(), CK_RV> {
    session.operations.with(|slot| {
        if !matches!(slot, Some(Operation::Verify(_))) {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        }
        // From here the call ends the operation, whatever it returns.
        let Some(Operation::Verify(mut op)) = slot.take() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        let Some(hasher) = op.hasher.take() else {
            return Err(CKR_FUNCTION_NOT_SUPPORTED);
        };
        op.finish(&[], Some(hasher.finish()), signature)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{KeyEntry, PublicKey};
    use crate::object::build_objects;
    use crate::object::tests::sample_token;

    /// The public-key object a card with this one key would show.
    fn public_object(public: PublicKey, bits: usize) -> Object {
        let mut token = sample_token();
        token.keys = vec![KeyEntry {
            public,
            bits,
            ..token.keys[0].clone()
        }];
        let mut handle = 0;
        build_objects(&token, || {
            handle += 1;
            handle
        })
        .into_iter()
        .find(|o| o.class == CKO_PUBLIC_KEY)
        .expect("public key object")
    }

    fn ec(curve: Curve, ec_params: &[u8], point: Vec<u8>) -> Result<VerifyKey, CK_RV> {
        let public = PublicKey::Ec {
            curve,
            ec_params: ec_params.to_vec(),
            point,
        };
        VerifyKey::from_object(&public_object(public, 256))
    }

    #[test]
    fn keys_the_module_cannot_verify_with_are_refused_at_init() {
        // P-521: listed by a real card, no verifier here.
        assert_eq!(
            ec(Curve::P521, P521_PARAMS, vec![0x04; 133]).err(),
            Some(CKR_KEY_SIZE_RANGE)
        );
        // A point that is not on the curve, an unknown curve.
        assert_eq!(
            ec(Curve::P256, P256_PARAMS, vec![0x04; 65]).err(),
            Some(CKR_FUNCTION_FAILED)
        );
        assert_eq!(
            ec(Curve::P256, &[0x06, 0x03, 0x2B, 0x65, 0x70], vec![0x04; 65]).err(),
            Some(CKR_FUNCTION_FAILED)
        );
        // The P-256 base point is a valid public key.
        let g = "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296\
                 4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5";
        let g: Vec<u8> = (0..g.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&g[i..i + 2], 16).unwrap())
            .collect();
        let key = ec(Curve::P256, P256_PARAMS, g).expect("P-256 key");
        assert_eq!((key.kind(), key.signature_len()), (KeyKind::Ec, 64));
        // RSA moduli outside 1024..=8192 bits, an even modulus.
        let rsa = |modulus: Vec<u8>| {
            let public = PublicKey::Rsa {
                modulus,
                exponent: vec![1, 0, 1],
            };
            VerifyKey::from_object(&public_object(public, 2048))
        };
        assert_eq!(rsa(vec![0xC1; 64]).err(), Some(CKR_KEY_SIZE_RANGE));
        assert_eq!(rsa(vec![0xC1; 1025]).err(), Some(CKR_KEY_SIZE_RANGE));
        assert_eq!(rsa(vec![0xC2; 256]).err(), Some(CKR_FUNCTION_FAILED));
        let key = rsa(vec![0xC1; 384]).expect("RSA-3072 key");
        assert_eq!((key.kind(), key.signature_len()), (KeyKind::Rsa, 384));
        // emLen 384 − SHA-256 32 − 2.
        assert_eq!(key.max_pss_salt(HashAlg::Sha256), 350);
    }

    #[test]
    fn pss_salt_is_free_within_the_key_but_hash_and_mgf_are_not() {
        let pss = |hash_alg, mgf, salt_len| {
            Some(PssParams {
                hash_alg,
                mgf,
                salt_len,
            })
        };
        assert_eq!(
            verify_kind(
                CKM_SHA256_RSA_PKCS_PSS,
                true,
                pss(CKM_SHA256, CKG_MGF1_SHA256, 0)
            ),
            Ok((SignKind::RsaPssHash(HashAlg::Sha256), Some(0)))
        );
        assert_eq!(
            verify_kind(
                CKM_RSA_PKCS_PSS,
                true,
                pss(CKM_SHA384, CKG_MGF1_SHA384, 200)
            ),
            Ok((SignKind::RsaPssRaw(HashAlg::Sha384), Some(200)))
        );
        for bad in [
            pss(CKM_SHA256, CKG_MGF1_SHA1, 32),
            pss(CKM_SHA384, CKG_MGF1_SHA384, 48),
            pss(CKM_MD5, CKG_MGF1_SHA256, 32),
            None,
        ] {
            assert_eq!(
                verify_kind(CKM_SHA256_RSA_PKCS_PSS, bad.is_some(), bad),
                Err(CKR_MECHANISM_PARAM_INVALID),
                "{bad:?}"
            );
        }
        assert_eq!(
            verify_kind(CKM_ECDSA_SHA384, false, None),
            Ok((SignKind::EcdsaHash(HashAlg::Sha384), None))
        );
        assert_eq!(
            verify_kind(CKM_SHA256, false, None),
            Err(CKR_MECHANISM_INVALID)
        );
    }
}
