//! PC/SC readers through the `pcsc` crate (pcsc-lite on Linux), in two halves:
//!
//! - [`poller`]: the reader set — which readers exist and whether a card is in them,
//!   cached and never an APDU (NSS polls every second, Java every 50 ms), and the
//!   blocking wait for a change (`C_WaitForSlotEvent`);
//! - the connection to a card, in one of two forms (pkcs11-spec.md §2.2, §3.6):
//!   [`worker`] — a thread owns the card, so the wait for another application's
//!   transaction is bounded and `SCardEndTransaction` is not waited for; [`direct`] —
//!   everything on the calling thread, for applications that pass
//!   `CKF_LIBRARY_CANT_CREATE_OS_THREADS` (the wait is then pcsc-lite's: unbounded).
//!
//! Separate PC/SC contexts for polling, waiting and each connection: pcsc-lite
//! serialises calls on one context, so a blocked `SCardGetStatusChange` must not hold
//! up `state()`.

mod direct;
pub mod poller;
mod worker;

pub use poller::{PcscReader, PcscReaderSet, PcscWait, STATE_TTL};

use super::ReaderError;
use std::time::Duration;

/// How connections to PC/SC cards behave (from the `Config` of `C_Initialize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Longest wait for another application's transaction (worker connections only).
    pub card_wait: Duration,
    /// A worker thread per connection may be started.
    pub threads: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            card_wait: crate::config::DEFAULT_CARD_WAIT,
            threads: true,
        }
    }
}

/// pcscd went away or the context is unusable: establish a new one next time. On
/// Windows 8 and later the Smart Card service stops when the last reader is removed;
/// a context from before then answers `SCARD_E_SERVICE_STOPPED`, `SCARD_E_NO_SERVICE`,
/// `SCARD_E_SYSTEM_CANCELLED` or the Win32 `ERROR_INVALID_HANDLE` (6), which the
/// `pcsc` crate reports as `UnknownError` (it maps every code outside the SCARD ranges
/// to that).
fn is_service_error(e: ::pcsc::Error) -> bool {
    matches!(
        e,
        ::pcsc::Error::NoService
            | ::pcsc::Error::ServiceStopped
            | ::pcsc::Error::InvalidHandle
            | ::pcsc::Error::CommError
            | ::pcsc::Error::Shutdown
            | ::pcsc::Error::SystemCancelled
            | ::pcsc::Error::UnknownError
    )
}

fn map_error(e: ::pcsc::Error) -> ReaderError {
    match e {
        ::pcsc::Error::NoSmartcard => ReaderError::NoCard,
        ::pcsc::Error::RemovedCard
        | ::pcsc::Error::UnknownReader
        | ::pcsc::Error::ReaderUnavailable => ReaderError::Removed,
        // pcsc-lite's answer when the reader driver could not reach the card in the
        // middle of an exchange, which is what pulling it out looks like (seen with
        // vpcd when the card goes away during SELECT). The caller re-binds: safe side.
        ::pcsc::Error::NotTransacted => ReaderError::Removed,
        other => ReaderError::Io(other.to_string()),
    }
}

/// A shared-mode connection, T=1 per the profile; a card that cannot do T=1 is still
/// connected (any protocol) so the caller can look at its ATR and say "not
/// recognised".
/// Each connection has its own context (the card keeps it alive).
fn connect(reader: &std::ffi::CStr) -> Result<(::pcsc::Card, ::pcsc::Protocols), ReaderError> {
    use ::pcsc::{Context, Protocols, Scope, ShareMode};
    let ctx = Context::establish(Scope::User).map_err(map_error)?;
    match ctx.connect(reader, ShareMode::Shared, Protocols::T1) {
        Ok(card) => Ok((card, Protocols::T1)),
        Err(::pcsc::Error::ProtoMismatch) => {
            let card = ctx
                .connect(reader, ShareMode::Shared, Protocols::ANY)
                .map_err(map_error)?;
            Ok((card, Protocols::ANY))
        }
        Err(e) => Err(map_error(e)),
    }
}

fn current_atr(card: &::pcsc::Card) -> Vec<u8> {
    card.status2_owned()
        .map(|s| s.atr().to_vec())
        .unwrap_or_default()
}

/// Disconnect leaving the card as it is: dropping a `pcsc::Card` resets the card (and
/// so logs out every other user of it).
fn close(card: ::pcsc::Card) {
    if let Err((card, _)) = card.disconnect(::pcsc::Disposition::LeaveCard) {
        std::mem::forget(card);
    }
}

/// The answer buffer of one connection: the largest extended APDU answer, allocated
/// once (64 KB zeroed per APDU cost more than the exchange with pcscd), wiped on drop.
fn answer_buffer() -> zeroize::Zeroizing<Vec<u8>> {
    zeroize::Zeroizing::new(vec![0u8; ::pcsc::MAX_BUFFER_SIZE_EXTENDED])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_stops_drop_the_context_and_reader_errors_do_not() {
        use ::pcsc::Error;
        // pcscd gone, and Windows stopping its Smart Card service when the last reader
        // goes (ERROR_INVALID_HANDLE arrives as UnknownError).
        for e in [
            Error::NoService,
            Error::ServiceStopped,
            Error::SystemCancelled,
            Error::InvalidHandle,
            Error::UnknownError,
            Error::CommError,
            Error::Shutdown,
        ] {
            assert!(is_service_error(e), "{e:?}");
        }
        for e in [
            Error::Timeout,
            Error::Cancelled,
            Error::UnknownReader,
            Error::ReaderUnavailable,
            Error::NoReadersAvailable,
            Error::RemovedCard,
        ] {
            assert!(!is_service_error(e), "{e:?}");
        }
    }
}
