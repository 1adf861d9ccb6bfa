//! What is publicly known about AKIS cards from their ATR, shared by the PKCS#11
//! module (which profile to use, pkcs11-spec.md §1.1 and §1.4.1) and the holder's tool
//! (`eimza diagnose`), so both always agree on a card's family.
//!
//! - [`atr::parse`]: family and card capabilities, what the module needs.
//! - [`atr::decode`]: everything the ATR says, for a diagnosis.
//! - [`known::lookup`]: the publicly listed ATRs (product, version, chip vendor).

#![forbid(unsafe_code)]

pub mod atr;
pub mod known;

pub use atr::{Atr, Capabilities, Family};
