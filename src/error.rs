//! Card and reader failures as PKCS#11 return values (pkcs11-spec.md §2.8): one table.

use crate::card::CardError;
use crate::reader::ReaderError;
use cryptoki_sys::*;

/// ReaderError → CKR, where no card operation was involved (connecting for a bind).
pub fn reader_rv(e: &ReaderError) -> CK_RV {
    match e {
        ReaderError::NoCard => CKR_TOKEN_NOT_PRESENT,
        ReaderError::Removed => CKR_DEVICE_REMOVED,
        ReaderError::Timeout | ReaderError::Io(_) => CKR_DEVICE_ERROR,
    }
}

/// CardError → CKR.
pub fn card_rv(e: &CardError) -> CK_RV {
    match e {
        CardError::Reader(ReaderError::NoCard | ReaderError::Removed) => CKR_DEVICE_REMOVED,
        CardError::Reader(r) => reader_rv(r),
        CardError::NotRecognized => CKR_TOKEN_NOT_RECOGNIZED,
        CardError::PinIncorrect { .. } => CKR_PIN_INCORRECT,
        CardError::PinBlocked => CKR_PIN_LOCKED,
        CardError::SecurityStatusNotSatisfied | CardError::ResetLostLogin => CKR_USER_NOT_LOGGED_IN,
        CardError::DataInvalid => CKR_DATA_INVALID,
        CardError::KeyNotFound => CKR_KEY_HANDLE_INVALID,
        CardError::Status(0x6985) => CKR_FUNCTION_FAILED,
        CardError::Status(0x6A81) => CKR_FUNCTION_NOT_SUPPORTED,
        CardError::Status(_) | CardError::Malformed(_) | CardError::LinkBroken => CKR_DEVICE_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_errors_map_to_ckr() {
        assert_eq!(
            card_rv(&CardError::PinIncorrect { tries_left: 1 }),
            CKR_PIN_INCORRECT
        );
        assert_eq!(card_rv(&CardError::PinBlocked), CKR_PIN_LOCKED);
        assert_eq!(card_rv(&CardError::ResetLostLogin), CKR_USER_NOT_LOGGED_IN);
        assert_eq!(
            card_rv(&CardError::Reader(ReaderError::Removed)),
            CKR_DEVICE_REMOVED
        );
        assert_eq!(card_rv(&CardError::Status(0x6F00)), CKR_DEVICE_ERROR);
        assert_eq!(card_rv(&CardError::LinkBroken), CKR_DEVICE_ERROR);
        assert_eq!(card_rv(&CardError::NotRecognized), CKR_TOKEN_NOT_RECOGNIZED);
        assert_eq!(reader_rv(&ReaderError::NoCard), CKR_TOKEN_NOT_PRESENT);
    }
}
