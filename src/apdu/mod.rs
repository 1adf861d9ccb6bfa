//! APDUs: encoding/decoding (ISO 7816-4 short and extended), status words, and the
//! transport of one transaction (`transport`: `6Cxx`, `61xx`, counters).
//!
//! Command APDUs may carry PIN values, so every encoded buffer is a
//! `Zeroizing<Vec<u8>>` and is wiped when dropped.

pub mod transport;

pub use transport::{thread_io, IoCounters, Transport, TransportError};

use zeroize::Zeroizing;

/// Largest Nc of a short APDU.
pub const SHORT_MAX_NC: usize = 255;
/// Largest Ne of a short APDU (`Le = 00`).
pub const SHORT_MAX_NE: usize = 256;
/// Largest Nc of an extended APDU.
pub const EXTENDED_MAX_NC: usize = 65535;
/// Largest Ne of an extended APDU (`Le = 00 00`).
pub const EXTENDED_MAX_NE: usize = 65536;

/// Status words the module reacts to (ISO 7816-4 §5.6).
pub mod sw {
    pub const OK: u16 = 0x9000;
    pub const END_OF_FILE: u16 = 0x6282;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const SECURITY_STATUS: u16 = 0x6982;
    pub const AUTH_BLOCKED: u16 = 0x6983;
    pub const REF_DATA_UNUSABLE: u16 = 0x6984;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const INCORRECT_DATA: u16 = 0x6A80;
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    pub const NOT_FOUND: u16 = 0x6A82;
    pub const INCORRECT_P1P2: u16 = 0x6A86;
    pub const REF_DATA_NOT_FOUND: u16 = 0x6A88;
}

/// Why an APDU could not be built or parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApduError {
    /// Data or Le too large for the encoding allowed.
    TooLong,
    /// Le of 0 (use `None` for "no response data expected").
    InvalidLe,
    /// A response shorter than the two status bytes.
    ShortResponse,
}

/// A command APDU: header, optional data (Nc = data length), optional Ne.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Zeroizing<Vec<u8>>,
    /// Ne: the number of response bytes expected (1..=65536), `None` for none.
    pub le: Option<usize>,
}

// Never print the data field: it may hold a PIN.
impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}, Nc={}, Ne={:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl Command {
    /// Case 1: header only.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Zeroizing::new(Vec::new()),
            le: None,
        }
    }

    /// Add a data field (cases 3 and 4).
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = Zeroizing::new(data.to_vec());
        self
    }

    /// Add Ne (cases 2 and 4).
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// True when the command cannot be sent as a short APDU.
    pub fn needs_extended(&self) -> bool {
        self.data.len() > SHORT_MAX_NC || self.le.is_some_and(|ne| ne > SHORT_MAX_NE)
    }

    /// Encode: short form when it fits, extended form when needed and `extended_ok`.
    pub fn encode(&self, extended_ok: bool) -> Result<Zeroizing<Vec<u8>>, ApduError> {
        let nc = self.data.len();
        if self.le == Some(0) {
            return Err(ApduError::InvalidLe);
        }
        if nc > EXTENDED_MAX_NC || self.le.is_some_and(|ne| ne > EXTENDED_MAX_NE) {
            return Err(ApduError::TooLong);
        }
        let extended = self.needs_extended();
        if extended && !extended_ok {
            return Err(ApduError::TooLong);
        }
        let mut out = Zeroizing::new(Vec::with_capacity(4 + 3 + nc + 3));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if extended {
            // Extended: one 00 marker byte, then 2-byte Lc and/or Le.
            out.push(0);
            if nc > 0 {
                out.extend_from_slice(&(nc as u16).to_be_bytes());
            }
            out.extend_from_slice(&self.data);
            if let Some(ne) = self.le {
                // 65536 is encoded as 00 00.
                out.extend_from_slice(&((ne % 65536) as u16).to_be_bytes());
            }
        } else {
            if nc > 0 {
                out.push(nc as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(ne) = self.le {
                // 256 is encoded as 00.
                out.push((ne % 256) as u8);
            }
        }
        Ok(out)
    }
}

/// A response APDU: data ‖ SW1 SW2.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Zeroizing<Vec<u8>>,
    pub sw1: u8,
    pub sw2: u8,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Response({} bytes, SW {:04X})",
            self.data.len(),
            self.sw()
        )
    }
}

impl Response {
    /// Split raw bytes from the reader; fewer than 2 bytes is a card fault.
    pub fn parse(raw: &[u8]) -> Result<Self, ApduError> {
        if raw.len() < 2 {
            return Err(ApduError::ShortResponse);
        }
        let (data, trailer) = raw.split_at(raw.len() - 2);
        Ok(Response {
            data: Zeroizing::new(data.to_vec()),
            sw1: trailer[0],
            sw2: trailer[1],
        })
    }

    pub fn sw(&self) -> u16 {
        u16::from_be_bytes([self.sw1, self.sw2])
    }

    pub fn is_ok(&self) -> bool {
        self.sw() == sw::OK
    }

    /// `61xx`: xx more bytes wait for GET RESPONSE (00 means 256).
    pub fn bytes_remaining(&self) -> Option<usize> {
        (self.sw1 == 0x61).then_some(count_byte(self.sw2))
    }

    /// `6Cxx`: wrong Le, xx is the exact length (00 means 256).
    pub fn exact_le(&self) -> Option<usize> {
        (self.sw1 == 0x6C).then_some(count_byte(self.sw2))
    }

