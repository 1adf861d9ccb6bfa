//! The card profile's commands (pkcs11-spec.md §1.4), in one place: every APDU the
//! module sends is built here, from what the ATR says about the card (its family and
//! capabilities). What differs between the AKIS families is one table,
//! [`FAMILIES`] (§1.4.1): the builders below read their family's row, so no other
//! part of the card layer asks which family a card is.

use super::atr::{self, Capabilities, Family};
use super::{HashAlg, SignAlgorithm, PKCS15_AID};
use crate::apdu::{Command, EXTENDED_MAX_NC, SHORT_MAX_NC, SHORT_MAX_NE};
use zeroize::Zeroizing;

/// Largest Ne per APDU with extended length. Not 65536: some readers mishandle
/// `Le = 00 00`, and vpcd frames a whole response (data + SW) in 16 bits, so data must
/// stay below 65534 bytes.
const EXTENDED_MAX_NE: usize = 0xFF00;
/// The MF's file identifier.
pub const MF: [u8; 2] = [0x3F, 0x00];

/// How a family selects the MF, the PKCS#15 DF and its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectForm {
    /// ISO 7816-4: the application by DF name (`P1 04`), files by the path from the MF
    /// without `3F00` (`P1 08`), the MF by its FID (`P1 00`); `P2 0C`, no answer data.
    Iso,
    /// AKIS v1.0 (OpenSC's card-akis.c): the application and files outside the current
    /// DF by the absolute path **with** `3F00` (`P1 08`), an EF of the current DF by its
    /// FID (`P1 02`), the MF by `P1 00`; always `P2 00` with Le: the card answers its FCI
    /// (which the module does not need).
    AkisV10,
}

/// How a family changes a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeForm {
    /// ISO CHANGE REFERENCE DATA `00 24 00 ref Lc old‖new`.
    Iso,
    /// AKIS v1.0: `00 24 P1 P2 Lc len(old) old len(new) new`; a reference with bit 8
    /// set is `P1 02, P2 ref & 7F`, any other `P1 01, P2 ref`.
    LengthBytes,
}

/// How a family chooses the key (and algorithm) of the next signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MseForm {
    /// ISO 7816-8 MSE SET DST with a CRT: `00 22 41 B6 06 80 01 alg 84 01 keyref`.
    Crt,
    /// AKIS v1.0: `00 22 C3 keyref`, no data; the algorithm is always RSA PKCS#1 v1.5.
    KeyReference,
}

/// What one AKIS family needs (pkcs11-spec.md §1.4.1).
#[derive(Debug, PartialEq, Eq)]
pub struct FamilyProfile {
    pub family: Family,
    pub select: SelectForm,
    pub change: ChangeForm,
    pub mse: MseForm,
    /// VERIFY without data asks the retry counter. v1.0 has no such query in its
    /// public command set, and on some cards it counts as a wrong PIN: never sent.
    pub counter_query: bool,
    /// Largest Ne of one short APDU (v1.0: 244 [AKIS]).
    pub max_short_ne: usize,
    /// Largest command data (Nc) the family's cards take, whatever the APDU form
    /// (v1.0: 244 [AKIS]; `None`: as the short or extended form allows). Command
    /// chaining is not used (§1.1), so a signature input must fit one command.
    pub max_command_data: Option<usize>,
    /// RSA-PSS and ECDSA exist (v1.0: RSA PKCS#1 v1.5 only).
    pub pss: bool,
    pub ecdsa: bool,
    /// The only RSA modulus size the family's keys have (`None`: any the card has).
    pub rsa_bits: Option<usize>,
}

/// The families' profiles: v1.0 the public v1.0 commands, v1.x and v2.x the ISO profile.
pub const FAMILIES: [FamilyProfile; 3] = [
    FamilyProfile {
        family: Family::AkisV10,
        select: SelectForm::AkisV10,
        change: ChangeForm::LengthBytes,
        mse: MseForm::KeyReference,
        counter_query: false,
        max_short_ne: 244,
        max_command_data: Some(244),
        pss: false,
        ecdsa: false,
        rsa_bits: Some(2048),
    },
    iso_profile(Family::AkisV1x),
    iso_profile(Family::AkisV2x),
];

