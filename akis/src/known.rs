//! ATRs of AKIS-family cards that are publicly listed, with what the lists say about
//! them (product, version, chip vendor). Sources: OpenSC's former `card-akis.c` (the
//! v1.0 ATR) and pcsc-tools' `smartcard_list.txt` (the others; descriptions shortened),
//! plus the eimza software card's own ATRs.

/// A publicly listed ATR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownAtr {
    pub atr: &'static [u8],
    /// What the source says the card is.
    pub description: &'static str,
    pub source: &'static str,
}

const CARD_AKIS_C: &str = "OpenSC card-akis.c";
const PCSC_TOOLS: &str = "pcsc-tools smartcard_list.txt";
const EIMZA: &str = "eimza (pkcs11-spec.md §1.1)";

macro_rules! known {
    ($description:expr, $source:expr, [$($byte:expr),* $(,)?]) => {
        KnownAtr {
            atr: &[$($byte),*],
            description: $description,
            source: $source,
        }
    };
}

/// Every listed ATR of the three families.
pub const LIST: &[KnownAtr] = &[
    known!(
        "AKIS v1.0",
        CARD_AKIS_C,
        [
            0x3B, 0xBA, 0x11, 0x00, 0x81, 0x31, 0xFE, 0x4D, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x20,
            0x56, 0x31, 0x2E, 0x30, 0xAE
        ]
    ),
    known!(
        "AKIS (eID)",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x15, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x21, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0x5A
        ]
    ),
    known!(
        "AKIS v1.2 on an NXP chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x12, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0xEA
        ]
    ),
    known!(
        "AKIS v1.2.1 on an Infineon chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x52, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0xAA
        ]
    ),
    known!(
        "AKIS v1.2.1 on an NXP chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x53, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0xAB
        ]
    ),
    known!(
        "AKIS v1.2.2 on an Infineon chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x92, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0x6A
        ]
    ),
    known!(
        "AKIS v1.3 on an Infineon chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x93, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0x6B
        ]
    ),
    known!(
        "UKiS 1.2.1 on a YITAL chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x13, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x61, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0x1C
        ]
    ),
    known!(
        "UKiS 1.2.1 on an HNEC chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x13, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x64, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0x19
        ]
    ),
    known!(
        "UKiS 1.2.1 on an SMIC chip",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x13, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x12, 0x65, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0x18
        ]
    ),
    known!(
        "TÜBİTAK test card (eID)",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x12, 0x21, 0x08,
            0x31, 0xC0, 0x73, 0xF6, 0x21, 0x80, 0x81, 0x05, 0x9A
        ]
    ),
    // The list has this identity-card entry with TCK 90 and with 9B (and once
    // without a TCK); both are kept as listed.
    known!(
        "Turkish national identity card (TCKK)",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x97, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x12, 0x21, 0x08,
            0x31, 0xC0, 0x73, 0xF6, 0x21, 0x80, 0x81, 0x05, 0x90
        ]
    ),
    known!(
        "Turkish national identity card (TCKK)",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x97, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x12, 0x21, 0x08,
            0x31, 0xC0, 0x73, 0xF6, 0x21, 0x80, 0x81, 0x05, 0x9B
        ]
    ),
    known!(
        "Turkish national identity card (TCKK) with e-signature",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x97, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0xD2, 0x21, 0x08,
            0x31, 0xC0, 0x73, 0xF6, 0x21, 0x80, 0x81, 0x05, 0x5B
        ]
    ),
    known!(
        "Turkish national identity card (TCKK)",
        PCSC_TOOLS,
        [
            0x3B, 0x9F, 0x97, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0xD3, 0x22, 0x82,
            0x31, 0xC0, 0x73, 0xF6, 0x21, 0x80, 0x81, 0x05, 0xD3
        ]
    ),
    known!(
        "eimza software card, v1.x variant",
        EIMZA,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45,
            0x56, 0x43, 0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0xFF
        ]
    ),
    known!(
        "eimza software card, v2.x variant",
        EIMZA,
        [
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x56, 0x43, 0x31,
            0x73, 0xB4, 0x00, 0x40, 0x83, 0x05, 0x90, 0x00, 0x45
        ]
    ),
];

/// How an ATR relates to the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Byte for byte.
    Exact(&'static KnownAtr),
    /// The same historical bytes, other interface bytes or TCK (another reader speed,
    /// another production run).
    SameHistoricalBytes(&'static KnownAtr),
}

/// The listed ATR that matches best, if any.
pub fn lookup(atr: &[u8]) -> Option<Match> {
    if let Some(known) = LIST.iter().find(|k| k.atr == atr) {
        return Some(Match::Exact(known));
    }
    let historical = crate::atr::parse(atr)?.historical;
    LIST.iter()
        .find(|k| crate::atr::parse(k.atr).is_some_and(|a| a.historical == historical))
        .map(Match::SameHistoricalBytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atr::{decode, Family, Tck};

    #[test]
    fn every_listed_atr_parses_into_its_family() {
        for known in LIST {
            let decoded = decode(known.atr).unwrap_or_else(|| panic!("{known:?}"));
            let expected = if known.description.contains("TCKK")
                || known.description.contains("test card")
                || known.description.contains("v2.x")
            {
                Family::AkisV2x
            } else if known.description == "AKIS v1.0" {
                Family::AkisV10
            } else {
                Family::AkisV1x
            };
            assert_eq!(decoded.family, Some(expected), "{known:?}");
            assert!(decoded.trailing.is_empty(), "{known:?}");
        }
        // One of the two listed TCKK variants has a right TCK; the other is as listed.
        let tcks: Vec<Tck> = LIST
            .iter()
            .filter(|k| k.atr[11..14] == [0x12, 0x21, 0x08] && k.atr[2] == 0x97)
            .map(|k| decode(k.atr).unwrap().tck)
            .collect();
        assert_eq!(
            tcks.iter().filter(|t| matches!(t, Tck::Valid(_))).count(),
            1
        );
    }

    #[test]
    fn lookup_exact_and_by_historical_bytes() {
        let v13 = LIST[6].atr;
        assert!(matches!(lookup(v13), Some(Match::Exact(k)) if k.description.contains("v1.3")));
        // Another TA1 (reader speed) and a fresh TCK: the same card type.
        let mut other = v13.to_vec();
        other[2] = 0x18;
        let last = other.len() - 1;
        other[last] = other[1..last].iter().fold(0, |a, b| a ^ b);
        assert!(matches!(
            lookup(&other),
            Some(Match::SameHistoricalBytes(k)) if k.description.contains("v1.3")
        ));
        assert_eq!(lookup(&[0x3B, 0x02, 0x14, 0x50]), None);
        assert_eq!(lookup(&[]), None);
    }
}
