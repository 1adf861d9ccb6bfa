//! Card-layer tests against a scripted channel: expected APDUs → canned answers.

use super::pin::MAX_PIN_BYTES;
use super::*;
use crate::apdu::transport::MAX_GET_RESPONSE;
use crate::reader::{ReaderError, SteppedChannel};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap_or("00"), 16).unwrap_or(0))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Begin,
    End,
    Apdu(Vec<u8>),
    Reset,
}

#[derive(Default)]
pub(crate) struct ScriptState {
    pub steps: VecDeque<(Vec<u8>, Vec<u8>)>,
    pub log: Vec<Event>,
    /// What successive `begin()` calls answer (default `Ok(false)`).
    pub begins: VecDeque<Result<bool, ReaderError>>,
}

/// A channel that checks each APDU against the script and answers from it.
#[derive(Clone)]
pub(crate) struct Script(pub Arc<Mutex<ScriptState>>, Vec<u8>);

impl Script {
    pub fn new(atr: Vec<u8>) -> Self {
        Script(Arc::new(Mutex::new(ScriptState::default())), atr)
    }
    /// Expect `apdu` (hex) and answer `answer` (hex).
    pub fn expect(&self, apdu: &str, answer: &str) -> &Self {
        self.0.lock().steps.push_back((hex(apdu), hex(answer)));
        self
    }
    pub fn expect_bytes(&self, apdu: Vec<u8>, answer: Vec<u8>) -> &Self {
        self.0.lock().steps.push_back((apdu, answer));
        self
    }
    pub fn begin_answers(&self, r: Result<bool, ReaderError>) -> &Self {
        self.0.lock().begins.push_back(r);
        self
    }
    pub fn log(&self) -> Vec<Event> {
        self.0.lock().log.clone()
    }
    pub fn apdus(&self) -> Vec<Vec<u8>> {
        self.log()
            .into_iter()
            .filter_map(|e| match e {
                Event::Apdu(a) => Some(a),
                _ => None,
            })
            .collect()
    }
    pub fn remaining(&self) -> usize {
        self.0.lock().steps.len()
    }
    pub fn card(&self) -> Card {
        Card::new(Box::new(self.clone()))
    }
}

impl SteppedChannel for Script {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        let mut s = self.0.lock();
        s.log.push(Event::Begin);
        s.begins.pop_front().unwrap_or(Ok(false))
    }
    fn end(&mut self) {
        self.0.lock().log.push(Event::End);
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut s = self.0.lock();
        s.log.push(Event::Apdu(apdu.to_vec()));
        let Some((expected, answer)) = s.steps.pop_front() else {
            panic!("unexpected APDU {apdu:02X?}");
        };
        assert_eq!(apdu, expected.as_slice(), "APDU differs from the script");
        Ok(answer)
    }
    fn reset(&mut self) -> Result<(), ReaderError> {
        self.0.lock().log.push(Event::Reset);
        Ok(())
    }
    fn atr(&self) -> &[u8] {
        &self.1
    }
}

/// ATR with SFI + extended length (the software card's).
pub(crate) const EXTENDED_ATR: [u8; 23] = [
    0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x56, 0x43, 0x31, 0x73, 0xB4,
    0x00, 0x40, 0x83, 0x05, 0x90, 0x00, 0x00,
];
/// AKIS v1.x-style ATR without a card-capabilities object: short APDUs, no SFI.
pub(crate) const SHORT_ATR: [u8; 22] = [
    0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x31, 0x30,
    0x31, 0x00, 0x00, 0x00, 0x00, 0x00,
];

pub(crate) fn user_pin() -> PinInfo {
    PinInfo {
        label: "PIN".into(),
        auth_id: vec![1],
        reference: 0x81,
        encoding: PinEncoding::AsciiNumeric,
        min_len: 6,
        max_len: 6,
        stored_len: 6,
        pad_char: None,
        max_tries: PIN_MAX_TRIES,
        status: PinStatus::Unknown,
    }
}

pub(crate) fn puk() -> PinInfo {
    PinInfo {
        label: "PUK".into(),
        auth_id: vec![2],
        reference: 0x82,
        encoding: PinEncoding::AsciiNumeric,
        min_len: 8,
        max_len: 8,
        stored_len: 8,
        pad_char: None,
        max_tries: PUK_MAX_TRIES,
        status: PinStatus::Unknown,
    }
}

