//! PC/SC readers through the `pcsc` crate (pcsc-lite on Linux).
//!
//! - Reader list: stable indices; a reader once seen keeps its place and a vanished
//!   reader simply reports no card.
//! - `state()`: one `SCardListReaders` + `SCardGetStatusChange(timeout 0)` for all readers,
//!   cached for [`STATE_TTL`]; never an APDU (NSS polls every second, Java every 50 ms).
//! - Each connection runs on its own worker thread that owns the `pcsc::Card`: the
//!   crate's `Transaction` borrows the card, and a thread that keeps the transaction on
//!   its stack between `begin()` and `end()` needs no `unsafe`. The worker also makes
//!   waiting for the card's lock bounded: pcsc-lite's `SCardBeginTransaction` waits
//!   forever, the caller waits at most [`BEGIN_TIMEOUT`].
//! - Separate PC/SC contexts for polling, waiting and each connection: pcsc-lite
//!   serialises calls on one context, so a blocked `SCardGetStatusChange` must not
//!   hold up `state()`.

use super::{CardChannel, Reader, ReaderError, ReaderState};
use ::pcsc::{Context, Disposition, Protocols, Scope, ShareMode, State};
use parking_lot::Mutex;
use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

type Dword = ::pcsc::ffi::DWORD;

/// How long a cached reader state is reused.
pub const STATE_TTL: Duration = Duration::from_millis(100);
/// Longest wait for exclusive access to the card (another application's transaction).
pub const BEGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The wait actually used, in ms (tests shorten it with [`set_begin_timeout`]).
static BEGIN_TIMEOUT_MS: AtomicU64 = AtomicU64::new(30_000);

