//! `VirtualCard`: a software card in a virtual reader, shareable between threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::card::{Card, Work, PIN_REF, PUK_REF};
use crate::image::{CardFamily, CardImage, KeyAlgorithm};
use crate::store::{self, StoreError};

/// The card's ATR (spec §1.1): AKIS v2.x family, T=1, historical bytes "TCVC1", card
/// capabilities with extended Lc/Le, LCS 05, SW 9000, then TCK.
pub const ATR: [u8; 23] = [
    0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x56, 0x43, 0x31, 0x73, 0xB4,
    0x00, 0x40, 0x83, 0x05, 0x90, 0x00, 0x45,
];

/// The AKIS v1.0 ATR, byte for byte the public one (OpenSC's card-akis.c): T=1,
/// historical bytes "UEKAE V1.0" (the `4D` before them is TB3), TCK `AE`.
pub const ATR_V10: [u8; 19] = [
    0x3B, 0xBA, 0x11, 0x00, 0x81, 0x31, 0xFE, 0x4D, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x20, 0x56, 0x31,
    0x2E, 0x30, 0xAE,
];

/// An AKIS v1.x-family ATR: the structure of the public v1.x ATRs (pcsc-tools'
/// list: `3B 9F 96 81 31 FE 45 80 67 "UEKAE" 12 xx 31 80 73 B3 A1 80 TCK`) with our
/// own version bytes "VC" (virtual card) instead of `12 xx`, so no real card's version
/// is claimed. Like the real ones its card-capabilities object (`73 B3 A1 80`) offers
/// no SFI and no extended length.
pub const ATR_V1X: [u8; 23] = [
    0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x67, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x56, 0x43,
    0x31, 0x80, 0x73, 0xB3, 0xA1, 0x80, 0xFF,
];

/// The ATR of a card of `family`.
pub fn atr_of(family: CardFamily) -> &'static [u8] {
    match family {
        CardFamily::V10 => &ATR_V10,
        CardFamily::V1x => &ATR_V1X,
        CardFamily::V2x => &ATR,
    }
}

/// The header of a command the card received: never its data, which may be a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedCommand {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    /// Command data length (0 for cases 1 and 2, and for malformed APDUs).
    pub nc: usize,
    /// Ne, `None` without an Le field (and for malformed APDUs).
    pub ne: Option<usize>,
    /// The APDU parsed (a malformed one was answered `6700` and changed nothing).
    pub well_formed: bool,
}

impl ReceivedCommand {
    fn of(apdu: &[u8]) -> ReceivedCommand {
        match crate::apdu::parse(apdu) {
            Ok(c) => ReceivedCommand {
                cla: c.cla,
                ins: c.ins,
                p1: c.p1,
                p2: c.p2,
                nc: c.data.len(),
                ne: c.ne,
                well_formed: true,
            },
            Err(_) => {
                let byte = |i: usize| apdu.get(i).copied().unwrap_or(0);
                ReceivedCommand {
                    cla: byte(0),
                    ins: byte(1),
                    p1: byte(2),
                    p2: byte(3),
                    nc: 0,
                    ne: None,
                    well_formed: false,
                }
            }
        }
    }
}

/// `CLA INS P1 P2 Nc=.. Ne=..`, one line of `eimza-vcard serve --log-commands`.
impl std::fmt::Display for ReceivedCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02X} {:02X} {:02X} {:02X} Nc={}",
            self.cla, self.ins, self.p1, self.p2, self.nc
        )?;
        match self.ne {
            Some(ne) => write!(f, " Ne={ne}")?,
            None => write!(f, " Ne=-")?,
        }
        if !self.well_formed {
            write!(f, " malformed")?;
        }
        Ok(())
    }
}

/// At most this many command headers are kept (a long `serve` must not grow without
/// bound); `Stats::apdus` still counts every command.
pub const MAX_RECEIVED: usize = 100_000;

/// Traffic counters since the card object was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Command APDUs answered (power controls not counted).
    pub apdus: u64,
    /// Command bytes received.
    pub bytes_in: u64,
    /// Response bytes sent (data and status words).
    pub bytes_out: u64,
    /// Reader transactions, as reported by `note_transaction`.
    pub transactions: u64,
}

