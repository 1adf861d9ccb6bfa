//! The card profile as operations (pkcs11-spec.md Part 1): bind (read PKCS#15),
//! PIN operations, signing, random. Every public operation is ONE PC/SC transaction.
//!
//! The exact APDU sequences are documented in pkcs11-spec.md Part 3.

pub mod atr;
mod bind;
pub mod cache;
mod keys;

pub use cache::BindCache;

use crate::apdu::{sw, ApduError, Command, Response};
use crate::reader::{CardChannel, ReaderError};
use std::cell::Cell;
use std::collections::HashMap;
use zeroize::Zeroizing;

/// PKCS#15 application identifier (ISO 7816-15 default).
pub const PKCS15_AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];
/// Maximum tries of the user PIN and of the PUK (profile constants, §1.4 VERIFY).
pub const PIN_MAX_TRIES: u8 = 3;
pub const PUK_MAX_TRIES: u8 = 10;
/// Largest answer of an AKIS v1.0 card.
const AKIS_V10_MAX_NE: usize = 244;
/// Largest Ne per APDU with extended length (see `Card::max_ne`).
const EXTENDED_MAX_NE: usize = 0xFF00;
/// GET RESPONSE rounds before the card is considered broken (a 64 KB answer in 256-byte
/// pieces needs 256).
const MAX_GET_RESPONSE: usize = 300;

/// Hash algorithms the card profile knows (RSA-PSS algorithm ids 11..15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// What PSO COMPUTE DIGITAL SIGNATURE should do (MSE `80` algorithm reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlgorithm {
    /// alg 02: input DigestInfo/raw ≤ k-11 bytes; card applies PKCS#1 v1.5 type 1.
    RsaPkcs1,
    /// alg 11..15: input is the hash; MGF1 same hash; salt length = hash length.
    RsaPss(HashAlg),
    /// alg 30: input hash/value 1..64 bytes; output raw r‖s.
    Ecdsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Big-endian, no leading zeros.
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    /// `ec_params`: DER of the named-curve OID; `point`: uncompressed point 04‖X‖Y (raw, not wrapped).
    Ec {
        curve: Curve,
        ec_params: Vec<u8>,
        point: Vec<u8>,
    },
}

/// PIN encoding from the AODF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinEncoding {
    AsciiNumeric,
    Utf8,
    Bcd,
}

/// Last known state of a PIN's retry counter (refreshed only by PIN operations and bind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    /// Security status set on the card (VERIFY without data answered 9000).
    Verified,
    TriesLeft(u8),
    Blocked,
    Unknown,
}

/// A PIN/PUK object from the AODF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinInfo {
    pub label: String,
    pub auth_id: Vec<u8>,
    pub reference: u8,
    pub encoding: PinEncoding,
    pub min_len: usize,
    pub max_len: usize,
    pub stored_len: usize,
    /// Pad to `stored_len` with this byte before sending (AODF needs-padding flag).
    pub pad_char: Option<u8>,
    /// Maximum tries (profile constant: PIN 3, PUK 10).
    pub max_tries: u8,
    pub status: PinStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateEntry {
    pub label: String,
    pub id: Vec<u8>,
    pub der: Vec<u8>,
    /// CDF `authority` flag (CA certificate).
    pub authority: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    pub label: String,
    pub id: Vec<u8>,
    /// PrKDF keyReference (MSE `84`).
    pub key_ref: u8,
    /// From the matching certificate, else from the PuKDF public key file.
    pub public: PublicKey,
    /// RSA modulus bits / EC field bits.
    pub bits: usize,
    /// PrKDF userConsent present: PIN needed right before each signature.
    pub user_consent: bool,
    pub usage_sign: bool,
    pub usage_non_repudiation: bool,
    /// authId of the PIN protecting the key.
    pub auth_id: Vec<u8>,
}

/// Everything read from the card at bind time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenData {
    pub label: String,
    /// Card serial as upper-case hex.
    pub serial: String,
    pub manufacturer: String,
    pub model: String,
    pub user_pin: PinInfo,
    pub puk: Option<PinInfo>,
    pub keys: Vec<KeyEntry>,
    pub certificates: Vec<CertificateEntry>,
    /// EF.TokenInfo lastUpdate, if present (cache change check).
    pub last_update: Option<String>,
}

