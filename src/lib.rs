//! eimza-pkcs11: a PKCS#11 module for Turkish qualified e-signature cards (Kamu SM
//! "e-imza kartı", AKIS card OS).
//!
//! Layers, each using only the one beneath it (see `pkcs11-spec.md`):
//! C ABI (`ffi`) → module state (`state`, `session`, `object`, `mechanism`; `digest`,
//! `verify` and `operation` for what the module computes without the card) →
//! token (`card`: the card profile as operations, PKCS#15 bind) → APDU codec
//! (`apdu`) → readers (`reader`: PC/SC and the in-process software card).

pub mod apdu;
pub mod card;
pub mod digest;
pub mod ffi;
pub mod log;
pub mod mechanism;
pub mod object;
pub mod operation;
pub mod reader;
pub mod session;
pub mod state;
pub mod verify;
