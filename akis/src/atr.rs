//! ATR parsing (ISO 7816-3 structure, ISO 7816-4 §8.1.1 historical bytes): which AKIS
//! family a card belongs to (pkcs11-spec.md §1.1), what its card-capabilities object
//! offers, and — for a diagnosis — everything else the ATR says.

/// The ATR families of pkcs11-spec.md §1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `3B BA 11 00 81 31 FE 4D 55 45 4B 41 45 20 56 31 2E 30 AE`: the `4D` is TB3, so
    /// the 10 historical bytes are "UEKAE V1.0".
    AkisV10,
    /// Historical bytes `80 67 "UEKAE" ...`.
    AkisV1x,
    /// Historical bytes `80 65 "TC" ...` (the software card's default too).
    AkisV2x,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::AkisV10, Family::AkisV1x, Family::AkisV2x];

    /// "AKIS v1.0", "AKIS v1.x", "AKIS v2.x".
    pub fn name(self) -> &'static str {
        match self {
            Family::AkisV10 => "AKIS v1.0",
            Family::AkisV1x => "AKIS v1.x",
            Family::AkisV2x => "AKIS v2.x",
        }
    }
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
    let structure = structure(atr)?;
    let historical = structure.historical.to_vec();
    Some(Atr {
        family: family_of(&historical),
        capabilities: capabilities_of(&historical),
        historical,
    })
}

/// One interface byte: its name (`TA1`, `TD2`, …) and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceByte {
    pub kind: char,
    pub index: u8,
    pub value: u8,
}

/// The check byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tck {
    /// Only T=0 is offered: ISO 7816-3 has no TCK then.
    NotExpected,
    /// Present, and the XOR of T0 … TCK is 0.
    Valid(u8),
    /// Present but the XOR is not 0.
    Invalid(u8),
    /// Required (a protocol other than T=0) but missing.
    Missing,
}

/// Everything an ATR says, for a diagnosis report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub ts: u8,
    pub t0: u8,
    pub interface: Vec<InterfaceByte>,
    /// Protocols offered by TD bytes (T=0 when there are none).
    pub protocols: Vec<u8>,
    pub historical: Vec<u8>,
    pub tck: Tck,
    /// Bytes after the TCK (a broken ATR).
    pub trailing: Vec<u8>,
    /// Compact-TLV objects of the historical bytes (category `80`, or `00` without its
    /// three status bytes): (tag, value).
    pub objects: Vec<(u8, Vec<u8>)>,
    pub family: Option<Family>,
    pub capabilities: Capabilities,
    /// The family's version code: v1.0 the text after "UEKAE " ("V1.0"), v1.x the
    /// bytes after "UEKAE" in the tag-6 object, v2.x those after "TC".
    pub version_code: Option<Vec<u8>>,
}

/// Decode an ATR completely; `None` if it is structurally broken.
pub fn decode(atr: &[u8]) -> Option<Decoded> {
    let s = structure(atr)?;
    let historical = s.historical.to_vec();
    let family = family_of(&historical);
    let after_historical = s.historical_end;
    let tck_needed = s.protocols.iter().any(|&t| t != 0);
    let (tck, trailing) = match (tck_needed, atr.get(after_historical)) {
        (false, _) => (Tck::NotExpected, atr[after_historical..].to_vec()),
        (true, None) => (Tck::Missing, Vec::new()),
        (true, Some(&tck)) => {
            let xor = atr[1..=after_historical].iter().fold(0u8, |a, b| a ^ b);
            let check = if xor == 0 {
                Tck::Valid(tck)
            } else {
                Tck::Invalid(tck)
            };
            (check, atr[after_historical + 1..].to_vec())
        }
    };
    let protocols = if s.protocols.is_empty() {
        vec![0]
    } else {
        let mut p = s.protocols.clone();
        p.dedup();
        p
    };
    Some(Decoded {
        ts: atr[0],
        t0: atr[1],
        interface: s.interface,
        protocols,
        objects: compact_tlv(&historical),
        capabilities: capabilities_of(&historical),
        version_code: family.and_then(|f| version_code(f, &historical)),
        family,
        historical,
        tck,
        trailing,
    })
}

