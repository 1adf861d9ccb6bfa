//! ATR parsing (ISO 7816-3 structure, ISO 7816-4 §8.1.1 historical bytes): which
//! AKIS family a card belongs to, and what its card-capabilities object offers.

/// ATR families of pkcs11-spec.md §1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `3B BA 11 00 81 31 FE 4D 55 45 4B 41 45 20 56 31 2E 30 AE`: the `4D` is TB3, so
    /// the 10 historical bytes are "UEKAE V1.0".
    AkisV10,
    /// Historical bytes `80 67 "UEKAE" ...`.
    AkisV1x,
    /// Historical bytes `80 65 "TC" ...` (the software card too).
    AkisV2x,
}

/// What the card-capabilities compact-TLV object (tag 7) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Selection by short EF identifier (first software function byte, bit 3).
    pub sfi: bool,
    /// Extended Lc and Le fields (third byte, bit 7 = 0x40).
    pub extended_length: bool,
}

/// The parts of an ATR the module uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atr {
    pub historical: Vec<u8>,
    pub family: Option<Family>,
    pub capabilities: Capabilities,
}

const V10_HISTORICAL: &[u8] = b"UEKAE V1.0";

/// Parse an ATR; `None` if it is structurally broken (too short for what T0/TDi announce).
pub fn parse(atr: &[u8]) -> Option<Atr> {
    let historical = historical_bytes(atr)?;
    let family = family_of(&historical);
    let capabilities = capabilities_of(&historical);
    Some(Atr {
        historical,
        family,
        capabilities,
    })
}

fn historical_bytes(atr: &[u8]) -> Option<Vec<u8>> {
    // TS, T0 then interface bytes chained by the high nibble of T0/TDi.
    if atr.len() < 2 || !(atr[0] == 0x3B || atr[0] == 0x3F) {
        return None;
    }
    let k = (atr[1] & 0x0F) as usize;
    let mut y = atr[1] >> 4;
    let mut pos = 2;
    loop {
        let present = [0x1, 0x2, 0x4].iter().filter(|b| y & **b != 0).count();
        pos += present;
        if y & 0x8 == 0 {
            break;
        }
        let td = *atr.get(pos)?;
        pos += 1;
        y = td >> 4;
    }
    atr.get(pos..pos + k).map(|h| h.to_vec())
}

fn family_of(historical: &[u8]) -> Option<Family> {
    if historical == V10_HISTORICAL {
        return Some(Family::AkisV10);
    }
    // Category 80, then a pre-issuing data object (tag 6) whose text names the family.
    match historical {
        [0x80, 0x67, rest @ ..] if rest.starts_with(b"UEKAE") => Some(Family::AkisV1x),
        [0x80, 0x65, rest @ ..] if rest.starts_with(b"TC") => Some(Family::AkisV2x),
        _ => None,
    }
}

fn capabilities_of(historical: &[u8]) -> Capabilities {
    // Category 80: the rest is compact-TLV. Category 00: compact-TLV then 3 status bytes.
    let objects = match historical.first() {
        Some(0x80) => &historical[1..],
        Some(0x00) if historical.len() >= 4 => &historical[1..historical.len() - 3],
        _ => return Capabilities::default(),
    };
    let mut i = 0;
    while i < objects.len() {
        let tag = objects[i] >> 4;
        let len = (objects[i] & 0x0F) as usize;
        let Some(value) = objects.get(i + 1..i + 1 + len) else {
            break;
        };
        if tag == 7 {
            return Capabilities {
                sfi: value.first().is_some_and(|b| b & 0x04 != 0),
                extended_length: value.get(2).is_some_and(|b| b & 0x40 != 0),
            };
        }
        i += 1 + len;
    }
    Capabilities::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V10: [u8; 19] = [
        0x3B, 0xBA, 0x11, 0x00, 0x81, 0x31, 0xFE, 0x4D, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x20, 0x56,
        0x31, 0x2E, 0x30, 0xAE,
    ];

    pub(crate) fn software_card_atr() -> Vec<u8> {
        let mut atr = vec![0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45];
        atr.extend_from_slice(&[0x80, 0x65, b'T', b'C', b'V', b'C', b'1']);
        atr.extend_from_slice(&[0x73, 0xB4, 0x00, 0x40, 0x83, 0x05, 0x90, 0x00]);
        let tck = atr[1..].iter().fold(0u8, |a, b| a ^ b);
        atr.push(tck);
        atr
    }

    #[test]
    fn v10_family_without_capabilities() {
        let a = parse(&V10).expect("parse");
        assert_eq!(a.family, Some(Family::AkisV10));
        assert_eq!(a.historical, V10_HISTORICAL);
        assert_eq!(a.capabilities, Capabilities::default());
    }

    #[test]
    fn software_card_is_v2x_with_sfi_and_extended_length() {
        let a = parse(&software_card_atr()).expect("parse");
        assert_eq!(a.family, Some(Family::AkisV2x));
        assert_eq!(a.historical.len(), 15);
        assert!(a.capabilities.sfi);
        assert!(a.capabilities.extended_length);
    }

    #[test]
    fn v1x_family_short_apdus() {
        let mut atr = vec![0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45];
        atr.extend_from_slice(&[0x80, 0x67, b'U', b'E', b'K', b'A', b'E', 0x31, 0x30]);
        atr.extend_from_slice(&[0x31, 0x00, 0x00, 0x00, 0x00, 0x00]);
        atr.push(0x00);
        let a = parse(&atr).expect("parse");
        assert_eq!(a.family, Some(Family::AkisV1x));
        assert!(!a.capabilities.extended_length);
    }

    #[test]
    fn foreign_and_broken_atrs() {
        // A typical JavaCard ATR: not ours.
        let other = [
            0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00,
            0x01, 0x00, 0x00, 0x00, 0x00, 0x6A,
        ];
        assert_eq!(parse(&other).and_then(|a| a.family), None);
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x3B]), None);
        // T0 announces 15 historical bytes that are not there.
        assert_eq!(parse(&[0x3B, 0x0F, 0x80]), None);
        // TD1 announced but missing.
        assert_eq!(parse(&[0x3B, 0x80]), None);
        assert_eq!(parse(&[0x00, 0x00, 0x00]), None);
    }

    #[test]
    fn truncated_capabilities_object_is_ignored() {
        let mut atr = vec![0x3B, 0x04, 0x80, 0x73, 0xB4, 0x00];
        assert_eq!(
            parse(&atr).map(|a| a.capabilities),
            Some(Capabilities::default())
        );
        atr[1] = 0x05;
        atr.push(0x40);
        assert_eq!(
            parse(&atr).map(|a| a.capabilities),
            Some(Capabilities {
                sfi: true,
                extended_length: true
            })
        );
    }
}