/// Why a card operation failed. The PKCS#11 layer maps these to CKR codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardError {
    Reader(ReaderError),
    /// ATR or PKCS#15 application not ours.
    NotRecognized,
    /// VERIFY/CHANGE/RRC with a wrong value: tries left after this one.
    PinIncorrect {
        tries_left: u8,
    },
    /// 6983/6984.
    PinBlocked,
    /// 6982: the card says the PIN is not verified (logged out under us).
    SecurityStatusNotSatisfied,
    /// The card was reset by someone else before this operation; it needs a login.
    ResetLostLogin,
    /// 6A80 on PSO input, or 6A88 no such key.
    DataInvalid,
    KeyNotFound,
    /// Any other status word.
    Status(u16),
    /// Malformed answer from the card (short response, bad DER, ...).
    Malformed(&'static str),
}

/// A connected card speaking the eimza card profile.
pub struct Card {
    channel: Box<dyn CardChannel>,
    /// Incremented each time the channel reported a reset by someone else.
    reset_epoch: u64,
    /// From the ATR (re-read at each transaction: a reset may change it).
    caps: atr::Capabilities,
    family: Option<atr::Family>,
    /// The PKCS#15 DF is the current DF (cleared by any reset).
    app_selected: bool,
    /// Path of the PKCS#15 DF from the MF, without `3F00` (SELECT P1 08).
    app_path: Vec<u8>,
    /// APDUs sent since the card was wrapped (instrumentation, tests).
    apdus_sent: u64,
    /// Where bind's file reads come from (the card, or a cache entry) and whether
    /// they are recorded for the cache. `Card` outside bind.
    files: FileSource,
    /// A cache entry a cold bind produced (card serial, entry), stored after the
    /// transaction so the card is not held while the file is written.
    new_cache_entry: Option<(Vec<u8>, cache::Entry)>,
}

/// How `read_file` is served during bind.
enum FileSource {
    Card,
    /// Read from the card and remember what was read (cold bind, cache on).
    Record(HashMap<cache::FileKey, Vec<u8>>),
    /// Answer from a cache entry the card's TokenInfo matched; files it lacks are read.
    Serve(HashMap<cache::FileKey, Vec<u8>>),
}

/// Card I/O done by the current thread: APDUs (GET RESPONSE and re-sends included),
/// bytes both ways (command + response with SW) and transactions. The C edge reads
/// it before and after each call for the per-call debug line; the counters live in
/// the card layer, so both transports are counted alike.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoCounters {
    pub apdus: u64,
    pub bytes: u64,
    pub transactions: u64,
}

impl IoCounters {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: IoCounters) -> IoCounters {
        IoCounters {
            apdus: self.apdus.saturating_sub(earlier.apdus),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            transactions: self.transactions.saturating_sub(earlier.transactions),
        }
    }
}

thread_local! {
    static THREAD_IO: Cell<IoCounters> = const {
        Cell::new(IoCounters { apdus: 0, bytes: 0, transactions: 0 })
    };
}

/// Card I/O done by this thread so far (see [`IoCounters`]).
pub fn thread_io() -> IoCounters {
    THREAD_IO.with(Cell::get)
}

fn count_io(apdus: u64, bytes: u64, transactions: u64) {
    THREAD_IO.with(|c| {
        let mut v = c.get();
        v.apdus += apdus;
        v.bytes += bytes;
        v.transactions += transactions;
        c.set(v);
    });
}

/// Ends the transaction when dropped, on every path out of an operation.
struct Transaction<'a> {
    card: &'a mut Card,
    /// The card was reset by someone else since our last transaction.
    reset_seen: bool,
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        self.card.channel.end();
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Card;
    fn deref(&self) -> &Card {
        self.card
    }
}

impl std::ops::DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Card {
        self.card
    }
}

impl From<ReaderError> for CardError {
    fn from(e: ReaderError) -> Self {
        CardError::Reader(e)
    }
}

/// What `CardError::Malformed` says when the reader returned no status word: the link
/// to the card broke (vpcd answers a pulled card that way before pcscd reports it).
pub const NO_STATUS_WORD: &str = "response shorter than 2 bytes";

impl From<ApduError> for CardError {
    fn from(e: ApduError) -> Self {
        match e {
            ApduError::ShortResponse => CardError::Malformed(NO_STATUS_WORD),
            // Only reachable with input the caller should have checked (too long for the
            // card's APDU size).
            ApduError::TooLong | ApduError::InvalidLe => CardError::DataInvalid,
        }
    }
}

