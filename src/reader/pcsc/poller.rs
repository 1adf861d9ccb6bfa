//! The PC/SC reader set: stable reader indices (a reader once seen keeps its place
//! and a vanished reader simply reports no card), cached states, and the blocking wait
//! for a change.
//!
//! `state()`: one `SCardListReaders` + `SCardGetStatusChange(timeout 0)` for all
//! readers, cached for [`STATE_TTL`]; never an APDU.

use super::{is_service_error, Settings};
use crate::reader::{CardChannel, Reader, ReaderError, ReaderState};
use ::pcsc::{Context, Scope, State};
use parking_lot::Mutex;
use std::ffi::CString;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

type Dword = ::pcsc::ffi::DWORD;

/// How long a cached reader state is reused.
pub const STATE_TTL: Duration = Duration::from_millis(100);

/// The PC/SC side of the system reader set.
pub struct PcscReaderSet {
    shared: Arc<Shared>,
}

struct Shared {
    /// Back link handed to readers so `state()` can refresh the whole set.
    me: Weak<Shared>,
    /// How connections behave.
    settings: Settings,
    poll: Mutex<Poll>,
    /// Context for blocking waits; cloned out of the lock so `cancel()` can reach it
    /// while a waiter is blocked.
    wait_ctx: Mutex<Option<Context>>,
    /// PnP pseudo-reader state (reader count in the upper 16 bits), `None` until synced.
    pnp_state: Mutex<Option<Dword>>,
}

struct Poll {
    ctx: Option<Context>,
    readers: Vec<Arc<PcscReader>>,
    refreshed: Option<Instant>,
}

/// One PC/SC reader.
pub struct PcscReader {
    name: String,
    cname: CString,
    cache: Mutex<Cached>,
    set: Weak<Shared>,
    settings: Settings,
}

#[derive(Default)]
struct Cached {
    state: ReaderState,
    /// Raw `dwEventState` (incl. pcsc-lite's event counter in the upper 16 bits).
    raw: Dword,
    /// In the reader list at the last refresh.
    listed: bool,
}

/// What a blocking wait on pcscd ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcscWait {
    Changed,
    TimedOut,
    Cancelled,
    /// No pcscd (or it failed): the caller sleeps instead.
    Unavailable,
}

impl PcscReaderSet {
    /// Never fails and never blocks: without pcscd the set is simply empty.
    pub fn new(settings: Settings) -> Self {
        PcscReaderSet {
            shared: Arc::new_cyclic(|me| Shared {
                me: me.clone(),
                settings,
                poll: Mutex::new(Poll {
                    ctx: None,
                    readers: Vec::new(),
                    refreshed: None,
                }),
                wait_ctx: Mutex::new(None),
                pnp_state: Mutex::new(None),
            }),
        }
    }

    /// All readers seen so far, in first-seen order (refreshed at most every TTL).
    pub fn readers(&self) -> Vec<Arc<PcscReader>> {
        self.shared.refresh_if_stale();
        self.shared.poll.lock().readers.clone()
    }

    /// The readers seen so far, without asking pcscd.
    pub fn known(&self) -> Vec<Arc<PcscReader>> {
        self.shared.poll.lock().readers.clone()
    }

    /// Block in `SCardGetStatusChange` until a reader or the reader list changes.
    pub fn wait(&self, timeout: Duration) -> PcscWait {
        self.shared.wait(timeout)
    }

    /// Interrupt a blocked [`wait`](Self::wait) (SCardCancel).
    pub fn cancel_wait(&self) {
        let ctx = self.shared.wait_ctx.lock().clone();
        if let Some(ctx) = ctx {
            let _ = ctx.cancel();
        }
    }
}

impl Shared {
    fn refresh_if_stale(&self) {
        let mut poll = self.poll.lock();
        if poll.refreshed.is_some_and(|at| at.elapsed() < STATE_TTL) {
            return;
        }
        self.refresh(&mut poll);
    }

    fn invalidate(&self) {
        self.poll.lock().refreshed = None;
    }

    fn refresh(&self, poll: &mut Poll) {
        poll.refreshed = Some(Instant::now());
        // WinSCard fails the whole status query with SCARD_E_UNKNOWN_READER when a
        // listed reader went away before it (pcsc-lite marks just that reader UNKNOWN):
        // list once more rather than report every card as gone.
        if !self.refresh_once(poll) {
            self.refresh_once(poll);
        }
    }

