//! `eimza diagnose` on the software card of every family and on cards that answer
//! nothing sensible. What the card received is checked through the software card's
//! own record (`VirtualCard::received`, `command_counts`), not through the diagnosis.

use super::link::{Link, SoftwareLink};
use super::probe::{Counters, CountersSkipped, MAX_COMMANDS};
use super::*;
use eimza_akis::Family;
use virtual_card::personalise::{create, CreateOptions};
use virtual_card::{CardFamily, KeyAlgorithm, ReceivedCommand, VirtualCard};

const NATIONAL_ID: &str = "12345678950";

fn card(family: CardFamily) -> VirtualCard {
    let keys = if family == CardFamily::V10 {
        vec![KeyAlgorithm::Rsa2048]
    } else {
        vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::P384]
    };
    let image = create(&CreateOptions {
        family,
        keys,
        serial: Some(vec![0x0D, 0x1A, 0x60, 0x05]),
        ..CreateOptions::default()
    })
    .expect("personalise");
    VirtualCard::from_image(image, None).expect("card")
}

/// Every command the card received is one the diagnosis may send: CLA 00 and SELECT,
/// READ BINARY, GET RESPONSE, GET DATA; VERIFY only without data and only if allowed.
fn assert_only_reads(received: &[ReceivedCommand], verify_allowed: bool) {
    for c in received {
        let read = matches!(c.ins, 0xA4 | 0xB0 | 0xC0 | 0xCA);
        let counter_query = c.ins == 0x20 && c.p1 == 0 && c.nc == 0 && c.ne.is_none();
        assert!(
            c.cla == 0x00 && c.well_formed && (read || (verify_allowed && counter_query)),
            "the card received {c}"
        );
    }
}

fn tries(card: &VirtualCard) -> (u8, u8) {
    let s = card.status();
    (s.pin.unwrap().tries_left, s.puk.unwrap().tries_left)
}

fn run_on(
    card: VirtualCard,
    counters: bool,
    full: bool,
    lang: Lang,
) -> (Findings, String, VirtualCard) {
    let mut link = SoftwareLink::new(card, "test".into());
    let (findings, text) = diagnose(&mut link, counters, full, lang);
    let card = link.into_card();
    (findings, text, card)
}

#[test]
fn every_family_is_read_with_reads_only_and_no_try_spent() {
    for family in CardFamily::ALL {
        for counters in [false, true] {
            let (findings, text, card) = run_on(card(family), counters, false, Lang::English);
            let received = card.received();
            let queries_allowed = counters && family != CardFamily::V10;
            assert_only_reads(&received, queries_allowed);
            assert_eq!(received.len(), findings.exchanges.len(), "{family:?}");
            assert!(findings.refused.is_empty(), "{:?}", findings.refused);
            assert!(!findings.budget_exhausted);
            let counts = card.command_counts();
            assert_eq!(
                (
                    counts.verify_with_data,
                    counts.sign_commands,
                    counts.signatures
                ),
                (0, 0, 0)
            );
            let queries = if queries_allowed { 2 } else { 0 };
            assert_eq!(
                counts.verify_status, queries,
                "{family:?} counters={counters}"
            );
            assert_eq!(tries(&card), (3, 10));
            assert!(!card.is_verified(0x81) && !card.is_verified(0x82));

            // The module's own way into the application works on its family's card.
            let module_form = findings.app_selects.iter().find(|a| a.module_form).unwrap();
            assert_eq!(module_form.sw, Some(0x9000), "{family:?}");
            let expected_family = match family {
                CardFamily::V10 => Family::AkisV10,
                CardFamily::V1x => Family::AkisV1x,
                CardFamily::V2x => Family::AkisV2x,
            };
            assert_eq!(findings.family, Some(expected_family));
            assert!(
                text.contains(&format!("family: {}", expected_family.name())),
                "{text}"
            );

            // Everything public was read: the token, PINs, keys, every certificate.
            let info = findings.token_info.as_ref().expect("TokenInfo");
            assert_eq!(info.serial_number, vec![0x0D, 0x1A, 0x60, 0x05]);
            assert_eq!(findings.pins.len(), 2);
            let keys = if family == CardFamily::V10 { 1 } else { 2 };
            assert_eq!(findings.private_keys.len(), keys);
            assert_eq!(
                findings.certificates.len(),
                keys + 2,
                "end-user + NES CA + root"
            );
            for (object, read) in &findings.certificates {
                let read = read.as_ref().expect("read");
                assert!(
                    crate::certinfo::CertSummary::parse(&read.bytes).is_ok(),
                    "{object:?}"
                );
            }
            assert!(
                findings.parse_errors.is_empty(),
                "{:?}",
                findings.parse_errors
            );
            assert!(text.contains("subject CN \"TEST KULLANICI\""), "{text}");
            match (&findings.serial, &findings.life_cycle) {
                (Some((0x9000, serial)), Some((0x9000, life))) => {
                    assert_eq!(&serial[63..67], &[0x0D, 0x1A, 0x60, 0x05]);
                    assert_eq!(life[6], 0xA5);
                }
                other => panic!("GET DATA: {other:?}"),
            }
            match (&findings.counters, queries_allowed, counters) {
                (Counters::Queried(c), true, _) => {
                    let sws: Vec<_> = c.iter().map(|c| (c.reference, c.sw)).collect();
                    assert_eq!(sws, [(0x81, Some(0x63C3)), (0x82, Some(0x63CA))]);
                    assert!(text.contains("3 tries left") && text.contains("10 tries left"));
                }
                (Counters::Skipped(CountersSkipped::V10), false, true) => {
                    assert!(text.contains("no counter query"), "{text}");
                }
                (Counters::Skipped(CountersSkipped::NotAsked), false, false) => {
                    assert!(text.contains("--counters' adds them"), "{text}");
                }
                other => panic!("counters: {other:?}"),
            }
            // Masked: the national ID number appears nowhere, not even in hex dumps.
            assert!(!text.contains(NATIONAL_ID), "{text}");
            assert!(text.contains("***********NES0"), "{text}");
            assert!(!text.contains("31 32 33 34 35 36 37 38 39 35 30"), "{text}");
        }
    }
}

