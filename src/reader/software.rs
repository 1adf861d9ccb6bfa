//! In-process software cards (development builds, the `software-card` feature):
//! `EIMZA_VIRTUAL_CARD=FILE[:FILE...]`, one reader per file, listed after the PC/SC
//! readers. Safe code only: like everything outside `ffi`.
//!
//! The reader talks to the card through the small [`SoftCard`] trait so the reader
//! logic (presence, insertion counting, reset detection, transaction exclusivity) is
//! independent of the card runtime and testable with a stand-in.

use super::{CardChannel, Reader, ReaderError, ReaderState, SteppedChannel};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait for another connection's transaction on the same software card.
const BEGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the software reader needs from a card runtime.
pub trait SoftCard: Send + Sync {
    /// One APDU in, data ‖ SW out.
    fn transmit(&self, apdu: &[u8]) -> Vec<u8>;
    /// Warm reset (security state gone).
    fn reset(&self);
    fn is_present(&self) -> bool;
    fn atr(&self) -> Vec<u8>;
    /// Count a PC/SC-style transaction (instrumentation).
    fn note_transaction(&self);
    /// Monotonic count of resets/power cycles, from whoever caused them.
    fn reset_count(&self) -> u64;
    /// Monotonic count of insertions (so a swap between two polls is seen).
    fn insertion_count(&self) -> u64;
    /// Some security status (a verified PIN/PUK) is set on the card. Lets a channel
    /// notice that another user of the card reset it or logged out between two of its
    /// transactions, even without a reset counter.
    fn has_security_state(&self) -> bool {
        false
    }
}

/// Transaction lock shared by every connection to one software card.
#[derive(Default)]
struct Exclusive {
    busy: Mutex<bool>,
    freed: Condvar,
}

impl Exclusive {
    fn acquire(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut busy = self.busy.lock();
        while *busy {
            if self.freed.wait_until(&mut busy, deadline).timed_out() && *busy {
                return false;
            }
        }
        *busy = true;
        true
    }

    fn release(&self) {
        *self.busy.lock() = false;
        self.freed.notify_one();
    }
}

/// One software card slot. `card` is `None` when the file could not be opened: the
/// slot then exists but never has a token.
pub struct SoftwareReader {
    name: String,
    card: Option<Arc<dyn SoftCard>>,
    lock: Arc<Exclusive>,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    present: bool,
    card_insertions: u64,
    insertions: u64,
}

impl SoftwareReader {
    pub fn new(name: String, card: Option<Arc<dyn SoftCard>>) -> Self {
        SoftwareReader {
            name,
            card,
            lock: Arc::new(Exclusive::default()),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The card behind this slot (tests drive removal and resets through it).
    pub fn card(&self) -> Option<&Arc<dyn SoftCard>> {
        self.card.as_ref()
    }
}

impl Reader for SoftwareReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_hardware(&self) -> bool {
        false
    }

    fn state(&self) -> ReaderState {
        let Some(card) = &self.card else {
            return ReaderState::default();
        };
        let present = card.is_present();
        let card_insertions = card.insertion_count();
        let mut seen = self.seen.lock();
        if seen.present != present || seen.card_insertions != card_insertions {
            seen.insertions += 1;
        }
        seen.present = present;
        seen.card_insertions = card_insertions;
        ReaderState {
            present,
            atr: if present { card.atr() } else { Vec::new() },
            insertions: seen.insertions,
        }
    }

    fn connect(&self) -> Result<Box<dyn CardChannel>, ReaderError> {
        Ok(Box::new(self.open()?))
    }
}

impl SoftwareReader {
    /// A connection to the card, with stepwise transactions (tests drive them).
    pub fn open(&self) -> Result<SoftwareChannel, ReaderError> {
        let Some(card) = &self.card else {
            return Err(ReaderError::NoCard);
        };
        if !card.is_present() {
            return Err(ReaderError::NoCard);
        }
        Ok(SoftwareChannel {
            card: card.clone(),
            lock: self.lock.clone(),
            insertion: card.insertion_count(),
            resets: card.reset_count(),
            atr: card.atr(),
            in_transaction: false,
            secured_at_end: card.has_security_state(),
        })
    }
}

/// A connection to a software card; behaves like a PC/SC handle: a removed (or
/// swapped) card makes it permanently `Removed`, a reset by someone else is reported
/// once by `begin()`.
pub struct SoftwareChannel {
    card: Arc<dyn SoftCard>,
    lock: Arc<Exclusive>,
    insertion: u64,
    resets: u64,
    atr: Vec<u8>,
    in_transaction: bool,
    /// Security status was set when our last transaction ended.
    secured_at_end: bool,
}

impl SoftwareChannel {
    fn check_card(&self) -> Result<(), ReaderError> {
        if !self.card.is_present() || self.card.insertion_count() != self.insertion {
            return Err(ReaderError::Removed);
        }
        Ok(())
    }
}

impl SteppedChannel for SoftwareChannel {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        self.check_card()?;
        if !self.in_transaction {
            if !self.lock.acquire(BEGIN_TIMEOUT) {
                return Err(ReaderError::Timeout);
            }
            self.in_transaction = true;
        }
        // The card may have gone while we waited.
        if let Err(e) = self.check_card() {
            self.end();
            return Err(e);
        }
        self.card.note_transaction();
        let resets = self.card.reset_count();
        // Security status gone since our last transaction: someone reset the card or
        // logged it out; either way our login is lost, exactly what a reset means here.
        let security_lost = self.secured_at_end && !self.card.has_security_state();
        let reset_seen = resets != self.resets || security_lost;
        self.resets = resets;
        if reset_seen {
            self.atr = self.card.atr();
        }
        Ok(reset_seen)
    }