/// MSE algorithm reference (pkcs11-spec.md §1.4 MSE SET DST).
fn algorithm_reference(alg: SignAlgorithm) -> u8 {
    match alg {
        SignAlgorithm::RsaPkcs1 => 0x02,
        SignAlgorithm::RsaPss(HashAlg::Sha1) => 0x11,
        SignAlgorithm::RsaPss(HashAlg::Sha224) => 0x12,
        SignAlgorithm::RsaPss(HashAlg::Sha256) => 0x13,
        SignAlgorithm::RsaPss(HashAlg::Sha384) => 0x14,
        SignAlgorithm::RsaPss(HashAlg::Sha512) => 0x15,
        SignAlgorithm::Ecdsa => 0x30,
    }
}

impl HashAlg {
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
}

/// Map a status word after a PIN command (VERIFY/CHANGE/RRC with data).
fn pin_command_error(r: &Response) -> CardError {
    // 63C0 too: this wrong value blocked the PIN, still CKR_PIN_INCORRECT (§1.2); the
    // next try answers 6983 → PinBlocked.
    if let Some(tries_left) = r.tries_left() {
        return CardError::PinIncorrect { tries_left };
    }
    status_error(r.sw())
}

/// Generic status word mapping (pkcs11-spec.md §1.2).
fn status_error(sw: u16) -> CardError {
    match sw {
        sw::AUTH_BLOCKED | sw::REF_DATA_UNUSABLE => CardError::PinBlocked,
        sw::SECURITY_STATUS => CardError::SecurityStatusNotSatisfied,
        other => CardError::Status(other),
    }
}

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

impl Card {
    /// Wrap a channel. Sends nothing.
    pub fn new(channel: Box<dyn CardChannel>) -> Self {
        let parsed = atr::parse(channel.atr());
        Card {
            channel,
            reset_epoch: 0,
            caps: parsed.as_ref().map(|a| a.capabilities).unwrap_or_default(),
            family: parsed.and_then(|a| a.family),
            app_selected: false,
            app_path: vec![0x3D, 0x00],
            apdus_sent: 0,
            files: FileSource::Card,
            new_cache_entry: None,
        }
    }

    /// Number of resets by others seen so far; the PKCS#11 layer logs the user out
    /// when this changes.
    pub fn reset_epoch(&self) -> u64 {
        self.reset_epoch
    }

    /// APDUs sent through this card object so far (GET RESPONSE and re-sends included).
    pub fn apdus_sent(&self) -> u64 {
        self.apdus_sent
    }

    /// What the ATR offered at the last transaction.
    pub fn capabilities(&self) -> atr::Capabilities {
        self.caps
    }

