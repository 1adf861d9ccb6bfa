//! ISO/IEC 7816-4 command APDU parsing (short and extended, cases 1–4) and the status
//! words the card answers with. Parsing never panics and never allocates for the header.

/// Largest command data field the card accepts (spec §1.1).
pub const MAX_NC: usize = 1024;

/// Status words used by the card (spec §1.2).
pub mod sw {
    pub const OK: u16 = 0x9000;
    pub const END_OF_FILE: u16 = 0x6282;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const INCOMPATIBLE_FILE: u16 = 0x6981;
    pub const SECURITY_NOT_SATISFIED: u16 = 0x6982;
    pub const AUTH_BLOCKED: u16 = 0x6983;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const NO_CURRENT_EF: u16 = 0x6986;
    pub const WRONG_DATA: u16 = 0x6A80;
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    pub const WRONG_P1P2: u16 = 0x6A86;
    pub const REF_NOT_FOUND: u16 = 0x6A88;
    pub const OFFSET_OUTSIDE: u16 = 0x6B00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    pub const NO_DIAGNOSIS: u16 = 0x6F00;

    /// `63Cx`: verification failed, `tries` left.
    pub fn tries_left(tries: u8) -> u16 {
        0x63C0 | u16::from(tries.min(15))
    }

    /// `61xx`: `remaining` more bytes (xx = 00 means 256 or more).
    pub fn bytes_remaining(remaining: usize) -> u16 {
        0x6100
            | if remaining >= 256 {
                0
            } else {
                remaining as u16
            }
    }
}

/// A well-formed command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    /// Command data (empty for cases 1 and 2).
    pub data: &'a [u8],
    /// Ne: expected response length; `None` when the APDU has no Le field (cases 1, 3).
    /// Short `Le = 00` is 256, extended `Le = 0000` is 65536.
    pub ne: Option<usize>,
    /// Whether the APDU used the extended-length encoding.
    pub extended: bool,
}

impl Command<'_> {
    /// `(P1 << 8) | P2`.
    pub fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }
}

/// Parses a command APDU. Every malformation (truncated header, Lc disagreeing with the
/// length, Lc = 0, Nc > [`MAX_NC`]) is `Err(6700)`.
pub fn parse(apdu: &[u8]) -> Result<Command<'_>, u16> {
    let (header, body) = match apdu.split_first_chunk::<4>() {
        Some(split) => split,
        None => return Err(sw::WRONG_LENGTH),
    };
    let [cla, ins, p1, p2] = *header;
    let command = |data, ne, extended| Command {
        cla,
        ins,
        p1,
        p2,
        data,
        ne,
        extended,
    };
    match body {
        // Case 1.
        [] => Ok(command(&[], None, false)),
        // Case 2 short.
        [le] => Ok(command(&[], Some(short_ne(*le)), false)),
        // Extended: a zero byte followed by at least two more.
        [0, rest @ ..] => {
            let (len_field, rest) = match rest.split_first_chunk::<2>() {
                Some(split) => split,
                None => return Err(sw::WRONG_LENGTH),
            };
            let value = usize::from(u16::from_be_bytes(*len_field));
            if rest.is_empty() {
                // Case 2 extended: the two bytes are Le.
                return Ok(command(&[], Some(extended_ne(value)), true));
            }
            let nc = value;
            if nc == 0 || nc > MAX_NC {
                return Err(sw::WRONG_LENGTH);
            }
            match rest.len().checked_sub(nc) {
                Some(0) => Ok(command(rest, None, true)),
                Some(2) => {
                    let le = u16::from_be_bytes([rest[nc], rest[nc + 1]]);
                    Ok(command(
                        &rest[..nc],
                        Some(extended_ne(usize::from(le))),
                        true,
                    ))
                }
                _ => Err(sw::WRONG_LENGTH),
            }
        }
        [lc, rest @ ..] => {
            let nc = usize::from(*lc);
            match rest.len().checked_sub(nc) {
                Some(0) => Ok(command(rest, None, false)),
                Some(1) => Ok(command(&rest[..nc], Some(short_ne(rest[nc])), false)),
                _ => Err(sw::WRONG_LENGTH),
            }
        }
    }
}

