//! Readers: PC/SC readers through the `pcsc` crate, and (development builds with the
//! `software-card` feature only) in-process software cards
//! (`EIMZA_VIRTUAL_CARD=FILE[:FILE...]`).

pub mod pcsc;
#[cfg(feature = "software-card")]
pub mod software;

use crate::config::Config;
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why talking to a reader failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderError {
    /// No card in the reader.
    NoCard,
    /// The card was removed (or replaced) since we connected.
    Removed,
    /// Waiting for exclusive access to the card took longer than allowed.
    Timeout,
    /// The reader itself disappeared or PC/SC failed.
    Io(String),
}

/// What the module knows about a reader without talking to the card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReaderState {
    pub present: bool,
    pub atr: Vec<u8>,
    /// Changes on every insertion/removal seen (PC/SC event counter or our own).
    pub insertions: u64,
}

/// One card reader; one PKCS#11 slot.
pub trait Reader: Send + Sync {
    /// Stable reader name (slot description).
    fn name(&self) -> &str;
    /// Hardware slot (PC/SC) or software card.
    fn is_hardware(&self) -> bool;
    /// Current state; never sends an APDU (may ask pcscd, which does not touch the card).
    fn state(&self) -> ReaderState;
    /// Open a connection (shared mode). No APDU.
    fn connect(&self) -> Result<Box<dyn CardChannel>, ReaderError>;
}

/// What one transaction sends through: the link to the card while it is held.
pub trait Link {
    /// Send one APDU, return data ‖ SW1 SW2.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;
    /// Reset the card, staying in the transaction (the LOGOUT fallback).
    fn reset(&mut self) -> Result<(), ReaderError>;
    /// ATR of the card (read again after a reset).
    fn atr(&self) -> &[u8];
}

/// A connection to one card. Transactions are scoped: the card is held exactly while
/// `body` runs, and released however it ends (also when it panics), so no transaction
/// can be left open and no worker is needed to hold one (pkcs11-spec.md §3.6).
pub trait CardChannel: Send {
    /// Run `body` inside one exclusive transaction. Its flag says the card was reset by
    /// someone else since this connection's previous transaction (the connection has
    /// already reconnected; the card's security state is gone).
    fn transaction(&mut self, body: &mut dyn FnMut(&mut dyn Link, bool))
        -> Result<(), ReaderError>;
    /// ATR of the connected card.
    fn atr(&self) -> &[u8];
}

/// A connection whose transactions begin and end in separate calls (the software card,
/// the PC/SC worker connection, test doubles). Every one is a [`CardChannel`].
pub trait SteppedChannel: Send {
    /// Start an exclusive transaction: `Ok(true)` if the card was reset by someone else
    /// since the last transaction.
    fn begin(&mut self) -> Result<bool, ReaderError>;
    /// End the transaction (leave the card as it is).
    fn end(&mut self);
    /// Send one APDU, return data ‖ SW1 SW2.
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError>;
    /// Reset the card.
    fn reset(&mut self) -> Result<(), ReaderError>;
    /// ATR of the connected card.
    fn atr(&self) -> &[u8];
}

/// Ends a stepped transaction on every way out of its body.
struct EndOnDrop<'a, C: SteppedChannel>(&'a mut C);

impl<C: SteppedChannel> Drop for EndOnDrop<'_, C> {
    fn drop(&mut self) {
        self.0.end();
    }
}

impl<C: SteppedChannel> Link for EndOnDrop<'_, C> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        self.0.transmit(apdu)
    }
    fn reset(&mut self) -> Result<(), ReaderError> {
        self.0.reset()
    }
    fn atr(&self) -> &[u8] {
        self.0.atr()
    }
}

impl<C: SteppedChannel> CardChannel for C {
    fn transaction(
        &mut self,
        body: &mut dyn FnMut(&mut dyn Link, bool),
    ) -> Result<(), ReaderError> {
        let reset_seen = self.begin()?;
        let mut held = EndOnDrop(self);
        body(&mut held, reset_seen);
        Ok(())
    }

    fn atr(&self) -> &[u8] {
        SteppedChannel::atr(self)
    }
}

/// All readers the module sees: PC/SC readers first, then software cards.
pub trait ReaderSet: Send + Sync {
    /// Current readers; a reader once listed keeps its index for the life of the set.
    fn readers(&self) -> Vec<Arc<dyn Reader>>;
    /// Block until some reader's state changes or `timeout` passes; `false` on timeout.
    /// Must return promptly (≤ 100 ms) after `cancel()`.
    fn wait_for_change(&self, timeout: Duration) -> bool;
    /// Wake all waiters (C_Finalize).
    fn cancel(&self);
}