    fn transaction(&mut self) -> Result<Transaction<'_>, CardError> {
        let reset_seen = self.channel.begin()?;
        count_io(0, 0, 1);
        if reset_seen {
            self.reset_epoch += 1;
            self.app_selected = false;
        }
        let parsed = atr::parse(self.channel.atr());
        self.caps = parsed.as_ref().map(|a| a.capabilities).unwrap_or_default();
        self.family = parsed.and_then(|a| a.family);
        Ok(Transaction {
            card: self,
            reset_seen,
        })
    }

    /// Largest Ne one APDU may ask for.
    fn max_ne(&self) -> usize {
        if self.caps.extended_length {
            // Not 65536: some readers mishandle Le = 00 00, and vpcd frames a whole
            // response (data + SW) in 16 bits, so data must stay below 65534 bytes.
            EXTENDED_MAX_NE
        } else if self.family == Some(atr::Family::AkisV10) {
            // [AKIS] v1.0 answers at most 244 bytes per APDU (OpenSC's card-akis.c).
            AKIS_V10_MAX_NE
        } else {
            crate::apdu::SHORT_MAX_NE
        }
    }

    fn send_once(&mut self, cmd: &Command) -> Result<Response, CardError> {
        let encoded = cmd.encode(self.caps.extended_length)?;
        self.apdus_sent += 1;
        crate::log::apdu(crate::log::Direction::Command, &encoded);
        let raw = Zeroizing::new(self.channel.transmit(&encoded)?);
        count_io(1, (encoded.len() + raw.len()) as u64, 0);
        crate::log::apdu(crate::log::Direction::Response, &raw);
        let response = Response::parse(&raw)?;
        // More data than asked for is a card fault (spec §1.2).
        if response.data.len() > cmd.le.unwrap_or(0) {
            return Err(CardError::Malformed("response longer than requested"));
        }
        Ok(response)
    }

    /// One command with the transport rules of §1.2: `6Cxx` → re-send once with the exact
    /// Le; `61xx` → GET RESPONSE until complete.
    fn exchange(&mut self, cmd: &Command) -> Result<Response, CardError> {
        let mut response = self.send_once(cmd)?;
        if let Some(exact) = response.exact_le() {
            let mut again = cmd.clone();
            again.le = Some(exact);
            response = self.send_once(&again)?;
        }
        let mut rounds = 0;
        while let Some(more) = response.bytes_remaining() {
            rounds += 1;
            if rounds > MAX_GET_RESPONSE {
                return Err(CardError::Malformed("endless GET RESPONSE"));
            }
            let get = Command::new(0x00, 0xC0, 0x00, 0x00).with_le(more);
            let next = self.send_once(&get)?;
            let mut data = std::mem::take(&mut response.data);
            data.extend_from_slice(&next.data);
            response = Response {
                data,
                sw1: next.sw1,
                sw2: next.sw2,
            };
        }
        Ok(response)
    }

    /// SELECT the PKCS#15 DF by name (no answer data).
    fn select_application(&mut self) -> Result<Response, CardError> {
        let select = Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(&PKCS15_AID);
        let r = self.exchange(&select)?;
        if r.is_ok() {
            self.app_selected = true;
        }
        Ok(r)
    }

    /// Make sure the PKCS#15 DF is current (after a reset the MF is), by name, else by
    /// the path found at bind.
    fn ensure_application(&mut self) -> Result<bool, CardError> {
        if self.app_selected {
            return Ok(false);
        }
        let r = self.select_application()?;
        if r.is_ok() {
            return Ok(true);
        }
        let path = self.app_path.clone();
        let r = self.exchange(&Command::new(0x00, 0xA4, 0x08, 0x0C).with_data(&path))?;
        if !r.is_ok() {
            return Err(CardError::NotRecognized);
        }
        self.app_selected = true;
        Ok(true)
    }

    /// A command addressed to the PKCS#15 DF. "Not found" answers may mean another
    /// application left a different DF current: select again before the next command.
    fn exchange_in_application(&mut self, cmd: &Command) -> Result<Response, CardError> {
        let r = self.exchange(cmd)?;
        if matches!(r.sw(), sw::NOT_FOUND | sw::REF_DATA_NOT_FOUND) {
            self.app_selected = false;
        }
        Ok(r)
    }

    /// Recognise the card (ATR family + SELECT PKCS#15 AID) and read the PKCS#15
    /// structure and PIN counters. One transaction. No cache.
    pub fn bind(&mut self) -> Result<TokenData, CardError> {
        self.bind_with_cache(None)
    }

    /// [`bind`](Self::bind) with a persistent cache of the public files
    /// (pkcs11-spec.md §3.2.1): a card whose ATR and EF.TokenInfo match a stored entry
    /// is bound from it (SELECT, TokenInfo, PIN and PUK counters: 4 APDUs); otherwise the card
    /// is read and the entry (re)written. If a served entry does not bind, the card
    /// is read again in full, in a second transaction.
    pub fn bind_with_cache(&mut self, cache: Option<&BindCache>) -> Result<TokenData, CardError> {
        let family = atr::parse(self.channel.atr()).and_then(|a| a.family);
        if family.is_none() {
            return Err(CardError::NotRecognized);
        }
        let result = {
            let mut tx = self.transaction()?;
            bind::bind(&mut tx, cache, true)
        };
        let served = matches!(self.files, FileSource::Serve(_));
        self.files = FileSource::Card;
        match result {
            Err(e) if served && !matches!(e, CardError::Reader(_)) => {
                crate::log_at!(
                    crate::log::Level::Warn,
                    "bind: cached files did not bind ({e:?}); reading the card"
                );
                let result = {
                    let mut tx = self.transaction()?;
                    bind::bind(&mut tx, cache, false)
                };
                self.files = FileSource::Card;
                self.store_cache_entry(cache);
                result
            }
            other => {
                self.store_cache_entry(cache);
                other
            }
        }
    }

    fn store_cache_entry(&mut self, cache: Option<&BindCache>) {
        let (Some(cache), Some((serial, entry))) = (cache, self.new_cache_entry.take()) else {
            return;
        };
        match cache.store(&serial, &entry) {
            Ok(()) => crate::log_at!(
                crate::log::Level::Debug,
                "bind: cache entry written for card {}",
                crate::log::hex(&serial)
            ),
            Err(e) => crate::log_at!(
                crate::log::Level::Info,
                "bind: cache entry not written: {e}"
            ),
        }
    }

    /// VERIFY with data (exactly one APDU carrying the PIN; never retried).
    pub fn verify(&mut self, pin: &PinInfo, value: &[u8]) -> Result<(), CardError> {
        let data = encode_pin(pin, value)?;
        let mut tx = self.transaction()?;
        tx.ensure_application()?;
        let cmd = Command::new(0x00, 0x20, 0x00, pin.reference).with_data(&data);
        let r = tx.exchange_in_application(&cmd)?;
        if r.is_ok() {
            Ok(())
        } else {
            Err(pin_command_error(&r))
        }
    }

    /// VERIFY without data: the counter, spending no try.
    pub fn pin_status(&mut self, pin: &PinInfo) -> Result<PinStatus, CardError> {
        let mut tx = self.transaction()?;
        tx.ensure_application()?;
        tx.query_pin(pin.reference)
    }

    fn query_pin(&mut self, reference: u8) -> Result<PinStatus, CardError> {
        let r = self.exchange_in_application(&Command::new(0x00, 0x20, 0x00, reference))?;
        match r.sw() {
            sw::OK => Ok(PinStatus::Verified),
            sw::AUTH_BLOCKED | sw::REF_DATA_UNUSABLE => Ok(PinStatus::Blocked),
            _ => match r.tries_left() {
                Some(0) => Ok(PinStatus::Blocked),
                Some(n) => Ok(PinStatus::TriesLeft(n)),
                None => Err(status_error(r.sw())),
            },
        }
    }

    /// CHANGE REFERENCE DATA old‖new.
    pub fn change_reference_data(
        &mut self,
        pin: &PinInfo,
        old: &[u8],
        new: &[u8],
    ) -> Result<(), CardError> {
        let old = encode_pin(pin, old)?;
        let new = encode_pin(pin, new)?;
        let mut data = Zeroizing::new(Vec::with_capacity(old.len() + new.len()));
        data.extend_from_slice(&old);
        data.extend_from_slice(&new);
        let mut tx = self.transaction()?;
        tx.ensure_application()?;
        let cmd = Command::new(0x00, 0x24, 0x00, pin.reference).with_data(&data);
        let r = tx.exchange_in_application(&cmd)?;
        match r.sw() {
            sw::OK => Ok(()),
            // New value against the card's policy (no try spent).
            sw::INCORRECT_DATA => Err(CardError::DataInvalid),
            _ => Err(pin_command_error(&r)),
        }
    }

    /// RESET RETRY COUNTER: `puk` Some → P1 00 (PUK‖new); None → P1 02 (PUK verified before).
    /// Without `puk` the command rests on the SO login: after a reset by others that login
    /// is gone, so `ResetLostLogin` without sending anything — a security status set since
    /// then is someone else's (pkcs11-spec.md §2.4).
    pub fn reset_retry_counter(
        &mut self,
        pin: &PinInfo,
        puk: Option<(&PinInfo, &[u8])>,
        new_pin: &[u8],
    ) -> Result<(), CardError> {
        let new = encode_pin(pin, new_pin)?;
        let mut data = Zeroizing::new(Vec::new());
        let p1 = match puk {
            Some((puk_info, puk_value)) => {
                data.extend_from_slice(&encode_pin(puk_info, puk_value)?);
                0x00
            }
            None => 0x02,
        };
        data.extend_from_slice(&new);
        let mut tx = self.transaction()?;
        if tx.reset_seen && puk.is_none() {
            return Err(CardError::ResetLostLogin);
        }
        tx.ensure_application()?;
        let cmd = Command::new(0x00, 0x2C, p1, pin.reference).with_data(&data);
        let r = tx.exchange_in_application(&cmd)?;
        match r.sw() {
            sw::OK => Ok(()),
            sw::INCORRECT_DATA => Err(CardError::DataInvalid),
            _ => Err(pin_command_error(&r)),
        }
    }

    /// LOGOUT (80 1A 00 00); falls back to a card reset if the card refuses.
    pub fn logout(&mut self) -> Result<(), CardError> {
        let mut tx = self.transaction()?;
        let answer = tx.exchange(&Command::new(0x80, 0x1A, 0x00, 0x00));
        match answer {
            Ok(r) if r.is_ok() => Ok(()),
            Err(CardError::Reader(e)) => Err(CardError::Reader(e)),
            _ => {
                tx.channel.reset()?;
                tx.app_selected = false;
                Ok(())
            }
        }
    }

    /// MSE SET DST + PSO CDS (+ GET RESPONSE) in one transaction. With
    /// `pin_first` (userConsent keys), VERIFY is sent in the same transaction, right
    /// before the PSO (after the MSE), as the card requires.
    /// Returns `ResetLostLogin` without sending PSO if the card was reset by others.
    pub fn sign(
        &mut self,
        key_ref: u8,
        algorithm: SignAlgorithm,
        input: &[u8],
        pin_first: Option<(&PinInfo, &[u8])>,
    ) -> Result<Vec<u8>, CardError> {
        let input_ok = match algorithm {
            SignAlgorithm::RsaPkcs1 => !input.is_empty(),
            SignAlgorithm::RsaPss(h) => input.len() == h.output_len(),
            SignAlgorithm::Ecdsa => (1..=64).contains(&input.len()),
        };
        if !input_ok {
            return Err(CardError::DataInvalid);
        }
        let pin_data = match pin_first {
            Some((pin, value)) => Some((pin.reference, encode_pin(pin, value)?)),
            None => None,
        };
        let mut tx = self.transaction()?;
        if tx.reset_seen {
            return Err(CardError::ResetLostLogin);
        }
        let selected_now = tx.ensure_application()?;
        let crt = [
            0x80,
            0x01,
            algorithm_reference(algorithm),
            0x84,
            0x01,
            key_ref,
        ];
        let mse = Command::new(0x00, 0x22, 0x41, 0xB6).with_data(&crt);
        let mut r = tx.exchange_in_application(&mse)?;
        if r.sw() == sw::REF_DATA_NOT_FOUND && !selected_now {
            // Perhaps another application changed the current DF: MSE carries no PIN,
            // so select the application and ask once more.
            tx.ensure_application()?;
            r = tx.exchange_in_application(&mse)?;
        }
        match r.sw() {
            sw::OK => {}
            sw::REF_DATA_NOT_FOUND => return Err(CardError::KeyNotFound),
            sw::INCORRECT_DATA => return Err(CardError::DataInvalid),
            other => return Err(status_error(other)),
        }
        // userConsent: the VERIFY must be the command right before the PSO (§1.4), so
        // it comes after the MSE.
        if let Some((reference, data)) = pin_data {
            let verify = Command::new(0x00, 0x20, 0x00, reference).with_data(&data);
            let r = tx.exchange_in_application(&verify)?;
            if !r.is_ok() {
                return Err(pin_command_error(&r));
            }
        }
        let ne = tx.max_ne();
        let pso = Command::new(0x00, 0x2A, 0x9E, 0x9A)
            .with_data(input)
            .with_le(ne);
        let r = tx.exchange_in_application(&pso)?;
        match r.sw() {
            sw::OK if !r.data.is_empty() => Ok(r.data.to_vec()),
            sw::OK => Err(CardError::Malformed("empty signature")),
            sw::REF_DATA_NOT_FOUND => Err(CardError::KeyNotFound),
            sw::INCORRECT_DATA | sw::WRONG_LENGTH => Err(CardError::DataInvalid),
            other => Err(status_error(other)),
        }
    }

    /// GET CHALLENGE, as many APDUs as needed for `len` bytes.
    pub fn get_challenge(&mut self, len: usize) -> Result<Zeroizing<Vec<u8>>, CardError> {
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        if len == 0 {
            return Ok(out);
        }
        let mut tx = self.transaction()?;
        // Some cards refuse very large challenges; 256 per APDU is what every card does.
        let chunk_max = tx.max_ne().min(crate::apdu::SHORT_MAX_NE);
        while out.len() < len {
            let want = (len - out.len()).min(chunk_max);
            let r = tx.exchange(&Command::new(0x00, 0x84, 0x00, 0x00).with_le(want))?;
            if !r.is_ok() {
                return Err(status_error(r.sw()));
            }
            if r.data.len() != want {
                return Err(CardError::Malformed("GET CHALLENGE length"));
            }
            out.extend_from_slice(&r.data);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
