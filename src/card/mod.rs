//! The card profile as operations (pkcs11-spec.md Part 1): bind (read PKCS#15),
//! PIN operations, signing, random. Every public operation is ONE PC/SC transaction.
//! INTERFACE CONTRACT — bodies to be written.

use crate::reader::{CardChannel, ReaderError};
use zeroize::Zeroizing;

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
}

/// Why a card operation failed. The PKCS#11 layer maps these to CKR codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardError {
    Reader(ReaderError),
    /// ATR or PKCS#15 application not ours.
    NotRecognized,
    /// VERIFY/CHANGE/RRC with a wrong value: tries left after this one.
    PinIncorrect {
        tries_left: u8,
    },
    /// 6983/6984.
    PinBlocked,
    /// 6982: the card says the PIN is not verified (logged out under us).
    SecurityStatusNotSatisfied,
    /// The card was reset by someone else before this operation; it needs a login.
    ResetLostLogin,
    /// 6A80 on PSO input, or 6A88 no such key.
    DataInvalid,
    KeyNotFound,
    /// Any other status word.
    Status(u16),
    /// Malformed answer from the card (short response, bad DER, ...).
    Malformed(&'static str),
}

/// A connected card speaking the eimza card profile.
pub struct Card {
    channel: Box<dyn CardChannel>,
    /// Incremented each time the channel reported a reset by someone else.
    reset_epoch: u64,
}

impl Card {
    /// Wrap a channel. Sends nothing.
    pub fn new(channel: Box<dyn CardChannel>) -> Self {
        Card {
            channel,
            reset_epoch: 0,
        }
    }

    /// Number of resets by others seen so far; the PKCS#11 layer logs the user out
    /// when this changes.
    pub fn reset_epoch(&self) -> u64 {
        self.reset_epoch
    }

    /// Recognise the card (ATR family + SELECT PKCS#15 AID) and read the PKCS#15
    /// structure and PIN counters. One transaction.
    pub fn bind(&mut self) -> Result<TokenData, CardError> {
        let _ = &mut self.channel;
        todo!("card layer")
    }

    /// VERIFY with data (exactly one APDU carrying the PIN; never retried).
    pub fn verify(&mut self, pin: &PinInfo, value: &[u8]) -> Result<(), CardError> {
        let _ = (pin, value);
        todo!("card layer")
    }

    /// VERIFY without data: the counter, spending no try.
    pub fn pin_status(&mut self, pin: &PinInfo) -> Result<PinStatus, CardError> {
        let _ = pin;
        todo!("card layer")
    }

    /// CHANGE REFERENCE DATA old‖new.
    pub fn change_reference_data(
        &mut self,
        pin: &PinInfo,
        old: &[u8],
        new: &[u8],
    ) -> Result<(), CardError> {
        let _ = (pin, old, new);
        todo!("card layer")
    }

    /// RESET RETRY COUNTER: `puk` Some → P1 00 (PUK‖new); None → P1 02 (PUK verified before).
    pub fn reset_retry_counter(
        &mut self,
        pin: &PinInfo,
        puk: Option<(&PinInfo, &[u8])>,
        new_pin: &[u8],
    ) -> Result<(), CardError> {
        let _ = (pin, puk, new_pin);
        todo!("card layer")
    }

    /// LOGOUT (80 1A 00 00); falls back to a card reset if the card refuses.
    pub fn logout(&mut self) -> Result<(), CardError> {
        todo!("card layer")
    }

    /// MSE SET DST + PSO CDS (+ GET RESPONSE) in one transaction. With
    /// `pin_first` (userConsent keys), VERIFY is sent first in the same transaction.
    /// Returns `ResetLostLogin` without sending PSO if the card was reset by others.
    pub fn sign(
        &mut self,
        key_ref: u8,
        algorithm: SignAlgorithm,
        input: &[u8],
        pin_first: Option<(&PinInfo, &[u8])>,
    ) -> Result<Vec<u8>, CardError> {
        let _ = (key_ref, algorithm, input, pin_first);
        todo!("card layer")
    }

    /// GET CHALLENGE, as many APDUs as needed for `len` bytes.
    pub fn get_challenge(&mut self, len: usize) -> Result<Zeroizing<Vec<u8>>, CardError> {
        let _ = len;
        todo!("card layer")
    }
}
