//! A slot: one reader, the token of the card in it (bound on first need after an
//! insertion and cached), and the connection to that card with the card I/O
//! discipline (pkcs11-spec.md §2.3, §2.8, §2.9).
//!
//! Locking: `Slot::card` is the per-slot card lock and the only lock held across card
//! I/O. Everything polled (slot info, token info, session info) reads `Slot::token` and
//! `Token::live`, each held only for a few instructions, so polling never waits for a
//! signature in progress.

use crate::card::{BindCache, Card, CardError};
use crate::error::{card_rv, reader_rv};
use crate::log::Level;
use crate::log_at;
use crate::object::build_objects;
use crate::reader::{Reader, ReaderError, ReaderState};
use crate::token::{pad, Login, Token, MANUFACTURER};
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handles stay below 2^31 (some applications keep them in signed 32-bit ints).
pub(crate) const HANDLE_LIMIT: u64 = 0x7FFF_FFFF;

/// Object handles are unique for the life of the process, so a handle from a removed
/// card never names an object of the next one.
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);
static NEXT_TOKEN_SERIAL: AtomicU64 = AtomicU64::new(1);

fn next_object_handle() -> CK_OBJECT_HANDLE {
    let h = NEXT_OBJECT.fetch_add(1, Ordering::Relaxed);
    // Wrapping after two billion objects is acceptable: stale handles that old are gone.
    ((h - 1) % HANDLE_LIMIT + 1) as CK_OBJECT_HANDLE
}

/// How long a failed bind is answered from memory before the card is read again.
const BIND_RETRY_AFTER: Duration = Duration::from_secs(3);

/// After an exchange broke without a status word (or a PC/SC I/O error), how long to
/// wait for pcscd to report the card gone. A card pulled mid-APDU reaches us as such a
/// failure first; pcscd's removal event follows within its polling period (~0.5 s with
/// vpcd), and the caller must then get CKR_DEVICE_REMOVED, not CKR_DEVICE_ERROR.
const REMOVAL_SETTLE: Duration = Duration::from_millis(1500);

enum TokenSlot {
    Empty,
    /// The card of this insertion is not ours: answer without talking to it again.
    Unrecognized(u64),
    /// Binding this insertion failed: polling applications (NSS asks every second)
    /// get the same answer for a while instead of a card read each time.
    Failed {
        insertions: u64,
        rv: CK_RV,
        at: Instant,
    },
    Bound(Arc<Token>),
}