fn short_ne(le: u8) -> usize {
    if le == 0 {
        256
    } else {
        usize::from(le)
    }
}

fn extended_ne(le: usize) -> usize {
    if le == 0 {
        65536
    } else {
        le
    }
}

/// `data ‖ SW1 SW2`.
pub fn response(data: &[u8], status: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(&status.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_1() {
        let c = parse(&[0x80, 0x1A, 0, 0]).unwrap();
        assert_eq!((c.cla, c.ins, c.data, c.ne), (0x80, 0x1A, &[][..], None));
    }

    #[test]
    fn case_2_short_le_zero_is_256() {
        assert_eq!(parse(&[0, 0x84, 0, 0, 0]).unwrap().ne, Some(256));
        assert_eq!(parse(&[0, 0x84, 0, 0, 8]).unwrap().ne, Some(8));
    }

    #[test]
    fn case_3_and_4_short() {
        let c = parse(&[0, 0x20, 0, 0x81, 2, 0x31, 0x32]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[0x31, 0x32][..], None, false));
        let c = parse(&[0, 0x2A, 0x9E, 0x9A, 1, 0xAA, 0]).unwrap();
        assert_eq!((c.data, c.ne), (&[0xAA][..], Some(256)));
    }

    #[test]
    fn extended_cases() {
        let c = parse(&[0, 0xB0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((c.ne, c.extended), (Some(65536), true));
        let c = parse(&[0, 0xB0, 0, 0, 0, 0x04, 0x00]).unwrap();
        assert_eq!(c.ne, Some(1024));
        let c = parse(&[0, 0x2A, 0x9E, 0x9A, 0, 0, 2, 1, 2]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[1, 2][..], None, true));
        let c = parse(&[0, 0x2A, 0x9E, 0x9A, 0, 0, 2, 1, 2, 0x01, 0x80]).unwrap();
        assert_eq!((c.data, c.ne), (&[1, 2][..], Some(384)));
    }

    #[test]
    fn extended_nc_limit() {
        let mut apdu = vec![0, 0x2A, 0x9E, 0x9A, 0, 0x04, 0x00];
        apdu.extend(std::iter::repeat_n(7, 1024));
        assert_eq!(parse(&apdu).unwrap().data.len(), 1024);
        let mut apdu = vec![0, 0x2A, 0x9E, 0x9A, 0, 0x04, 0x01];
        apdu.extend(std::iter::repeat_n(7, 1025));
        assert_eq!(parse(&apdu), Err(sw::WRONG_LENGTH));
    }

    #[test]
    fn malformed() {
        for apdu in [
            &[][..],
            &[0, 0xA4, 0],
            &[0, 0xA4, 0, 0, 0, 0],          // extended, truncated Lc/Le
            &[0, 0xA4, 0, 0, 2, 0x3F],       // Lc 2, one byte
            &[0, 0xA4, 0, 0, 1, 0x3F, 0, 0], // Lc 1, two trailing bytes
            &[0, 0xA4, 0, 0, 0, 0, 0, 1],    // extended Lc 0 with data
            &[0, 0xA4, 0, 0, 0, 0, 2, 1],    // extended Lc 2, one byte
            &[0, 0xA4, 0, 0, 0, 0, 1, 1, 0], // extended Lc 1, one trailing byte
        ] {
            assert_eq!(parse(apdu), Err(sw::WRONG_LENGTH), "{apdu:02X?}");
        }
    }

    #[test]
    fn status_helpers() {
        assert_eq!(sw::tries_left(2), 0x63C2);
        assert_eq!(sw::bytes_remaining(128), 0x6180);
        assert_eq!(sw::bytes_remaining(256), 0x6100);
        assert_eq!(sw::bytes_remaining(1000), 0x6100);
        assert_eq!(response(&[1], 0x9000), vec![1, 0x90, 0]);
    }
}
