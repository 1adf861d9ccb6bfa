//! What the card layer hands up: the token as read at bind (labels, PINs, keys,
//! certificates) and the algorithms a signature can use. Plain data, no I/O.

/// PKCS#15 application identifier (ISO 7816-15 default).
pub const PKCS15_AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];
/// Maximum tries of the user PIN and of the PUK (profile constants, §1.4 VERIFY).
pub const PIN_MAX_TRIES: u8 = 3;
pub const PUK_MAX_TRIES: u8 = 10;

/// Hash algorithms the card profile knows (RSA-PSS algorithm ids 11..15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// What PSO COMPUTE DIGITAL SIGNATURE should do (MSE `80` algorithm reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlgorithm {
    /// alg 02: input DigestInfo/raw ≤ k-11 bytes; card applies PKCS#1 v1.5 type 1.
    RsaPkcs1,
    /// alg 11..15: input is the hash; MGF1 same hash; salt length = hash length.
    RsaPss(HashAlg),
    /// alg 30: input hash/value 1..64 bytes; output raw r‖s.
    Ecdsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Big-endian, no leading zeros.
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    /// `ec_params`: DER of the named-curve OID; `point`: uncompressed point 04‖X‖Y (raw, not wrapped).
    Ec {
        curve: Curve,
        ec_params: Vec<u8>,
        point: Vec<u8>,
    },
}

/// PIN encoding from the AODF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinEncoding {
    AsciiNumeric,
    Utf8,
    Bcd,
}

/// Last known state of a PIN's retry counter (refreshed only by PIN operations and bind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    /// Security status set on the card (VERIFY without data answered 9000).
    Verified,
    TriesLeft(u8),
    Blocked,
    Unknown,
}

/// A PIN/PUK object from the AODF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinInfo {
    pub label: String,
    pub auth_id: Vec<u8>,
    pub reference: u8,
    pub encoding: PinEncoding,
    pub min_len: usize,
    pub max_len: usize,
    pub stored_len: usize,
    /// Pad to `stored_len` with this byte before sending (AODF needs-padding flag).
    pub pad_char: Option<u8>,
    /// Maximum tries (profile constant: PIN 3, PUK 10).
    pub max_tries: u8,
    pub status: PinStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateEntry {
    pub label: String,
    pub id: Vec<u8>,
    pub der: Vec<u8>,
    /// CDF `authority` flag (CA certificate).
    pub authority: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub label: String,
    pub id: Vec<u8>,
    /// PrKDF keyReference (MSE `84`).
    pub key_ref: u8,
    /// From the matching certificate, else from the PuKDF public key file.
    pub public: PublicKey,
    /// RSA modulus bits / EC field bits.
    pub bits: usize,
    /// PrKDF userConsent present: PIN needed right before each signature.
    pub user_consent: bool,
    pub usage_sign: bool,
    pub usage_non_repudiation: bool,
    /// authId of the PIN protecting the key.
    pub auth_id: Vec<u8>,
}

/// Everything read from the card at bind time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenData {
    pub label: String,
    /// Card serial as upper-case hex.
    pub serial: String,
    pub manufacturer: String,
    pub model: String,
    pub user_pin: PinInfo,
    pub puk: Option<PinInfo>,
    pub keys: Vec<KeyEntry>,
    pub certificates: Vec<CertificateEntry>,
    /// EF.TokenInfo lastUpdate, if present (cache change check).
    pub last_update: Option<String>,
    /// What the card's family can do (pkcs11-spec.md §1.4.1): the PKCS#11 layer offers
    /// only the mechanisms whose card algorithm it has.
    pub family: &'static super::profile::FamilyProfile,
    /// Largest signature input the card takes in one command (its family and APDU
    /// form, [`super::profile::Profile::max_command_data`]).
    pub max_command_data: usize,
}

impl HashAlg {
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
}
