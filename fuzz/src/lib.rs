//! Shared pieces of the fuzz targets: a byte cursor over the fuzz input, a card channel
//! that answers every APDU from that input, and the card session the `card_answers`
//! target drives (also used by `make_seeds` to record real answers of the software card).

use eimza_pkcs11::card::{
    Card, HashAlg, PinEncoding, PinInfo, PinStatus, PublicKey, SignAlgorithm,
};
use eimza_pkcs11::reader::{ReaderError, SteppedChannel};

/// Reads the fuzz input front to back; past the end every read gives zeros/empty.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A length-prefixed chunk: one length byte, or `FF` then a 16-bit length.
    pub fn chunk(&mut self) -> Option<&'a [u8]> {
        if self.data.is_empty() {
            return None;
        }
        let len = match self.u8() {
            0xFF => usize::from(self.u16()),
            n => usize::from(n),
        };
        Some(self.bytes(len))
    }
}

/// The inverse of [`Input::chunk`] (seed corpus writer).
pub fn encode_chunk(out: &mut Vec<u8>, chunk: &[u8]) {
    let len = chunk.len().min(0xFFFF);
    if len < 0xFF {
        out.push(len as u8);
    } else {
        out.push(0xFF);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
    out.extend_from_slice(&chunk[..len]);
}

/// A card whose every answer (data ‖ SW, any length, even shorter than a status word)
/// comes from the fuzz input. When the input runs out the card is "removed".
pub struct ScriptedChannel {
    answers: Vec<u8>,
    pos: usize,
    atr: Vec<u8>,
    /// Transactions (begin) that report "reset by someone else", as a bit mask.
    resets: u8,
    transactions: u32,
}

impl ScriptedChannel {
    pub fn new(atr: Vec<u8>, resets: u8, answers: &[u8]) -> Self {
        ScriptedChannel {
            answers: answers.to_vec(),
            pos: 0,
            atr,
            resets,
            transactions: 0,
        }
    }
}

impl SteppedChannel for ScriptedChannel {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        let n = self.transactions;
        self.transactions += 1;
        Ok(n < 8 && self.resets & (1 << n) != 0)
    }

    fn end(&mut self) {}

    fn transmit(&mut self, _apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut input = Input::new(&self.answers[self.pos..]);
        let before = input.data.len();
        let answer = input.chunk().ok_or(ReaderError::Removed)?.to_vec();
        self.pos += before - input.data.len();
        Ok(answer)
    }

    fn reset(&mut self) -> Result<(), ReaderError> {
        Ok(())
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }
}

/// AKIS v1.0 ATR (pkcs11-spec.md §1.1): short APDUs, at most 244 bytes per answer.
pub const ATR_AKIS_V10: [u8; 19] = [
    0x3B, 0xBA, 0x11, 0x00, 0x81, 0x31, 0xFE, 0x4D, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x20, 0x56, 0x31,
    0x2E, 0x30, 0xAE,
];

/// The ATR of a card_answers input: half the selector values pick a known family (so
/// the fuzzer spends its time past the ATR check), the other half read it from the input.
pub fn choose_atr(selector: u8, input: &mut Input<'_>) -> Vec<u8> {
    match selector % 4 {
        0 => virtual_card::ATR.to_vec(),
        1 => ATR_AKIS_V10.to_vec(),
        _ => input.chunk().unwrap_or_default().to_vec(),
    }
}

/// A PIN description for when bind failed, so the PIN operations still run.
pub fn fallback_pin(reference: u8, max_tries: u8) -> PinInfo {
    PinInfo {
        label: "PIN".into(),
        auth_id: vec![1],
        reference,
        encoding: PinEncoding::AsciiNumeric,
        min_len: 4,
        max_len: 16,
        stored_len: 16,
        pad_char: Some(0xFF),
        max_tries,
        status: PinStatus::Unknown,
    }
}

/// Every card operation the module has, in the order an application would use them.
/// `options` varies the algorithm and challenge size. Checks what must hold whatever the
/// card answers (a successful operation returns what was asked for).
pub fn card_session(card: &mut Card, options: u8, challenge_len: usize) {
    let token = card.bind();
    let (pin, puk, keys) = match &token {
        Ok(t) => (t.user_pin.clone(), t.puk.clone(), t.keys.clone()),
        Err(_) => (
            fallback_pin(0x81, 3),
            Some(fallback_pin(0x82, 10)),
            Vec::new(),
        ),
    };
    if let Ok(t) = &token {
        // Whatever the card said, what bind returns must be usable by the object layer.
        let mut handle = 0;
        let objects = eimza_pkcs11::object::build_objects(t, || {
            handle += 1;
            handle
        });
        for object in &objects {
            let _ = object.size();
        }
    }
    let _ = card.pin_status(&pin);
    let _ = card.verify(&pin, b"123456");
    let key = keys.first();
    let algorithm = match (key.map(|k| &k.public), options % 3) {
        (Some(PublicKey::Ec { .. }), _) => SignAlgorithm::Ecdsa,
        (_, 0) => SignAlgorithm::RsaPkcs1,
        (_, 1) => SignAlgorithm::RsaPss(HashAlg::Sha256),
        _ => SignAlgorithm::Ecdsa,
    };
    let input = match algorithm {
        SignAlgorithm::RsaPkcs1 => vec![0x30; 51],
        SignAlgorithm::RsaPss(h) => vec![0xAB; h.output_len()],
        SignAlgorithm::Ecdsa => vec![0xAB; 32],
    };
    let consent = key.is_some_and(|k| k.user_consent) || options & 0x10 != 0;
    let pin_first = consent.then_some((&pin, &b"123456"[..]));
    if let Ok(signature) = card.sign(key.map_or(1, |k| k.key_ref), algorithm, &input, pin_first) {
        assert!(!signature.is_empty(), "empty signature accepted");
    }
    if let Ok(random) = card.get_challenge(challenge_len) {
        assert_eq!(random.len(), challenge_len, "GET CHALLENGE length");
    }
    let _ = card.change_reference_data(&pin, b"123456", b"654321");
    if let Some(puk) = &puk {
        let _ = card.reset_retry_counter(&pin, Some((puk, b"12345678")), b"123456");
        let _ = card.pin_status(puk);
    }
    let _ = card.reset_retry_counter(&pin, None, b"123456");
    let _ = card.logout();
}
