//! The software card's TEST certificate chain: a root and a NES CA (P-384,
//! ecdsa-with-SHA384, names modelled on Kamu SM's "Sürüm 6" chain but marked TEST),
//! and end-user certificates shaped like a qualified (NES) certificate.

use crate::personalise::PersonaliseError;
use der::asn1::{Any, Ia5String, OctetString};
use der::oid::AssociatedOid;
use der::{Decode, DecodePem, Encode, EncodePem};
use p384::ecdsa::{DerSignature, SigningKey};
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha1::{Digest, Sha1};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::certpolicy::{PolicyInformation, PolicyQualifierInfo};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate};

const DAY: Duration = Duration::from_secs(24 * 3600);
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

// Written in RFC 4514 order (last RDN first), so the DER starts with C=TR like Kamu SM's.
const ROOT_NAME: &str = "CN=TEST Kamu SM Kök Sertifika Hizmet Sağlayıcısı - Sürüm 6,\
OU=BİLGEM TEST,O=TEST Türkiye Bilimsel ve Teknolojik Araştırma Kurumu - TÜBİTAK,\
L=Gebze - Kocaeli,C=TR";
const NES_CA_NAME: &str = "CN=TEST Kamu Elektronik Sertifika Hizmet Sağlayıcısı - Sürüm 6,\
OU=BİLGEM TEST,O=TEST Türkiye Bilimsel ve Teknolojik Araştırma Kurumu - TÜBİTAK,\
L=Gebze - Kocaeli,C=TR";
/// The end-user subject (spec §1.6): test national id 12345678950.
const END_USER_NAME: &str = "serialNumber=12345678950,CN=TEST KULLANICI,C=TR";

/// Kamu SM's NES CA certificate policy (seen in fixtures/kamusm-nes-v6.der).
const POLICY_KAMUSM_CA: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.792.1.2.1.1.5.7.1.1");
/// Kamu SM's end-user NES policy arc (…5.7.1.x, like the CA's …5.7.1.1).
const POLICY_KAMUSM_NES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.792.1.2.1.1.5.7.1.9");
/// ETSI EN 319 411-2 QCP-n-qscd: qualified certificate for a natural person, key on a QSCD.
const POLICY_QCP_N_QSCD: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.194112.1.2");
const ID_QT_UNOTICE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.2");
const ID_PE_QC_STATEMENTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.3");
const QCS_COMPLIANCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.1");
const QCS_SSCD: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.4");
const KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

const ROOT_CERT_FILE: &str = "root-ca.pem";
const ROOT_KEY_FILE: &str = "root-ca.key";
const NES_CERT_FILE: &str = "nes-ca.pem";
const NES_KEY_FILE: &str = "nes-ca.key";

fn err(what: &str, e: impl std::fmt::Display) -> PersonaliseError {
    PersonaliseError::Certificate(format!("{what}: {e}"))
}

/// A CA: its key, certificate and subject key identifier.
pub(crate) struct Ca {
    pub key: p384::SecretKey,
    pub cert_der: Vec<u8>,
    pub name: Name,
    pub key_id: Vec<u8>,
}

pub(crate) struct TestCa {
    pub root: Ca,
    pub nes: Ca,
}

/// RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value.
pub(crate) fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// A profile that returns exactly the names and extensions it was given.
struct FixedProfile {
    issuer: Name,
    subject: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for FixedProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

fn extension<T: Encode + AssociatedOid>(
    critical: bool,
    value: &T,
) -> Result<Extension, PersonaliseError> {
    raw_extension(
        T::OID,
        critical,
        value.to_der().map_err(|e| err("extension", e))?,
    )
}

fn raw_extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
) -> Result<Extension, PersonaliseError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value).map_err(|e| err("extension", e))?,
    })
}

fn key_id_extensions(
    subject_key_id: &[u8],
    issuer_key_id: Option<&[u8]>,
) -> Result<Vec<Extension>, PersonaliseError> {
    let mut out = Vec::new();
    if let Some(aki) = issuer_key_id {
        let value = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(aki).map_err(|e| err("AKI", e))?),
            ..Default::default()
        };
        out.push(extension(false, &value)?);
    }
    let ski = SubjectKeyIdentifier(OctetString::new(subject_key_id).map_err(|e| err("SKI", e))?);
    out.push(extension(false, &ski)?);
    Ok(out)
}

/// Positive random serial number of 16 bytes.
fn random_serial() -> Result<SerialNumber, PersonaliseError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| err("random", e))?;
    bytes[0] = (bytes[0] & 0x7F) | 0x01;
    SerialNumber::new(&bytes).map_err(|e| err("serial", e))
}

