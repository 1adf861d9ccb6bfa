//! Personalisation: builds a complete `CardImage` (keys, PINs, the TEST certificate
//! chain and the PKCS#15 file system of pkcs11-spec.md §1.3/§1.5/§1.6).

use crate::certgen::{self, TestCa};
use crate::image::{CardFamily, CardImage, CardKey, FileNode, KeyAlgorithm, PinRecord};
use eimza_pkcs15 as p15;
use sha1::{Digest, Sha1};
use std::fmt;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// PKCS#15 application AID (ISO 7816-15 default).
pub const PKCS15_AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];
pub const MF: u16 = 0x3F00;
pub const EF_DIR: u16 = 0x2F00;
pub const DF_PKCS15: u16 = 0x3D00;
pub const EF_ODF: u16 = 0x5031;
pub const EF_TOKEN_INFO: u16 = 0x5032;
pub const EF_AODF: u16 = 0x4401;
pub const EF_PRKDF: u16 = 0x4402;
pub const EF_PUKDF: u16 = 0x4403;
pub const EF_CDF: u16 = 0x4404;
/// End-user certificate of key n (1-based): `EF_CERT_BASE + n - 1`.
pub const EF_CERT_BASE: u16 = 0x4305;
pub const EF_NES_CA_CERT: u16 = 0x430D;
pub const EF_ROOT_CA_CERT: u16 = 0x430E;
/// SubjectPublicKeyInfo of key n (1-based): `EF_PUBKEY_BASE + n - 1`.
pub const EF_PUBKEY_BASE: u16 = 0x4215;
pub const MAX_KEYS: usize = 8;

pub const PIN_REFERENCE: u8 = 0x81;
pub const PUK_REFERENCE: u8 = 0x82;
pub const PIN_LENGTH: usize = 6;
pub const PUK_LENGTH: usize = 8;
pub const PIN_TRIES: u8 = 3;
pub const PUK_TRIES: u8 = 10;
const PIN_AUTH_ID: u8 = 0x01;
const PUK_AUTH_ID: u8 = 0x02;

pub const MANUFACTURER: &str = "eimza software card";
pub const APPLICATION_LABEL: &str = "AKIS e-imza";
/// The test national id used in labels and the end-user subject.
pub const NATIONAL_ID: &str = "12345678950";
/// Longest serial: GET DATA 01 06 has 12 bytes for it.
pub const MAX_SERIAL_LEN: usize = 12;

/// What to put on a new card.
#[derive(Clone)]
pub struct CreateOptions {
    /// Which AKIS family's ATR and command forms the card uses (default v2.x).
    pub family: CardFamily,
    /// 1..=8 keys; key n gets key reference n.
    pub keys: Vec<KeyAlgorithm>,
    /// Indices into `keys` whose certificates also allow TLS client authentication
    /// (digitalSignature and the clientAuth extended key usage). Every other key gets
    /// a certificate like a real NES key: nonRepudiation only, no extended key usage.
    pub tls_client_keys: Vec<usize>,
    pub pin: Zeroizing<String>,
    pub puk: Zeroizing<String>,
    /// Card serial; `None`: 8 random bytes.
    pub serial: Option<Vec<u8>>,
    /// Mark every key `userConsent 1` (PIN right before each signature).
    pub user_consent: bool,
    /// Folder keeping a reusable test CA; `None`: a fresh CA for this card only.
    pub ca_dir: Option<PathBuf>,
}

/// PIN and PUK are never printed.
impl fmt::Debug for CreateOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateOptions")
            .field("family", &self.family)
            .field("keys", &self.keys)
            .field("tls_client_keys", &self.tls_client_keys)
            .field("pin", &"<redacted>")
            .field("puk", &"<redacted>")
            .field("serial", &self.serial)
            .field("user_consent", &self.user_consent)
            .field("ca_dir", &self.ca_dir)
            .finish()
    }
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            family: CardFamily::default(),
            keys: vec![KeyAlgorithm::Rsa2048],
            tls_client_keys: Vec::new(),
            pin: Zeroizing::new("123456".into()),
            puk: Zeroizing::new("12345678".into()),
            serial: None,
            user_consent: false,
            ca_dir: None,
        }
    }
}

