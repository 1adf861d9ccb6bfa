//! Detached CMS SignedData (RFC 5652) for one signer, with RustCrypto's `cms` types.
//!
//! The card signs the DER of the signed attributes (tag `31`), so the caller first
//! gets [`SignedAttributes::to_be_signed`], has the token sign it with a hashing
//! mechanism (CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_ECDSA_SHA256), and
//! then [`encode_signed_data`] assembles the `.p7s`. The `cms` crate's builder is not
//! used: it wants the private key behind a `signature::Signer`, while here the token
//! signs in between, and it would bring AES, RSA and key-agreement code into the tool.
//! Defined here are only what `cms` does not have: the ESS signingCertificateV2
//! attribute (RFC 5035), RSASSA-PSS parameters (RFC 4055) and the X9.62 ECDSA value.

use crate::certinfo::CertSummary;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec, Uint, UtcTime};
use der::{Decode, Encode, Sequence};
use sha2::{Digest, Sha256};
use std::time::SystemTime;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

/// How the signature value was made, which fixes `signatureAlgorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    RsaPkcs1Sha256,
    /// MGF1-SHA-256, salt length 32 (what CKM_SHA256_RSA_PKCS_PSS is given).
    RsaPssSha256,
    EcdsaSha256,
}

/// RFC 5035 SigningCertificateV2 with one ESSCertIDv2 (hashAlgorithm: the SHA-256
/// default, so omitted).
#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

#[derive(Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

#[derive(Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// RFC 4055 RSASSA-PSS-params; trailerField left at its default.
#[derive(Sequence)]
struct RsaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    hash_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    mask_gen_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    salt_length: u8,
}

/// X9.62 Ecdsa-Sig-Value.
#[derive(Sequence)]
struct EcdsaSigValue {
    r: Uint,
    s: Uint,
}

/// The signed attributes of one signature, kept as the SET the card signs.
pub struct SignedAttributes(SetOfVec<Attribute>);

impl SignedAttributes {
    /// contentType = data, messageDigest = SHA-256(content), signingTime,
    /// signingCertificateV2 binding the signer certificate.
    pub fn new(
        content: &[u8],
        signer: &CertSummary,
        signing_time: SystemTime,
    ) -> der::Result<Self> {
        let digest = Sha256::digest(content);
        let tbs = signer.cert.tbs_certificate();
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(Sha256::digest(&signer.der).to_vec())?,
                issuer_serial: IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                    serial_number: tbs.serial_number().clone(),
                },
            }],
        };
        let attributes = vec![
            attribute(
                rfc5911::ID_CONTENT_TYPE,
                Any::encode_from(&rfc5911::ID_DATA)?,
            )?,
            attribute(
                rfc5911::ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(digest.to_vec())?)?,
            )?,
            // RFC 5652 §11.3: UTCTime through 2049.
            attribute(
                rfc5911::ID_SIGNING_TIME,
                Any::encode_from(&UtcTime::from_system_time(signing_time)?)?,
            )?,
            attribute(
                rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
                Any::encode_from(&ess)?,
            )?,
        ];
        // SetOfVec sorts into DER order, which is what both signer and verifier hash.
        Ok(SignedAttributes(SetOfVec::try_from(attributes)?))
    }

    /// The bytes the token signs: the attributes encoded as a universal SET.
    pub fn to_be_signed(&self) -> der::Result<Vec<u8>> {
        self.0.to_der()
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> der::Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    // RFC 5754 §2: SHA-2 parameters absent.
    AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    }
}

fn signature_algorithm(scheme: Scheme) -> der::Result<AlgorithmIdentifierOwned> {
    Ok(match scheme {
        Scheme::RsaPkcs1Sha256 => AlgorithmIdentifierOwned {
            oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::encode_from(&der::asn1::Null)?),
        },
        Scheme::RsaPssSha256 => {
            // Inside PSS parameters, RFC 4055 writes the hash with NULL parameters.
            let sha256 = AlgorithmIdentifierOwned {
                oid: rfc5912::ID_SHA_256,
                parameters: Some(Any::encode_from(&der::asn1::Null)?),
            };
            let params = RsaPssParams {
                hash_algorithm: sha256.clone(),
                mask_gen_algorithm: AlgorithmIdentifierOwned {
                    oid: rfc5912::ID_MGF_1,
                    parameters: Some(Any::encode_from(&sha256)?),
                },
                salt_length: 32,
            };
            AlgorithmIdentifierOwned {
                oid: rfc5912::ID_RSASSA_PSS,
                parameters: Some(Any::encode_from(&params)?),
            }
        }
        Scheme::EcdsaSha256 => AlgorithmIdentifierOwned {
            oid: rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        },
    })
}

/// Converts PKCS#11's raw ECDSA signature r‖s (two equal halves) to DER.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> der::Result<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return Err(der::ErrorKind::Length {
            tag: der::Tag::Sequence,
        }
        .into());
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    EcdsaSigValue {
        r: Uint::new(r)?,
        s: Uint::new(s)?,
    }
    .to_der()
}