fn validity(lifetime: Duration) -> Result<Validity, PersonaliseError> {
    let now = SystemTime::now();
    let from = now.checked_sub(DAY).unwrap_or(now);
    let to = now + lifetime;
    Ok(Validity::new(
        Time::try_from(from).map_err(|e| err("time", e))?,
        Time::try_from(to).map_err(|e| err("time", e))?,
    ))
}

fn sign(
    profile: FixedProfile,
    spki: SubjectPublicKeyInfoOwned,
    lifetime: Duration,
    issuer_key: &p384::SecretKey,
) -> Result<Vec<u8>, PersonaliseError> {
    let builder = CertificateBuilder::new(profile, random_serial()?, validity(lifetime)?, spki)
        .map_err(|e| err("builder", e))?;
    let signer = SigningKey::from(issuer_key);
    let cert = builder
        .build::<_, DerSignature>(&signer)
        .map_err(|e| err("signing", e))?;
    cert.to_der().map_err(|e| err("certificate DER", e))
}

fn p384_spki(key: &p384::SecretKey) -> Result<SubjectPublicKeyInfoOwned, PersonaliseError> {
    use p384::pkcs8::EncodePublicKey;
    let der = key
        .public_key()
        .to_public_key_der()
        .map_err(|e| err("CA public key", e))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(|e| err("CA public key", e))
}

fn ca_key_usage() -> Result<Extension, PersonaliseError> {
    extension(true, &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))
}

fn new_key() -> Result<p384::SecretKey, PersonaliseError> {
    use p384::elliptic_curve::Generate;
    p384::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).map_err(|e| err("random", e))
}

/// A fresh TEST root and NES CA.
pub(crate) fn create_test_ca() -> Result<TestCa, PersonaliseError> {
    let root_name = Name::from_str(ROOT_NAME).map_err(|e| err("root name", e))?;
    let nes_name = Name::from_str(NES_CA_NAME).map_err(|e| err("NES CA name", e))?;

    let root_key = new_key()?;
    let root_spki = p384_spki(&root_key)?;
    let root_id = key_identifier(&root_spki);
    let mut extensions = key_id_extensions(&root_id, None)?;
    extensions.push(ca_key_usage()?);
    extensions.push(extension(
        true,
        &BasicConstraints {
            ca: true,
            path_len_constraint: None,
        },
    )?);
    let profile = FixedProfile {
        issuer: root_name.clone(),
        subject: root_name.clone(),
        extensions,
    };
    let root_der = sign(profile, root_spki, 10 * YEAR, &root_key)?;

    let nes_key = new_key()?;
    let nes_spki = p384_spki(&nes_key)?;
    let nes_id = key_identifier(&nes_spki);
    let mut extensions = key_id_extensions(&nes_id, Some(&root_id))?;
    extensions.push(ca_key_usage()?);
    extensions.push(extension(
        false,
        &CertificatePolicies(vec![PolicyInformation {
            policy_identifier: POLICY_KAMUSM_CA,
            policy_qualifiers: None,
        }]),
    )?);
    extensions.push(extension(
        true,
        &BasicConstraints {
            ca: true,
            path_len_constraint: Some(0),
        },
    )?);
    let profile = FixedProfile {
        issuer: root_name.clone(),
        subject: nes_name.clone(),
        extensions,
    };
    let nes_der = sign(profile, nes_spki, 10 * YEAR, &root_key)?;

    Ok(TestCa {
        root: Ca {
            key: root_key,
            cert_der: root_der,
            name: root_name,
            key_id: root_id,
        },
        nes: Ca {
            key: nes_key,
            cert_der: nes_der,
            name: nes_name,
            key_id: nes_id,
        },
    })
}

fn load_ca(dir: &Path, cert_file: &str, key_file: &str) -> Result<Ca, PersonaliseError> {
    let cert_pem = std::fs::read_to_string(dir.join(cert_file))?;
    let key_pem = zeroize::Zeroizing::new(std::fs::read_to_string(dir.join(key_file))?);
    let cert = Certificate::from_pem(cert_pem.as_bytes()).map_err(|e| err(cert_file, e))?;
    let key = p384::SecretKey::from_pkcs8_pem(&key_pem).map_err(|e| err(key_file, e))?;
    let spki = cert.tbs_certificate().subject_public_key_info().clone();
    if spki != p384_spki(&key)? {
        return Err(PersonaliseError::CaDir(format!(
            "{key_file} does not belong to {cert_file}"
        )));
    }
    Ok(Ca {
        key,
        cert_der: cert.to_der().map_err(|e| err(cert_file, e))?,
        name: cert.tbs_certificate().subject().clone(),
        key_id: key_identifier(&spki),
    })
}