#[derive(Debug)]
pub enum PersonaliseError {
    /// PIN not exactly 6 digits (the message never contains the PIN).
    InvalidPin,
    /// PUK not exactly 8 digits.
    InvalidPuk,
    /// Not 1..=8 keys.
    KeyCount(usize),
    /// Serial empty or longer than 12 bytes.
    InvalidSerial(usize),
    /// A TLS client key index that names no key.
    TlsKeyIndex(usize),
    /// A key type the card family cannot hold (v1.0: RSA-2048 only).
    FamilyKey(CardFamily, KeyAlgorithm),
    /// `ca_dir` unusable.
    CaDir(String),
    Io(std::io::Error),
    KeyGeneration(String),
    Certificate(String),
    Encoding(String),
}

impl fmt::Display for PersonaliseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersonaliseError::InvalidPin => {
                write!(f, "the PIN must be exactly {PIN_LENGTH} digits")
            }
            PersonaliseError::InvalidPuk => {
                write!(f, "the PUK must be exactly {PUK_LENGTH} digits")
            }
            PersonaliseError::KeyCount(n) => {
                write!(f, "a card holds 1 to {MAX_KEYS} keys, not {n}")
            }
            PersonaliseError::TlsKeyIndex(i) => {
                write!(f, "TLS client key {i} is not one of the card's keys")
            }
            PersonaliseError::FamilyKey(family, algorithm) => write!(
                f,
                "an AKIS {} card holds RSA-2048 keys only, not {}",
                family.name(),
                crate::algorithm_name(*algorithm)
            ),
            PersonaliseError::InvalidSerial(n) => {
                write!(f, "the serial must be 1 to {MAX_SERIAL_LEN} bytes, not {n}")
            }
            PersonaliseError::CaDir(m) => write!(f, "test CA folder: {m}"),
            PersonaliseError::Io(e) => write!(f, "I/O error: {e}"),
            PersonaliseError::KeyGeneration(m) => write!(f, "key generation failed: {m}"),
            PersonaliseError::Certificate(m) => write!(f, "certificate: {m}"),
            PersonaliseError::Encoding(m) => write!(f, "encoding: {m}"),
        }
    }
}

impl std::error::Error for PersonaliseError {}

impl From<std::io::Error> for PersonaliseError {
    fn from(e: std::io::Error) -> Self {
        PersonaliseError::Io(e)
    }
}

impl From<p15::Error> for PersonaliseError {
    fn from(e: p15::Error) -> Self {
        PersonaliseError::Encoding(e.to_string())
    }
}

fn is_digits(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a PIN against the card policy (exactly 6 ASCII digits).
pub fn validate_pin(pin: &str) -> Result<(), PersonaliseError> {
    is_digits(pin, PIN_LENGTH)
        .then_some(())
        .ok_or(PersonaliseError::InvalidPin)
}

/// Checks a PUK against the card policy (exactly 8 ASCII digits).
pub fn validate_puk(puk: &str) -> Result<(), PersonaliseError> {
    is_digits(puk, PUK_LENGTH)
        .then_some(())
        .ok_or(PersonaliseError::InvalidPuk)
}

/// A generated key with what the PKCS#15 files and the certificate need.
struct GeneratedKey {
    algorithm: KeyAlgorithm,
    pkcs8: Zeroizing<Vec<u8>>,
    spki_der: Vec<u8>,
    /// PKCS#15 iD: SHA-1 of the modulus (RSA) or of the uncompressed point (EC).
    id: Vec<u8>,
    kind: p15::KeyKind,
}

fn keygen_err(e: impl fmt::Display) -> PersonaliseError {
    PersonaliseError::KeyGeneration(e.to_string())
}

fn generate_rsa(algorithm: KeyAlgorithm, bits: usize) -> Result<GeneratedKey, PersonaliseError> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use rsa::traits::PublicKeyParts;
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(keygen_err)?;
    let public = key.to_public_key();
    let modulus = public.n_bytes();
    Ok(GeneratedKey {
        algorithm,
        pkcs8: Zeroizing::new(key.to_pkcs8_der().map_err(keygen_err)?.as_bytes().to_vec()),
        spki_der: public.to_public_key_der().map_err(keygen_err)?.into_vec(),
        id: Sha1::digest(&modulus).to_vec(),
        kind: p15::KeyKind::Rsa {
            modulus_length: u32::try_from(bits).map_err(keygen_err)?,
        },
    })
}

