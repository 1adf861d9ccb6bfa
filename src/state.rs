//! The library state: slots (one per reader), tokens (one per card insertion, bound
//! lazily and cached), login state per token, the session table, and the card I/O
//! discipline.
//!
//! Locking (see pkcs11-spec.md §2.9): `Slot::card` is the per-slot card lock and the
//! only lock held across card I/O. Everything polled (slot info, token info, session
//! info) reads `Slot::token`, `Token::live` and the session table, each held only for
//! a few instructions, so polling never waits for a signature in progress.

use crate::card::{
    BindCache, Card, CardError, PinEncoding, PinInfo, PinStatus, TokenData, NO_STATUS_WORD,
};
use crate::log::Level;
use crate::log_at;
use crate::object::{build_objects, Object};
use crate::reader::{Reader, ReaderError, ReaderSet, ReaderState};
use crate::session::Session;
use cryptoki_sys::*;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Handles stay below 2^31 (some applications keep them in signed 32-bit ints).
const HANDLE_LIMIT: u64 = 0x7FFF_FFFF;

/// Object handles are unique for the life of the process, so a handle from a removed
/// card never names an object of the next one.
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);
static NEXT_TOKEN_SERIAL: AtomicU64 = AtomicU64::new(1);

fn next_object_handle() -> CK_OBJECT_HANDLE {
    let h = NEXT_OBJECT.fetch_add(1, Ordering::Relaxed);
    // Wrapping after two billion objects is acceptable: stale handles that old are gone.
    ((h - 1) % HANDLE_LIMIT + 1) as CK_OBJECT_HANDLE
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    Public,
    User,
    So,
}

/// Token state that changes: login and the last known PIN counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub login: Login,
    pub user_status: PinStatus,
    pub so_status: Option<PinStatus>,
}

/// One bound card insertion.
pub struct Token {
    /// Unique per bind, for logs.
    pub serial: u64,
    /// `ReaderState::insertions` this token belongs to.
    pub insertions: u64,
    pub data: TokenData,
    pub objects: Vec<Object>,
    pub live: Mutex<Live>,
}

impl Token {
    pub fn object(&self, handle: CK_OBJECT_HANDLE) -> Option<&Object> {
        self.objects.iter().find(|o| o.handle == handle)
    }

    pub fn login(&self) -> Login {
        self.live.lock().login
    }

    pub fn set_login(&self, login: Login) {
        self.live.lock().login = login;
    }

    /// Private objects are visible only while the user is logged in.
    pub fn visible_object(&self, handle: CK_OBJECT_HANDLE) -> Result<&Object, CK_RV> {
        let object = self.object(handle).ok_or(CKR_OBJECT_HANDLE_INVALID)?;
        if object.private && self.login() != Login::User {
            return Err(CKR_OBJECT_HANDLE_INVALID);
        }
        Ok(object)
    }

    fn key_bits(&self, rsa: bool) -> Option<(usize, usize)> {
        let bits = self
            .data
            .keys
            .iter()
            .filter(|k| matches!(k.public, crate::card::PublicKey::Rsa { .. }) == rsa)
            .map(|k| k.bits);
        let (min, max) = bits.fold((usize::MAX, 0), |(lo, hi), b| (lo.min(b), hi.max(b)));
        (max > 0).then_some((min, max))
    }

    pub fn rsa_bits(&self) -> Option<(usize, usize)> {
        self.key_bits(true)
    }

    pub fn ec_bits(&self) -> Option<(usize, usize)> {
        self.key_bits(false)
    }
}

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

/// How long a failed bind is answered from memory before the card is read again.
const BIND_RETRY_AFTER: Duration = Duration::from_secs(3);

/// After an exchange broke without a status word (or a PC/SC I/O error), how long to
/// wait for pcscd to report the card gone. A card pulled mid-APDU reaches us as such a
/// failure first; pcscd's removal event follows within its polling period (~0.5 s with
/// vpcd), and the caller must then get CKR_DEVICE_REMOVED, not CKR_DEVICE_ERROR.
const REMOVAL_SETTLE: Duration = Duration::from_millis(1500);

