//! Readers: PC/SC readers through the `pcsc` crate, and in-process software cards
//! (`EIMZA_VIRTUAL_CARD=FILE[:FILE...]`). INTERFACE CONTRACT — bodies to be written.

use std::sync::Arc;
use std::time::Duration;

/// Why talking to a reader failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderError {
    /// No card in the reader.
    NoCard,
    /// The card was removed (or replaced) since we connected.
    Removed,
    /// Waiting for exclusive access to the card took longer than allowed.
    Timeout,
    /// The reader itself disappeared or PC/SC failed.
    Io(String),
}

/// What the module knows about a reader without talking to the card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReaderState {
    pub present: bool,
    pub atr: Vec<u8>,
    /// Changes on every insertion/removal seen (PC/SC event counter or our own).
    pub insertions: u64,
}

/// One card reader; one PKCS#11 slot.
pub trait Reader: Send + Sync {
    /// Stable reader name (slot description).
    fn name(&self) -> &str;
    /// Hardware slot (PC/SC) or software card.
    fn is_hardware(&self) -> bool;
    /// Current state; never sends an APDU (may ask pcscd, which does not touch the card).
    fn state(&self) -> ReaderState;
    /// Open a connection (shared mode). No APDU.
    fn connect(&self) -> Result<Box<dyn CardChannel>, ReaderError>;
}

/// A connection to one card.
pub trait CardChannel: Send {
    /// Start an exclusive transaction. `Ok(true)` if the card was reset by someone
    /// else since the last transaction (the channel has already reconnected; any
    /// security state on the card is gone).
    fn begin(&mut self) -> Result<bool, ReaderError>;
    /// End the transaction (leave the card as it is).
    fn end(&mut self);
    /// Send one APDU, return data ‖ SW1 SW2.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;
    /// Reset the card (used by C_Finalize/C_Logout fallback when LOGOUT fails).
    fn reset(&mut self) -> Result<(), ReaderError>;
    /// ATR of the connected card.
    fn atr(&self) -> &[u8];
}

/// All readers the module sees: PC/SC readers first, then software cards.
pub trait ReaderSet: Send + Sync {
    /// Current readers; a reader once listed keeps its index for the life of the set.
    fn readers(&self) -> Vec<Arc<dyn Reader>>;
    /// Block until some reader's state changes or `timeout` passes; `false` on timeout.
    /// Must return promptly (≤ 100 ms) after `cancel()`.
    fn wait_for_change(&self, timeout: Duration) -> bool;
    /// Wake all waiters (C_Finalize).
    fn cancel(&self);
}

/// The readers of this process: PC/SC readers (if pcscd is reachable; none otherwise),
/// then one software card per file in `EIMZA_VIRTUAL_CARD=FILE[:FILE...]`.
/// Creating it sends no APDU and must not fail when pcscd is absent.
pub fn system_reader_set() -> Arc<dyn ReaderSet> {
    todo!("reader layer")
}
