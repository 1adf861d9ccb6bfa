//! Minimal BER/DER TLV reading and DER writing. Hand-written rather than `der` derive
//! because decoding must be lenient (unknown fields skipped anywhere, padding ends a
//! file), which derived strict decoders reject.

use crate::Error;

/// One decoded TLV. `tag` packs the identifier octets big-endian (`0x30`, `0xA1`, `0x5F2D`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub tag: u32,
    pub value: &'a [u8],
}

/// Reads tag and length from the start of `data`: (tag, header length, content length).
/// `Ok(None)` is never returned; running out of bytes is `Error::Truncated`.
pub(crate) fn read_header(data: &[u8]) -> Result<(u32, usize, usize), Error> {
    let first = *data.first().ok_or(Error::Truncated)?;
    let mut tag = u32::from(first);
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        // High tag number form: continuation bytes while bit 8 is set. ISO 7816 uses at
        // most three tag bytes; more would overflow `u32` and is not a tag we know.
        loop {
            let b = *data.get(pos).ok_or(Error::Truncated)?;
            pos += 1;
            if pos > 4 {
                return Err(Error::Invalid("tag longer than 4 bytes"));
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let len_byte = *data.get(pos).ok_or(Error::Truncated)?;
    pos += 1;
    let len = match len_byte {
        0..=0x7F => usize::from(len_byte),
        0x80 => return Err(Error::Invalid("indefinite length")),
        0x81..=0x84 => {
            let n = usize::from(len_byte & 0x7F);
            let bytes = data.get(pos..pos + n).ok_or(Error::Truncated)?;
            pos += n;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        }
        _ => return Err(Error::Invalid("length field too long")),
    };
    Ok((tag, pos, len))
}

/// Sequential reader over concatenated TLVs.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn remaining(&self) -> &'a [u8] {
        self.data
    }

    /// True when the rest is padding: a `00` or `FF` byte where a tag should start.
    pub fn at_padding(&self) -> bool {
        matches!(self.data.first(), Some(0x00) | Some(0xFF))
    }

    pub fn next_tlv(&mut self) -> Result<Tlv<'a>, Error> {
        let (tag, header, len) = read_header(self.data)?;
        let end = header.checked_add(len).ok_or(Error::Truncated)?;
        let value = self.data.get(header..end).ok_or(Error::Truncated)?;
        self.data = &self.data[end..];
        Ok(Tlv { tag, value })
    }

    /// Records of a directory file: TLVs until the end or until padding.
    pub fn records(mut self) -> Result<Vec<Tlv<'a>>, Error> {
        let mut out = Vec::new();
        while !self.is_empty() && !self.at_padding() {
            out.push(self.next_tlv()?);
        }
        Ok(out)
    }
}

/// Picks the fields of a SEQUENCE by tag, in order, skipping anything unknown: each
/// element goes to the first not-yet-passed field with its tag. This accepts absent
/// optional fields, extensions after `...`, and vendor fields in between.
pub(crate) fn match_fields<'a, const N: usize>(
    content: &'a [u8],
    tags: [u32; N],
) -> Result<[Option<Tlv<'a>>; N], Error> {
    let mut out: [Option<Tlv<'a>>; N] = [None; N];
    let mut cursor = 0;
    let mut reader = Reader::new(content);
    while !reader.is_empty() {
        let tlv = reader.next_tlv()?;
        if let Some(i) = (cursor..N).find(|&i| tags[i] == tlv.tag) {
            out[i] = Some(tlv);
            cursor = i + 1;
        }
    }
    Ok(out)
}

pub(crate) fn required<'a>(field: Option<Tlv<'a>>, name: &'static str) -> Result<Tlv<'a>, Error> {
    field.ok_or(Error::Missing(name))
}

/// INTEGER content as i64 (two's complement, at most 8 bytes).
pub(crate) fn decode_integer(value: &[u8]) -> Result<i64, Error> {
    if value.is_empty() {
        return Err(Error::Invalid("empty INTEGER"));
    }
    if value.len() > 8 {
        return Err(Error::Invalid("INTEGER too large"));
    }
    let negative = value[0] & 0x80 != 0;
    let mut v: i64 = if negative { -1 } else { 0 };
    for &b in value {
        v = (v << 8) | i64::from(b);
    }
    Ok(v)
}

/// INTEGER that must be non-negative and fit in u32.
pub(crate) fn decode_u32(value: &[u8]) -> Result<u32, Error> {
    u32::try_from(decode_integer(value)?).map_err(|_| Error::Invalid("INTEGER out of range"))
}

/// Named BIT STRING → bit n (ASN.1 numbering, MSB of the first byte is bit 0) as `1 << n`.
/// Bits beyond 31 are ignored (no flag we know is that high).
pub(crate) fn decode_bit_flags(value: &[u8]) -> Result<u32, Error> {
    let (&unused, bits) = value
        .split_first()
        .ok_or(Error::Invalid("empty BIT STRING"))?;
    if unused > 7 || (bits.is_empty() && unused != 0) {
        return Err(Error::Invalid("bad BIT STRING"));
    }
    let mut flags = 0u32;
    for (byte_index, &b) in bits.iter().enumerate().take(4) {
        for bit in 0..8 {
            if b & (0x80 >> bit) != 0 {
                flags |= 1 << (byte_index * 8 + bit);
            }
        }
    }
    Ok(flags)
}

pub(crate) fn decode_bool(value: &[u8]) -> Result<bool, Error> {
    match value {
        [b] => Ok(*b != 0),
        _ => Err(Error::Invalid("bad BOOLEAN")),
    }
}

/// Text fields are decoded leniently: invalid UTF-8 is replaced, not rejected.
pub(crate) fn decode_text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

// ---- DER writing ----

pub(crate) fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Minimal two's complement content of a non-negative integer.
pub(crate) fn integer_content(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let mut out = Vec::with_capacity(9);
    if bytes[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

pub(crate) fn integer(tag: u8, v: u64) -> Vec<u8> {
    tlv(tag, &integer_content(v))
}

/// DER of a named BIT STRING: trailing zero bits removed (X.690 §11.2.2).
pub(crate) fn bit_flags(tag: u8, flags: u32) -> Vec<u8> {
    if flags == 0 {
        return tlv(tag, &[0]);
    }
    let highest = 31 - flags.leading_zeros() as usize;
    let nbytes = highest / 8 + 1;
    let mut content = vec![(7 - highest % 8) as u8];
    content.resize(nbytes + 1, 0);
    for bit in 0..=highest {
        if flags & (1 << bit) != 0 {
            content[1 + bit / 8] |= 0x80 >> (bit % 8);
        }
    }
    tlv(tag, &content)
}

pub(crate) fn boolean(v: bool) -> Vec<u8> {
    tlv(0x01, &[if v { 0xFF } else { 0x00 }])
}

pub(crate) fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.iter().flatten().copied().collect()
}