/// A failure that may mean the card left the reader.
fn link_broken(e: &CardError) -> bool {
    match e {
        CardError::Malformed(m) => *m == NO_STATUS_WORD,
        CardError::Reader(ReaderError::Io(_)) => true,
        _ => false,
    }
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
    event_seen: Mutex<ReaderState>,
    /// Persistent cache of public card files used by bind, if on.
    bind_cache: Option<Arc<BindCache>>,
}

impl Slot {
    fn new(
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
                let live = Live {
                    login: Login::Public,
                    user_status: data.user_pin.status,
                    so_status: data.puk.as_ref().map(|p| p.status),
                };
                let token = Arc::new(Token {
                    serial: NEXT_TOKEN_SERIAL.fetch_add(1, Ordering::Relaxed),
                    insertions: state.insertions,
                    data,
                    objects,
                    live: Mutex::new(live),
                });
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
        if result.as_ref().is_err_and(link_broken)
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

pub fn reader_rv(e: &ReaderError) -> CK_RV {
    match e {
        ReaderError::NoCard => CKR_TOKEN_NOT_PRESENT,
        ReaderError::Removed => CKR_DEVICE_REMOVED,
        ReaderError::Timeout | ReaderError::Io(_) => CKR_DEVICE_ERROR,
    }
}

/// CardError → CKR (pkcs11-spec.md §2.8).
pub fn card_rv(e: &CardError) -> CK_RV {
    match e {
        CardError::Reader(ReaderError::NoCard | ReaderError::Removed) => CKR_DEVICE_REMOVED,
        CardError::Reader(r) => reader_rv(r),
        CardError::NotRecognized => CKR_TOKEN_NOT_RECOGNIZED,
        CardError::PinIncorrect { .. } => CKR_PIN_INCORRECT,
        CardError::PinBlocked => CKR_PIN_LOCKED,
        CardError::SecurityStatusNotSatisfied | CardError::ResetLostLogin => CKR_USER_NOT_LOGGED_IN,
        CardError::DataInvalid => CKR_DATA_INVALID,
        CardError::KeyNotFound => CKR_KEY_HANDLE_INVALID,
        CardError::Status(0x6985) => CKR_FUNCTION_FAILED,
        CardError::Status(0x6A81) => CKR_FUNCTION_NOT_SUPPORTED,
        CardError::Status(_) | CardError::Malformed(_) => CKR_DEVICE_ERROR,
    }
}

/// Check a PIN value against the card's policy before anything is sent.
pub fn check_pin(info: &PinInfo, value: &[u8]) -> Result<(), CK_RV> {
    if value.len() < info.min_len || value.len() > info.max_len.max(info.min_len) {
        return Err(CKR_PIN_LEN_RANGE);
    }
    let ok = match info.encoding {
        PinEncoding::AsciiNumeric | PinEncoding::Bcd => value.iter().all(u8::is_ascii_digit),
        PinEncoding::Utf8 => std::str::from_utf8(value).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(CKR_PIN_INVALID)
    }
}

/// Whether a failed user-PIN command left the PIN's security status cleared on the
/// card (Part 1 §1.4): a blocked PIN always, a wrong CHANGE REFERENCE DATA too.
pub fn card_cleared_pin_status(error: &CardError, change_command: bool) -> bool {
    match error {
        CardError::PinBlocked | CardError::PinIncorrect { tries_left: 0 } => true,
        CardError::PinIncorrect { .. } => change_command,
        _ => false,
    }
}

/// The card no longer holds the user's login: neither does the token.
pub fn logout_user(token: &Token) {
    if token.login() == Login::User {
        token.set_login(Login::Public);
    }
}

fn fits(info: &PinInfo, value: &[u8]) -> bool {
    check_pin(info, value).is_ok()
}

/// New counter state after a PIN-carrying command on `info`.
pub fn status_after(
    info: &PinInfo,
    before: PinStatus,
    result: &Result<(), CardError>,
) -> PinStatus {
    match result {
        Ok(()) => PinStatus::TriesLeft(info.max_tries),
        Err(CardError::PinIncorrect { tries_left: 0 }) | Err(CardError::PinBlocked) => {
            PinStatus::Blocked
        }
        Err(CardError::PinIncorrect { tries_left }) => PinStatus::TriesLeft(*tries_left),
        Err(_) => before,
    }
}

/// CKF_USER_PIN_* / CKF_SO_PIN_* flags of one counter: (count_low, final_try, locked).
pub fn pin_flags(
    status: PinStatus,
    max_tries: u8,
    flags: (CK_FLAGS, CK_FLAGS, CK_FLAGS),
) -> CK_FLAGS {
    let (low, final_try, locked) = flags;
    match status {
        PinStatus::Blocked | PinStatus::TriesLeft(0) => locked,
        PinStatus::TriesLeft(1) => low | final_try,
        PinStatus::TriesLeft(n) if n < max_tries => low,
        _ => 0,
    }
}

fn pad<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let ascii = text.chars().map(|c| {
        if c.is_ascii() && !c.is_ascii_control() {
            c as u8
        } else {
            b'?'
        }
    });
    for (slot, byte) in out.iter_mut().zip(ascii) {
        *slot = byte;
    }
    out
}

pub struct Module {
    readers: Arc<dyn ReaderSet>,
    slots: RwLock<Vec<Arc<Slot>>>,
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    next_session: AtomicU64,
    finalized: AtomicBool,
    bind_cache: Option<Arc<BindCache>>,
}

pub const MANUFACTURER: &str = "eimza-pkcs11";

impl Module {
    /// A library state over any reader set, without a bind cache. Sends nothing to
    /// any card.
    pub fn new(readers: Arc<dyn ReaderSet>) -> Module {
        Self::with_bind_cache(readers, None)
    }