/// Whether `reader` reports the card of insertion `insertions` gone within `settle`.
fn removed_within(reader: &dyn Reader, insertions: u64, settle: Duration) -> bool {
    let deadline = Instant::now() + settle;
    loop {
        let state = reader.state();
        if !state.present || state.insertions != insertions {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct CardConn {
    card: Option<Card>,
    insertions: u64,
    reset_epoch: u64,
}

pub struct Slot {
    pub id: CK_SLOT_ID,
    pub reader: Arc<dyn Reader>,
    /// The card lock: held across card I/O, never by polled calls.
    card: Mutex<CardConn>,
    token: Mutex<TokenSlot>,
    /// Reader state last reported by C_WaitForSlotEvent.
    pub(crate) event_seen: Mutex<ReaderState>,
    /// Persistent cache of public card files used by bind, if on.
    bind_cache: Option<Arc<BindCache>>,
}

impl Slot {
    pub(crate) fn new(
        id: CK_SLOT_ID,
        reader: Arc<dyn Reader>,
        seen: ReaderState,
        bind_cache: Option<Arc<BindCache>>,
    ) -> Slot {
        Slot {
            id,
            reader,
            bind_cache,
            card: Mutex::new(CardConn {
                card: None,
                insertions: 0,
                reset_epoch: 0,
            }),
            token: Mutex::new(TokenSlot::Empty),
            event_seen: Mutex::new(seen),
        }
    }

    /// `CK_SLOT_INFO` from the reader's cached state: no APDU, no card lock.
    pub fn info(&self) -> CK_SLOT_INFO {
        let mut flags = CKF_REMOVABLE_DEVICE;
        if self.reader.is_hardware() {
            flags |= CKF_HW_SLOT;
        }
        if self.reader.state().present {
            flags |= CKF_TOKEN_PRESENT;
        }
        CK_SLOT_INFO {
            slotDescription: pad(self.reader.name()),
            manufacturerID: pad(MANUFACTURER),
            flags,
            hardwareVersion: CK_VERSION { major: 0, minor: 0 },
            firmwareVersion: CK_VERSION { major: 0, minor: 0 },
        }
    }

    /// The cached token if it still belongs to the card in the reader. No card I/O,
    /// no card lock.
    pub fn current_token(&self) -> Option<Arc<Token>> {
        let state = self.reader.state();
        let mut slot = self.token.lock();
        match &*slot {
            TokenSlot::Bound(t) if state.present && t.insertions == state.insertions => {
                Some(t.clone())
            }
            TokenSlot::Bound(t) => {
                log_at!(Level::Info, "slot {}: token {} removed", self.id, t.serial);
                *slot = TokenSlot::Empty;
                None
            }
            _ => None,
        }
    }

    fn forget_token(&self, token: &Token) {
        let mut slot = self.token.lock();
        if matches!(&*slot, TokenSlot::Bound(t) if t.serial == token.serial) {
            *slot = TokenSlot::Empty;
        }
    }

    /// The token of the card in the reader, binding it (one transaction) on first need
    /// after an insertion.
    pub fn token(&self) -> Result<Arc<Token>, CK_RV> {
        let state = self.reader.state();
        if !state.present {
            *self.token.lock() = TokenSlot::Empty;
            return Err(CKR_TOKEN_NOT_PRESENT);
        }
        if let Some(result) = self.cached(&state) {
            return result;
        }
        let mut conn = self.card.lock();
        // Another thread may have bound it while we waited for the card lock.
        if let Some(result) = self.cached(&state) {
            return result;
        }
        *self.token.lock() = TokenSlot::Empty;
        conn.card = None;
        let channel = self.reader.connect().map_err(|e| reader_rv(&e))?;
        let mut card = Card::new(channel);
        match card.bind_with_cache(self.bind_cache.as_deref()) {
            Ok(data) => {
                let objects = build_objects(&data, next_object_handle);
                let serial = NEXT_TOKEN_SERIAL.fetch_add(1, Ordering::Relaxed);
                let token = Arc::new(Token::new(serial, state.insertions, data, objects));
                log_at!(
                    Level::Info,
                    "slot {}: bound token {} '{}' with {} objects",
                    self.id,
                    token.serial,
                    token.data.label,
                    token.objects.len()
                );
                conn.reset_epoch = card.reset_epoch();
                conn.card = Some(card);
                conn.insertions = state.insertions;
                *self.token.lock() = TokenSlot::Bound(token.clone());
                Ok(token)
            }
            Err(CardError::NotRecognized) => {
                log_at!(Level::Info, "slot {}: card not recognized", self.id);
                *self.token.lock() = TokenSlot::Unrecognized(state.insertions);
                Err(CKR_TOKEN_NOT_RECOGNIZED)
            }
            Err(e) => {
                log_at!(Level::Warn, "slot {}: bind failed: {:?}", self.id, e);
                let rv = card_rv(&e);
                *self.token.lock() = TokenSlot::Failed {
                    insertions: state.insertions,
                    rv,
                    at: Instant::now(),
                };
                Err(rv)
            }
        }
    }

    fn cached(&self, state: &ReaderState) -> Option<Result<Arc<Token>, CK_RV>> {
        match &*self.token.lock() {
            TokenSlot::Bound(t) if t.insertions == state.insertions => Some(Ok(t.clone())),
            TokenSlot::Unrecognized(i) if *i == state.insertions => {
                Some(Err(CKR_TOKEN_NOT_RECOGNIZED))
            }
            TokenSlot::Failed { insertions, rv, at }
                if *insertions == state.insertions && at.elapsed() < BIND_RETRY_AFTER =>
            {
                Some(Err(*rv))
            }
            _ => None,
        }
    }

    /// Close the card connection (C_Finalize). A PC/SC connection's worker thread has
    /// ended when this returns, unless it is stuck in a blocking call.
    pub(crate) fn disconnect(&self) {
        let card = self.card.lock().card.take();
        drop(card);
    }

    /// Run one card operation (one transaction) for `token` under the card lock.
    /// Removal drops the token; a card reset by someone else or a lost security
    /// status logs the token out.
    pub fn with_card<T>(
        &self,
        token: &Token,
        op: impl FnOnce(&mut Card) -> Result<T, CardError>,
    ) -> Result<T, CardError> {
        let mut conn = self.card.lock();
        if conn.insertions != token.insertions {
            return Err(CardError::Reader(ReaderError::Removed));
        }
        let Some(card) = conn.card.as_mut() else {
            return Err(CardError::Reader(ReaderError::Removed));
        };
        let mut result = op(card);
        if result.as_ref().is_err_and(CardError::may_be_removal)
            && removed_within(&*self.reader, token.insertions, REMOVAL_SETTLE)
        {
            log_at!(
                Level::Info,
                "slot {}: card removed during an operation",
                self.id
            );
            result = Err(CardError::Reader(ReaderError::Removed));
        }
        let epoch = card.reset_epoch();
        if epoch != conn.reset_epoch {
            conn.reset_epoch = epoch;
            log_at!(
                Level::Info,
                "slot {}: card was reset by another application",
                self.id
            );
            token.set_login(Login::Public);
        }
        match &result {
            Err(CardError::Reader(ReaderError::Removed | ReaderError::NoCard)) => {
                conn.card = None;
                drop(conn);
                self.forget_token(token);
            }
            Err(CardError::SecurityStatusNotSatisfied | CardError::ResetLostLogin) => {
                token.set_login(Login::Public);
            }
            _ => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader whose card disappears (or is swapped) at `gone_at`.
    struct LeavingReader {
        gone_at: Instant,
        swapped: bool,
    }

    impl Reader for LeavingReader {
        fn name(&self) -> &str {
            "leaving"
        }
        fn is_hardware(&self) -> bool {
            true
        }
        fn state(&self) -> ReaderState {
            let gone = Instant::now() >= self.gone_at;
            ReaderState {
                present: !gone || self.swapped,
                atr: Vec::new(),
                insertions: if gone { 2 } else { 1 },
            }
        }
        fn connect(&self) -> Result<Box<dyn crate::reader::CardChannel>, ReaderError> {
            Err(ReaderError::NoCard)
        }
    }

    #[test]
    fn a_broken_exchange_waits_briefly_for_the_removal() {
        assert!(CardError::LinkBroken.may_be_removal());
        assert!(CardError::Reader(ReaderError::Io("x".into())).may_be_removal());
        assert!(!CardError::Malformed("bad DER").may_be_removal());
        assert!(!CardError::Status(0x6F00).may_be_removal());
        for swapped in [false, true] {
            let reader = LeavingReader {
                gone_at: Instant::now() + Duration::from_millis(100),
                swapped,
            };
            let started = Instant::now();
            assert!(removed_within(&reader, 1, Duration::from_secs(2)));
            assert!(started.elapsed() < Duration::from_secs(1));
        }
        // A card that stays: a plain device error after the settle time.
        let staying = LeavingReader {
            gone_at: Instant::now() + Duration::from_secs(3600),
            swapped: false,
        };
        let started = Instant::now();
        assert!(!removed_within(&staying, 1, Duration::from_millis(100)));
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
