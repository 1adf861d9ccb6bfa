//! The personalised contents of a software card: the contract between personalisation
//! (`personalise`) and the card runtime (`card`). The runtime persists a `CardImage`
//! to FILE (format owned by `store`).

use zeroize::Zeroizing;

/// A file or DF in the card's file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileNode {
    /// FID path from the MF, MF itself included: `[0x3F00, 0x3D00, 0x4404]`.
    pub path: Vec<u16>,
    /// DF name (AID) for DFs that have one.
    pub df_name: Option<Vec<u8>>,
    /// `None` for a DF; `Some(body)` for a transparent EF, `body.len()` = allocated size
    /// (content followed by `00` padding).
    pub body: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa2048,
    Rsa3072,
    P256,
    P384,
}

/// A private key inside the card.
#[derive(Clone, Debug)]
pub struct CardKey {
    /// MSE `84` key reference, 1..=8.
    pub key_ref: u8,
    pub algorithm: KeyAlgorithm,
    /// PKCS#8 DER of the private key.
    pub pkcs8_der: Zeroizing<Vec<u8>>,
    /// PIN must be verified right before each signature.
    pub user_consent: bool,
}

/// A PIN or PUK: reference data plus its retry counter.
#[derive(Clone, Debug)]
pub struct PinRecord {
    /// VERIFY P2: 0x81 PIN, 0x82 PUK.
    pub reference: u8,
    pub value: Zeroizing<Vec<u8>>,
    /// Exact length and digits-only policy (6 for the PIN, 8 for the PUK).
    pub length: usize,
    pub max_tries: u8,
    pub tries_left: u8,
}

/// Everything a card holds.
#[derive(Clone, Debug)]
pub struct CardImage {
    /// Card serial number (EF.TokenInfo serialNumber, GET DATA 01 06).
    pub serial: Vec<u8>,
    pub files: Vec<FileNode>,
    pub keys: Vec<CardKey>,
    pub pins: Vec<PinRecord>,
}