const SELECT_AID: &str = "00 A4 04 0C 0C A0 00 00 00 63 50 4B 43 53 2D 31 35";
const VERIFY_123456: &str = "00 20 00 81 06 31 32 33 34 35 36";

fn ends_with_end(s: &Script) {
    assert_eq!(s.log().last(), Some(&Event::End), "transaction not ended");
    let begins = s.log().iter().filter(|e| **e == Event::Begin).count();
    let ends = s.log().iter().filter(|e| **e == Event::End).count();
    assert_eq!(begins, ends);
}

#[test]
fn verify_selects_application_once_then_sends_one_apdu() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect(VERIFY_123456, "90 00");
    s.expect(VERIFY_123456, "90 00");
    let mut card = s.card();
    card.verify(&user_pin(), b"123456").expect("verify");
    card.verify(&user_pin(), b"123456").expect("verify again");
    assert_eq!(s.remaining(), 0);
    assert_eq!(
        s.log(),
        [
            Event::Begin,
            Event::Apdu(hex(SELECT_AID)),
            Event::Apdu(hex(VERIFY_123456)),
            Event::End,
            Event::Begin,
            Event::Apdu(hex(VERIFY_123456)),
            Event::End
        ]
    );
}

#[test]
fn wrong_pin_is_not_retried() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect(VERIFY_123456, "63 C2");
    let mut card = s.card();
    assert_eq!(
        card.verify(&user_pin(), b"123456"),
        Err(CardError::PinIncorrect { tries_left: 2 })
    );
    assert_eq!(s.apdus().len(), 2);
    ends_with_end(&s);
}

#[test]
fn blocked_pin_answers() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect(VERIFY_123456, "63 C0");
    assert_eq!(
        s.card().verify(&user_pin(), b"123456"),
        Err(CardError::PinIncorrect { tries_left: 0 }),
        "the try that blocks is still an incorrect PIN"
    );
    for sw in ["69 83", "69 84"] {
        let s = Script::new(EXTENDED_ATR.to_vec());
        s.expect(SELECT_AID, "90 00").expect(VERIFY_123456, sw);
        assert_eq!(
            s.card().verify(&user_pin(), b"123456"),
            Err(CardError::PinBlocked),
            "{sw}"
        );
    }
}

#[test]
fn bad_pin_format_sends_nothing() {
    for bad in [&b"12345"[..], b"1234567", b"12345a", b""] {
        let s = Script::new(EXTENDED_ATR.to_vec());
        assert_eq!(
            s.card().verify(&user_pin(), bad),
            Err(CardError::DataInvalid)
        );
        assert!(s.log().is_empty(), "no transaction for a bad PIN");
    }
}

/// The AODF's storedLength comes from the card: a hostile card must not make the module
/// allocate (and pad to) gigabytes for a 6-digit PIN.
#[test]
fn absurd_stored_length_from_the_card_is_refused() {
    for stored_len in [MAX_PIN_BYTES + 1, 3_000_000_000, usize::MAX] {
        let mut pin = user_pin();
        pin.stored_len = stored_len;
        pin.pad_char = Some(0xFF);
        assert_eq!(
            encode_pin(&pin, b"123456").map(|_| ()),
            Err(CardError::DataInvalid)
        );
        let s = Script::new(EXTENDED_ATR.to_vec());
        assert_eq!(
            s.card().verify(&pin, b"123456"),
            Err(CardError::DataInvalid)
        );
        assert!(
            s.log().is_empty(),
            "no APDU for an unusable PIN description"
        );
    }
    let mut pin = user_pin();
    pin.stored_len = MAX_PIN_BYTES;
    pin.pad_char = Some(0xFF);
    assert_eq!(
        encode_pin(&pin, b"123456").expect("pad").len(),
        MAX_PIN_BYTES
    );
}

