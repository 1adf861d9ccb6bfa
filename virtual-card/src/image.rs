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

/// Which AKIS card family the software card imitates (pkcs11-spec.md §1.1, §1.4
/// "Per family"): its ATR and the command forms it accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CardFamily {
    /// AKIS v1.0 (`UEKAE V1.0`): the public v1.0 command set, short APDUs of at most
    /// 244 data bytes, RSA-2048 keys only.
    V10,
    /// AKIS v1.x (`UEKAE` in tag 6): the ISO profile without SFI or extended length.
    V1x,
    /// AKIS v2.x (`TC`): the ISO profile with SFI and extended length. The default.
    #[default]
    V2x,
}

impl CardFamily {
    pub const ALL: [CardFamily; 3] = [CardFamily::V10, CardFamily::V1x, CardFamily::V2x];

    /// The name `eimza-vcard create --family` takes and `show` prints.
    pub fn name(self) -> &'static str {
        match self {
            CardFamily::V10 => "v1.0",
            CardFamily::V1x => "v1",
            CardFamily::V2x => "v2",
        }
    }

    /// `v1.0`; `v1` or `v1.x`; `v2` or `v2.x`.
    pub fn parse(text: &str) -> Option<CardFamily> {
        match text {
            "v1.0" => Some(CardFamily::V10),
            "v1" | "v1.x" => Some(CardFamily::V1x),
            "v2" | "v2.x" => Some(CardFamily::V2x),
            _ => None,
        }
    }
}

/// Everything a card holds.
#[derive(Clone, Debug)]
pub struct CardImage {
    /// The family whose ATR and command forms the card uses.
    pub family: CardFamily,
    /// Card serial number (EF.TokenInfo serialNumber, GET DATA 01 06).
    pub serial: Vec<u8>,
    pub files: Vec<FileNode>,
    pub keys: Vec<CardKey>,
    pub pins: Vec<PinRecord>,
}