    /// One listing and status query; `false` when a reader vanished in between.
    fn refresh_once(&self, poll: &mut Poll) -> bool {
        let ctx = match &poll.ctx {
            Some(ctx) => ctx.clone(),
            None => match Context::establish(Scope::User) {
                Ok(ctx) => {
                    poll.ctx = Some(ctx.clone());
                    ctx
                }
                Err(_) => {
                    mark_all_unlisted(&poll.readers);
                    return true;
                }
            },
        };
        let names = match ctx.list_readers_owned() {
            Ok(names) => names,
            Err(::pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => {
                if is_service_error(e) {
                    poll.ctx = None;
                }
                mark_all_unlisted(&poll.readers);
                return true;
            }
        };
        for cname in &names {
            if !poll.readers.iter().any(|r| &r.cname == cname) {
                poll.readers.push(Arc::new(PcscReader {
                    name: cname.to_string_lossy().into_owned(),
                    cname: cname.clone(),
                    cache: Mutex::new(Cached::default()),
                    set: self.me.clone(),
                    settings: self.settings,
                }));
            }
        }
        let mut states: Vec<::pcsc::ReaderState> = names
            .iter()
            .map(|n| ::pcsc::ReaderState::new(n.clone(), State::UNAWARE))
            .collect();
        let status = if states.is_empty() {
            Ok(())
        } else {
            ctx.get_status_change(Duration::ZERO, &mut states)
        };
        if let Err(e) = status {
            if e == ::pcsc::Error::UnknownReader {
                return false;
            }
            if is_service_error(e) {
                poll.ctx = None;
            }
            mark_all_unlisted(&poll.readers);
            return true;
        }
        for reader in &poll.readers {
            match states.iter().find(|s| s.name() == reader.cname.as_c_str()) {
                Some(s) => {
                    let raw = raw_state(s);
                    let present = s.event_state().contains(State::PRESENT);
                    let atr = if present {
                        s.atr().to_vec()
                    } else {
                        Vec::new()
                    };
                    reader.update(true, raw, present, atr);
                }
                None => reader.update(false, 0, false, Vec::new()),
            }
        }
        true
    }

    fn wait(self: &Arc<Self>, timeout: Duration) -> PcscWait {
        let ctx = {
            let mut slot = self.wait_ctx.lock();
            match &*slot {
                Some(ctx) => ctx.clone(),
                None => match Context::establish(Scope::User) {
                    Ok(ctx) => {
                        *slot = Some(ctx.clone());
                        ctx
                    }
                    Err(_) => return PcscWait::Unavailable,
                },
            }
        };
        // Current states = what callers last saw through `state()` (the cache, not
        // refreshed here), so a change that happened since then returns at once.
        let readers = self.poll.lock().readers.clone();
        let mut states = Vec::new();
        for r in &readers {
            let cached = r.cache.lock();
            if cached.listed {
                let current = State::from_bits_retain(cached.raw & !State::CHANGED.bits());
                states.push(::pcsc::ReaderState::new(r.cname.clone(), current));
            }
        }
        let pnp_known = *self.pnp_state.lock();
        let pnp_current = match pnp_known {
            Some(raw) => raw,
            None => {
                let mut probe = [::pcsc::ReaderState::new(
                    ::pcsc::PNP_NOTIFICATION(),
                    State::UNAWARE,
                )];
                match ctx.get_status_change(Duration::ZERO, &mut probe) {
                    Ok(()) => {
                        let raw = raw_state(&probe[0]);
                        *self.pnp_state.lock() = Some(raw);
                        raw
                    }
                    Err(e) => return self.wait_failed(e),
                }
            }
        };
        states.push(::pcsc::ReaderState::new(
            ::pcsc::PNP_NOTIFICATION(),
            State::from_bits_retain(pnp_current & !State::CHANGED.bits()),
        ));
        match ctx.get_status_change(timeout, &mut states) {
            Ok(()) => {
                if let Some(pnp) = states.last() {
                    *self.pnp_state.lock() = Some(raw_state(pnp));
                }
                self.invalidate();
                PcscWait::Changed
            }
            Err(::pcsc::Error::Timeout) => PcscWait::TimedOut,
            Err(::pcsc::Error::Cancelled) => PcscWait::Cancelled,
            // WinSCard: a reader in the list went away (before or during the wait).
            Err(::pcsc::Error::UnknownReader) => {
                self.invalidate();
                PcscWait::Changed
            }
            Err(e) => self.wait_failed(e),
        }
    }

    fn wait_failed(&self, e: ::pcsc::Error) -> PcscWait {
        if is_service_error(e) {
            *self.wait_ctx.lock() = None;
            *self.pnp_state.lock() = None;
        }
        PcscWait::Unavailable
    }
}

/// Event state including pcsc-lite's event counter (upper 16 bits), as pcsc-lite
/// expects it back in `dwCurrentState`.
fn raw_state(s: &::pcsc::ReaderState) -> Dword {
    s.event_state().bits() | (Dword::from(s.event_count()) << 16)
}

fn mark_all_unlisted(readers: &[Arc<PcscReader>]) {
    for r in readers {
        r.update(false, 0, false, Vec::new());
    }
}

impl PcscReader {
    /// A worker connection with stepwise transactions (tests drive them).
    pub fn open_stepped(&self) -> Result<impl crate::reader::SteppedChannel, ReaderError> {
        super::worker::WorkerChannel::open(self.cname.clone(), self.settings.card_wait)
    }