    /// [`new`](Self::new) with a persistent cache of public card files for bind.
    pub fn with_bind_cache(readers: Arc<dyn ReaderSet>, bind_cache: Option<BindCache>) -> Module {
        let module = Module {
            readers,
            slots: RwLock::new(Vec::new()),
            sessions: RwLock::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            finalized: AtomicBool::new(false),
            bind_cache: bind_cache.map(Arc::new),
        };
        module.refresh_slots(true);
        module
    }

    /// Add slots for new readers; the list never shrinks.
    fn refresh_slots(&self, initial: bool) {
        let readers = self.readers.readers();
        if readers.len() <= self.slots.read().len() {
            return;
        }
        let mut slots = self.slots.write();
        for (index, reader) in readers.into_iter().enumerate().skip(slots.len()) {
            // Initial slots start "seen"; later ones report their card as an event.
            let seen = if initial {
                reader.state()
            } else {
                ReaderState::default()
            };
            log_at!(Level::Info, "slot {index}: reader '{}'", reader.name());
            slots.push(Arc::new(Slot::new(
                index as CK_SLOT_ID,
                reader,
                seen,
                self.bind_cache.clone(),
            )));
        }
    }

    pub fn slot(&self, id: CK_SLOT_ID) -> Result<Arc<Slot>, CK_RV> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.slots.read().get(i).cloned())
            .ok_or(CKR_SLOT_ID_INVALID)
    }

    pub fn slot_list(&self, token_present: bool) -> Vec<CK_SLOT_ID> {
        self.refresh_slots(false);
        let slots: Vec<Arc<Slot>> = self.slots.read().clone();
        slots
            .iter()
            .filter(|s| !token_present || s.reader.state().present)
            .map(|s| s.id)
            .collect()
    }

    pub fn slot_info(&self, id: CK_SLOT_ID) -> Result<CK_SLOT_INFO, CK_RV> {
        let slot = self.slot(id)?;
        let mut flags = CKF_REMOVABLE_DEVICE;
        if slot.reader.is_hardware() {
            flags |= CKF_HW_SLOT;
        }
        if slot.reader.state().present {
            flags |= CKF_TOKEN_PRESENT;
        }
        Ok(CK_SLOT_INFO {
            slotDescription: pad(slot.reader.name()),
            manufacturerID: pad(MANUFACTURER),
            flags,
            hardwareVersion: CK_VERSION { major: 0, minor: 0 },
            firmwareVersion: CK_VERSION { major: 0, minor: 0 },
        })
    }

    fn session_counts(&self, token: &Arc<Token>) -> (usize, usize) {
        let sessions = self.sessions.read();
        let mine = sessions.values().filter(|s| Arc::ptr_eq(&s.token, token));
        mine.fold((0, 0), |(all, rw), s| (all + 1, rw + usize::from(s.rw)))
    }

    pub fn token_info(&self, id: CK_SLOT_ID) -> Result<CK_TOKEN_INFO, CK_RV> {
        let slot = self.slot(id)?;
        let token = slot.token()?;
        let live = *token.live.lock();
        let data = &token.data;
        let mut flags =
            CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_RNG;
        flags |= pin_flags(
            live.user_status,
            data.user_pin.max_tries,
            (
                CKF_USER_PIN_COUNT_LOW,
                CKF_USER_PIN_FINAL_TRY,
                CKF_USER_PIN_LOCKED,
            ),
        );
        if let (Some(puk), Some(so)) = (&data.puk, live.so_status) {
            flags |= pin_flags(
                so,
                puk.max_tries,
                (
                    CKF_SO_PIN_COUNT_LOW,
                    CKF_SO_PIN_FINAL_TRY,
                    CKF_SO_PIN_LOCKED,
                ),
            );
        }
        let (sessions, rw) = self.session_counts(&token);
        // The serial field is 16 characters: keep the (unique) tail of a longer serial.
        let serial = data
            .serial
            .get(data.serial.len().saturating_sub(16)..)
            .unwrap_or("");
        Ok(CK_TOKEN_INFO {
            label: pad(&data.label),
            manufacturerID: pad(&data.manufacturer),
            model: pad(&data.model),
            serialNumber: pad(serial),
            flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: data.user_pin.max_len as CK_ULONG,
            ulMinPinLen: data.user_pin.min_len as CK_ULONG,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: CK_VERSION { major: 0, minor: 0 },
            firmwareVersion: CK_VERSION { major: 0, minor: 0 },
            utcTime: [b' '; 16],
        })
    }

    pub fn mechanism_list(&self, id: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>, CK_RV> {
        let token = self.slot(id)?.token()?;
        let mut list =
            crate::mechanism::mechanism_list(token.rsa_bits().is_some(), token.ec_bits().is_some());
        list.extend(crate::digest::DIGEST_MECHANISMS);
        Ok(list)
    }

    pub fn mechanism_info(
        &self,
        id: CK_SLOT_ID,
        m: CK_MECHANISM_TYPE,
    ) -> Result<CK_MECHANISM_INFO, CK_RV> {
        let token = self.slot(id)?.token()?;
        if let Some(info) = crate::digest::digest_mechanism_info(m) {
            return Ok(info);
        }
        crate::mechanism::mechanism_info(m, token.rsa_bits(), token.ec_bits())
    }

    // ---- sessions ----

    pub fn open_session(
        &self,
        id: CK_SLOT_ID,
        flags: CK_FLAGS,
    ) -> Result<CK_SESSION_HANDLE, CK_RV> {
        let slot = self.slot(id)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        let token = slot.token()?;
        let handle = self.next_session.fetch_add(1, Ordering::Relaxed);
        if handle > HANDLE_LIMIT {
            return Err(CKR_SESSION_COUNT);
        }
        let handle = handle as CK_SESSION_HANDLE;
        let session = Arc::new(Session::new(
            handle,
            slot,
            token,
            flags & CKF_RW_SESSION != 0,
        ));
        self.sessions.write().insert(handle, session);
        Ok(handle)
    }

    /// A live session: its token must still be the card in the reader.
    pub fn session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Session>, CK_RV> {
        let session = self
            .sessions
            .read()
            .get(&handle)
            .cloned()
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        match session.slot.current_token() {
            Some(t) if Arc::ptr_eq(&t, &session.token) => Ok(session),
            _ => {
                // The card went away: every session of that token is gone.
                self.sessions
                    .write()
                    .retain(|_, s| !Arc::ptr_eq(&s.token, &session.token));
                Err(CKR_SESSION_HANDLE_INVALID)
            }
        }
    }

    pub fn close_session(&self, handle: CK_SESSION_HANDLE) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        if self.sessions.write().remove(&handle).is_none() {
            // Closed concurrently by another thread.
            return Err(CKR_SESSION_HANDLE_INVALID);
        }
        self.logout_if_unused(&session.slot, &session.token);
        Ok(())
    }

    pub fn close_all_sessions(&self, id: CK_SLOT_ID) -> Result<(), CK_RV> {
        let slot = self.slot(id)?;
        let mut closed = Vec::new();
        self.sessions.write().retain(|_, s| {
            let mine = s.slot.id == slot.id;
            if mine {
                closed.push(s.token.clone());
            }
            !mine
        });
        if let Some(token) = closed.first() {
            self.logout_if_unused(&slot, token);
        }
        Ok(())
    }

    /// Closing the last session of a token logs it out (PKCS#11 §5.6).
    fn logout_if_unused(&self, slot: &Slot, token: &Arc<Token>) {
        if self.session_counts(token).0 == 0 && token.login() != Login::Public {
            let _ = slot.with_card(token, |card| card.logout());
            token.set_login(Login::Public);
        }
    }

    pub fn session_info(&self, handle: CK_SESSION_HANDLE) -> Result<CK_SESSION_INFO, CK_RV> {
        let session = self.session(handle)?;
        let login = session.token.login();
        let state = match (session.rw, login) {
            (false, Login::User) => CKS_RO_USER_FUNCTIONS,
            (false, _) => CKS_RO_PUBLIC_SESSION,
            (true, Login::Public) => CKS_RW_PUBLIC_SESSION,
            (true, Login::User) => CKS_RW_USER_FUNCTIONS,
            (true, Login::So) => CKS_RW_SO_FUNCTIONS,
        };
        let mut flags = CKF_SERIAL_SESSION;
        if session.rw {
            flags |= CKF_RW_SESSION;
        }
        Ok(CK_SESSION_INFO {
            slotID: session.slot.id,
            state,
            flags,
            ulDeviceError: 0,
        })
    }

    // ---- login and PINs ----

    pub fn login(
        &self,
        handle: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: Zeroizing<Vec<u8>>,
    ) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        let token = &session.token;
        if user == CKU_CONTEXT_SPECIFIC {
            return self.context_login(&session, pin);
        }
        let (info, so) = match user {
            CKU_USER => (&token.data.user_pin, false),
            CKU_SO => (token.data.puk.as_ref().ok_or(CKR_USER_TYPE_INVALID)?, true),
            _ => return Err(CKR_USER_TYPE_INVALID),
        };
        match (token.login(), so) {
            (Login::User, false) | (Login::So, true) => return Err(CKR_USER_ALREADY_LOGGED_IN),
            (Login::User, true) | (Login::So, false) => {
                return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
            }
            _ => {}
        }
        check_pin(info, &pin)?;
        let result = session
            .slot
            .with_card(token, |card| card.verify(info, &pin));
        self.record_status(token, so, &result);
        match result {
            Ok(()) => {
                token.set_login(if so { Login::So } else { Login::User });
                Ok(())
            }
            Err(e) => Err(card_rv(&e)),
        }
    }

    fn record_status(&self, token: &Token, so: bool, result: &Result<(), CardError>) {
        let mut live = token.live.lock();
        if so {
            if let (Some(puk), Some(status)) = (&token.data.puk, live.so_status) {
                live.so_status = Some(status_after(puk, status, result));
            }
        } else {
            live.user_status = status_after(&token.data.user_pin, live.user_status, result);
        }
    }

    pub fn logout(&self, handle: CK_SESSION_HANDLE) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        let token = &session.token;
        if token.login() == Login::Public {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        let result = session.slot.with_card(token, |card| card.logout());
        token.set_login(Login::Public);
        match result {
            Err(e @ CardError::Reader(_)) => Err(card_rv(&e)),
            // Whatever else the card says, the token is logged out now (LOGOUT falls
            // back to a reset in the card layer).
            _ => Ok(()),
        }
    }

    pub fn init_pin(
        &self,
        handle: CK_SESSION_HANDLE,
        new_pin: Zeroizing<Vec<u8>>,
    ) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        let token = &session.token;
        if token.login() != Login::So {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        if !session.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let info = &token.data.user_pin;
        check_pin(info, &new_pin)?;
        let result = session
            .slot
            .with_card(token, |card| card.reset_retry_counter(info, None, &new_pin));
        if result.is_ok() {
            token.live.lock().user_status = PinStatus::TriesLeft(info.max_tries);
        }
        result.map_err(|e| card_rv(&e))
    }

    /// C_SetPIN (pkcs11-spec.md §2.7): PUK change when SO is logged in; unblock with
    /// the PUK when not logged in and the old value can only be the PUK (or the PIN
    /// is blocked); otherwise a user-PIN change.
    pub fn set_pin(
        &self,
        handle: CK_SESSION_HANDLE,
        old: Zeroizing<Vec<u8>>,
        new: Zeroizing<Vec<u8>>,
    ) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        if !session.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let token = &session.token;
        let live = *token.live.lock();
        let user = &token.data.user_pin;
        let slot = &session.slot;
        match (live.login, token.data.puk.as_ref()) {
            (Login::So, Some(puk)) => {
                check_pin(puk, &old)?;
                check_pin(puk, &new)?;
                let result =
                    slot.with_card(token, |card| card.change_reference_data(puk, &old, &new));
                self.record_status(token, true, &result);
                result.map_err(|e| card_rv(&e))
            }
            // Only a value that can be the PUK goes to the card as one, and only when
            // it cannot be meant as the PIN (or the PIN is blocked anyway): a user-PIN
            // try is never spent on an unblock, nor a PUK try on a PIN change.
            (Login::Public, Some(puk))
                if fits(puk, &old)
                    && (!fits(user, &old) || live.user_status == PinStatus::Blocked) =>
            {
                check_pin(puk, &old)?;
                check_pin(user, &new)?;
                log_at!(
                    Level::Info,
                    "C_SetPIN: unblocking the user PIN with the PUK"
                );
                let result = slot.with_card(token, |card| {
                    card.reset_retry_counter(user, Some((puk, &old)), &new)
                });
                self.record_status(token, true, &result);
                if result.is_ok() {
                    token.live.lock().user_status = PinStatus::TriesLeft(user.max_tries);
                }
                result.map_err(|e| card_rv(&e))
            }
            _ => {
                check_pin(user, &old)?;
                check_pin(user, &new)?;
                let result =
                    slot.with_card(token, |card| card.change_reference_data(user, &old, &new));
                self.record_status(token, false, &result);
                if result
                    .as_ref()
                    .is_err_and(|e| card_cleared_pin_status(e, true))
                {
                    logout_user(token);
                }
                result.map_err(|e| card_rv(&e))
            }
        }
    }

    // ---- objects ----

    pub fn find_init(
        &self,
        handle: CK_SESSION_HANDLE,
        template: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>,
    ) -> Result<(), CK_RV> {
        let session = self.session(handle)?;
        let logged_in = session.token.login() == Login::User;
        let hits: Vec<CK_OBJECT_HANDLE> = session
            .token
            .objects
            .iter()
            .filter(|o| (!o.private || logged_in) && o.matches(&template))
            .map(|o| o.handle)
            .collect();
        session.start_find(hits)
    }

    pub fn random(
        &self,
        handle: CK_SESSION_HANDLE,
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, CK_RV> {
        let session = self.session(handle)?;
        if len == 0 {
            return Ok(Zeroizing::new(Vec::new()));
        }
        let bytes = session
            .slot
            .with_card(&session.token, |card| card.get_challenge(len))
            .map_err(|e| card_rv(&e))?;
        if bytes.len() != len {
            return Err(CKR_DEVICE_ERROR);
        }
        Ok(bytes)
    }

    // ---- events and shutdown ----

    pub fn is_finalized(&self) -> bool {
        self.finalized.load(Ordering::SeqCst)
    }

    pub fn wait_for_slot_event(&self, dont_block: bool) -> Result<CK_SLOT_ID, CK_RV> {
        loop {
            if self.is_finalized() {
                return Err(CKR_CRYPTOKI_NOT_INITIALIZED);
            }
            self.refresh_slots(false);
            let slots: Vec<Arc<Slot>> = self.slots.read().clone();
            for slot in slots {
                let state = slot.reader.state();
                let mut seen = slot.event_seen.lock();
                if state.present != seen.present || state.insertions != seen.insertions {
                    *seen = state;
                    return Ok(slot.id);
                }
            }
            if dont_block {
                return Err(CKR_NO_EVENT);
            }
            self.readers.wait_for_change(Duration::from_millis(500));
        }
    }

    /// C_Finalize: log out logged-in tokens, wake waiters, drop sessions.
    pub fn finalize(&self) {
        self.finalized.store(true, Ordering::SeqCst);
        self.readers.cancel();
        let slots: Vec<Arc<Slot>> = self.slots.read().clone();
        for slot in slots {
            if let Some(token) = slot.current_token() {
                if token.login() != Login::Public {
                    let _ = slot.with_card(&token, |card| card.logout());
                    token.set_login(Login::Public);
                }
            }
        }
        self.sessions.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::PinEncoding;

    fn pin(min: usize, max: usize) -> PinInfo {
        PinInfo {
            label: "PIN".into(),
            auth_id: vec![1],
            reference: 0x81,
            encoding: PinEncoding::AsciiNumeric,
            min_len: min,
            max_len: max,
            stored_len: max,
            pad_char: None,
            max_tries: 3,
            status: PinStatus::Unknown,
        }
    }

    #[test]
    fn pin_policy_is_checked_locally() {
        let p = pin(6, 6);
        assert_eq!(check_pin(&p, b"123456"), Ok(()));
        assert_eq!(check_pin(&p, b"12345"), Err(CKR_PIN_LEN_RANGE));
        assert_eq!(check_pin(&p, b"1234567"), Err(CKR_PIN_LEN_RANGE));
        assert_eq!(check_pin(&p, b"12345a"), Err(CKR_PIN_INVALID));
        assert_eq!(check_pin(&p, b""), Err(CKR_PIN_LEN_RANGE));
        let utf8 = PinInfo {
            encoding: PinEncoding::Utf8,
            ..pin(4, 8)
        };
        assert_eq!(check_pin(&utf8, b"abcd"), Ok(()));
        assert_eq!(
            check_pin(&utf8, &[0xFF, 0xFE, 0x41, 0x41]),
            Err(CKR_PIN_INVALID)
        );
    }

    #[test]
    fn counters_follow_results() {
        let p = pin(6, 6);
        let before = PinStatus::TriesLeft(3);
        assert_eq!(
            status_after(&p, before, &Err(CardError::PinIncorrect { tries_left: 2 })),
            PinStatus::TriesLeft(2)
        );
        assert_eq!(
            status_after(&p, before, &Err(CardError::PinIncorrect { tries_left: 0 })),
            PinStatus::Blocked
        );
        assert_eq!(
            status_after(&p, before, &Err(CardError::PinBlocked)),
            PinStatus::Blocked
        );
        assert_eq!(
            status_after(&p, PinStatus::TriesLeft(1), &Ok(())),
            PinStatus::TriesLeft(3)
        );
        assert_eq!(
            status_after(&p, before, &Err(CardError::Status(0x6F00))),
            before
        );
    }

    #[test]
    fn flags_from_counters() {
        let f = (
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        );
        assert_eq!(pin_flags(PinStatus::TriesLeft(3), 3, f), 0);
        assert_eq!(pin_flags(PinStatus::Verified, 3, f), 0);
        assert_eq!(
            pin_flags(PinStatus::TriesLeft(2), 3, f),
            CKF_USER_PIN_COUNT_LOW
        );
        assert_eq!(
            pin_flags(PinStatus::TriesLeft(1), 3, f),
            CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY
        );
        assert_eq!(pin_flags(PinStatus::Blocked, 3, f), CKF_USER_PIN_LOCKED);
    }

    #[test]
    fn card_errors_map_to_ckr() {
        assert_eq!(
            card_rv(&CardError::PinIncorrect { tries_left: 1 }),
            CKR_PIN_INCORRECT
        );
        assert_eq!(card_rv(&CardError::PinBlocked), CKR_PIN_LOCKED);
        assert_eq!(card_rv(&CardError::ResetLostLogin), CKR_USER_NOT_LOGGED_IN);
        assert_eq!(
            card_rv(&CardError::Reader(ReaderError::Removed)),
            CKR_DEVICE_REMOVED
        );
        assert_eq!(card_rv(&CardError::Status(0x6F00)), CKR_DEVICE_ERROR);
        assert_eq!(card_rv(&CardError::NotRecognized), CKR_TOKEN_NOT_RECOGNIZED);
    }

    /// A reader whose card answers SELECT with 9000 and every other APDU with `sw`,
    /// counting them.
    struct FaultyReader {
        sw: [u8; 2],
        apdus: Arc<std::sync::atomic::AtomicUsize>,
    }

    struct FaultyChannel {
        sw: [u8; 2],
        apdus: Arc<std::sync::atomic::AtomicUsize>,
        atr: Vec<u8>,
    }

    /// The software card's ATR (pkcs11-spec.md §1.1) with its TCK.
    fn atr() -> Vec<u8> {
        let mut atr = vec![
            0x3B, 0x9F, 0x96, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x65, 0x54, 0x43, 0x56, 0x43, 0x31,
            0x73, 0xB4, 0x00, 0x40, 0x83, 0x05, 0x90, 0x00,
        ];
        let tck = atr[1..].iter().fold(0u8, |x, b| x ^ b);
        atr.push(tck);
        atr
    }

    impl crate::reader::CardChannel for FaultyChannel {
        fn begin(&mut self) -> Result<bool, ReaderError> {
            Ok(false)
        }
        fn end(&mut self) {}
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
            self.apdus.fetch_add(1, Ordering::SeqCst);
            // SELECT succeeds (the application is there); everything else fails.
            if apdu.get(1) == Some(&0xA4) {
                return Ok(vec![0x90, 0x00]);
            }
            Ok(self.sw.to_vec())
        }
        fn reset(&mut self) -> Result<(), ReaderError> {
            Ok(())
        }
        fn atr(&self) -> &[u8] {
            &self.atr
        }
    }

    impl Reader for FaultyReader {
        fn name(&self) -> &str {
            "faulty"
        }
        fn is_hardware(&self) -> bool {
            false
        }
        fn state(&self) -> ReaderState {
            ReaderState {
                present: true,
                atr: atr(),
                insertions: 1,
            }
        }
        fn connect(&self) -> Result<Box<dyn crate::reader::CardChannel>, ReaderError> {
            Ok(Box::new(FaultyChannel {
                sw: self.sw,
                apdus: self.apdus.clone(),
                atr: atr(),
            }))
        }
    }

    struct OneReader(Arc<FaultyReader>);

    impl ReaderSet for OneReader {
        fn readers(&self) -> Vec<Arc<dyn Reader>> {
            vec![self.0.clone()]
        }
        fn wait_for_change(&self, _timeout: Duration) -> bool {
            false
        }
        fn cancel(&self) {}
    }

    fn module_with_card_answering(sw: [u8; 2]) -> (Module, Arc<std::sync::atomic::AtomicUsize>) {
        let apdus = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let reader = Arc::new(FaultyReader {
            sw,
            apdus: apdus.clone(),
        });
        (Module::new(Arc::new(OneReader(reader))), apdus)
    }

    #[test]
    fn a_failing_bind_is_not_repeated_by_polling() {
        // A card error after the application was found, and a card without it.
        for sw in [[0x6F, 0x00], [0x6D, 0x00]] {
            let (module, apdus) = module_with_card_answering(sw);
            assert_eq!(apdus.load(Ordering::SeqCst), 0, "no card I/O at start");
            let first = module.token_info(0).map(|_| ()).unwrap_err();
            assert_eq!(first, CKR_DEVICE_ERROR, "{sw:02X?}");
            let sent = apdus.load(Ordering::SeqCst);
            assert!(sent > 0);
            for _ in 0..5 {
                assert_eq!(module.token_info(0).map(|_| ()), Err(first));
                assert_eq!(module.open_session(0, CKF_SERIAL_SESSION), Err(first));
            }
            assert_eq!(
                apdus.load(Ordering::SeqCst),
                sent,
                "polling read the card again"
            );
            // Slot info never talks to the card.
            assert_ne!(module.slot_info(0).unwrap().flags & CKF_TOKEN_PRESENT, 0);
        }
    }

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
                atr: atr(),
                insertions: if gone { 2 } else { 1 },
            }
        }
        fn connect(&self) -> Result<Box<dyn crate::reader::CardChannel>, ReaderError> {
            Err(ReaderError::NoCard)
        }
    }

    #[test]
    fn a_broken_exchange_waits_briefly_for_the_removal() {
        assert!(link_broken(&CardError::Malformed(NO_STATUS_WORD)));
        assert!(link_broken(&CardError::Reader(ReaderError::Io("x".into()))));
        assert!(!link_broken(&CardError::Malformed("bad DER")));
        assert!(!link_broken(&CardError::Status(0x6F00)));
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

    #[test]
    fn padding_is_ascii_and_spaces() {
        let p: [u8; 8] = pad("Kart ü");
        assert_eq!(&p, b"Kart ?  ");
        let long: [u8; 4] = pad("ABCDEFG");
        assert_eq!(&long, b"ABCD");
    }
}
