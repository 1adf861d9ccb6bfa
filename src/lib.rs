//! eimza-pkcs11: a PKCS#11 module for Turkish qualified e-signature cards (Kamu SM
//! "e-imza kartı", AKIS card OS).
//!
//! Layers, each using only the one beneath it (see `pkcs11-spec.md` §2.0):
//!
//! - C ABI (`ffi`, the only `unsafe` code);
//! - the library (`module`: slots and sessions of one `C_Initialize`, read from one
//!   `config`), `slot` (a reader, its token, card I/O discipline), `token` (bound card
//!   data, login state, token info), `session`, and the flows that work on a session:
//!   `pin` (login, PIN management), `sign`, and what the module computes without the
//!   card: `digest`, `verify` (their state: `operation`); `object` and `mechanism`;
//!   `error` (card failures as CKR);
//! - the card profile (`card`: operations, PKCS#15 bind, commands per ATR family);
//! - APDUs (`apdu`: codec, transport of one transaction);
//! - readers (`reader`: PC/SC, and the in-process software card of development builds).

// `unsafe` only at the C edge (`ffi`), each operation in its own block with a
// `// SAFETY:` line; every other module forbids it.
#![deny(
    unsafe_code,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

#[forbid(unsafe_code)]
pub mod apdu;
#[forbid(unsafe_code)]
pub mod card;
#[forbid(unsafe_code)]
pub mod config;
#[forbid(unsafe_code)]
pub mod digest;
#[forbid(unsafe_code)]
pub mod error;
#[allow(unsafe_code)]
pub mod ffi;
#[forbid(unsafe_code)]
pub mod log;
#[forbid(unsafe_code)]
pub mod mechanism;
#[forbid(unsafe_code)]
pub mod module;
#[forbid(unsafe_code)]
pub mod object;
#[forbid(unsafe_code)]
pub mod operation;
#[forbid(unsafe_code)]
pub mod pin;
#[forbid(unsafe_code)]
pub mod reader;
#[forbid(unsafe_code)]
pub mod session;
#[forbid(unsafe_code)]
pub mod sign;
#[forbid(unsafe_code)]
pub mod slot;
#[forbid(unsafe_code)]
pub mod token;
#[forbid(unsafe_code)]
pub mod verify;

// Unit tests drive software cards too; without them `cargo test` must fail, not pass
// on less.
#[cfg(all(test, not(feature = "software-card")))]
compile_error!(
    "the tests need the software card: run them with the default features \
     (the `software-card` feature), not --no-default-features"
);