    /// The state as last seen, without asking pcscd.
    pub fn cached_state(&self) -> ReaderState {
        self.cache.lock().state.clone()
    }

    fn update(&self, listed: bool, raw: Dword, present: bool, atr: Vec<u8>) {
        let mut c = self.cache.lock();
        let old_count = c.raw >> 16;
        let new_count = raw >> 16;
        // pcsc-lite counts insertions and removals; compare it too so a swap between
        // two polls is still seen.
        let swapped = c.listed && listed && old_count != new_count;
        // Without an event counter (not pcsc-lite) a changed ATR is the only sign of a
        // swap. pcsc-lite's counter is reliable, and its ATR is not while it powers a
        // card up (for a moment it reports 33 bytes, zero-padded): ignore it there.
        let new_atr = new_count == 0 && present && !atr.is_empty() && c.state.atr != atr;
        if c.state.present != present || swapped || new_atr {
            c.state.insertions += 1;
            crate::log_at!(
                crate::log::Level::Trace,
                "reader '{}': state {:#010x} -> {raw:#010x} (present {present}, atr {}, change {})",
                self.name,
                c.raw,
                crate::log::hex(&atr),
                c.state.insertions
            );
        }
        let was_present = c.state.present;
        c.state.present = present;
        if !present || (!atr.is_empty() && (!was_present || new_count == 0 || swapped)) {
            c.state.atr = atr;
        }
        c.raw = raw;
        c.listed = listed;
    }
}

impl Reader for PcscReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_hardware(&self) -> bool {
        true
    }

    fn state(&self) -> ReaderState {
        if let Some(set) = self.set.upgrade() {
            set.refresh_if_stale();
        }
        self.cache.lock().state.clone()
    }

    /// A worker connection when threads are allowed, else one on the calling thread.
    fn connect(&self) -> Result<Box<dyn CardChannel>, ReaderError> {
        if self.settings.threads {
            let channel =
                super::worker::WorkerChannel::open(self.cname.clone(), self.settings.card_wait)?;
            Ok(Box::new(channel))
        } else {
            Ok(Box::new(super::direct::DirectChannel::open(&self.cname)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> PcscReader {
        PcscReader {
            name: "test reader".into(),
            cname: CString::new("test reader").unwrap(),
            cache: Mutex::new(Cached::default()),
            set: Weak::new(),
            settings: Settings::default(),
        }
    }

    const ATR: [u8; 3] = [0x3B, 0x9F, 0x96];
    const PRESENT: Dword = 0x22;
    const EMPTY: Dword = 0x12;

    fn changes(r: &PcscReader) -> u64 {
        r.cached_state().insertions
    }

    #[test]
    fn pcsc_lite_powering_up_a_card_is_no_event() {
        let r = reader();
        r.update(true, PRESENT | 1 << 16, true, ATR.to_vec());
        let seen = changes(&r);
        // pcsc-lite reports MAX_ATR_SIZE zero-padded bytes while it powers the card.
        let mut padded = ATR.to_vec();
        padded.resize(33, 0);
        r.update(true, PRESENT | 1 << 16, true, padded);
        r.update(true, PRESENT | 1 << 16, true, Vec::new());
        assert_eq!(changes(&r), seen);
        assert_eq!(r.cached_state().atr, ATR.to_vec());
    }

    #[test]
    fn removal_insertion_and_a_swap_between_polls_are_events() {
        let r = reader();
        r.update(true, PRESENT | 1 << 16, true, ATR.to_vec());
        let first = changes(&r);
        r.update(true, EMPTY | 2 << 16, false, Vec::new());
        assert_eq!(changes(&r), first + 1);
        r.update(true, PRESENT | 3 << 16, true, ATR.to_vec());
        assert_eq!(changes(&r), first + 2);
        // Pulled and another card inserted between two polls: only the counter moved.
        r.update(true, PRESENT | 5 << 16, true, ATR.to_vec());
        assert_eq!(changes(&r), first + 3);
    }

    #[test]
    fn without_an_event_counter_a_new_atr_is_a_swap() {
        let r = reader();
        r.update(true, PRESENT, true, ATR.to_vec());
        let first = changes(&r);
        r.update(true, PRESENT, true, vec![0x3B, 0x00]);
        assert_eq!(changes(&r), first + 1);
    }
}