/// The row of a family that follows the ISO profile (v1.x and v2.x: the same row).
const fn iso_profile(family: Family) -> FamilyProfile {
    FamilyProfile {
        family,
        select: SelectForm::Iso,
        change: ChangeForm::Iso,
        mse: MseForm::Crt,
        counter_query: true,
        max_short_ne: SHORT_MAX_NE,
        max_command_data: None,
        pss: true,
        ecdsa: true,
        rsa_bits: None,
    }
}

/// The profile of a family.
pub fn family_profile(family: Family) -> &'static FamilyProfile {
    FAMILIES
        .iter()
        .find(|f| f.family == family)
        .unwrap_or(&FAMILIES[2])
}

/// What the ISO profile does for a card of no family (bind never talks to one; the
/// other operations need a card that was bound).
const NO_FAMILY: &FamilyProfile = &FAMILIES[2];

impl FamilyProfile {
    /// Whether the family's cards can make signatures of this kind.
    pub fn signs(&self, algorithm: SignAlgorithm) -> bool {
        match algorithm {
            SignAlgorithm::RsaPkcs1 => true,
            SignAlgorithm::RsaPss(_) => self.pss,
            SignAlgorithm::Ecdsa => self.ecdsa,
        }
    }

    /// Whether a key of this kind and size can be used with the family's commands.
    pub fn holds_key(&self, rsa: bool, bits: usize) -> bool {
        if rsa {
            self.rsa_bits.is_none_or(|only| only == bits)
        } else {
            self.ecdsa
        }
    }
}

/// How to talk to one card: read from its ATR at every transaction (a reset may
/// change the ATR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Profile {
    /// `None`: not a card of the profile (bind sends it nothing).
    pub family: Option<Family>,
    pub capabilities: Capabilities,
}

/// Which RESET RETRY COUNTER form (§1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRetry {
    /// P1 `00`: data PUK ‖ new PIN.
    WithPuk,
    /// P1 `02`: data new PIN; rests on the PUK verified before (SO login).
    AfterSoLogin,
}

impl Profile {
    pub fn from_atr(atr: &[u8]) -> Profile {
        let parsed = atr::parse(atr);
        Profile {
            family: parsed.as_ref().and_then(|a| a.family),
            capabilities: parsed.map(|a| a.capabilities).unwrap_or_default(),
        }
    }

