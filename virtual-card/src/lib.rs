//! The eimza software card: implements the card profile of `pkcs11-spec.md` Part 1
//! with real keys. INTERFACE CONTRACT — to be filled in.
//!
//! Public API (used by the module's in-process software reader and by tests):
//! - `VirtualCard::open(path)`  load a personalised card file (clear error if corrupt/foreign)
//! - `VirtualCard::transmit(&self, apdu: &[u8]) -> Vec<u8>`  one APDU in, data ‖ SW out
//! - `power_on()/reset() -> ATR`, `power_off()`, `remove()`, `insert()`, `is_present()`
//! - `stats() -> Stats`  APDUs, bytes in/out, transactions (instrumentation)
//! - `set_delays(Delays)`  per-command delays to model a real card
//! - `personalise::create(&CreateOptions) -> CardImage`, `CardImage` persisted by `store`

mod certgen;
pub mod image;
pub mod personalise;