/// The readers of this process per its configuration: PC/SC readers (if on, and if
/// pcscd is reachable; none otherwise), then, in development builds, one software card
/// per `EIMZA_VIRTUAL_CARD` file. Creating it sends no APDU and must not fail when
/// pcscd is absent.
pub fn system_reader_set(config: &Config) -> Arc<dyn ReaderSet> {
    let pcsc = config.pcsc.then_some(pcsc::Settings {
        card_wait: config.card_wait,
        threads: config.threads,
    });
    Arc::new(SystemReaderSet::new(pcsc, software_readers(config)))
}

#[cfg(feature = "software-card")]
fn software_readers(config: &Config) -> Vec<Arc<dyn Reader>> {
    software::readers(config)
        .into_iter()
        .map(|r| r as Arc<dyn Reader>)
        .collect()
}

/// A build without the software card has none: `EIMZA_VIRTUAL_CARD` means nothing to
/// it (the variable's name is not even in the shipped module; CI checks that).
#[cfg(not(feature = "software-card"))]
fn software_readers(_config: &Config) -> Vec<Arc<dyn Reader>> {
    Vec::new()
}

/// While software readers exist their presence is polled at this interval during
/// `wait_for_change` (a software card has no event source).
const SOFTWARE_POLL: Duration = Duration::from_millis(200);
/// Without pcscd, retry reaching it at this interval while waiting.
const PCSC_RETRY: Duration = Duration::from_secs(1);
/// Pause after a wake-up that changed nothing we report (e.g. pcscd's INUSE flag),
/// so a flapping flag cannot turn the wait into a busy loop.
const SPURIOUS_PAUSE: Duration = Duration::from_millis(50);

/// PC/SC readers followed by software readers, with stable indices: the list only
/// grows, and a PC/SC reader that appears later is appended after the software ones.
/// Software readers have no event source: their state is polled while waiting.
pub struct SystemReaderSet {
    pcsc: Option<pcsc::PcscReaderSet>,
    software: Vec<Arc<dyn Reader>>,
    placed: Mutex<Placed>,
    cancel: Mutex<CancelState>,
    woken: Condvar,
}

#[derive(Default)]
struct Placed {
    list: Vec<Arc<dyn Reader>>,
    pcsc_count: usize,
    software_placed: bool,
}

#[derive(Default)]
struct CancelState {
    generation: u64,
    /// Generation each active waiter started in.
    waiters: Vec<u64>,
}

impl SystemReaderSet {
    /// `pcsc: None` gives a set of software readers only (tests).
    pub fn new(pcsc: Option<pcsc::Settings>, software: Vec<Arc<dyn Reader>>) -> Self {
        SystemReaderSet {
            pcsc: pcsc.map(pcsc::PcscReaderSet::new),
            software,
            placed: Mutex::new(Placed::default()),
            cancel: Mutex::new(CancelState::default()),
            woken: Condvar::new(),
        }
    }

    /// Presence and insertion count per reader name. `fresh: false` uses the PC/SC
    /// states as callers last saw them (no pcscd round trip), so a change that happened
    /// after they looked still counts as a change.
    fn snapshot(&self, fresh: bool) -> Vec<(String, bool, u64)> {
        let mut out = Vec::new();
        if let Some(p) = &self.pcsc {
            let readers = if fresh { p.readers() } else { p.known() };
            for r in readers {
                let s = if fresh { r.state() } else { r.cached_state() };
                out.push((r.name().to_owned(), s.present, s.insertions));
            }
        }
        for r in &self.software {
            let s = r.state();
            out.push((r.name().to_owned(), s.present, s.insertions));
        }
        out
    }

    fn register_waiter(&self) -> u64 {
        let mut st = self.cancel.lock();
        let generation = st.generation;
        st.waiters.push(generation);
        generation
    }

    fn unregister_waiter(&self, generation: u64) {
        let mut st = self.cancel.lock();
        if let Some(i) = st.waiters.iter().position(|g| *g == generation) {
            st.waiters.swap_remove(i);
        }
    }

    fn cancelled_since(&self, generation: u64) -> bool {
        self.cancel.lock().generation != generation
    }

    /// Sleep up to `d`, woken early by `cancel()`.
    fn sleep(&self, d: Duration, generation: u64) {
        let mut st = self.cancel.lock();
        if st.generation == generation {
            let _ = self.woken.wait_for(&mut st, d);
        }
    }
}

impl ReaderSet for SystemReaderSet {
    fn readers(&self) -> Vec<Arc<dyn Reader>> {
        let pcsc_now = self.pcsc.as_ref().map(|p| p.readers()).unwrap_or_default();
        let mut placed = self.placed.lock();
        // The PC/SC set is append-only, so new readers are at its end.
        let first_new = placed.pcsc_count.min(pcsc_now.len());
        for r in &pcsc_now[first_new..] {
            placed.list.push(r.clone() as Arc<dyn Reader>);
        }
        placed.pcsc_count = pcsc_now.len();
        if !placed.software_placed {
            placed.software_placed = true;
            placed.list.extend(self.software.iter().cloned());
        }
        placed.list.clone()
    }

