//! PIN values as the card wants them: encoded and padded per their AODF entry
//! (pkcs11-spec.md §1.4 VERIFY), in memory that is wiped when dropped.

use super::{CardError, PinEncoding, PinInfo};
use zeroize::Zeroizing;

/// Largest encoded PIN the module sends: `storedLength` comes from the card, and a
/// PIN (twice, in CHANGE REFERENCE DATA) must fit one short APDU anyway.
pub(crate) const MAX_PIN_BYTES: usize = 127;

/// A PIN value as sent: encoded and padded per the AODF entry; wiped on drop.
pub(crate) fn encode_pin(pin: &PinInfo, value: &[u8]) -> Result<Zeroizing<Vec<u8>>, CardError> {
    if value.len() < pin.min_len || value.len() > pin.max_len.max(pin.min_len) {
        return Err(CardError::DataInvalid);
    }
    // Found by review of the fuzz targets: a hostile AODF could ask for gigabytes of
    // padding (an allocation failure aborts the host application).
    if pin.stored_len > MAX_PIN_BYTES {
        return Err(CardError::DataInvalid);
    }
    let mut out = Zeroizing::new(Vec::with_capacity(pin.stored_len.max(value.len())));
    match pin.encoding {
        PinEncoding::AsciiNumeric => {
            if !value.iter().all(u8::is_ascii_digit) {
                return Err(CardError::DataInvalid);
            }
            out.extend_from_slice(value);
        }
        PinEncoding::Utf8 => {
            if std::str::from_utf8(value).is_err() {
                return Err(CardError::DataInvalid);
            }
            out.extend_from_slice(value);
        }
        PinEncoding::Bcd => {
            if !value.iter().all(u8::is_ascii_digit) {
                return Err(CardError::DataInvalid);
            }
            for pair in value.chunks(2) {
                let hi = pair[0] - b'0';
                // An odd last digit is completed with the pad nibble F.
                let lo = pair.get(1).map_or(0x0F, |d| d - b'0');
                out.push((hi << 4) | lo);
            }
        }
    }
    if let Some(pad) = pin.pad_char {
        if out.len() > pin.stored_len {
            return Err(CardError::DataInvalid);
        }
        out.resize(pin.stored_len, pad);
    }
    Ok(out)
}