#[test]
fn pin_padding_and_bcd() {
    let mut padded = user_pin();
    padded.min_len = 4;
    padded.max_len = 8;
    padded.stored_len = 8;
    padded.pad_char = Some(0xFF);
    assert_eq!(
        encode_pin(&padded, b"1234").expect("pad").to_vec(),
        hex("31 32 33 34 FF FF FF FF")
    );
    let mut bcd = padded.clone();
    bcd.encoding = PinEncoding::Bcd;
    bcd.stored_len = 4;
    assert_eq!(
        encode_pin(&bcd, b"12345").expect("bcd").to_vec(),
        hex("12 34 5F FF")
    );
}

#[test]
fn pin_status_reads_counter_without_data() {
    for (sw, want) in [
        ("90 00", PinStatus::Verified),
        ("63 C3", PinStatus::TriesLeft(3)),
        ("63 C0", PinStatus::Blocked),
        ("69 83", PinStatus::Blocked),
    ] {
        let s = Script::new(EXTENDED_ATR.to_vec());
        s.expect(SELECT_AID, "90 00").expect("00 20 00 81", sw);
        assert_eq!(s.card().pin_status(&user_pin()), Ok(want), "{sw}");
    }
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect("00 20 00 82", "6A 88");
    assert_eq!(s.card().pin_status(&puk()), Err(CardError::Status(0x6A88)));
    ends_with_end(&s);
}

#[test]
fn change_pin_sends_old_and_new_in_one_apdu() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect(
        "00 24 00 81 0C 31 32 33 34 35 36 36 35 34 33 32 31",
        "90 00",
    );
    let mut card = s.card();
    card.change_reference_data(&user_pin(), b"123456", b"654321")
        .expect("change");
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect(
        "00 24 00 81 0C 31 32 33 34 35 36 36 35 34 33 32 31",
        "6A 80",
    );
    assert_eq!(
        s.card()
            .change_reference_data(&user_pin(), b"123456", b"654321"),
        Err(CardError::DataInvalid)
    );
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect(
        "00 24 00 81 0C 31 32 33 34 35 36 36 35 34 33 32 31",
        "63 C1",
    );
    assert_eq!(
        s.card()
            .change_reference_data(&user_pin(), b"123456", b"654321"),
        Err(CardError::PinIncorrect { tries_left: 1 })
    );
}

#[test]
fn reset_retry_counter_after_foreign_reset_needs_the_puk_in_the_command() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.begin_answers(Ok(true)).begin_answers(Ok(true));
    s.expect(SELECT_AID, "90 00").expect(
        "00 2C 00 81 0E 31 32 33 34 35 36 37 38 31 31 31 31 31 31",
        "90 00",
    );
    let mut card = s.card();
    // Resting on the SO login, which the reset took: nothing sent.
    assert_eq!(
        card.reset_retry_counter(&user_pin(), None, b"222222"),
        Err(CardError::ResetLostLogin)
    );
    assert!(s.apdus().is_empty());
    assert_eq!(card.reset_epoch(), 1);
    // With the PUK in the command the reset does not matter.
    card.reset_retry_counter(&user_pin(), Some((&puk(), b"12345678")), b"111111")
        .expect("rrc 00 after a reset");
    assert_eq!(card.reset_epoch(), 2);
    assert_eq!(s.remaining(), 0);
}

#[test]
fn reset_retry_counter_forms() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect(
        "00 2C 00 81 0E 31 32 33 34 35 36 37 38 31 31 31 31 31 31",
        "90 00",
    );
    s.expect("00 2C 02 81 06 32 32 32 32 32 32", "90 00");
    s.expect("00 2C 02 81 06 32 32 32 32 32 32", "69 82");
    s.expect(
        "00 2C 00 81 0E 31 32 33 34 35 36 37 38 31 31 31 31 31 31",
        "63 C9",
    );
    let mut card = s.card();
    let puk = puk();
    card.reset_retry_counter(&user_pin(), Some((&puk, b"12345678")), b"111111")
        .expect("rrc 00");
    card.reset_retry_counter(&user_pin(), None, b"222222")
        .expect("rrc 02");
    assert_eq!(
        card.reset_retry_counter(&user_pin(), None, b"222222"),
        Err(CardError::SecurityStatusNotSatisfied)
    );
    assert_eq!(
        card.reset_retry_counter(&user_pin(), Some((&puk, b"12345678")), b"111111"),
        Err(CardError::PinIncorrect { tries_left: 9 })
    );
    assert_eq!(s.remaining(), 0);
}