    fn end(&mut self) {
        if self.in_transaction {
            self.secured_at_end = self.card.has_security_state();
            self.in_transaction = false;
            self.lock.release();
        }
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        self.check_card()?;
        Ok(self.card.transmit(apdu))
    }

    fn reset(&mut self) -> Result<(), ReaderError> {
        self.check_card()?;
        self.card.reset();
        // Our own reset is not "someone else's".
        self.resets = self.card.reset_count();
        self.atr = self.card.atr();
        Ok(())
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }
}

impl Drop for SoftwareChannel {
    fn drop(&mut self) {
        self.end();
    }
}

/// One reader per file of `EIMZA_VIRTUAL_CARD` (the configuration's software cards),
/// each card timed by `EIMZA_VCARD_DELAYS` (a bad value means no delays). A file that
/// cannot be opened gives an empty slot.
pub fn readers(config: &crate::config::Config) -> Vec<Arc<SoftwareReader>> {
    let delays = config
        .card_delays
        .as_deref()
        .and_then(|spec| virtual_card::Delays::parse(spec).ok())
        .unwrap_or_default();
    config
        .software_cards
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let card = software_card(&path.to_string_lossy()).map(|c| {
                c.card().set_delays(delays);
                c as Arc<dyn SoftCard>
            });
            Arc::new(SoftwareReader::new(
                format!("eimza software card {i}"),
                card,
            ))
        })
        .collect()
}

/// Cards opened by this process, by file: while a card object is in use (a reader
/// set or a test holds it) the same file gives the same object, so a card file has one
/// owner per process. Once nobody else holds it, the next use opens the file again
/// (it may have been re-created since, e.g. by `eimza-vcard create --force`).
static OPENED: Mutex<Vec<(String, Arc<VirtualSoftCard>)>> = Mutex::new(Vec::new());

/// The software card of `path` (opened on first use); `None` if it cannot be opened.
/// Tests use it to remove, insert or reset the card under a running module.
pub fn software_card(path: &str) -> Option<Arc<VirtualSoftCard>> {
    let mut opened = OPENED.lock();
    opened.retain(|(_, card)| Arc::strong_count(card) > 1);
    if let Some((_, card)) = opened.iter().find(|(p, _)| p == path) {
        return Some(card.clone());
    }
    let card = Arc::new(VirtualSoftCard::new(
        virtual_card::VirtualCard::open(path).ok()?,
    ));
    opened.push((path.to_owned(), card.clone()));
    Some(card)
}

/// A `virtual_card::VirtualCard` in a reader: the reader powers a newly inserted card
/// (as pcscd does) and counts insertions and the resets made through it.
pub struct VirtualSoftCard {
    card: virtual_card::VirtualCard,
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    insertions: u64,
    resets: u64,
}

impl VirtualSoftCard {
    pub fn new(card: virtual_card::VirtualCard) -> Self {
        VirtualSoftCard {
            card,
            counters: Mutex::new(Counters::default()),
        }
    }

    /// The card itself (remove/insert/stats/...).
    pub fn card(&self) -> &virtual_card::VirtualCard {
        &self.card
    }

    /// A present but unpowered card was just inserted (or powered off by someone):
    /// power it like a reader would; its state is new, so count an insertion.
    fn settle(&self) -> parking_lot::MutexGuard<'_, Counters> {
        let mut counters = self.counters.lock();
        if self.card.is_present() && !self.card.is_powered() {
            self.card.power_on();
            counters.insertions += 1;
        }
        counters
    }
}