struct Structure<'a> {
    interface: Vec<InterfaceByte>,
    protocols: Vec<u8>,
    historical: &'a [u8],
    historical_end: usize,
}

fn structure(atr: &[u8]) -> Option<Structure<'_>> {
    // TS, T0 then interface bytes chained by the high nibble of T0/TDi.
    if atr.len() < 2 || !(atr[0] == 0x3B || atr[0] == 0x3F) {
        return None;
    }
    let k = (atr[1] & 0x0F) as usize;
    let mut y = atr[1] >> 4;
    let mut pos = 2;
    let mut interface = Vec::new();
    let mut protocols = Vec::new();
    let mut index = 1u8;
    loop {
        for (bit, kind) in [(0x1, 'A'), (0x2, 'B'), (0x4, 'C'), (0x8, 'D')] {
            if y & bit != 0 {
                let value = *atr.get(pos)?;
                interface.push(InterfaceByte { kind, index, value });
                pos += 1;
            }
        }
        if y & 0x8 == 0 {
            break;
        }
        let td = atr[pos - 1];
        protocols.push(td & 0x0F);
        y = td >> 4;
        index = index.checked_add(1)?;
    }
    let historical = atr.get(pos..pos + k)?;
    Some(Structure {
        interface,
        protocols,
        historical,
        historical_end: pos + k,
    })
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

fn version_code(family: Family, historical: &[u8]) -> Option<Vec<u8>> {
    match family {
        Family::AkisV10 => Some(historical[b"UEKAE ".len()..].to_vec()),
        Family::AkisV1x | Family::AkisV2x => {
            let prefix: &[u8] = if family == Family::AkisV1x {
                b"UEKAE"
            } else {
                b"TC"
            };
            compact_tlv(historical)
                .into_iter()
                .find(|(tag, _)| *tag == 6)
                .and_then(|(_, value)| value.strip_prefix(prefix).map(<[u8]>::to_vec))
        }
    }
}