#[test]
fn logout_and_reset_fallback() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect("80 1A 00 00", "90 00");
    s.expect("80 1A 00 00", "6D 00");
    let mut card = s.card();
    card.logout().expect("logout");
    assert!(!s.log().contains(&Event::Reset));
    card.logout().expect("logout by reset");
    assert!(s.log().contains(&Event::Reset));
    ends_with_end(&s);
}

#[test]
fn sign_extended_sequence() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    let sig = vec![0xA5; 256];
    let mut answer = sig.clone();
    answer.extend_from_slice(&[0x90, 0x00]);
    s.expect(SELECT_AID, "90 00")
        .expect("00 22 41 B6 06 80 01 13 84 01 01", "90 00");
    let mut pso = hex("00 2A 9E 9A 00 00 20");
    pso.extend_from_slice(&[0x11; 32]);
    pso.extend_from_slice(&[0xFF, 0x00]); // Le = EXTENDED_MAX_NE
    s.expect_bytes(pso, answer);
    let mut card = s.card();
    let out = card
        .sign(
            0x01,
            SignAlgorithm::RsaPss(HashAlg::Sha256),
            &[0x11; 32],
            None,
        )
        .expect("sign");
    assert_eq!(out, sig);
    assert_eq!(card.apdus_sent(), 3);
    ends_with_end(&s);
}

#[test]
fn sign_short_apdus_with_get_response() {
    let s = Script::new(SHORT_ATR.to_vec());
    let mut first = vec![0x5A; 256];
    first.extend_from_slice(&[0x61, 0x80]);
    let mut rest = vec![0x5B; 128];
    rest.extend_from_slice(&[0x90, 0x00]);
    s.expect(SELECT_AID, "90 00")
        .expect("00 22 41 B6 06 80 01 02 84 01 02", "90 00");
    let mut pso = hex("00 2A 9E 9A 13");
    pso.extend_from_slice(&[0x22; 19]);
    pso.push(0x00);
    s.expect_bytes(pso, first);
    s.expect_bytes(hex("00 C0 00 00 80"), rest);
    let out = s
        .card()
        .sign(0x02, SignAlgorithm::RsaPkcs1, &[0x22; 19], None)
        .expect("sign");
    assert_eq!(out.len(), 384);
    assert_eq!(&out[..256], &[0x5A; 256][..]);
    assert_eq!(&out[256..], &[0x5B; 128][..]);
}

#[test]
fn largest_command_data_follows_family_and_apdu_form() {
    use super::profile::Profile;
    let v10 = [
        0x3B, 0xBA, 0x11, 0x00, 0x81, 0x31, 0xFE, 0x4D, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x20, 0x56,
        0x31, 0x2E, 0x30, 0xAE,
    ];
    // pcsc-tools: "AKiS v1.3 on infineon chip" and "Turkish eID (TCKK)": no extended length.
    let public_v1x = hex("3B 9F 96 81 31 FE 45 80 67 55 45 4B 41 45 12 93 31 80 73 B3 A1 80 6B");
    let public_v2x = hex("3B 9F 97 81 31 FE 45 80 65 54 43 D3 22 82 31 C0 73 F6 21 80 81 05 D3");
    assert_eq!(Profile::from_atr(&EXTENDED_ATR).max_command_data(), 65535);
    assert_eq!(Profile::from_atr(&SHORT_ATR).max_command_data(), 255);
    assert_eq!(Profile::from_atr(&public_v1x).max_command_data(), 255);
    assert_eq!(Profile::from_atr(&public_v2x).max_command_data(), 255);
    assert_eq!(Profile::from_atr(&v10).max_command_data(), 244);
}