#[test]
fn v10_probes_tell_which_select_forms_the_card_takes() {
    let (findings, text, _) = run_on(card(CardFamily::V10), false, false, Lang::English);
    let forms: Vec<(&str, bool, Option<u16>)> = findings
        .app_selects
        .iter()
        .map(|a| (a.form, a.module_form, a.sw))
        .collect();
    assert_eq!(
        forms,
        [
            ("path with 3F00, P1 08 (AKIS v1.0)", true, Some(0x9000)),
            ("path without 3F00, P1 08 (ISO)", false, Some(0x6700)),
            ("DF name, P1 04, FCI (ISO)", false, Some(0x6A86)),
        ]
    );
    // Reads stay within 244 bytes, selections are P1 02 under the DF.
    for e in &findings.exchanges {
        if e.command[1] == 0xB0 {
            assert!((1..=0xF4).contains(&e.command[4]), "{e:?}");
        }
    }
    assert!(text.contains("the AKIS v1.0 profile"), "{text}");
    let v2 = run_on(card(CardFamily::V2x), false, false, Lang::English).0;
    let forms: Vec<(bool, Option<u16>)> = v2
        .app_selects
        .iter()
        .map(|a| (a.module_form, a.sw))
        .collect();
    assert_eq!(
        forms,
        [
            (true, Some(0x9000)),
            (false, Some(0x9000)),
            (false, Some(0x6A82)),
            (false, Some(0x9000))
        ]
    );
}

#[test]
fn full_keeps_national_ids_and_turkish_reads_turkish() {
    let (_, text, _) = run_on(card(CardFamily::V2x), false, true, Lang::Turkish);
    assert!(text.contains(NATIONAL_ID), "--full keeps the ID");
    assert!(
        text.contains("T.C. kimlik numaraları: dahil (--full)"),
        "{text}"
    );
    assert!(text.contains("aile: AKIS v2.x"), "{text}");
    assert!(text.contains("Deneme sayaçları"), "{text}");
    assert!(!text.contains("Retry counters"), "{text}");
}

/// A card that answers nonsense: every command still reaches the software card below
/// (so its record shows what was sent), but the diagnosis sees `answer(n, command)`.
struct Nonsense<F: FnMut(usize, &[u8]) -> Result<Vec<u8>, String>> {
    card: VirtualCard,
    atr: Vec<u8>,
    sent: usize,
    answer: F,
}

impl<F: FnMut(usize, &[u8]) -> Result<Vec<u8>, String>> Link for Nonsense<F> {
    fn reader(&self) -> String {
        "nonsense".into()
    }
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, String> {
        self.card.transmit(apdu);
        self.sent += 1;
        (self.answer)(self.sent, apdu)
    }
}

