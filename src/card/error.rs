//! Why a card operation failed, and what the status words of the profile mean
//! (pkcs11-spec.md §1.2). The PKCS#11 layer maps these to CKR codes (`crate::error`).

use crate::apdu::{sw, Response, TransportError};
use crate::reader::ReaderError;

/// Why a card operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardError {
    Reader(ReaderError),
    /// The reader answered without a status word: the link to the card broke. A card
    /// pulled in the middle of an APDU shows up this way (vpcd) before pcscd reports
    /// it gone, so the slot waits briefly for the removal (§2.8).
    LinkBroken,
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
    /// Malformed answer from the card (too long, bad DER, ...).
    Malformed(&'static str),
}

impl CardError {
    /// A failure that may mean the card left the reader (§2.8): the slot then waits
    /// briefly for the reader to report it.
    pub fn may_be_removal(&self) -> bool {
        matches!(
            self,
            CardError::LinkBroken | CardError::Reader(ReaderError::Io(_))
        )
    }
}

impl From<ReaderError> for CardError {
    fn from(e: ReaderError) -> Self {
        CardError::Reader(e)
    }
}

impl From<TransportError> for CardError {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Reader(r) => CardError::Reader(r),
            TransportError::NoStatusWord => CardError::LinkBroken,
            TransportError::ResponseTooLong => {
                CardError::Malformed("response longer than requested")
            }
            TransportError::EndlessGetResponse => CardError::Malformed("endless GET RESPONSE"),
            // Only reachable with input the caller should have checked (too long for
            // the card's APDU size).
            TransportError::Encode(_) => CardError::DataInvalid,
        }
    }
}

/// A status word after a PIN command (VERIFY/CHANGE/RRC with data).
pub(crate) fn pin_command_error(r: &Response) -> CardError {
    // 63C0 too: this wrong value blocked the PIN, still CKR_PIN_INCORRECT (§1.2); the
    // next try answers 6983 → PinBlocked.
    if let Some(tries_left) = r.tries_left() {
        return CardError::PinIncorrect { tries_left };
    }
    status_error(r.sw())
}

/// Generic status word mapping (§1.2).
pub(crate) fn status_error(sw: u16) -> CardError {
    match sw {
        sw::AUTH_BLOCKED | sw::REF_DATA_UNUSABLE => CardError::PinBlocked,
        sw::SECURITY_STATUS => CardError::SecurityStatusNotSatisfied,
        other => CardError::Status(other),
    }
}