/// EC keys for both curves, through the curve crates' common traits.
macro_rules! generate_ec {
    ($curve:ident, $algorithm:expr, $bits:expr, $oid:expr) => {{
        use $curve::elliptic_curve::sec1::ToSec1Point;
        use $curve::elliptic_curve::Generate;
        use $curve::pkcs8::{EncodePrivateKey, EncodePublicKey};
        let key =
            $curve::SecretKey::try_generate_from_rng(&mut getrandom::SysRng).map_err(keygen_err)?;
        let public = key.public_key();
        let point = public.to_sec1_point(false);
        Ok(GeneratedKey {
            algorithm: $algorithm,
            pkcs8: Zeroizing::new(key.to_pkcs8_der().map_err(keygen_err)?.as_bytes().to_vec()),
            spki_der: public.to_public_key_der().map_err(keygen_err)?.into_vec(),
            id: Sha1::digest(point.as_bytes()).to_vec(),
            kind: p15::KeyKind::Ec {
                field_size: Some($bits),
                curve: Some($oid),
            },
        })
    }};
}

fn generate(algorithm: KeyAlgorithm) -> Result<GeneratedKey, PersonaliseError> {
    match algorithm {
        KeyAlgorithm::Rsa2048 => generate_rsa(algorithm, 2048),
        KeyAlgorithm::Rsa3072 => generate_rsa(algorithm, 3072),
        KeyAlgorithm::P256 => generate_ec!(p256, algorithm, 256, p15::curves::P256),
        KeyAlgorithm::P384 => generate_ec!(p384, algorithm, 384, p15::curves::P384),
    }
}

/// Allocated size of an EF: content rounded up to 256, plus 256 spare, like a card
/// personalised with room to grow.
pub fn allocated_size(content_len: usize) -> usize {
    content_len.div_ceil(256) * 256 + 256
}

fn ef(fid: u16, content: &[u8]) -> FileNode {
    let mut body = content.to_vec();
    body.resize(allocated_size(content.len()), 0x00);
    FileNode {
        path: vec![MF, DF_PKCS15, fid],
        df_name: None,
        body: Some(body),
    }
}

fn fid_path(fid: u16) -> Vec<u8> {
    [MF, DF_PKCS15, fid]
        .iter()
        .flat_map(|f| f.to_be_bytes())
        .collect()
}

fn path_with_length(fid: u16, content: &[u8]) -> Result<p15::Path, PersonaliseError> {
    let len =
        u32::try_from(content.len()).map_err(|e| PersonaliseError::Encoding(e.to_string()))?;
    Ok(p15::Path::with_length(&fid_path(fid), len))
}

/// Label of end-user object n (0-based): `<national id>NES<n>`.
pub fn key_label(index: usize) -> String {
    format!("{NATIONAL_ID}NES{index}")
}

/// EF.TokenInfo lastUpdate of a new personalisation: the time to the microsecond
/// (GeneralizedTime fraction, DER: no trailing zeros), strictly increasing within the
/// process, so two personalisations of one serial never share a TokenInfo and a
/// module's bind cache (keyed by serial + TokenInfo) never serves the old contents.
fn last_update_now() -> Result<String, p15::Error> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_MICROS: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let prev = LAST_MICROS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(0);
    let micros = now.max(prev + 1);
    let whole = p15::generalized_time_from_unix(micros / 1_000_000)?;
    let fraction = format!("{:06}", micros % 1_000_000);
    let fraction = fraction.trim_end_matches('0');
    Ok(match (whole.strip_suffix('Z'), fraction.is_empty()) {
        (Some(base), false) => format!("{base}.{fraction}Z"),
        _ => whole,
    })
}

fn ca_cert_object(
    label: &str,
    cert_der: &[u8],
    fid: u16,
) -> Result<p15::CertificateObject, PersonaliseError> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| PersonaliseError::Certificate(e.to_string()))?;
    let point = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    Ok(p15::CertificateObject {
        common: p15::CommonObjectAttributes {
            label: Some(label.into()),
            ..Default::default()
        },
        id: Sha1::digest(point).to_vec(),
        authority: true,
        value: p15::ObjectValue::Path(path_with_length(fid, cert_der)?),
    })
}