fn write_ca(dir: &Path, ca: &Ca, cert_file: &str, key_file: &str) -> Result<(), PersonaliseError> {
    let cert = Certificate::from_der(&ca.cert_der).map_err(|e| err(cert_file, e))?;
    let cert_pem = cert.to_pem(LineEnding::LF).map_err(|e| err(cert_file, e))?;
    let key_pem = ca
        .key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| err(key_file, e))?;
    std::fs::write(dir.join(cert_file), cert_pem)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A test CA key still should not be world-readable.
        options.mode(0o600);
    }
    use std::io::Write;
    options
        .open(dir.join(key_file))?
        .write_all(key_pem.as_bytes())?;
    Ok(())
}

/// The test CA kept in `dir`: loaded if all four files are there, created (and
/// written) if none is; anything in between is an error rather than an overwrite.
pub(crate) fn load_or_create_ca(dir: &Path) -> Result<TestCa, PersonaliseError> {
    let files = [ROOT_CERT_FILE, ROOT_KEY_FILE, NES_CERT_FILE, NES_KEY_FILE];
    let present = files.iter().filter(|f| dir.join(f).exists()).count();
    if present == files.len() {
        return Ok(TestCa {
            root: load_ca(dir, ROOT_CERT_FILE, ROOT_KEY_FILE)?,
            nes: load_ca(dir, NES_CERT_FILE, NES_KEY_FILE)?,
        });
    }
    if present != 0 {
        return Err(PersonaliseError::CaDir(format!(
            "{} holds only part of a test CA (need {})",
            dir.display(),
            files.join(", ")
        )));
    }
    std::fs::create_dir_all(dir)?;
    let ca = create_test_ca()?;
    write_ca(dir, &ca.root, ROOT_CERT_FILE, ROOT_KEY_FILE)?;
    write_ca(dir, &ca.nes, NES_CERT_FILE, NES_KEY_FILE)?;
    Ok(ca)
}

/// `qcStatements` with QcCompliance and QcSSCD (ETSI EN 319 412-5), hand-encoded:
/// `SEQUENCE OF SEQUENCE { statementId OID }`.
fn qc_statements() -> Result<Extension, PersonaliseError> {
    let mut statements = Vec::new();
    for oid in [QCS_COMPLIANCE, QCS_SSCD] {
        let oid_der = oid.to_der().map_err(|e| err("qcStatements", e))?;
        statements.extend(der_tlv(0x30, &oid_der));
    }
    raw_extension(ID_PE_QC_STATEMENTS, false, der_tlv(0x30, &statements))
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// An end-user NES certificate for `spki_der`, signed by the NES CA. `tls_client`
/// adds digitalSignature and the clientAuth extended key usage.
pub(crate) fn issue_end_user(
    ca: &Ca,
    spki_der: &[u8],
    tls_client: bool,
) -> Result<Vec<u8>, PersonaliseError> {
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(|e| err("end-user key", e))?;
    let subject = Name::from_str(END_USER_NAME).map_err(|e| err("subject", e))?;
    let mut extensions = key_id_extensions(&key_identifier(&spki), Some(&ca.key_id))?;
    let usage = if tls_client {
        KeyUsages::NonRepudiation | KeyUsages::DigitalSignature
    } else {
        KeyUsages::NonRepudiation.into()
    };
    extensions.push(extension(true, &KeyUsage(usage))?);
    let notice = der_tlv(
        0x30,
        &der_tlv(
            0x0C,
            "TEST SERTİFİKASI - hukuki geçerliliği yoktur".as_bytes(),
        ),
    );
    let cps =
        Ia5String::new("https://example.invalid/eimza-test-cps").map_err(|e| err("CPS", e))?;
    let cps_any = Any::encode_from(&cps).map_err(|e| err("CPS", e))?;
    extensions.push(extension(
        false,
        &CertificatePolicies(vec![
            PolicyInformation {
                policy_identifier: POLICY_KAMUSM_NES,
                policy_qualifiers: Some(vec![
                    PolicyQualifierInfo {
                        policy_qualifier_id: ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.2.1"),
                        qualifier: Some(cps_any),
                    },
                    PolicyQualifierInfo {
                        policy_qualifier_id: ID_QT_UNOTICE,
                        qualifier: Some(Any::from_der(&notice).map_err(|e| err("notice", e))?),
                    },
                ]),
            },
            PolicyInformation {
                policy_identifier: POLICY_QCP_N_QSCD,
                policy_qualifiers: None,
            },
        ]),
    )?);
    extensions.push(qc_statements()?);
    if tls_client {
        extensions.push(extension(false, &ExtendedKeyUsage(vec![KP_CLIENT_AUTH]))?);
    }
    let profile = FixedProfile {
        issuer: ca.name.clone(),
        subject,
        extensions,
    };
    sign(profile, spki, 3 * YEAR, &ca.key)
}