/// The compact-TLV objects of category-`80` (or `00`) historical bytes; a truncated
/// object ends the list.
fn compact_tlv(historical: &[u8]) -> Vec<(u8, Vec<u8>)> {
    // Category 80: the rest is compact-TLV. Category 00: compact-TLV then 3 status bytes.
    let objects = match historical.first() {
        Some(0x80) => &historical[1..],
        Some(0x00) if historical.len() >= 4 => &historical[1..historical.len() - 3],
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < objects.len() {
        let tag = objects[i] >> 4;
        let len = (objects[i] & 0x0F) as usize;
        let Some(value) = objects.get(i + 1..i + 1 + len) else {
            break;
        };
        out.push((tag, value.to_vec()));
        i += 1 + len;
    }
    out
}

fn capabilities_of(historical: &[u8]) -> Capabilities {
    compact_tlv(historical)
        .into_iter()
        .find(|(tag, _)| *tag == 7)
        .map(|(_, value)| Capabilities {
            sfi: value.first().is_some_and(|b| b & 0x04 != 0),
            extended_length: value.get(2).is_some_and(|b| b & 0x40 != 0),
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(text: &str) -> Vec<u8> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    const V10: &str = "3B BA 11 00 81 31 FE 4D 55 45 4B 41 45 20 56 31 2E 30 AE";

    #[test]
    fn v10_family_without_capabilities() {
        let a = parse(&h(V10)).expect("parse");
        assert_eq!(a.family, Some(Family::AkisV10));
        assert_eq!(a.historical, V10_HISTORICAL);
        assert_eq!(a.capabilities, Capabilities::default());
        let d = decode(&h(V10)).unwrap();
        assert_eq!(d.protocols, vec![1]);
        assert_eq!(d.tck, Tck::Valid(0xAE));
        assert_eq!(d.version_code.as_deref(), Some(&b"V1.0"[..]));
        // TA1 11, TB1 00, TD1 81, TD2 31, TA3 FE (IFSC 254), TB3 4D.
        let names: Vec<String> = d
            .interface
            .iter()
            .map(|b| format!("T{}{}={:02X}", b.kind, b.index, b.value))
            .collect();
        assert_eq!(
            names,
            ["TA1=11", "TB1=00", "TD1=81", "TD2=31", "TA3=FE", "TB3=4D"]
        );
    }

    #[test]
    fn public_v1x_atr_has_no_sfi_and_no_extended_length() {
        // pcsc-tools: "AKiS v1.3 on infineon chip".
        let atr = h("3B 9F 96 81 31 FE 45 80 67 55 45 4B 41 45 12 93 31 80 73 B3 A1 80 6B");
        let d = decode(&atr).unwrap();
        assert_eq!(d.family, Some(Family::AkisV1x));
        assert_eq!(d.version_code, Some(vec![0x12, 0x93]));
        assert_eq!(d.capabilities, Capabilities::default());
        assert_eq!(d.tck, Tck::Valid(0x6B));
        assert_eq!(
            d.objects,
            vec![
                (6, b"UEKAE\x12\x93".to_vec()),
                (3, vec![0x80]),
                (7, vec![0xB3, 0xA1, 0x80])
            ]
        );
    }

    #[test]
    fn public_v2x_atr_has_sfi_without_extended_length() {
        // pcsc-tools: "Turkish eID (TCKK)".
        let atr = h("3B 9F 97 81 31 FE 45 80 65 54 43 D3 22 82 31 C0 73 F6 21 80 81 05 D3");
        let d = decode(&atr).unwrap();
        assert_eq!(d.family, Some(Family::AkisV2x));
        assert_eq!(d.version_code, Some(vec![0xD3, 0x22, 0x82]));
        assert!(d.capabilities.sfi);
        assert!(!d.capabilities.extended_length);
    }

    #[test]
    fn software_card_atr_is_v2x_with_sfi_and_extended_length() {
        let atr = h("3B 9F 96 81 31 FE 45 80 65 54 43 56 43 31 73 B4 00 40 83 05 90 00 45");
        let a = parse(&atr).expect("parse");
        assert_eq!(a.family, Some(Family::AkisV2x));
        assert_eq!(a.historical.len(), 15);
        assert!(a.capabilities.sfi && a.capabilities.extended_length);
        assert_eq!(decode(&atr).unwrap().tck, Tck::Valid(0x45));
    }

    #[test]
    fn foreign_and_broken_atrs() {
        // A typical JavaCard ATR: not ours.
        let other = h("3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A");
        assert_eq!(parse(&other).and_then(|a| a.family), None);
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x3B]), None);
        // T0 announces 15 historical bytes that are not there.
        assert_eq!(parse(&[0x3B, 0x0F, 0x80]), None);
        // TD1 announced but missing.
        assert_eq!(parse(&[0x3B, 0x80]), None);
        assert_eq!(parse(&[0x00, 0x00, 0x00]), None);
        assert_eq!(decode(&[0x00, 0x00, 0x00]), None);
        // T=0 only: no TCK expected; a wrong TCK is reported, not fatal.
        let t0 = decode(&h("3B 02 14 50")).unwrap();
        assert_eq!((t0.tck, t0.protocols.clone()), (Tck::NotExpected, vec![0]));
        let mut bad = h(V10);
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(decode(&bad).unwrap().tck, Tck::Invalid(0xAF));
        let missing = &h(V10)[..18];
        assert_eq!(decode(missing).unwrap().tck, Tck::Missing);
        // "UEKAE V1.0" is the whole of the v1.0 historical bytes, nothing more.
        let mut longer = h("3B BB 11 00 81 31 FE 4D 55 45 4B 41 45 20 56 31 2E 30 20");
        longer.push(longer[1..].iter().fold(0, |a, b| a ^ b));
        assert_eq!(parse(&longer).unwrap().family, None);
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
