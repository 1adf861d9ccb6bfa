//! eimza-pkcs11: a PKCS#11 module for Turkish qualified e-signature cards (Kamu SM
//! "e-imza kartı", AKIS card OS).
//!
//! Layers, each using only the one beneath it (see `pkcs11-spec.md` §2.0):
//!
//! - C ABI (`ffi`, the only `unsafe` code);
//! - the library (`module`: slots and sessions of one `C_Initialize`, read from one
//!   `config`), `slot` (a reader, its token, card I/O discipline), `token` (bound card
//!   data, login state, token info), `session`, and the flows that work on a session:
//!   `pin` (login, PIN management) and `sign`; `object` and `mechanism`; `error`
//!   (card failures as CKR);
//! - the card profile (`card`: operations, PKCS#15 bind, commands per ATR family);
//! - APDUs (`apdu`: codec, transport of one transaction);
//! - readers (`reader`: PC/SC, and the in-process software card of development builds).

pub mod apdu;
pub mod card;
pub mod config;
pub mod error;
pub mod ffi;
pub mod log;
pub mod mechanism;
pub mod module;
pub mod object;
pub mod pin;
pub mod reader;
pub mod session;
pub mod sign;
pub mod slot;
pub mod token;

// Unit tests drive software cards too; without them `cargo test` must fail, not pass
// on less.
#[cfg(all(test, not(feature = "software-card")))]
compile_error!(
    "the tests need the software card: run them with the default features \
     (the `software-card` feature), not --no-default-features"
);