#[test]
fn sign_input_longer_than_a_short_apdu_is_refused_unsent() {
    // RSA-3072 raw PKCS#1 input may be 373 bytes; a card without extended length
    // takes 255 in one command (no chaining, §1.1): 256 is refused before the MSE.
    let s = Script::new(SHORT_ATR.to_vec());
    assert_eq!(
        s.card()
            .sign(0x02, SignAlgorithm::RsaPkcs1, &[0x33; 256], None),
        Err(CardError::DataInvalid)
    );
    assert!(
        s.log().iter().all(|e| !matches!(e, Event::Apdu(_))),
        "{:?}",
        s.log()
    );
    // 255 bytes go out as one short PSO.
    let mut signature = vec![0x5C; 256];
    signature.extend_from_slice(&[0x61, 0x80]);
    let mut rest = vec![0x5D; 128];
    rest.extend_from_slice(&[0x90, 0x00]);
    s.expect(SELECT_AID, "90 00")
        .expect("00 22 41 B6 06 80 01 02 84 01 02", "90 00");
    let mut pso = hex("00 2A 9E 9A FF");
    pso.extend_from_slice(&[0x33; 255]);
    pso.push(0x00);
    s.expect_bytes(pso, signature);
    s.expect_bytes(hex("00 C0 00 00 80"), rest);
    let out = s
        .card()
        .sign(0x02, SignAlgorithm::RsaPkcs1, &[0x33; 255], None)
        .expect("sign");
    assert_eq!(out.len(), 384);
}

#[test]
fn sign_after_foreign_reset_sends_nothing() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.begin_answers(Ok(true));
    let mut card = s.card();
    assert_eq!(card.reset_epoch(), 0);
    assert_eq!(
        card.sign(0x01, SignAlgorithm::Ecdsa, &[1; 32], None),
        Err(CardError::ResetLostLogin)
    );
    assert_eq!(card.reset_epoch(), 1);
    assert!(s.apdus().is_empty());
    ends_with_end(&s);
}

#[test]
fn reset_forces_application_reselect() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00").expect("00 20 00 81", "63 C3");
    s.begin_answers(Ok(false)).begin_answers(Ok(true));
    s.expect(SELECT_AID, "90 00").expect("00 20 00 81", "63 C3");
    let mut card = s.card();
    card.pin_status(&user_pin()).expect("status");
    card.pin_status(&user_pin()).expect("status after reset");
    assert_eq!(card.reset_epoch(), 1);
    assert_eq!(s.remaining(), 0);
}

#[test]
fn sign_with_user_consent_verifies_right_before_pso_in_same_transaction() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00")
        .expect("00 22 41 B6 06 80 01 30 84 01 03", "90 00")
        .expect(VERIFY_123456, "90 00");
    let mut pso = hex("00 2A 9E 9A 00 00 20");
    pso.extend_from_slice(&[0x33; 32]);
    pso.extend_from_slice(&[0xFF, 0x00]); // Le = EXTENDED_MAX_NE
    let mut answer = vec![0x44; 64];
    answer.extend_from_slice(&[0x90, 0x00]);
    s.expect_bytes(pso, answer);
    let pin = user_pin();
    let out = s
        .card()
        .sign(
            0x03,
            SignAlgorithm::Ecdsa,
            &[0x33; 32],
            Some((&pin, b"123456")),
        )
        .expect("sign");
    assert_eq!(out.len(), 64);
    let begins = s.log().iter().filter(|e| **e == Event::Begin).count();
    assert_eq!(begins, 1);
}

#[test]
fn sign_error_mapping() {
    let cases = [
        ("6A 88", None, CardError::KeyNotFound),
        ("6A 80", None, CardError::DataInvalid),
        (
            "90 00",
            Some("69 82"),
            CardError::SecurityStatusNotSatisfied,
        ),
        ("90 00", Some("6A 80"), CardError::DataInvalid),
        ("90 00", Some("69 85"), CardError::Status(0x6985)),
        (
            "90 00",
            Some("90 00"),
            CardError::Malformed("empty signature"),
        ),
    ];
    for (mse_sw, pso_sw, want) in cases {
        let s = Script::new(EXTENDED_ATR.to_vec());
        s.expect(SELECT_AID, "90 00")
            .expect("00 22 41 B6 06 80 01 30 84 01 09", mse_sw);
        if let Some(sw) = pso_sw {
            let mut pso = hex("00 2A 9E 9A 00 00 20");
            pso.extend_from_slice(&[0x33; 32]);
            pso.extend_from_slice(&[0xFF, 0x00]); // Le = EXTENDED_MAX_NE
            s.expect_bytes(pso, hex(sw));
        }
        assert_eq!(
            s.card().sign(0x09, SignAlgorithm::Ecdsa, &[0x33; 32], None),
            Err(want)
        );
        ends_with_end(&s);
    }
}

