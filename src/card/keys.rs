//! Public key parameters from a certificate or a SubjectPublicKeyInfo (x509-cert/spki).

use super::{CardError, Curve, PublicKey};
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Encode};
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// Public key and its size in bits (RSA modulus bits, EC field bits) from a certificate.
pub fn from_certificate(der: &[u8]) -> Result<(PublicKey, usize), CardError> {
    let cert = Certificate::from_der(der).map_err(|_| CardError::Malformed("certificate DER"))?;
    from_spki(cert.tbs_certificate().subject_public_key_info())
}

/// Same from a SubjectPublicKeyInfo file (PuKDF).
pub fn from_spki_der(der: &[u8]) -> Result<(PublicKey, usize), CardError> {
    let spki = SubjectPublicKeyInfoOwned::from_der(der)
        .map_err(|_| CardError::Malformed("SubjectPublicKeyInfo DER"))?;
    from_spki(&spki)
}

fn strip_leading_zeros(b: &[u8]) -> Vec<u8> {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b[first..].to_vec()
}

fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<(PublicKey, usize), CardError> {
    let key_bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(CardError::Malformed("public key bit string"))?;
    if spki.algorithm.oid == RSA_ENCRYPTION {
        let rsa = RsaPublicKey::from_der(key_bits)
            .map_err(|_| CardError::Malformed("RSAPublicKey DER"))?;
        let modulus = strip_leading_zeros(rsa.modulus.as_bytes());
        let exponent = strip_leading_zeros(rsa.public_exponent.as_bytes());
        let bits = match modulus.first() {
            Some(top) => modulus.len() * 8 - top.leading_zeros() as usize,
            None => return Err(CardError::Malformed("empty RSA modulus")),
        };
        return Ok((PublicKey::Rsa { modulus, exponent }, bits));
    }
    if spki.algorithm.oid == EC_PUBLIC_KEY {
        let params = spki
            .algorithm
            .parameters
            .as_ref()
            .ok_or(CardError::Malformed("EC parameters missing"))?;
        let curve_oid: ObjectIdentifier = params
            .decode_as()
            .map_err(|_| CardError::Malformed("EC parameters not a named curve"))?;
        let (curve, bits): (Curve, usize) = if curve_oid == P256 {
            (Curve::P256, 256)
        } else if curve_oid == P384 {
            (Curve::P384, 384)
        } else if curve_oid == P521 {
            (Curve::P521, 521)
        } else {
            return Err(CardError::Malformed("unsupported EC curve"));
        };
        let field_len = bits.div_ceil(8);
        if key_bits.len() != 1 + 2 * field_len || key_bits[0] != 0x04 {
            return Err(CardError::Malformed("EC point not uncompressed"));
        }
        let ec_params = curve_oid
            .to_der()
            .map_err(|_| CardError::Malformed("EC parameters"))?;
        return Ok((
            PublicKey::Ec {
                curve,
                ec_params,
                point: key_bits.to_vec(),
            },
            bits,
        ));
    }
    Err(CardError::Malformed("unsupported public key algorithm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for input in [&[][..], &[0x30], &[0x30, 0x82, 0xFF, 0xFF], &[0x04, 0x00]] {
            assert!(matches!(
                from_certificate(input),
                Err(CardError::Malformed(_))
            ));
            assert!(matches!(from_spki_der(input), Err(CardError::Malformed(_))));
        }
    }

    #[test]
    fn ec_spki_p256() {
        // SubjectPublicKeyInfo of a P-256 key (generator point G as the public key).
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06,
            0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
        ];
        der.extend_from_slice(&[0x11; 64]);
        let (key, bits) = from_spki_der(&der).expect("P-256 SPKI");
        assert_eq!(bits, 256);
        match key {
            PublicKey::Ec {
                curve,
                ec_params,
                point,
            } => {
                assert_eq!(curve, Curve::P256);
                assert_eq!(
                    ec_params,
                    [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
                );
                assert_eq!(point.len(), 65);
                assert_eq!(point[0], 0x04);
            }
            other => panic!("not EC: {other:?}"),
        }
    }

    #[test]
    fn rsa_spki_strips_leading_zero() {
        // SPKI { rsaEncryption NULL, BIT STRING { SEQUENCE { INTEGER 00 C1.., INTEGER 010001 } } }
        let modulus: Vec<u8> = std::iter::once(0x00)
            .chain(std::iter::once(0xC1))
            .chain(std::iter::repeat_n(0x55, 127))
            .collect();
        let mut rsa = vec![0x02, 0x81, modulus.len() as u8];
        rsa.extend_from_slice(&modulus);
        rsa.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut seq = vec![0x30, 0x81, rsa.len() as u8];
        seq.extend_from_slice(&rsa);
        let mut bits = vec![0x03, 0x81, (seq.len() + 1) as u8, 0x00];
        bits.extend_from_slice(&seq);
        let alg = [
            0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let mut body = alg.to_vec();
        body.extend_from_slice(&bits);
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend_from_slice(&body);
        let (key, nbits) = from_spki_der(&der).expect("RSA SPKI");
        assert_eq!(nbits, 1024);
        assert_eq!(
            key,
            PublicKey::Rsa {
                modulus: modulus[1..].to_vec(),
                exponent: vec![0x01, 0x00, 0x01]
            }
        );
    }
}
