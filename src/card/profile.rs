//! The card profile's commands (pkcs11-spec.md §1.4), in one place: every APDU the
//! module sends is built here, from what the ATR says about the card (its family and
//! capabilities). A card family that needs other encodings gets them here, without
//! touching the operations that use them.

use super::atr::{self, Capabilities, Family};
use super::{HashAlg, SignAlgorithm, PKCS15_AID};
use crate::apdu::{Command, SHORT_MAX_NE};

/// Largest answer of an AKIS v1.0 card.
const AKIS_V10_MAX_NE: usize = 244;
/// Largest Ne per APDU with extended length. Not 65536: some readers mishandle
/// `Le = 00 00`, and vpcd frames a whole response (data + SW) in 16 bits, so data must
/// stay below 65534 bytes.
const EXTENDED_MAX_NE: usize = 0xFF00;
/// The MF's file identifier.
pub const MF: [u8; 2] = [0x3F, 0x00];

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

    /// Extended-length APDUs allowed.
    pub fn extended_length(&self) -> bool {
        self.capabilities.extended_length
    }

    /// Largest Ne one APDU may ask for (§3.1).
    pub fn max_ne(&self) -> usize {
        if self.capabilities.extended_length {
            EXTENDED_MAX_NE
        } else if self.family == Some(Family::AkisV10) {
            // [AKIS] v1.0 answers at most 244 bytes per APDU (OpenSC's card-akis.c).
            AKIS_V10_MAX_NE
        } else {
            SHORT_MAX_NE
        }
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

    /// SELECT the PKCS#15 DF by name, no answer data: `00 A4 04 0C 0C <AID>`.
    pub fn select_application(&self) -> Command {
        Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(&PKCS15_AID)
    }

    /// SELECT by path from the MF (without `3F00`): `00 A4 08 0C Lc <path>`.
    pub fn select_path(&self, path: &[u8]) -> Command {
        Command::new(0x00, 0xA4, 0x08, 0x0C).with_data(path)
    }

    /// SELECT the MF: `00 A4 00 0C 02 3F00`.
    pub fn select_mf(&self) -> Command {
        Command::new(0x00, 0xA4, 0x00, 0x0C).with_data(&MF)
    }

    /// READ BINARY `00 B0 P1 P2 Le` (P1 bit 8: SFI in P1, offset in P2).
    pub fn read_binary(&self, p1: u8, p2: u8, le: usize) -> Command {
        Command::new(0x00, 0xB0, p1, p2).with_le(le)
    }

    /// VERIFY with the encoded PIN: `00 20 00 ref Lc PIN`.
    pub fn verify(&self, reference: u8, pin: &[u8]) -> Command {
        Command::new(0x00, 0x20, 0x00, reference).with_data(pin)
    }

    /// VERIFY without data: the retry counter, spending no try.
    pub fn pin_counter(&self, reference: u8) -> Command {
        Command::new(0x00, 0x20, 0x00, reference)
    }

    /// CHANGE REFERENCE DATA `00 24 00 ref Lc old‖new`.
    pub fn change_reference_data(&self, reference: u8, old_and_new: &[u8]) -> Command {
        Command::new(0x00, 0x24, 0x00, reference).with_data(old_and_new)
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

    /// MSE SET DST `00 22 41 B6 06 80 01 alg 84 01 keyref`.
    pub fn set_signing_key(&self, algorithm: SignAlgorithm, key_ref: u8) -> Command {
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