#[test]
fn sign_input_checked_before_any_apdu() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    let mut card = s.card();
    assert_eq!(
        card.sign(1, SignAlgorithm::RsaPss(HashAlg::Sha384), &[0; 32], None),
        Err(CardError::DataInvalid)
    );
    assert_eq!(
        card.sign(1, SignAlgorithm::Ecdsa, &[0; 65], None),
        Err(CardError::DataInvalid)
    );
    assert_eq!(
        card.sign(1, SignAlgorithm::RsaPkcs1, &[], None),
        Err(CardError::DataInvalid)
    );
    assert!(s.log().is_empty());
}

#[test]
fn wrong_le_is_resent_once() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect("00 84 00 00 10", "6C 08");
    let mut eight = vec![7; 8];
    eight.extend_from_slice(&[0x90, 0x00]);
    s.expect_bytes(hex("00 84 00 00 08"), eight);
    // The card gave 8 of the 16 bytes asked for: a malformed answer, not a loop.
    assert_eq!(
        s.card().get_challenge(16),
        Err(CardError::Malformed("GET CHALLENGE length"))
    );
    assert_eq!(s.remaining(), 0);
    ends_with_end(&s);
}

#[test]
fn get_challenge_in_chunks() {
    let s = Script::new(SHORT_ATR.to_vec());
    let mut a = vec![1; 256];
    a.extend_from_slice(&[0x90, 0x00]);
    let mut b = vec![2; 44];
    b.extend_from_slice(&[0x90, 0x00]);
    s.expect_bytes(hex("00 84 00 00 00"), a);
    s.expect_bytes(hex("00 84 00 00 2C"), b);
    let mut card = s.card();
    let r = card.get_challenge(300).expect("random");
    assert_eq!(r.len(), 300);
    assert!(card.get_challenge(0).expect("empty").is_empty());
    assert_eq!(s.log().iter().filter(|e| **e == Event::Begin).count(), 1);
}

#[test]
fn faulty_answers_are_errors_not_panics() {
    // Shorter than a status word.
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect("00 84 00 00 08", "90");
    assert_eq!(s.card().get_challenge(8), Err(CardError::LinkBroken));
    ends_with_end(&s);
    // Longer than requested.
    let s = Script::new(EXTENDED_ATR.to_vec());
    let mut long = vec![0; 9];
    long.extend_from_slice(&[0x90, 0x00]);
    s.expect_bytes(hex("00 84 00 00 08"), long);
    assert_eq!(
        s.card().get_challenge(8),
        Err(CardError::Malformed("response longer than requested"))
    );
    // Data on a command that asked for none.
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "01 02 90 00");
    assert_eq!(
        s.card().pin_status(&user_pin()),
        Err(CardError::Malformed("response longer than requested"))
    );
    // Endless 61xx.
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect("00 84 00 00 08", "61 08");
    for _ in 0..MAX_GET_RESPONSE {
        s.expect("00 C0 00 00 08", "61 08");
    }
    assert_eq!(
        s.card().get_challenge(8),
        Err(CardError::Malformed("endless GET RESPONSE"))
    );
}

#[test]
fn reader_errors_pass_through() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.begin_answers(Err(ReaderError::Removed));
    assert_eq!(
        s.card().verify(&user_pin(), b"123456"),
        Err(CardError::Reader(ReaderError::Removed))
    );
    // No transaction was started, so none is ended.
    assert_eq!(s.log(), [Event::Begin]);
}

#[test]
fn bind_refuses_foreign_atr_without_apdus() {
    let s = Script::new(vec![0x3B, 0x00]);
    assert_eq!(s.card().bind(), Err(CardError::NotRecognized));
    assert!(s.log().is_empty());
}

/// Answers every APDU with pseudo-random bytes (sometimes a plausible status word).
struct Noise {
    state: u64,
    atr: Vec<u8>,
}