    /// The family's row of [`FAMILIES`].
    pub fn family_profile(&self) -> &'static FamilyProfile {
        self.family.map_or(NO_FAMILY, family_profile)
    }

    /// Extended-length APDUs allowed.
    pub fn extended_length(&self) -> bool {
        self.capabilities.extended_length
    }

    /// Largest Ne one APDU may ask for (§3.1).
    pub fn max_ne(&self) -> usize {
        if self.capabilities.extended_length {
            EXTENDED_MAX_NE
        } else {
            self.family_profile().max_short_ne
        }
    }

    /// Largest command data one APDU carries to this card: the family's limit, and 255
    /// without extended length (§3.1). A signature input longer than that cannot be
    /// sent (no chaining, §1.1): nothing is, and the PKCS#11 layer answers
    /// `CKR_DATA_LEN_RANGE`. RSA-3072 raw PKCS#1 input (up to 373 bytes) meets it on
    /// cards without extended length, as v1.x and the public v2.x ATRs are.
    pub fn max_command_data(&self) -> usize {
        let apdu = if self.capabilities.extended_length {
            EXTENDED_MAX_NC
        } else {
            SHORT_MAX_NC
        };
        self.family_profile()
            .max_command_data
            .map_or(apdu, |family| family.min(apdu))
    }

    /// Largest GET CHALLENGE: some cards refuse very large challenges; 256 per APDU is
    /// what every card does.
    pub fn max_challenge(&self) -> usize {
        self.max_ne().min(SHORT_MAX_NE)
    }

    /// SFI of a file of the PKCS#15 DF (five low bits of its FID, §1.3), when the ATR
    /// offers SFI reads.
    pub fn sfi(&self, fid: &[u8]) -> Option<u8> {
        if !self.capabilities.sfi {
            return None;
        }
        let sfi = fid.get(1)? & 0x1F;
        (1..=30).contains(&sfi).then_some(sfi)
    }

    /// SELECT the PKCS#15 DF, whose path from the MF (without `3F00`) is `app_path`:
    /// ISO by name, no answer data (`00 A4 04 0C 0C <AID>`); AKIS v1.0 by its path with
    /// `3F00` (`00 A4 08 00 Lc 3F00‖path 00`).
    pub fn select_application(&self, app_path: &[u8]) -> Command {
        match self.family_profile().select {
            SelectForm::Iso => Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(&PKCS15_AID),
            SelectForm::AkisV10 => self.select_path(app_path),
        }
    }

    /// SELECT by the path from the MF, given without `3F00`: ISO `00 A4 08 0C Lc path`;
    /// AKIS v1.0 `00 A4 08 00 Lc 3F00‖path 00`.
    pub fn select_path(&self, path: &[u8]) -> Command {
        match self.family_profile().select {
            SelectForm::Iso => Command::new(0x00, 0xA4, 0x08, 0x0C).with_data(path),
            SelectForm::AkisV10 => {
                let mut absolute = MF.to_vec();
                absolute.extend_from_slice(path);
                Command::new(0x00, 0xA4, 0x08, 0x00)
                    .with_data(&absolute)
                    .with_le(SHORT_MAX_NE)
            }
        }
    }

    /// SELECT an EF given by its path from the MF (without `3F00`), knowing the
    /// current DF (`Some(path)`, `Some([])` for the MF) or not (`None`). AKIS v1.0
    /// selects an EF of the current DF by its FID (`00 A4 02 00 02 FID 00`); every
    /// other case is [`select_path`](Self::select_path).
    pub fn select_file(&self, path: &[u8], current_df: Option<&[u8]>) -> Command {
        let parent = &path[..path.len().saturating_sub(2)];
        match self.family_profile().select {
            SelectForm::AkisV10 if path.len() >= 2 && current_df == Some(parent) => {
                Command::new(0x00, 0xA4, 0x02, 0x00)
                    .with_data(&path[parent.len()..])
                    .with_le(SHORT_MAX_NE)
            }
            _ => self.select_path(path),
        }
    }

    /// SELECT the MF: ISO `00 A4 00 0C 02 3F00`; AKIS v1.0 `00 A4 00 00 02 3F00 00`.
    pub fn select_mf(&self) -> Command {
        match self.family_profile().select {
            SelectForm::Iso => Command::new(0x00, 0xA4, 0x00, 0x0C).with_data(&MF),
            SelectForm::AkisV10 => Command::new(0x00, 0xA4, 0x00, 0x00)
                .with_data(&MF)
                .with_le(SHORT_MAX_NE),
        }
    }

    /// READ BINARY `00 B0 P1 P2 Le` (P1 bit 8: SFI in P1, offset in P2).
    pub fn read_binary(&self, p1: u8, p2: u8, le: usize) -> Command {
        Command::new(0x00, 0xB0, p1, p2).with_le(le)
    }

    /// VERIFY with the encoded PIN: `00 20 00 ref Lc PIN`.
    pub fn verify(&self, reference: u8, pin: &[u8]) -> Command {
        Command::new(0x00, 0x20, 0x00, reference).with_data(pin)
    }

    /// VERIFY without data: the retry counter, spending no try. `None` for a family
    /// without a counter query (AKIS v1.0): nothing is sent, the counter stays unknown.
    pub fn pin_counter(&self, reference: u8) -> Option<Command> {
        self.family_profile()
            .counter_query
            .then(|| Command::new(0x00, 0x20, 0x00, reference))
    }

    /// Change a PIN or PUK (encoded values): ISO CHANGE REFERENCE DATA
    /// `00 24 00 ref Lc old‖new`; AKIS v1.0 `00 24 02 ref&7F Lc len old len new` (P1 `01`,
    /// P2 ref for a reference without bit 8). `None` when a value is longer than a
    /// length byte can say (never for a PIN the policy allows).
    pub fn change_reference_data(&self, reference: u8, old: &[u8], new: &[u8]) -> Option<Command> {
        let mut data = Zeroizing::new(Vec::with_capacity(old.len() + new.len() + 2));
        match self.family_profile().change {
            ChangeForm::Iso => {
                data.extend_from_slice(old);
                data.extend_from_slice(new);
                Some(Command::new(0x00, 0x24, 0x00, reference).with_data(&data))
            }
            ChangeForm::LengthBytes => {
                data.push(u8::try_from(old.len()).ok()?);
                data.extend_from_slice(old);
                data.push(u8::try_from(new.len()).ok()?);
                data.extend_from_slice(new);
                let (p1, p2) = if reference & 0x80 != 0 {
                    (0x02, reference & 0x7F)
                } else {
                    (0x01, reference)
                };
                Some(Command::new(0x00, 0x24, p1, p2).with_data(&data))
            }
        }
    }

    /// RESET RETRY COUNTER `00 2C P1 ref Lc data`.
    pub fn reset_retry_counter(&self, form: ResetRetry, reference: u8, data: &[u8]) -> Command {
        let p1 = match form {
            ResetRetry::WithPuk => 0x00,
            ResetRetry::AfterSoLogin => 0x02,
        };
        Command::new(0x00, 0x2C, p1, reference).with_data(data)
    }

    /// LOGOUT `80 1A 00 00` [AKIS].
    pub fn logout(&self) -> Command {
        Command::new(0x80, 0x1A, 0x00, 0x00)
    }

    /// The key (and algorithm) of the next signature: ISO MSE SET DST
    /// `00 22 41 B6 06 80 01 alg 84 01 keyref`; AKIS v1.0 `00 22 C3 keyref`. `None` for an
    /// algorithm the family does not have (nothing is sent).
    pub fn set_signing_key(&self, algorithm: SignAlgorithm, key_ref: u8) -> Option<Command> {
        let family = self.family_profile();
        if !family.signs(algorithm) {
            return None;
        }
        Some(match family.mse {
            MseForm::Crt => {
                let crt = [
                    0x80,
                    0x01,
                    algorithm_reference(algorithm),
                    0x84,
                    0x01,
                    key_ref,
                ];
                Command::new(0x00, 0x22, 0x41, 0xB6).with_data(&crt)
            }
            MseForm::KeyReference => Command::new(0x00, 0x22, 0xC3, key_ref),
        })
    }

    /// PSO COMPUTE DIGITAL SIGNATURE `00 2A 9E 9A Lc input Le`, Le the largest allowed.
    pub fn compute_signature(&self, input: &[u8]) -> Command {
        Command::new(0x00, 0x2A, 0x9E, 0x9A)
            .with_data(input)
            .with_le(self.max_ne())
    }

    /// GET CHALLENGE `00 84 00 00 Le`.
    pub fn get_challenge(&self, len: usize) -> Command {
        Command::new(0x00, 0x84, 0x00, 0x00).with_le(len)
    }
}

/// MSE algorithm reference (§1.4 MSE SET DST).
fn algorithm_reference(alg: SignAlgorithm) -> u8 {
    match alg {
        SignAlgorithm::RsaPkcs1 => 0x02,
        SignAlgorithm::RsaPss(HashAlg::Sha1) => 0x11,
        SignAlgorithm::RsaPss(HashAlg::Sha224) => 0x12,
        SignAlgorithm::RsaPss(HashAlg::Sha256) => 0x13,
        SignAlgorithm::RsaPss(HashAlg::Sha384) => 0x14,
        SignAlgorithm::RsaPss(HashAlg::Sha512) => 0x15,
        SignAlgorithm::Ecdsa => 0x30,
    }
}