/// Commands of interest the card received since it was created, so tests can check
/// what a host sent (e.g. that no PIN went to the card behind the user's back).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandCounts {
    /// VERIFY carrying a PIN or PUK value (well-formed or not).
    pub verify_with_data: u64,
    /// VERIFY without data: a retry-counter query, no PIN.
    pub verify_status: u64,
    /// PSO COMPUTE DIGITAL SIGNATURE commands, whatever the answer.
    pub sign_commands: u64,
    /// Signatures the card actually computed and returned.
    pub signatures: u64,
}

impl CommandCounts {
    fn count(&mut self, apdu: &[u8], work: Work) {
        if let Ok(command) = crate::apdu::parse(apdu) {
            match (command.cla, command.ins) {
                (0x00, 0x20) if command.data.is_empty() => self.verify_status += 1,
                (0x00, 0x20) => self.verify_with_data += 1,
                (0x00, 0x2A) if command.p1 == 0x9E && command.p2 == 0x9A => self.sign_commands += 1,
                _ => {}
            }
        }
        if work != Work::Plain {
            self.signatures += 1;
        }
    }
}

/// Time a real card would take; the card sleeps this long before answering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delays {
    /// Added to a PSO COMPUTE DIGITAL SIGNATURE with an RSA key.
    pub rsa_sign: Duration,
    /// Added to a PSO COMPUTE DIGITAL SIGNATURE with an EC key.
    pub ecdsa_sign: Duration,
    /// Added to every APDU.
    pub per_apdu: Duration,
}

/// Name of the environment variable read by [`Delays::from_env`].
pub const DELAYS_ENV: &str = "EIMZA_VCARD_DELAYS";

impl Delays {
    /// Parses `rsa=60ms,ecdsa=30ms,apdu=5ms` (any subset; units `us`, `ms`, `s`).
    pub fn parse(spec: &str) -> Result<Delays, String> {
        let mut delays = Delays::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}': expected NAME=DURATION"))?;
            let duration = parse_duration(value.trim())
                .ok_or_else(|| format!("'{value}': expected a duration like 60ms, 500us or 1s"))?;
            match name.trim() {
                "rsa" => delays.rsa_sign = duration,
                "ecdsa" => delays.ecdsa_sign = duration,
                "apdu" => delays.per_apdu = duration,
                other => return Err(format!("unknown delay '{other}' (rsa, ecdsa, apdu)")),
            }
        }
        Ok(delays)
    }

    /// Reads [`DELAYS_ENV`]; unset or empty means no delays.
    pub fn from_env() -> Result<Delays, String> {
        match std::env::var(DELAYS_ENV) {
            Ok(spec) => Delays::parse(&spec).map_err(|e| format!("{DELAYS_ENV}: {e}")),
            Err(std::env::VarError::NotPresent) => Ok(Delays::default()),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{DELAYS_ENV} is not UTF-8")),
        }
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    match unit {
        "us" => Some(Duration::from_micros(number)),
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        _ => None,
    }
}

/// Retry counter of a PIN or PUK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterStatus {
    pub tries_left: u8,
    pub max_tries: u8,
}

impl CounterStatus {
    pub fn blocked(&self) -> bool {
        self.tries_left == 0
    }
}

/// A key on the card, as `show` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyStatus {
    pub key_ref: u8,
    pub algorithm: KeyAlgorithm,
    pub user_consent: bool,
}

/// What `eimza-vcard show` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardStatus {
    pub family: CardFamily,
    pub serial: Vec<u8>,
    pub keys: Vec<KeyStatus>,
    pub pin: Option<CounterStatus>,
    pub puk: Option<CounterStatus>,
}

impl CardStatus {
    pub fn of_image(image: &CardImage) -> CardStatus {
        let counter = |reference| {
            image
                .pins
                .iter()
                .find(|p| p.reference == reference)
                .map(|p| CounterStatus {
                    tries_left: p.tries_left,
                    max_tries: p.max_tries,
                })
        };
        CardStatus {
            family: image.family,
            serial: image.serial.clone(),
            keys: image
                .keys
                .iter()
                .map(|k| KeyStatus {
                    key_ref: k.key_ref,
                    algorithm: k.algorithm,
                    user_consent: k.user_consent,
                })
                .collect(),
            pin: counter(PIN_REF),
            puk: counter(PUK_REF),
        }
    }
}

pub fn algorithm_name(algorithm: KeyAlgorithm) -> &'static str {
    match algorithm {
        KeyAlgorithm::Rsa2048 => "RSA-2048",
        KeyAlgorithm::Rsa3072 => "RSA-3072",
        KeyAlgorithm::P256 => "ECDSA P-256",
        KeyAlgorithm::P384 => "ECDSA P-384",
    }
}