    fn wait_for_change(&self, timeout: Duration) -> bool {
        let generation = self.register_waiter();
        let deadline = Instant::now() + timeout;
        let before = self.snapshot(false);
        let changed = loop {
            if self.cancelled_since(generation) {
                break false;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break false;
            }
            let slice = if self.software.is_empty() {
                remaining
            } else {
                remaining.min(SOFTWARE_POLL)
            };
            let outcome = match &self.pcsc {
                Some(p) => p.wait(slice),
                None => pcsc::PcscWait::Unavailable,
            };
            if self.cancelled_since(generation) {
                break false;
            }
            if outcome == pcsc::PcscWait::Unavailable {
                self.sleep(slice.min(PCSC_RETRY), generation);
            }
            if self.snapshot(true) != before {
                break true;
            }
            if outcome == pcsc::PcscWait::Changed {
                self.sleep(SPURIOUS_PAUSE.min(remaining), generation);
            }
        };
        self.unregister_waiter(generation);
        changed
    }

    fn cancel(&self) {
        let generation = {
            let mut st = self.cancel.lock();
            st.generation += 1;
            st.generation
        };
        self.woken.notify_all();
        // SCardCancel only interrupts a call already in progress; repeat it until every
        // waiter from before this cancel has left (each re-checks the generation).
        let give_up = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(p) = &self.pcsc {
                p.cancel_wait();
            }
            let pending = self.cancel.lock().waiters.iter().any(|g| *g < generation);
            if !pending || Instant::now() > give_up {
                break;
            }
            self.woken.notify_all();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(all(test, feature = "software-card"))]
mod tests {
    use super::software::tests::FakeCard;
    use super::software::{SoftCard, SoftwareReader};
    use super::*;

    fn soft_set(cards: &[Arc<FakeCard>]) -> SystemReaderSet {
        let readers = cards
            .iter()
            .enumerate()
            .map(|(i, c)| {
                Arc::new(SoftwareReader::new(
                    format!("soft {i}"),
                    Some(c.clone() as Arc<dyn SoftCard>),
                )) as Arc<dyn Reader>
            })
            .collect();
        SystemReaderSet::new(None, readers)
    }

    #[test]
    fn software_readers_listed_in_order_and_stable() {
        let cards = [FakeCard::inserted(), FakeCard::inserted()];
        let set = soft_set(&cards);
        let names: Vec<String> = set.readers().iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(names, ["soft 0", "soft 1"]);
        cards[0].remove();
        let again: Vec<String> = set.readers().iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(again, names);
        assert!(!set.readers()[0].state().present);
        assert!(!set.readers()[0].is_hardware());
    }

    #[test]
    fn wait_times_out_without_change() {
        let cards = [FakeCard::inserted()];
        let set = soft_set(&cards);
        let t = Instant::now();
        assert!(!set.wait_for_change(Duration::from_millis(300)));
        assert!(t.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn wait_sees_removal() {
        let cards = [FakeCard::inserted()];
        let set = Arc::new(soft_set(&cards));
        let card = cards[0].clone();
        let remover = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            card.remove();
        });
        let t = Instant::now();
        assert!(set.wait_for_change(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(2));
        remover.join().ok();
    }

    #[test]
    fn cancel_releases_a_blocked_wait_promptly() {
        for software in [true, false] {
            let cards = if software {
                vec![FakeCard::inserted()]
            } else {
                vec![]
            };
            let set = Arc::new(soft_set(&cards));
            let waiter = {
                let set = set.clone();
                std::thread::spawn(move || {
                    let t = Instant::now();
                    let changed = set.wait_for_change(Duration::from_secs(30));
                    (changed, t.elapsed())
                })
            };
            std::thread::sleep(Duration::from_millis(100));
            let t = Instant::now();
            set.cancel();
            let (changed, _) = waiter.join().expect("waiter");
            assert!(!changed);
            assert!(
                t.elapsed() < Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
            // Not sticky: a later wait blocks again until its timeout.
            assert!(!set.wait_for_change(Duration::from_millis(50)));
        }
    }

    #[test]
    fn system_set_without_pcscd_is_empty_and_fast() {
        // The test machine may or may not run pcscd; either way creating and listing
        // must be quick and must not fail.
        let t = Instant::now();
        let set = SystemReaderSet::new(Some(pcsc::Settings::default()), Vec::new());
        let _ = set.readers();
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
