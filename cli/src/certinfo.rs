//! What a card holder wants to know about a certificate, read with x509-cert.

use crate::i18n::{Msg, Validity};
use der::asn1::{ObjectIdentifier, UintRef};
use der::{Decode, Sequence, Tag, Tagged};
use std::time::SystemTime;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;
use x509_cert::Certificate;

pub const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");

/// The key inside a certificate, as far as signing needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa {
        bits: usize,
    },
    Ec {
        curve: &'static str,
        bits: usize,
    },
    /// EC on a curve this tool does not name, or another algorithm.
    Other(String),
}

impl KeyKind {
    pub fn describe(&self) -> (String, Option<usize>) {
        match self {
            KeyKind::Rsa { bits } => ("RSA".into(), Some(*bits)),
            KeyKind::Ec { curve, bits } => (format!("EC {curve}"), Some(*bits)),
            KeyKind::Other(what) => (what.clone(), None),
        }
    }
}

/// A certificate parsed once, with the facts the tool shows or chooses by.
pub struct CertSummary {
    pub cert: Certificate,
    pub der: Vec<u8>,
    pub subject_cn: String,
    pub subject_serial: Option<String>,
    pub issuer_cn: String,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub not_before_text: String,
    pub not_after_text: String,
    pub key: KeyKind,
    /// `None`: no keyUsage extension.
    pub key_usage: Option<Vec<&'static str>>,
    pub non_repudiation: bool,
    /// basicConstraints cA.
    pub is_ca: bool,
}

#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

impl CertSummary {
    pub fn parse(der_bytes: &[u8]) -> Result<CertSummary, der::Error> {
        let cert = Certificate::from_der(der_bytes)?;
        let tbs = cert.tbs_certificate();
        let subject_cn =
            name_attribute(tbs.subject(), OID_CN).unwrap_or_else(|| tbs.subject().to_string());
        let subject_serial = name_attribute(tbs.subject(), OID_SERIAL_NUMBER);
        let issuer_cn =
            name_attribute(tbs.issuer(), OID_CN).unwrap_or_else(|| tbs.issuer().to_string());
        let validity = tbs.validity();
        let key = key_kind(tbs.subject_public_key_info());
        let usage = tbs.get_extension::<KeyUsage>()?.map(|(_, ku)| ku);
        let non_repudiation = usage.map(|ku| ku.non_repudiation()).unwrap_or(false);
        let key_usage = usage.map(usage_names);
        let is_ca = tbs
            .get_extension::<BasicConstraints>()?
            .is_some_and(|(_, bc)| bc.ca);
        Ok(CertSummary {
            der: der_bytes.to_vec(),
            subject_cn,
            subject_serial,
            issuer_cn,
            not_before: validity.not_before.to_system_time(),
            not_after: validity.not_after.to_system_time(),
            not_before_text: format_time(&validity.not_before.to_date_time()),
            not_after_text: format_time(&validity.not_after.to_date_time()),
            key,
            key_usage,
            non_repudiation,
            is_ca,
            cert,
        })
    }

    pub fn validity_now(&self) -> Validity {
        let now = SystemTime::now();
        if now < self.not_before {
            Validity::NotYetValid
        } else if now > self.not_after {
            Validity::Expired
        } else {
            Validity::Valid
        }
    }

    /// The lines `eimza status` prints for this certificate.
    pub fn status_lines(&self) -> Vec<Msg> {
        let (kind, bits) = self.key.describe();
        vec![
            Msg::CertSubject {
                cn: self.subject_cn.clone(),
                serial: self.subject_serial.clone(),
            },
            Msg::CertIssuer(self.issuer_cn.clone()),
            Msg::CertValidity {
                from: self.not_before_text.clone(),
                to: self.not_after_text.clone(),
                validity: self.validity_now(),
            },
            Msg::CertKey { kind, bits },
            match &self.key_usage {
                Some(uses) => Msg::CertKeyUsage(uses.clone()),
                None => Msg::CertNoKeyUsage,
            },
        ]
    }
}

fn format_time(t: &der::DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes()
    )
}

/// The first value of an attribute in a name, as text. Certificates use several
/// string types; all the common ones are read.
pub fn name_attribute(name: &Name, oid: ObjectIdentifier) -> Option<String> {
    name.iter().filter(|atv| atv.oid == oid).find_map(|atv| {
        let bytes = atv.value.value();
        match atv.value.tag() {
            Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            // T.61 in practice carries Latin-1.
            Tag::TeletexString => Some(bytes.iter().map(|&b| b as char).collect()),
            Tag::BmpString => {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                Some(String::from_utf16_lossy(&units))
            }
            _ => None,
        }
    })
}

fn key_kind(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> KeyKind {
    let oid = spki.algorithm.oid;
    if oid == OID_RSA_ENCRYPTION {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .and_then(|b| RsaPublicKey::from_der(b).ok())
            .map(|k| bit_length(k.modulus.as_bytes()));
        return match bits {
            Some(bits) => KeyKind::Rsa { bits },
            None => KeyKind::Other("RSA (unreadable key)".into()),
        };
    }
    if oid == OID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve.map(|c| c.to_string()).as_deref() {
            Some("1.2.840.10045.3.1.7") => KeyKind::Ec {
                curve: "P-256",
                bits: 256,
            },
            Some("1.3.132.0.34") => KeyKind::Ec {
                curve: "P-384",
                bits: 384,
            },
            Some("1.3.132.0.35") => KeyKind::Ec {
                curve: "P-521",
                bits: 521,
            },
            Some(other) => KeyKind::Other(format!("EC {other}")),
            None => KeyKind::Other("EC".into()),
        };
    }
    KeyKind::Other(oid.to_string())
}

fn bit_length(unsigned_be: &[u8]) -> usize {
    let significant: Vec<u8> = unsigned_be
        .iter()
        .copied()
        .skip_while(|&b| b == 0)
        .collect();
    match significant.first() {
        Some(first) => significant.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

fn usage_names(ku: KeyUsage) -> Vec<&'static str> {
    let all: [(bool, &'static str); 9] = [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "nonRepudiation"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    all.iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_length_ignores_leading_zeros() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01, 0x00]), 9);
        assert_eq!(bit_length(&[0x00]), 0);
        assert_eq!(bit_length(&[]), 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        use der::ErrorKind;
        let kind = |bytes: &[u8]| CertSummary::parse(bytes).map(|_| ()).map_err(|e| e.kind());
        assert!(matches!(kind(&[]), Err(ErrorKind::Incomplete { .. })));
        assert!(matches!(
            kind(&[0x30, 0x82, 0xff]),
            Err(ErrorKind::Incomplete { .. })
        ));
        assert!(matches!(
            kind(b"not a certificate"),
            Err(ErrorKind::TagUnexpected { .. })
        ));
    }
}