impl SoftCard for VirtualSoftCard {
    fn transmit(&self, apdu: &[u8]) -> Vec<u8> {
        self.card.transmit(apdu)
    }
    fn reset(&self) {
        let mut counters = self.settle();
        self.card.reset();
        counters.resets += 1;
    }
    fn is_present(&self) -> bool {
        self.card.is_present()
    }
    fn atr(&self) -> Vec<u8> {
        self.card.atr()
    }
    fn note_transaction(&self) {
        self.card.note_transaction();
    }
    fn reset_count(&self) -> u64 {
        self.settle().resets
    }
    fn insertion_count(&self) -> u64 {
        self.settle().insertions
    }
    fn has_security_state(&self) -> bool {
        self.card.is_verified(0x81) || self.card.is_verified(0x82)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// A stand-in card: answers every APDU with `90 00` and counts things.
    #[derive(Default)]
    pub(crate) struct FakeCard {
        pub present: AtomicBool,
        pub resets: AtomicU64,
        pub insertions: AtomicU64,
        pub transactions: AtomicU64,
    }

    impl FakeCard {
        pub fn inserted() -> Arc<Self> {
            let c = FakeCard::default();
            c.present.store(true, Ordering::SeqCst);
            Arc::new(c)
        }
        pub fn remove(&self) {
            self.present.store(false, Ordering::SeqCst);
        }
        pub fn insert(&self) {
            self.present.store(true, Ordering::SeqCst);
            self.insertions.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl SoftCard for FakeCard {
        fn transmit(&self, _apdu: &[u8]) -> Vec<u8> {
            vec![0x90, 0x00]
        }
        fn reset(&self) {
            self.resets.fetch_add(1, Ordering::SeqCst);
        }
        fn is_present(&self) -> bool {
            self.present.load(Ordering::SeqCst)
        }
        fn atr(&self) -> Vec<u8> {
            vec![0x3B, 0x00]
        }
        fn note_transaction(&self) {
            self.transactions.fetch_add(1, Ordering::SeqCst);
        }
        fn reset_count(&self) -> u64 {
            self.resets.load(Ordering::SeqCst)
        }
        fn insertion_count(&self) -> u64 {
            self.insertions.load(Ordering::SeqCst)
        }
    }

    fn reader(card: &Arc<FakeCard>) -> SoftwareReader {
        SoftwareReader::new("soft".into(), Some(card.clone() as Arc<dyn SoftCard>))
    }

    #[test]
    fn presence_and_insertions_follow_the_card() {
        let card = FakeCard::inserted();
        let r = reader(&card);
        let s0 = r.state();
        assert!(s0.present);
        assert_eq!(s0.atr, [0x3B, 0x00]);
        card.remove();
        let s1 = r.state();
        assert!(!s1.present);
        assert!(s1.atr.is_empty());
        assert_ne!(s1.insertions, s0.insertions);
        card.insert();
        let s2 = r.state();
        assert!(s2.present);
        assert_ne!(s2.insertions, s1.insertions);
        // Swap between two polls: present both times, still a new insertion.
        card.remove();
        card.insert();
        let s3 = r.state();
        assert!(s3.present);
        assert_ne!(s3.insertions, s2.insertions);
        assert_eq!(r.state().insertions, s3.insertions, "stable without events");
    }

    #[test]
    fn missing_card_file_is_an_empty_slot() {
        let r = SoftwareReader::new("soft".into(), None);
        assert!(!r.state().present);
        assert_eq!(r.connect().err(), Some(ReaderError::NoCard));
    }

    #[test]
    fn connect_needs_a_card() {
        let card = FakeCard::inserted();
        card.remove();
        assert_eq!(reader(&card).connect().err(), Some(ReaderError::NoCard));
    }

    #[test]
    fn begin_reports_foreign_reset_once_and_counts_transactions() {
        let card = FakeCard::inserted();
        let r = reader(&card);
        let mut ch = r.open().expect("connect");
        assert_eq!(ch.begin(), Ok(false));
        ch.end();
        card.reset();
        assert_eq!(ch.begin(), Ok(true));
        ch.end();
        assert_eq!(ch.begin(), Ok(false));
        ch.end();
        // Our own reset is not reported.
        ch.reset().expect("reset");
        assert_eq!(ch.begin(), Ok(false));
        ch.end();
        assert_eq!(card.transactions.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn removal_and_swap_make_the_channel_removed() {
        let card = FakeCard::inserted();
        let r = reader(&card);
        let mut ch = r.open().expect("connect");
        card.remove();
        assert_eq!(ch.begin(), Err(ReaderError::Removed));
        assert_eq!(ch.transmit(&[0, 0xA4, 0, 0]), Err(ReaderError::Removed));
        card.insert();
        // A different (re-inserted) card: the old connection stays dead.
        assert_eq!(ch.begin(), Err(ReaderError::Removed));
        let mut ch2 = r.open().expect("reconnect");
        assert_eq!(ch2.begin(), Ok(false));
        assert_eq!(ch2.transmit(&[0, 0xA4, 0, 0]), Ok(vec![0x90, 0x00]));
        ch2.end();
    }

    #[test]
    fn transactions_are_exclusive_between_connections() {
        let card = FakeCard::inserted();
        let r = Arc::new(reader(&card));
        let mut a = r.open().expect("a");
        let mut b = r.open().expect("b");
        assert_eq!(a.begin(), Ok(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let got = b.begin();
            tx.send(()).ok();
            b.end();
            got
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "second begin must wait"
        );
        a.end();
        assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
        assert_eq!(t.join().ok(), Some(Ok(false)));
        // A dropped channel releases its transaction.
        assert_eq!(a.begin(), Ok(false));
        drop(a);
        let mut c = r.open().expect("c");
        assert_eq!(c.begin(), Ok(false));
        c.end();
    }
}