fn nonsense(
    atr: Vec<u8>,
    counters: bool,
    answer: impl FnMut(usize, &[u8]) -> Result<Vec<u8>, String>,
) -> (Findings, String, VirtualCard) {
    let mut link = Nonsense {
        card: card(CardFamily::V2x),
        atr,
        sent: 0,
        answer,
    };
    let (findings, text) = diagnose(&mut link, counters, false, Lang::English);
    (findings, text, link.card)
}

#[test]
fn a_card_that_answers_nothing_sensible_gets_reads_only() {
    let v2_atr = virtual_card::ATR.to_vec();
    let mut seed = 0x2545F491u32;
    let mut random = move |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect()
    };
    type Answerer = Box<dyn FnMut(usize, &[u8]) -> Result<Vec<u8>, String>>;
    let cases: Vec<(&str, Answerer)> = vec![
        ("6F00 to everything", Box::new(|_, _| Ok(vec![0x6F, 0x00]))),
        ("one byte", Box::new(|_, _| Ok(vec![0x90]))),
        ("nothing", Box::new(|_, _| Ok(Vec::new()))),
        ("reader error", Box::new(|_, _| Err("I/O".into()))),
        ("61 00 forever", Box::new(|_, _| Ok(vec![0x61, 0x00]))),
        ("6C 10 forever", Box::new(|_, _| Ok(vec![0x6C, 0x10]))),
        (
            "9000 with random bytes",
            Box::new(move |_, _| {
                let mut r = random(200);
                r.extend_from_slice(&[0x90, 0x00]);
                Ok(r)
            }),
        ),
        (
            "a file that never ends",
            Box::new(|_, c: &[u8]| {
                let mut r = if c[1] == 0xB0 && c[2] == 0 && c[3] == 0 {
                    vec![0x30, 0x82, 0xFF, 0xFF]
                } else {
                    Vec::new()
                };
                let le = c.last().copied().unwrap_or(0);
                r.resize(if le == 0 { 256 } else { usize::from(le) }, 0x41);
                r.extend_from_slice(&[0x90, 0x00]);
                Ok(r)
            }),
        ),
        (
            "more data than asked for",
            Box::new(|_, _| {
                let mut r = vec![0x30; 600];
                r.extend_from_slice(&[0x90, 0x00]);
                Ok(r)
            }),
        ),
    ];
    for (name, answer) in cases {
        let (findings, text, card) = nonsense(v2_atr.clone(), true, answer);
        let received = card.received();
        assert_only_reads(&received, true);
        assert_eq!(received.len(), findings.exchanges.len(), "{name}");
        assert!(received.len() <= MAX_COMMANDS, "{name}: {}", received.len());
        assert_eq!(card.command_counts().verify_with_data, 0, "{name}");
        assert_eq!(tries(&card), (3, 10), "{name}");
        assert!(text.contains("## ATR"), "{name}");
        assert!(findings.refused.is_empty(), "{name}");
    }
}

#[test]
fn an_unknown_card_gets_iso_reads_only_and_never_a_counter_query() {
    // A JavaCard-style ATR: not an AKIS family.
    let foreign = vec![
        0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x6A,
    ];
    let (findings, text, card) = nonsense(foreign, true, |_, _| Ok(vec![0x6A, 0x82]));
    let received = card.received();
    assert_only_reads(&received, false);
    assert!(
        received.iter().all(|c| c.ins != 0xCA),
        "no GET DATA on a foreign card"
    );
    assert_eq!(findings.family, None);
    assert_eq!(
        findings.counters,
        Counters::Skipped(CountersSkipped::UnknownCard)
    );
    assert!(text.contains("CKR_TOKEN_NOT_RECOGNIZED"), "{text}");
    assert!(text.contains("not an AKIS card the module knows"), "{text}");
    // SELECT MF, EF.DIR, three forms of the application: nothing else.
    assert_eq!(received.len(), 5, "{received:?}");
    // A broken ATR is reported as such.
    let (_, text, _) = nonsense(vec![0x3B, 0x8F], false, |_, _| Ok(vec![0x6A, 0x82]));
    assert!(text.contains("not well formed"), "{text}");
}

#[test]
fn the_guard_refuses_anything_but_reads() {
    // Drive the prober's guard directly through a nonsense link that records.
    let card = card(CardFamily::V2x);
    let mut link = SoftwareLink::new(card, "guard".into());
    let refused = probe::guard_check(&mut link);
    assert_eq!(
        refused, 6,
        "VERIFY with data, CHANGE, RRC, MSE, PSO, VERIFY w/o counters"
    );
    assert!(link.card().received().is_empty());
}
