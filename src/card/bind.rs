//! Bind: recognise the application and read the PKCS#15 structure.
use super::{CardError, TokenData, Transaction};

pub(super) fn bind(tx: &mut Transaction<'_>) -> Result<TokenData, CardError> {
    let _ = tx.reset_seen;
    Err(CardError::NotRecognized)
}