impl Noise {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, good enough to vary the answers.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl SteppedChannel for Noise {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        Ok(self.next() % 7 == 0)
    }
    fn end(&mut self) {}
    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let len = (self.next() % 300) as usize;
        let mut out: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        let sws: [[u8; 2]; 8] = [
            [0x90, 0x00],
            [0x61, 0x10],
            [0x6C, 0x05],
            [0x62, 0x82],
            [0x63, 0xC1],
            [0x6A, 0x82],
            [0x69, 0x82],
            [0x6B, 0x00],
        ];
        if self.next() % 3 != 0 {
            out.truncate(len.saturating_sub(2));
            out.extend_from_slice(&sws[(self.next() % 8) as usize]);
        }
        Ok(out)
    }
    fn reset(&mut self) -> Result<(), ReaderError> {
        Ok(())
    }
    fn atr(&self) -> &[u8] {
        &self.atr
    }
}

#[test]
fn random_card_answers_never_panic() {
    for seed in 1..400u64 {
        for atr in [EXTENDED_ATR.to_vec(), SHORT_ATR.to_vec()] {
            let mut card = Card::new(Box::new(Noise {
                state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
                atr,
            }));
            let _ = card.bind();
            let _ = card.verify(&user_pin(), b"123456");
            let _ = card.pin_status(&puk());
            let _ = card.sign(1, SignAlgorithm::RsaPkcs1, &[1; 51], None);
            let _ = card.get_challenge(40);
            let _ = card.logout();
        }
    }
}

#[test]
fn akis_v10_reads_at_most_244_bytes() {
    let v10 = vec![
        0x3B, 0xBA, 0x11, 0x00, 0x81, 0x31, 0xFE, 0x4D, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x20, 0x56,
        0x31, 0x2E, 0x30, 0xAE,
    ];
    let s = Script::new(v10);
    let mut a = vec![1; 244];
    a.extend_from_slice(&[0x90, 0x00]);
    let mut b = vec![2; 56];
    b.extend_from_slice(&[0x90, 0x00]);
    s.expect_bytes(hex("00 84 00 00 F4"), a);
    s.expect_bytes(hex("00 84 00 00 38"), b);
    assert_eq!(s.card().get_challenge(300).map(|r| r.len()), Ok(300));
}

#[test]
fn not_found_answers_make_the_next_operation_reselect() {
    let s = Script::new(EXTENDED_ATR.to_vec());
    // Login: the DF was changed under us, VERIFY answers 6A88; not retried.
    s.expect(SELECT_AID, "90 00").expect(VERIFY_123456, "6A 88");
    // Next login selects again first.
    s.expect(SELECT_AID, "90 00").expect(VERIFY_123456, "90 00");
    // Sign: MSE 6A88 with the DF assumed selected → select, MSE once more.
    s.expect("00 22 41 B6 06 80 01 30 84 01 01", "6A 88")
        .expect(SELECT_AID, "90 00")
        .expect("00 22 41 B6 06 80 01 30 84 01 01", "90 00");
    let mut pso = hex("00 2A 9E 9A 00 00 20");
    pso.extend_from_slice(&[0x33; 32]);
    pso.extend_from_slice(&[0xFF, 0x00]); // Le = EXTENDED_MAX_NE
    let mut answer = vec![0x44; 64];
    answer.extend_from_slice(&[0x90, 0x00]);
    s.expect_bytes(pso, answer);
    let mut card = s.card();
    assert_eq!(
        card.verify(&user_pin(), b"123456"),
        Err(CardError::Status(0x6A88))
    );
    card.verify(&user_pin(), b"123456").expect("login");
    card.sign(1, SignAlgorithm::Ecdsa, &[0x33; 32], None)
        .expect("sign");
    assert_eq!(s.remaining(), 0);
    // A key that really does not exist: MSE once after a fresh selection, no retry.
    let s = Script::new(EXTENDED_ATR.to_vec());
    s.expect(SELECT_AID, "90 00")
        .expect("00 22 41 B6 06 80 01 30 84 01 07", "6A 88");
    assert_eq!(
        s.card().sign(7, SignAlgorithm::Ecdsa, &[0x33; 32], None),
        Err(CardError::KeyNotFound)
    );
    assert_eq!(s.remaining(), 0);
}