/// The `.p7s`: ContentInfo { SignedData } with the signer certificate, the CA
/// certificates in `chain` (DER) and one SignerInfo. `signature` is the token's output
/// (already DER for ECDSA).
pub fn encode_signed_data(
    signer: &CertSummary,
    chain: &[Vec<u8>],
    attributes: SignedAttributes,
    scheme: Scheme,
    signature: Vec<u8>,
) -> der::Result<Vec<u8>> {
    let tbs = signer.cert.tbs_certificate();
    let signer_info = SignerInfo {
        version: CmsVersion::V1, // sid is issuerAndSerialNumber
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: sha256_algorithm(),
        signed_attrs: Some(attributes.0),
        signature_algorithm: signature_algorithm(scheme)?,
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let certificates = std::iter::once(&signer.der)
        .chain(chain)
        .map(|der| Certificate::from_der(der).map(CertificateChoices::Certificate))
        .collect::<der::Result<Vec<_>>>()?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])?,
        // Detached: eContent absent.
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    }
    .to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_sig(der_sig: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let v = EcdsaSigValue::from_der(der_sig).expect("valid DER");
        (v.r.as_bytes().to_vec(), v.s.as_bytes().to_vec())
    }

    #[test]
    fn ecdsa_signature_becomes_minimal_der_integers() {
        // r with the high bit set needs a 00 prefix; s with leading zeros loses them.
        let mut raw = vec![0x80u8; 32];
        raw.extend_from_slice(&[0u8; 31]);
        raw.push(0x05);
        let der_sig = ecdsa_raw_to_der(&raw).expect("encodes");
        assert_eq!(der_sig[0], 0x30);
        // INTEGER r: 33 bytes (00 80 ...)
        assert_eq!(&der_sig[2..5], &[0x02, 33, 0x00]);
        // INTEGER s: one byte 05
        assert_eq!(&der_sig[der_sig.len() - 3..], &[0x02, 1, 0x05]);
        let (r, s) = decode_sig(&der_sig);
        assert_eq!(r, vec![0x80u8; 32]);
        assert_eq!(s, vec![0x05]);
    }

    /// A scratch folder for openssl, removed afterwards.
    struct Scratch(std::path::PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
        std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// Builds a .p7s for a self-signed certificate, with the signature value made by
    /// `openssl dgst` over our signed attributes, and lets `openssl cms -verify` judge it.
    fn check_with_openssl(name: &str, genpkey: &[&str], sigopts: &[&str], scheme: Scheme) {
        let dir = std::env::temp_dir().join(format!("eimza-cms-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let scratch = Scratch(dir);
        let d = scratch.0.as_path();
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genpkey);
        args.extend_from_slice(&["-out", "key.pem"]);
        assert!(openssl(d, &args), "openssl genpkey");
        assert!(openssl(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "key.pem",
                "-subj",
                "/CN=CMS TEST/serialNumber=12345678950",
                "-days",
                "2",
                "-outform",
                "DER",
                "-out",
                "cert.der"
            ]
        ));
        assert!(openssl(
            d,
            &["x509", "-inform", "DER", "-in", "cert.der", "-out", "cert.pem"]
        ));
        let cert =
            CertSummary::parse(&std::fs::read(d.join("cert.der")).expect("cert")).expect("parses");
        let content = "içerik / content\n".as_bytes();
        std::fs::write(d.join("content"), content).expect("content");
        let attributes =
            SignedAttributes::new(content, &cert, SystemTime::now()).expect("attributes");
        std::fs::write(d.join("tbs"), attributes.to_be_signed().expect("tbs")).expect("tbs");
        let mut args = vec!["dgst", "-sha256", "-sign", "key.pem"];
        args.extend_from_slice(sigopts);
        args.extend_from_slice(&["-out", "sig", "tbs"]);
        assert!(openssl(d, &args), "openssl dgst -sign");
        let mut signature = std::fs::read(d.join("sig")).expect("sig");
        if scheme == Scheme::EcdsaSha256 {
            // Through the PKCS#11 form and back: r‖s padded to the field size.
            let (r, s) = decode_sig(&signature);
            let pad = |v: &[u8]| [vec![0u8; 32 - v.len()], v.to_vec()].concat();
            let raw = [pad(&r), pad(&s)].concat();
            assert_eq!(raw.len(), 64);
            signature = ecdsa_raw_to_der(&raw).expect("re-encodes");
        }
        let p7s = encode_signed_data(&cert, &[], attributes, scheme, signature).expect("encodes");
        std::fs::write(d.join("f.p7s"), &p7s).expect("p7s");
        assert!(
            openssl(
                d,
                &[
                    "cms",
                    "-verify",
                    "-binary",
                    "-inform",
                    "DER",
                    "-in",
                    "f.p7s",
                    "-content",
                    "content",
                    "-CAfile",
                    "cert.pem",
                    "-purpose",
                    "any",
                    "-out",
                    "/dev/null"
                ]
            ),
            "{name}: openssl cms -verify failed"
        );
        // A different content must not verify.
        std::fs::write(d.join("content"), b"other").expect("content");
        assert!(
            !openssl(
                d,
                &[
                    "cms",
                    "-verify",
                    "-binary",
                    "-inform",
                    "DER",
                    "-in",
                    "f.p7s",
                    "-content",
                    "content",
                    "-noverify",
                    "-out",
                    "/dev/null"
                ]
            ),
            "{name}: verified against the wrong content"
        );
    }

    #[test]
    fn openssl_verifies_rsa_pkcs1_cms() {
        check_with_openssl(
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            &[],
            Scheme::RsaPkcs1Sha256,
        );
    }

    #[test]
    fn openssl_verifies_rsa_pss_cms() {
        check_with_openssl(
            "pss",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
            Scheme::RsaPssSha256,
        );
    }

    #[test]
    fn openssl_verifies_ecdsa_cms() {
        check_with_openssl(
            "ec",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &[],
            Scheme::EcdsaSha256,
        );
    }

    #[test]
    fn malformed_ecdsa_signatures_are_errors() {
        for raw in [&[][..], &[1, 2, 3]] {
            assert!(matches!(
                ecdsa_raw_to_der(raw).map_err(|e| e.kind()),
                Err(der::ErrorKind::Length {
                    tag: der::Tag::Sequence
                })
            ));
        }
    }
}