impl std::fmt::Display for CardStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "serial: {}", hex(&self.serial))?;
        writeln!(f, "family: {}", self.family.name())?;
        for key in &self.keys {
            let consent = if key.user_consent {
                ", userConsent"
            } else {
                ""
            };
            writeln!(
                f,
                "key {:02X}: {}{consent}",
                key.key_ref,
                algorithm_name(key.algorithm)
            )?;
        }
        for (name, counter) in [("PIN", self.pin), ("PUK", self.puk)] {
            match counter {
                Some(c) => {
                    let blocked = if c.blocked() { ", BLOCKED" } else { "" };
                    writeln!(
                        f,
                        "{name}: {} of {} tries left{blocked}",
                        c.tries_left, c.max_tries
                    )?;
                }
                None => writeln!(f, "{name}: none")?,
            }
        }
        Ok(())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

struct State {
    card: Card,
    present: bool,
    powered: bool,
    stats: Stats,
    commands: CommandCounts,
    received: Vec<ReceivedCommand>,
    delays: Delays,
}

/// A software card in a virtual reader. All methods take `&self`; the card answers one
/// command at a time.
///
/// A new card is *inserted and powered*, like a card that a reader has just powered
/// up; `power_on()` is not needed before the first `transmit`.
///
/// Card state (PIN/PUK values and retry counters) is written to FILE before the card
/// answers the command that changed it; security status, selection, security
/// environment and pending response data live only in memory and are cleared by
/// `reset()`, `power_off()` and `remove()`. One process should own a card file at a time.
pub struct VirtualCard {
    /// Held for a whole card operation, including its modelled delay, so commands do not
    /// overlap; `state` is only held briefly so `is_present()` and `stats()` never wait
    /// for a slow signature.
    io: Mutex<()>,
    state: Mutex<State>,
    /// Copies of `State::present` / `State::powered`, written under the state lock: the
    /// state lock is held while a signature is computed (milliseconds for RSA), and a
    /// reader's presence query must not wait for the card's arithmetic.
    present: AtomicBool,
    powered: AtomicBool,
    file: Option<PathBuf>,
    /// Called (holding the I/O lock, not the state lock) each time a signature is
    /// computed, before its delay: tests rendezvous several cards in it to prove the
    /// module drives them at the same moment.
    signature_hook: Mutex<Option<SignatureHook>>,
}

/// See [`VirtualCard::set_signature_hook`].
pub type SignatureHook = std::sync::Arc<dyn Fn() + Send + Sync>;

impl VirtualCard {
    /// Loads a card file.
    pub fn open(path: impl AsRef<Path>) -> Result<VirtualCard, StoreError> {
        let path = path.as_ref();
        let image = store::load(path)?;
        Self::new(image, Some(path.to_path_buf()))
    }

    /// A card from an image; with `Some(path)` the image is written there now and after
    /// every change, with `None` the card lives in memory only.
    pub fn from_image(image: CardImage, file: Option<PathBuf>) -> Result<VirtualCard, StoreError> {
        // Build (and so check) the card before anything is written.
        let card = Self::new(image, file)?;
        if let Some(path) = &card.file {
            store::save(path, card.state.lock().card.image())?;
        }
        Ok(card)
    }

    fn new(image: CardImage, file: Option<PathBuf>) -> Result<VirtualCard, StoreError> {
        let card = Card::new(image, file.clone())?;
        Ok(VirtualCard {
            io: Mutex::new(()),
            state: Mutex::new(State {
                card,
                present: true,
                powered: true,
                stats: Stats::default(),
                commands: CommandCounts::default(),
                received: Vec::new(),
                delays: Delays::default(),
            }),
            present: AtomicBool::new(true),
            powered: AtomicBool::new(true),
            file,
            signature_hook: Mutex::new(None),
        })
    }

    /// Publish presence and power after a change made under the state lock.
    fn publish(&self, state: &State) {
        self.present.store(state.present, Ordering::Release);
        self.powered
            .store(state.present && state.powered, Ordering::Release);
    }

