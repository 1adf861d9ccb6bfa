//! The card's private-key operations: PKCS#8 keys parsed once at load, then the
//! signature algorithms of MSE SET DST (spec §1.4).

use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss};

use crate::image::{CardKey, KeyAlgorithm};

/// MSE `80` algorithm identifiers.
pub mod alg {
    pub const RSA_PKCS1: u8 = 0x02;
    pub const RSA_PSS_SHA1: u8 = 0x11;
    pub const RSA_PSS_SHA224: u8 = 0x12;
    pub const RSA_PSS_SHA256: u8 = 0x13;
    pub const RSA_PSS_SHA384: u8 = 0x14;
    pub const RSA_PSS_SHA512: u8 = 0x15;
    pub const ECDSA: u8 = 0x30;
}

/// Why a key or a signature failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The PKCS#8 blob does not hold a key of the declared algorithm and size.
    BadKey(String),
    /// The algorithm cannot be used with this key (`6A80` at MSE).
    AlgorithmMismatch,
    /// PSO input has the wrong length for the algorithm (`6A80`).
    BadInput,
    /// The signature primitive failed (`6F00`).
    Failed(String),
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::BadKey(why) => write!(f, "invalid private key: {why}"),
            CryptoError::AlgorithmMismatch => write!(f, "algorithm not valid for the key"),
            CryptoError::BadInput => write!(f, "input length wrong for the algorithm"),
            CryptoError::Failed(why) => write!(f, "signature failed: {why}"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// A parsed private key.
pub enum SigningKey {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl SigningKey {
    /// Parses `key.pkcs8_der` and checks it matches `key.algorithm`.
    pub fn from_card_key(key: &CardKey) -> Result<Self, CryptoError> {
        let der = key.pkcs8_der.as_slice();
        let bad = |e: &dyn std::fmt::Display| CryptoError::BadKey(e.to_string());
        match key.algorithm {
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
                let private = rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| bad(&e))?;
                let expected = if key.algorithm == KeyAlgorithm::Rsa2048 {
                    2048
                } else {
                    3072
                };
                let bits = private.n().bit_width();
                if bits != expected {
                    return Err(CryptoError::BadKey(format!(
                        "RSA modulus has {bits} bits, expected {expected}"
                    )));
                }
                Ok(SigningKey::Rsa(Box::new(private)))
            }
            KeyAlgorithm::P256 => p256::ecdsa::SigningKey::from_pkcs8_der(der)
                .map(SigningKey::P256)
                .map_err(|e| bad(&e)),
            KeyAlgorithm::P384 => p384::ecdsa::SigningKey::from_pkcs8_der(der)
                .map(SigningKey::P384)
                .map_err(|e| bad(&e)),
        }
    }

    /// Whether MSE may select `algorithm` for this key.
    pub fn supports(&self, algorithm: u8) -> bool {
        match self {
            SigningKey::Rsa(_) => matches!(algorithm, alg::RSA_PKCS1 | 0x11..=0x15),
            SigningKey::P256(_) | SigningKey::P384(_) => algorithm == alg::ECDSA,
        }
    }

    /// Whether signing with this key is an RSA operation (for the delay model).
    pub fn is_rsa(&self) -> bool {
        matches!(self, SigningKey::Rsa(_))
    }

    /// PSO COMPUTE DIGITAL SIGNATURE with `algorithm` over `input`.
    pub fn sign(&self, algorithm: u8, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if !self.supports(algorithm) {
            return Err(CryptoError::AlgorithmMismatch);
        }
        let failed = |e: &dyn std::fmt::Display| CryptoError::Failed(e.to_string());
        match self {
            SigningKey::Rsa(key) => {
                if algorithm == alg::RSA_PKCS1 {
                    // The card adds type-1 padding to whatever it gets (DigestInfo or
                    // raw data), so the input must leave room for it.
                    if input.is_empty() || input.len() > key.size().saturating_sub(11) {
                        return Err(CryptoError::BadInput);
                    }
                    return key
                        .sign(Pkcs1v15Sign::new_unprefixed(), input)
                        .map_err(|e| failed(&e));
                }
                let expected_len = match algorithm {
                    alg::RSA_PSS_SHA1 => 20,
                    alg::RSA_PSS_SHA224 => 28,
                    alg::RSA_PSS_SHA256 => 32,
                    alg::RSA_PSS_SHA384 => 48,
                    _ => 64,
                };
                if input.len() != expected_len {
                    return Err(CryptoError::BadInput);
                }
                let result = match algorithm {
                    alg::RSA_PSS_SHA1 => key.sign(Pss::<sha1::Sha1>::new(), input),
                    alg::RSA_PSS_SHA224 => key.sign(Pss::<sha2::Sha224>::new(), input),
                    alg::RSA_PSS_SHA256 => key.sign(Pss::<sha2::Sha256>::new(), input),
                    alg::RSA_PSS_SHA384 => key.sign(Pss::<sha2::Sha384>::new(), input),
                    _ => key.sign(Pss::<sha2::Sha512>::new(), input),
                };
                result.map_err(|e| failed(&e))
            }
            SigningKey::P256(key) => {
                let prehash = ecdsa_prehash::<32>(input)?;
                let signature: p256::ecdsa::Signature =
                    key.sign_prehash(&prehash).map_err(|e| failed(&e))?;
                Ok(signature.to_bytes().to_vec())
            }
            SigningKey::P384(key) => {
                let prehash = ecdsa_prehash::<48>(input)?;
                let signature: p384::ecdsa::Signature =
                    key.sign_prehash(&prehash).map_err(|e| failed(&e))?;
                Ok(signature.to_bytes().to_vec())
            }
        }
    }
}

/// X9.62 input conversion for curves whose order is exactly `N` bytes long (P-256,
/// P-384): a longer input keeps its leftmost `N` bytes; a shorter one is the same
/// integer, so it is left-padded with zeros (the ecdsa crate refuses very short ones).
fn ecdsa_prehash<const N: usize>(input: &[u8]) -> Result<[u8; N], CryptoError> {
    if input.is_empty() || input.len() > 64 {
        return Err(CryptoError::BadInput);
    }
    let mut prehash = [0u8; N];
    if input.len() >= N {
        prehash.copy_from_slice(&input[..N]);
    } else {
        prehash[N - input.len()..].copy_from_slice(input);
    }
    Ok(prehash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_prehash_truncates_and_pads() {
        let long: Vec<u8> = (1..=48).collect();
        assert_eq!(ecdsa_prehash::<32>(&long).unwrap()[..], long[..32]);
        let short = [0xAA, 0xBB];
        let padded = ecdsa_prehash::<32>(&short).unwrap();
        assert_eq!(padded[30..], short);
        assert!(padded[..30].iter().all(|b| *b == 0));
        assert_eq!(ecdsa_prehash::<32>(&[]), Err(CryptoError::BadInput));
        assert_eq!(ecdsa_prehash::<48>(&[1; 65]), Err(CryptoError::BadInput));
    }
}