/// Personalises a new card.
pub fn create(options: &CreateOptions) -> Result<CardImage, PersonaliseError> {
    validate_pin(&options.pin)?;
    validate_puk(&options.puk)?;
    if options.keys.is_empty() || options.keys.len() > MAX_KEYS {
        return Err(PersonaliseError::KeyCount(options.keys.len()));
    }
    if let Some(&i) = options
        .tls_client_keys
        .iter()
        .find(|&&i| i >= options.keys.len())
    {
        return Err(PersonaliseError::TlsKeyIndex(i));
    }
    // [AKIS] OpenSC's card-akis.c registers RSA-2048 only for v1.0 cards.
    if options.family == CardFamily::V10 {
        if let Some(&other) = options.keys.iter().find(|&&k| k != KeyAlgorithm::Rsa2048) {
            return Err(PersonaliseError::FamilyKey(options.family, other));
        }
    }
    let serial = match &options.serial {
        Some(s) if s.is_empty() || s.len() > MAX_SERIAL_LEN => {
            return Err(PersonaliseError::InvalidSerial(s.len()))
        }
        Some(s) => s.clone(),
        None => {
            let mut s = vec![0u8; 8];
            getrandom::fill(&mut s).map_err(keygen_err)?;
            s
        }
    };

    let ca: TestCa = match &options.ca_dir {
        Some(dir) => certgen::load_or_create_ca(dir)?,
        None => certgen::create_test_ca()?,
    };

    let mut files = vec![
        FileNode {
            path: vec![MF],
            df_name: None,
            body: None,
        },
        FileNode {
            path: vec![MF, DF_PKCS15],
            df_name: Some(PKCS15_AID.to_vec()),
            body: None,
        },
    ];
    let mut keys = Vec::new();
    let mut prkdf = Vec::new();
    let mut pukdf = Vec::new();
    let mut cdf = Vec::new();

    for (index, &algorithm) in options.keys.iter().enumerate() {
        let generated = generate(algorithm)?;
        let tls_client = options.tls_client_keys.contains(&index);
        let cert_der = certgen::issue_end_user(&ca.nes, &generated.spki_der, tls_client)?;
        let offset = u16::try_from(index).map_err(keygen_err)?;
        let key_ref = u8::try_from(index + 1).map_err(keygen_err)?;
        let cert_fid = EF_CERT_BASE + offset;
        let pubkey_fid = EF_PUBKEY_BASE + offset;
        let label = key_label(index);

        prkdf.push(p15::PrivateKeyObject {
            common: p15::CommonObjectAttributes {
                label: Some(label.clone()),
                flags: p15::object_flags::PRIVATE,
                auth_id: Some(vec![PIN_AUTH_ID]),
                user_consent: options.user_consent.then_some(1),
            },
            key: p15::CommonKeyAttributes {
                id: generated.id.clone(),
                usage: p15::key_usage::SIGN | p15::key_usage::NON_REPUDIATION,
                native: true,
                access_flags: p15::key_access::SENSITIVE
                    | p15::key_access::ALWAYS_SENSITIVE
                    | p15::key_access::NEVER_EXTRACTABLE
                    | p15::key_access::LOCAL,
                key_reference: Some(u32::from(key_ref)),
            },
            kind: generated.kind.clone(),
            // Internal key: the value path names the DF that holds it.
            path: Some(p15::Path::new(&[0x3F, 0x00, 0x3D, 0x00])),
        });
        pukdf.push(p15::PublicKeyObject {
            common: p15::CommonObjectAttributes {
                label: Some(label.clone()),
                ..Default::default()
            },
            key: p15::CommonKeyAttributes {
                id: generated.id.clone(),
                usage: p15::key_usage::VERIFY,
                native: true,
                access_flags: 0,
                key_reference: None,
            },
            kind: generated.kind.clone(),
            value: p15::ObjectValue::Path(path_with_length(pubkey_fid, &generated.spki_der)?),
        });
        cdf.push(p15::CertificateObject {
            common: p15::CommonObjectAttributes {
                label: Some(label),
                ..Default::default()
            },
            id: generated.id.clone(),
            authority: false,
            value: p15::ObjectValue::Path(path_with_length(cert_fid, &cert_der)?),
        });
        files.push(ef(cert_fid, &cert_der));
        files.push(ef(pubkey_fid, &generated.spki_der));
        keys.push(CardKey {
            key_ref,
            algorithm: generated.algorithm,
            pkcs8_der: generated.pkcs8,
            user_consent: options.user_consent,
        });
    }

    // Labels stay ASCII: Java's SunPKCS11 reads them as Latin-1.
    cdf.push(ca_cert_object(
        "TEST Kamu SM NES CA - Surum 6",
        &ca.nes.cert_der,
        EF_NES_CA_CERT,
    )?);
    cdf.push(ca_cert_object(
        "TEST Kamu SM Kok CA - Surum 6",
        &ca.root.cert_der,
        EF_ROOT_CA_CERT,
    )?);
    files.push(ef(EF_NES_CA_CERT, &ca.nes.cert_der));
    files.push(ef(EF_ROOT_CA_CERT, &ca.root.cert_der));

    let aodf = p15::encode_aodf(&pin_objects());
    let prkdf = p15::encode_prkdf(&prkdf);
    let pukdf = p15::encode_pukdf(&pukdf);
    let cdf = p15::encode_cdf(&cdf);
    let odf = p15::encode_odf(&[
        odf_entry(p15::OdfKind::AuthObjects, EF_AODF, &aodf)?,
        odf_entry(p15::OdfKind::PrivateKeys, EF_PRKDF, &prkdf)?,
        odf_entry(p15::OdfKind::PublicKeys, EF_PUKDF, &pukdf)?,
        odf_entry(p15::OdfKind::Certificates, EF_CDF, &cdf)?,
    ]);
    let token_info = p15::encode_token_info(&p15::TokenInfo {
        version: 0,
        serial_number: serial.clone(),
        manufacturer_id: Some(MANUFACTURER.into()),
        label: Some(format!("AKIS_{}", hex_upper(&serial))),
        token_flags: p15::token_flags::LOGIN_REQUIRED | p15::token_flags::PRN_GENERATION,
        last_update: Some(last_update_now()?),
    })?;
    let dir = p15::encode_dir_records(&[p15::DirRecord {
        aid: PKCS15_AID.to_vec(),
        label: Some(APPLICATION_LABEL.into()),
        path: Some(vec![0x3F, 0x00, 0x3D, 0x00]),
    }]);

    let mut ef_dir = ef(EF_DIR, &dir);
    ef_dir.path = vec![MF, EF_DIR];
    files.push(ef_dir);
    files.push(ef(EF_ODF, &odf));
    files.push(ef(EF_TOKEN_INFO, &token_info));
    files.push(ef(EF_AODF, &aodf));
    files.push(ef(EF_PRKDF, &prkdf));
    files.push(ef(EF_PUKDF, &pukdf));
    files.push(ef(EF_CDF, &cdf));

    let pins = vec![
        PinRecord {
            reference: PIN_REFERENCE,
            value: Zeroizing::new(options.pin.as_bytes().to_vec()),
            length: PIN_LENGTH,
            max_tries: PIN_TRIES,
            tries_left: PIN_TRIES,
        },
        PinRecord {
            reference: PUK_REFERENCE,
            value: Zeroizing::new(options.puk.as_bytes().to_vec()),
            length: PUK_LENGTH,
            max_tries: PUK_TRIES,
            tries_left: PUK_TRIES,
        },
    ];

    Ok(CardImage {
        family: options.family,
        serial,
        files,
        keys,
        pins,
    })
}

