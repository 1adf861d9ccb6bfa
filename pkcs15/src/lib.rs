//! ISO/IEC 7816-15 (PKCS#15 v1.1) structures used by eimza-pkcs11: DER encoding (the
//! software card's personalisation) and lenient decoding (the module).
//!
//! Decoding is lenient on purpose, because real cards vary: unknown fields and
//! extensions are skipped wherever they appear, optional fields may be absent, unknown
//! object types in a directory file are skipped, and a directory file ends at its end or
//! at `00`/`FF` padding. Malformed DER (truncated TLVs, bad lengths) and missing
//! mandatory fields are errors, never panics.
//!
//! Tags follow the PKCS#15 v1.1 ASN.1 module (IMPLICIT TAGS; tags on the parameterised
//! `PKCS15Object` fields and on CHOICE types are explicit) and were cross-checked
//! against OpenSC's asn1 tables (`pkcs15.c`, `pkcs15-prkey.c`, `pkcs15-pubkey.c`,
//! `pkcs15-cert.c`, `pkcs15-pin.c`, `dir.c`) so OpenSC can read what we write;
//! `tests/opensc-dump.sh` checks that with `pkcs15-tool --dump` on a served card.

#![forbid(unsafe_code)]

#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
mod objects;
mod tlv;

pub use der::asn1::ObjectIdentifier;
pub use objects::*;

use std::fmt;

/// Why a structure could not be decoded or encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A TLV's declared length runs past the end of the data.
    Truncated,
    /// The outer tag is not the one the structure needs.
    UnexpectedTag { expected: u32, found: u32 },
    /// A mandatory field is absent.
    Missing(&'static str),
    /// Malformed content (bad INTEGER, BIT STRING, length form, value out of range...).
    Invalid(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "PKCS#15 data truncated"),
            Error::UnexpectedTag { expected, found } => {
                write!(f, "PKCS#15: expected tag {expected:02X}, found {found:02X}")
            }
            Error::Missing(field) => write!(f, "PKCS#15: mandatory field {field} missing"),
            Error::Invalid(what) => write!(f, "PKCS#15: invalid {what}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Total length (header + content) of the first TLV, from its header alone; `None` if
/// `prefix` is too short to hold the header, or the header is not usable (indefinite
/// length, padding byte where a tag should be). Lets a reader fetch a file only up to
/// its declared ASN.1 length.
pub fn der_total_length(prefix: &[u8]) -> Option<usize> {
    if matches!(prefix.first(), Some(0x00) | Some(0xFF)) {
        return None;
    }
    let (_, header, len) = tlv::read_header(prefix).ok()?;
    header.checked_add(len)
}

/// GeneralizedTime text (`YYYYMMDDHHMMSSZ`) for a moment given as seconds since the
/// Unix epoch.
pub fn generalized_time_from_unix(secs: u64) -> Result<String> {
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|_| Error::Invalid("time out of range"))?;
    Ok(format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    ))
}

#[cfg(test)]
mod tests;
