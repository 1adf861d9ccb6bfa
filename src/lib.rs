//! eimza-pkcs11: a PKCS#11 module for Turkish qualified e-signature cards (Kamu SM
//! "e-imza kartı", AKIS card OS).
//!
//! Layers, each using only the one beneath it (see `pkcs11-spec.md`):
//! C ABI (`ffi`) → module state (`state`, `session`, `object`, `mechanism`) →
//! token (`card`: the card profile as operations, PKCS#15 bind) → APDU codec
//! (`apdu`) → readers (`reader`: PC/SC and the in-process software card).

pub mod apdu;
pub mod card;
pub mod ffi;
pub mod log;
pub mod mechanism;
pub mod object;
pub mod reader;
pub mod session;
pub mod state;

// Unit tests drive software cards too; without them `cargo test` must fail, not pass
// on less.
#[cfg(all(test, not(feature = "software-card")))]
compile_error!(
    "the tests need the software card: run them with the default features \
     (the `software-card` feature), not --no-default-features"
);