    /// The card file, if the card is persisted.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Sends one command APDU; returns `data ‖ SW1 SW2`.
    ///
    /// Returns an **empty** vector when the card is not present or not powered (what a
    /// reader sees as "no answer"; vpcd treats an empty reply as a removed card). Any
    /// bytes at all get a well-formed answer: malformed APDUs get `6700`.
    pub fn transmit(&self, apdu: &[u8]) -> Vec<u8> {
        let _io = self.io.lock();
        let (response, delay, work) = {
            let mut state = self.state.lock();
            if !state.present || !state.powered {
                return Vec::new();
            }
            let (response, work) = state.card.process(apdu);
            state.stats.apdus += 1;
            state.stats.bytes_in += apdu.len() as u64;
            state.stats.bytes_out += response.len() as u64;
            state.commands.count(apdu, work);
            if state.received.len() < MAX_RECEIVED {
                state.received.push(ReceivedCommand::of(apdu));
            }
            let delays = state.delays;
            let delay = delays.per_apdu
                + match work {
                    Work::Plain => Duration::ZERO,
                    Work::RsaSignature => delays.rsa_sign,
                    Work::EcdsaSignature => delays.ecdsa_sign,
                };
            (response, delay, work)
        };
        if work != Work::Plain {
            let hook = self.signature_hook.lock().clone();
            if let Some(hook) = hook {
                hook();
            }
        }
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        response
    }

    /// Cold reset: powers the card (if present) and returns the ATR; empty if no card.
    pub fn power_on(&self) -> Vec<u8> {
        let _io = self.io.lock();
        let mut state = self.state.lock();
        if !state.present {
            return Vec::new();
        }
        state.powered = true;
        self.publish(&state);
        state.card.reset_session();
        state.card.atr().to_vec()
    }

    /// Warm reset: same effect as `power_on` for this card.
    pub fn reset(&self) -> Vec<u8> {
        self.power_on()
    }

    /// Powers the card down; the security status is lost.
    pub fn power_off(&self) {
        let _io = self.io.lock();
        let mut state = self.state.lock();
        state.powered = false;
        self.publish(&state);
        state.card.reset_session();
    }

    /// Pulls the card out of the reader (unpowered, security status lost).
    pub fn remove(&self) {
        let mut state = self.state.lock();
        state.present = false;
        state.powered = false;
        self.publish(&state);
        state.card.reset_session();
    }

    /// Puts the card back, unpowered: call `power_on()` next, as a reader would.
    pub fn insert(&self) {
        let mut state = self.state.lock();
        if !state.present {
            state.present = true;
            state.powered = false;
            self.publish(&state);
        }
    }

    /// Never waits for a command in progress.
    pub fn is_present(&self) -> bool {
        self.present.load(Ordering::Acquire)
    }

    /// Never waits for a command in progress.
    pub fn is_powered(&self) -> bool {
        self.powered.load(Ordering::Acquire)
    }

    /// The ATR of the card's family (spec §1.1).
    pub fn atr(&self) -> Vec<u8> {
        self.state.lock().card.atr().to_vec()
    }

    pub fn family(&self) -> CardFamily {
        self.state.lock().card.image().family
    }

    pub fn serial(&self) -> Vec<u8> {
        self.state.lock().card.image().serial.clone()
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().stats
    }

    /// VERIFY and signature commands received, signatures computed.
    pub fn command_counts(&self) -> CommandCounts {
        self.state.lock().commands
    }

    /// The header of every command received since the card object was created, in
    /// order (the first [`MAX_RECEIVED`]), so a test can check exactly what a host sent.
    pub fn received(&self) -> Vec<ReceivedCommand> {
        self.state.lock().received.clone()
    }

    /// Counts one reader transaction (the module's software reader calls this in
    /// `begin`).
    pub fn note_transaction(&self) {
        self.state.lock().stats.transactions += 1;
    }

    /// A function called each time this card computes a signature (`None`: none). For
    /// tests: several cards meeting in it prove they sign at the same moment.
    pub fn set_signature_hook(&self, hook: Option<SignatureHook>) {
        *self.signature_hook.lock() = hook;
    }

    /// Delays applied from the next command on (zero when the card is created).
    pub fn set_delays(&self, delays: Delays) {
        self.state.lock().delays = delays;
    }

    /// Serial, keys and retry counters, for `show` and tests.
    pub fn status(&self) -> CardStatus {
        CardStatus::of_image(self.state.lock().card.image())
    }

    /// Whether the security status of a PIN (`0x81`) or PUK (`0x82`) is set now.
    pub fn is_verified(&self, reference: u8) -> bool {
        self.state.lock().card.is_verified(reference)
    }

    /// A copy of the card's current contents.
    pub fn image(&self) -> CardImage {
        self.state.lock().card.image().clone()
    }
}