    /// `63Cx`: x tries left.
    pub fn tries_left(&self) -> Option<u8> {
        (self.sw1 == 0x63 && self.sw2 & 0xF0 == 0xC0).then_some(self.sw2 & 0x0F)
    }
}

/// A length in SW2, where 00 means 256.
fn count_byte(b: u8) -> usize {
    if b == 0 {
        256
    } else {
        b as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(c: &Command, ext: bool) -> Vec<u8> {
        c.encode(ext).expect("encodable").to_vec()
    }

    #[test]
    fn case1_header_only() {
        assert_eq!(
            enc(&Command::new(0x80, 0x1A, 0, 0), false),
            [0x80, 0x1A, 0, 0]
        );
    }

    #[test]
    fn case2_short_le() {
        let c = Command::new(0, 0xB0, 0x8B, 0).with_le(200);
        assert_eq!(enc(&c, false), [0, 0xB0, 0x8B, 0, 200]);
        let c = Command::new(0, 0xB0, 0x8B, 0).with_le(256);
        assert_eq!(enc(&c, false), [0, 0xB0, 0x8B, 0, 0]);
    }

    #[test]
    fn case3_short_data() {
        let c = Command::new(0, 0x20, 0, 0x81).with_data(b"123456");
        assert_eq!(
            enc(&c, true),
            [0, 0x20, 0, 0x81, 6, b'1', b'2', b'3', b'4', b'5', b'6']
        );
    }

    #[test]
    fn case4_short() {
        let c = Command::new(0, 0x2A, 0x9E, 0x9A)
            .with_data(&[1, 2, 3])
            .with_le(256);
        assert_eq!(enc(&c, false), [0, 0x2A, 0x9E, 0x9A, 3, 1, 2, 3, 0]);
    }

    #[test]
    fn case2_extended() {
        let c = Command::new(0, 0xB0, 0x85, 0).with_le(1500);
        assert_eq!(enc(&c, true), [0, 0xB0, 0x85, 0, 0, 0x05, 0xDC]);
        let c = Command::new(0, 0xB0, 0x85, 0).with_le(65536);
        assert_eq!(enc(&c, true), [0, 0xB0, 0x85, 0, 0, 0, 0]);
    }

    #[test]
    fn case3_extended() {
        let data = vec![0xAB; 300];
        let c = Command::new(0, 0x2A, 0x9E, 0x9A).with_data(&data);
        let e = enc(&c, true);
        assert_eq!(&e[..7], [0, 0x2A, 0x9E, 0x9A, 0, 0x01, 0x2C]);
        assert_eq!(e.len(), 7 + 300);
    }

    #[test]
    fn case4_extended_when_le_needs_it() {
        let c = Command::new(0, 0x2A, 0x9E, 0x9A)
            .with_data(&[9; 32])
            .with_le(512);
        let e = enc(&c, true);
        assert_eq!(&e[..7], [0, 0x2A, 0x9E, 0x9A, 0, 0, 32]);
        assert_eq!(&e[7..39], [9; 32]);
        assert_eq!(&e[39..], [0x02, 0x00]);
    }

    #[test]
    fn extended_refused_when_not_allowed() {
        let c = Command::new(0, 0xB0, 0, 0).with_le(257);
        assert_eq!(c.encode(false), Err(ApduError::TooLong));
        let c = Command::new(0, 0xD6, 0, 0).with_data(&[0; 256]);
        assert_eq!(c.encode(false), Err(ApduError::TooLong));
    }

    #[test]
    fn limits() {
        let c = Command::new(0, 0xB0, 0, 0).with_le(65537);
        assert_eq!(c.encode(true), Err(ApduError::TooLong));
        let c = Command::new(0, 0xB0, 0, 0).with_le(0);
        assert_eq!(c.encode(true), Err(ApduError::InvalidLe));
        let c = Command::new(0, 0xD6, 0, 0).with_data(&vec![0; 65536]);
        assert_eq!(c.encode(true), Err(ApduError::TooLong));
    }

    #[test]
    fn response_parse() {
        assert_eq!(Response::parse(&[]), Err(ApduError::ShortResponse));
        assert_eq!(Response::parse(&[0x90]), Err(ApduError::ShortResponse));
        let r = Response::parse(&[0x90, 0x00]).expect("two bytes");
        assert!(r.is_ok());
        assert!(r.data.is_empty());
        let r = Response::parse(&[1, 2, 3, 0x61, 0x10]).expect("parse");
        assert_eq!(&r.data[..], [1, 2, 3]);
        assert_eq!(r.sw(), 0x6110);
        assert_eq!(r.bytes_remaining(), Some(16));
        assert_eq!(r.exact_le(), None);
    }

    #[test]
    fn response_status_helpers() {
        let r = Response::parse(&[0x61, 0x00]).expect("parse");
        assert_eq!(r.bytes_remaining(), Some(256));
        let r = Response::parse(&[0x6C, 0x20]).expect("parse");
        assert_eq!(r.exact_le(), Some(32));
        let r = Response::parse(&[0x63, 0xC2]).expect("parse");
        assert_eq!(r.tries_left(), Some(2));
        let r = Response::parse(&[0x63, 0x00]).expect("parse");
        assert_eq!(r.tries_left(), None);
    }

    #[test]
    fn debug_hides_data() {
        let c = Command::new(0, 0x20, 0, 0x81).with_data(b"123456");
        let s = format!("{c:?}");
        assert!(!s.contains("49"), "{s}");
        assert!(!s.contains("123456"), "{s}");
    }
}