/// Change how long `begin()` waits for another application's transaction
/// (process-wide; for tests).
pub fn set_begin_timeout(timeout: Duration) {
    BEGIN_TIMEOUT_MS.store(
        u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}
/// Longest wait for one APDU (a slow card signing with a large RSA key takes < 2 s).
const TRANSMIT_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for the worker to end a transaction or reset the card.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// The PC/SC side of the system reader set.
pub struct PcscReaderSet {
    shared: Arc<Shared>,
}

struct Shared {
    /// Back link handed to readers so `state()` can refresh the whole set.
    me: Weak<Shared>,
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

/// Errors after which the PC/SC context is dropped and a new one established later:
/// pcscd gone (pcsc-lite) or, on Windows 8 and later, the Smart Card service stopped
/// because the last reader was removed. A context from before the service stopped
/// then answers `SCARD_E_SERVICE_STOPPED`, `SCARD_E_NO_SERVICE`, `SCARD_E_SYSTEM_CANCELLED`
/// or the Win32 `ERROR_INVALID_HANDLE` (6), which the `pcsc` crate reports as
/// `UnknownError` (it maps every code outside the SCARD ranges to that).
fn is_service_error(e: ::pcsc::Error) -> bool {
    matches!(
        e,
        ::pcsc::Error::NoService
            | ::pcsc::Error::ServiceStopped
            | ::pcsc::Error::InvalidHandle
            | ::pcsc::Error::CommError
            | ::pcsc::Error::Shutdown
            | ::pcsc::Error::SystemCancelled
            | ::pcsc::Error::UnknownError
    )
}

impl Default for PcscReaderSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PcscReaderSet {
    /// Never fails and never blocks: without pcscd the set is simply empty.
    pub fn new() -> Self {
        PcscReaderSet {
            shared: Arc::new_cyclic(|me| Shared {
                me: me.clone(),
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

    fn connect(&self) -> Result<Box<dyn CardChannel>, ReaderError> {
        let channel = PcscChannel::open(self.cname.clone())?;
        Ok(Box::new(channel))
    }
}

// ---------------------------------------------------------------------------
// Connections

enum Request {
    Begin,
    End,
    Transmit(Zeroizing<Vec<u8>>),
    Reset,
    Close,
}

enum Answer {
    /// `atr`: read again only after a reset (nothing else changes it while the
    /// connection lives; a removal ends the connection), saving an `SCardStatus` round
    /// trip per transaction.
    Begun {
        reset: bool,
        atr: Option<Vec<u8>>,
    },
    Data(Zeroizing<Vec<u8>>),
    Done,
}

type Reply = Result<Answer, ReaderError>;

/// A shared-mode T=1 connection served by a worker thread.
pub struct PcscChannel {
    reader: CString,
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    atr: Vec<u8>,
    /// Set when the worker was abandoned (timeout); the next `begin()` reconnects.
    abandoned: bool,
    /// `end()` was sent and its answer not read yet: the caller does not wait for
    /// `SCardEndTransaction` (one pcscd round trip less per operation); the next
    /// request reads that answer first.
    end_pending: bool,
}

fn map_error(e: ::pcsc::Error) -> ReaderError {
    match e {
        ::pcsc::Error::NoSmartcard => ReaderError::NoCard,
        ::pcsc::Error::RemovedCard
        | ::pcsc::Error::UnknownReader
        | ::pcsc::Error::ReaderUnavailable => ReaderError::Removed,
        // pcsc-lite's answer when the reader driver could not reach the card in the
        // middle of an exchange, which is what pulling it out looks like (seen with
        // vpcd when the card goes away during SELECT). The caller re-binds: safe side.
        ::pcsc::Error::NotTransacted => ReaderError::Removed,
        other => ReaderError::Io(other.to_string()),
    }
}

impl PcscChannel {
    fn open(reader: CString) -> Result<Self, ReaderError> {
        let (requests, replies, atr) = spawn_worker(&reader)?;
        Ok(PcscChannel {
            reader,
            requests,
            replies,
            atr,
            abandoned: false,
            end_pending: false,
        })
    }

    fn call(&mut self, request: Request, timeout: Duration) -> Reply {
        if std::mem::take(&mut self.end_pending) {
            // The answer to the last `end()` (its errors are not the caller's concern).
            match self.replies.recv_timeout(CONTROL_TIMEOUT) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.abandon();
                    return Err(ReaderError::Timeout);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.abandoned = true;
                    return Err(ReaderError::Io("PC/SC worker stopped".into()));
                }
            }
        }
        if self.requests.send(request).is_err() {
            self.abandoned = true;
            return Err(ReaderError::Io("PC/SC worker stopped".into()));
        }
        match self.replies.recv_timeout(timeout) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => {
                self.abandon();
                Err(ReaderError::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.abandoned = true;
                Err(ReaderError::Io("PC/SC worker stopped".into()))
            }
        }
    }

    /// Stop using the worker: it ends whatever it holds and disconnects (leaving the
    /// card as it is) once its blocking call returns.
    fn abandon(&mut self) {
        let _ = self.requests.send(Request::Close);
        let (dead_tx, _) = mpsc::channel();
        let (_, dead_rx) = mpsc::channel();
        self.requests = dead_tx;
        self.replies = dead_rx;
        self.abandoned = true;
    }
}

impl Drop for PcscChannel {
    fn drop(&mut self) {
        let _ = self.requests.send(Request::Close);
    }
}

impl CardChannel for PcscChannel {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        let mut reconnected = false;
        if self.abandoned {
            // A fresh connection cannot know about resets in between: report one, the
            // caller then assumes the login is gone (safe side).
            let (requests, replies, atr) = spawn_worker(&self.reader)?;
            self.requests = requests;
            self.replies = replies;
            self.atr = atr;
            self.abandoned = false;
            self.end_pending = false;
            reconnected = true;
        }
        let timeout = Duration::from_millis(BEGIN_TIMEOUT_MS.load(Ordering::Relaxed));
        match self.call(Request::Begin, timeout)? {
            Answer::Begun { reset, atr } => {
                if let Some(atr) = atr {
                    self.atr = atr;
                }
                Ok(reset || reconnected)
            }
            _ => Err(ReaderError::Io("unexpected worker answer".into())),
        }
    }

    fn end(&mut self) {
        if self.abandoned {
            return;
        }
        if self.end_pending {
            // Two ends in a row: the first one's answer is still unread.
            let _ = self.call(Request::End, CONTROL_TIMEOUT);
            return;
        }
        if self.requests.send(Request::End).is_err() {
            self.abandoned = true;
        } else {
            self.end_pending = true;
        }
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        if self.abandoned {
            return Err(ReaderError::Io("connection abandoned".into()));
        }
        match self.call(
            Request::Transmit(Zeroizing::new(apdu.to_vec())),
            TRANSMIT_TIMEOUT,
        )? {
            Answer::Data(data) => Ok(data.to_vec()),
            _ => Err(ReaderError::Io("unexpected worker answer".into())),
        }
    }

    fn reset(&mut self) -> Result<(), ReaderError> {
        if self.abandoned {
            return Err(ReaderError::Io("connection abandoned".into()));
        }
        self.call(Request::Reset, CONTROL_TIMEOUT).map(|_| ())
    }

    fn atr(&self) -> &[u8] {
        &self.atr
    }
}

type WorkerEnds = (Sender<Request>, Receiver<Reply>, Vec<u8>);

fn spawn_worker(reader: &CString) -> Result<WorkerEnds, ReaderError> {
    let ctx = Context::establish(Scope::User).map_err(map_error)?;
    // T=1 per the profile; a card that cannot do T=1 is still connected (any protocol)
    // so the caller can look at its ATR and say "not recognised".
    let (card, protocols) = match ctx.connect(reader, ShareMode::Shared, Protocols::T1) {
        Ok(card) => (card, Protocols::T1),
        Err(::pcsc::Error::ProtoMismatch) => (
            ctx.connect(reader, ShareMode::Shared, Protocols::ANY)
                .map_err(map_error)?,
            Protocols::ANY,
        ),
        Err(e) => return Err(map_error(e)),
    };
    let atr = current_atr(&card);
    let (req_tx, req_rx) = mpsc::channel();
    let (rep_tx, rep_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("eimza-pcsc".into())
        .spawn(move || worker(card, protocols, req_rx, rep_tx))
        .map_err(|e| ReaderError::Io(format!("cannot start PC/SC worker: {e}")))?;
    Ok((req_tx, rep_rx, atr))
}

fn current_atr(card: &::pcsc::Card) -> Vec<u8> {
    card.status2_owned()
        .map(|s| s.atr().to_vec())
        .unwrap_or_default()
}

/// `buf`: the worker's answer buffer, allocated once (64 KB zeroed per APDU cost more
/// than the exchange with pcscd); wiped when the worker ends.
fn transmit_on(card: &::pcsc::Card, apdu: &[u8], buf: &mut [u8]) -> Reply {
    card.transmit(apdu, buf)
        .map(|data| Answer::Data(Zeroizing::new(data.to_vec())))
        .map_err(map_error)
}

fn close(card: ::pcsc::Card) {
    // Dropping a pcsc::Card resets the card (and so logs out every other user of it);
    // disconnect leaving it as it is.
    if let Err((card, _)) = card.disconnect(Disposition::LeaveCard) {
        std::mem::forget(card);
    }
}

enum Flow {
    Continue,
    Close,
}

fn worker(
    mut card: ::pcsc::Card,
    protocols: Protocols,
    requests: Receiver<Request>,
    replies: Sender<Reply>,
) {
    let mut buf = Zeroizing::new(vec![0u8; ::pcsc::MAX_BUFFER_SIZE_EXTENDED]);
    while let Ok(request) = requests.recv() {
        match request {
            Request::Begin => {
                let mut reset_seen = false;
                let flow = loop {
                    let failure = match card.transaction() {
                        Ok(tx) => {
                            let atr = reset_seen.then(|| current_atr(&tx));
                            let sent = replies.send(Ok(Answer::Begun {
                                reset: reset_seen,
                                atr,
                            }));
                            if sent.is_err() {
                                let _ = tx.end(Disposition::LeaveCard);
                                break Flow::Close;
                            }
                            break serve_transaction(tx, protocols, &requests, &replies, &mut buf);
                        }
                        Err(e) => e,
                    };
                    match failure {
                        // Someone else reset the card: acknowledge with a reconnect
                        // (leave the card as it is) and tell the caller its login is gone.
                        ::pcsc::Error::ResetCard if !reset_seen => {
                            reset_seen = true;
                            if let Err(e) =
                                card.reconnect(ShareMode::Shared, protocols, Disposition::LeaveCard)
                            {
                                let _ = replies.send(Err(map_error(e)));
                                break Flow::Continue;
                            }
                        }
                        ::pcsc::Error::ResetCard => {
                            let _ =
                                replies.send(Err(ReaderError::Io("card keeps resetting".into())));
                            break Flow::Continue;
                        }
                        other => {
                            let _ = replies.send(Err(map_error(other)));
                            break Flow::Continue;
                        }
                    }
                };
                if let Flow::Close = flow {
                    break;
                }
            }
            Request::End => {
                let _ = replies.send(Ok(Answer::Done));
            }
            Request::Transmit(apdu) => {
                let _ = replies.send(transmit_on(&card, &apdu, &mut buf));
            }
            Request::Reset => {
                let r = card
                    .reconnect(ShareMode::Shared, protocols, Disposition::ResetCard)
                    .map(|_| Answer::Done)
                    .map_err(map_error);
                let _ = replies.send(r);
            }
            Request::Close => break,
        }
    }
    close(card);
}

fn serve_transaction(
    mut tx: ::pcsc::Transaction<'_>,
    protocols: Protocols,
    requests: &Receiver<Request>,
    replies: &Sender<Reply>,
    buf: &mut [u8],
) -> Flow {
    loop {
        let request = match requests.recv() {
            Ok(r) => r,
            Err(_) => {
                let _ = tx.end(Disposition::LeaveCard);
                return Flow::Close;
            }
        };
        match request {
            Request::Transmit(apdu) => {
                let _ = replies.send(transmit_on(&tx, &apdu, buf));
            }
            Request::Reset => {
                let r = tx
                    .reconnect(ShareMode::Shared, protocols, Disposition::ResetCard)
                    .map(|_| Answer::Done)
                    .map_err(map_error);
                let _ = replies.send(r);
            }
            Request::Begin => {
                // Already inside a transaction: nothing to do.
                let _ = replies.send(Ok(Answer::Begun {
                    reset: false,
                    atr: None,
                }));
            }
            Request::End => {
                let _ = tx.end(Disposition::LeaveCard);
                let _ = replies.send(Ok(Answer::Done));
                return Flow::Continue;
            }
            Request::Close => {
                let _ = tx.end(Disposition::LeaveCard);
                return Flow::Close;
            }
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
    fn service_stops_drop_the_context_and_reader_errors_do_not() {
        use ::pcsc::Error;
        // pcscd gone, and Windows stopping its Smart Card service when the last reader
        // goes (ERROR_INVALID_HANDLE arrives as UnknownError).
        for e in [
            Error::NoService,
            Error::ServiceStopped,
            Error::SystemCancelled,
            Error::InvalidHandle,
            Error::UnknownError,
            Error::CommError,
            Error::Shutdown,
        ] {
            assert!(is_service_error(e), "{e:?}");
        }
        for e in [
            Error::Timeout,
            Error::Cancelled,
            Error::UnknownReader,
            Error::ReaderUnavailable,
            Error::NoReadersAvailable,
            Error::RemovedCard,
        ] {
            assert!(!is_service_error(e), "{e:?}");
        }
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