fn odf_entry(
    kind: p15::OdfKind,
    fid: u16,
    content: &[u8],
) -> Result<p15::OdfEntry, PersonaliseError> {
    Ok(p15::OdfEntry {
        kind,
        path: path_with_length(fid, content)?,
    })
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The AODF of spec §1.5: PIN (authId 01, unblocked by 02) and PUK (authId 02).
fn pin_objects() -> Vec<p15::PinObject> {
    let pin = |label: &str,
               auth_id: u8,
               unblocker: Option<u8>,
               extra_flags: u32,
               length: usize,
               reference: u8| p15::PinObject {
        common: p15::CommonObjectAttributes {
            label: Some(label.into()),
            auth_id: unblocker.map(|id| vec![id]),
            ..Default::default()
        },
        auth_id: Some(vec![auth_id]),
        attributes: p15::PinAttributes {
            flags: p15::pin_flags::LOCAL | p15::pin_flags::INITIALIZED | extra_flags,
            pin_type: p15::PinType::AsciiNumeric,
            min_length: length as u32,
            stored_length: length as u32,
            max_length: Some(length as u32),
            reference: u32::from(reference),
            pad_char: None,
            path: None,
        },
    };
    vec![
        pin(
            "PIN",
            PIN_AUTH_ID,
            Some(PUK_AUTH_ID),
            0,
            PIN_LENGTH,
            PIN_REFERENCE,
        ),
        pin(
            "PUK",
            PUK_AUTH_ID,
            None,
            p15::pin_flags::UNBLOCKING_PIN | p15::pin_flags::SO_PIN,
            PUK_LENGTH,
            PUK_REFERENCE,
        ),
    ]
}

#[cfg(test)]
mod tests;
