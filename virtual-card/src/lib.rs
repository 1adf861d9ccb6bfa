//! The eimza software card: implements the card profile of `pkcs11-spec.md` Part 1
//! (ISO 7816-4 APDUs over a PKCS#15 file system) with real keys and persisted PIN state.
//!
//! Public API (used by the module's in-process software reader and by tests):
//! - [`VirtualCard::open`] loads a card file ([`StoreError`] if missing, corrupt or
//!   foreign); [`VirtualCard::from_image`] makes a card from a [`CardImage`] (in memory
//!   with `None`, persisted to the given file with `Some`).
//! - [`VirtualCard::transmit`]: one APDU in, `data ‖ SW1 SW2` out; an **empty** vector
//!   when the card is removed or unpowered. A new card is present and powered.
//! - [`VirtualCard::power_on`] / [`VirtualCard::reset`] return the [`ATR`];
//!   [`VirtualCard::power_off`], [`VirtualCard::remove`], [`VirtualCard::insert`],
//!   [`VirtualCard::is_present`].
//! - [`VirtualCard::stats`] and [`VirtualCard::note_transaction`]: instrumentation.
//! - [`VirtualCard::set_delays`] with [`Delays`] (`EIMZA_VCARD_DELAYS`) models a real
//!   card's timing.
//! - [`VirtualCard::status`]: serial, keys, PIN/PUK retry counters.
//! - `personalise::create(&CreateOptions) -> CardImage` makes a new card (separate
//!   module); [`store`] owns the file format; [`serve`] bridges to vpcd.

// Safe code only, except the vpcd bridge's one socket option (`serve`) and, on Windows,
// the card file's durable rename (`store`: MoveFileExW, which std does not offer).
#![deny(unsafe_code)]

pub mod apdu;
pub mod card;
mod certgen;
pub mod crypto;
pub mod image;
pub mod personalise;
#[cfg(feature = "vpcd")]
pub mod serve;
pub mod store;
mod vcard;

pub use image::{CardFamily, CardImage, CardKey, FileNode, KeyAlgorithm, PinRecord};
pub use store::StoreError;
pub use vcard::{
    algorithm_name, atr_of, hex, CardStatus, CommandCounts, CounterStatus, Delays, KeyStatus,
    ReceivedCommand, SignatureHook, Stats, VirtualCard, ATR, ATR_V10, ATR_V1X, DELAYS_ENV,
    MAX_RECEIVED,
};
