//! A PC/SC connection served by a worker thread that owns the `pcsc::Card`: the
//! crate's `Transaction` borrows the card, and a thread that keeps the transaction on
//! its stack between `begin()` and `end()` needs no `unsafe`. The worker also bounds
//! the wait for the card's lock (pcsc-lite's `SCardBeginTransaction` waits forever,
//! the caller waits at most the configured card wait), and the caller does not wait
//! for `SCardEndTransaction`. A panic on the worker is caught: the connection reports
//! an I/O error and the card is disconnected leaving it as it is.
//!
//! Dropping the channel waits (bounded) for its workers to finish: after C_Finalize
//! returns the application may unload the module and exit, and a worker still inside
//! libpcsclite then races the library's own exit-time clean-up (seen in CI as a
//! "double free" abort of pkcs11-tool right after its C_Finalize).

use super::{close, current_atr, map_error};
use crate::reader::{ReaderError, SteppedChannel};
use ::pcsc::{Disposition, Protocols, ShareMode};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Longest wait for one APDU (a slow card signing with a large RSA key takes < 2 s).
const TRANSMIT_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for the worker to end a transaction or reset the card.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait, when the channel is dropped, for its workers to disconnect and end.
/// A live worker needs two pcscd round trips; an abandoned one is stuck in a blocking
/// call and is left running after this (logged).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

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
pub struct WorkerChannel {
    reader: CString,
    /// Longest wait in `begin()` for another application's transaction.
    card_wait: Duration,
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    /// The worker behind `requests`, or the last one if the channel is `abandoned`.
    thread: WorkerThread,
    /// Workers replaced by a reconnect and not known to have ended yet (an abandoned
    /// one may be stuck in a blocking call).
    abandoned_workers: Vec<WorkerThread>,
    atr: Vec<u8>,
    /// Set when the worker was abandoned (timeout); the next `begin()` reconnects.
    abandoned: bool,
    /// `end()` was sent and its answer not read yet: the caller does not wait for
    /// `SCardEndTransaction` (one pcscd round trip less per operation); the next
    /// request reads that answer first.
    end_pending: bool,
}

impl WorkerChannel {
    pub fn open(reader: CString, card_wait: Duration) -> Result<Self, ReaderError> {
        let WorkerEnds {
            requests,
            replies,
            thread,
            atr,
        } = spawn_worker(&reader)?;
        Ok(WorkerChannel {
            reader,
            card_wait,
            requests,
            replies,
            thread,
            abandoned_workers: Vec::new(),
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

/// A worker thread, and a channel whose only sender the worker drops as its last act
/// (after closing its card), so the wait for it can be bounded.
struct WorkerThread {
    finished: Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl WorkerThread {
    /// Wait until `deadline` for the worker to close its card, then join it (it is only
    /// exiting by then). False if it is still running.
    fn join_by(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if !matches!(
            self.finished.recv_timeout(left),
            Err(RecvTimeoutError::Disconnected)
        ) {
            return false;
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        true
    }
}

impl Drop for WorkerChannel {
    fn drop(&mut self) {
        let _ = self.requests.send(Request::Close);
        let deadline = Instant::now() + CLOSE_WAIT;
        let mut still_running = 0;
        for worker in std::iter::once(&mut self.thread).chain(&mut self.abandoned_workers) {
            if !worker.join_by(deadline) {
                still_running += 1;
            }
        }
        if still_running > 0 {
            crate::log_at!(
                crate::log::Level::Warn,
                "PC/SC: {still_running} worker(s) still in a blocking call after {CLOSE_WAIT:?}; left running"
            );
        }
    }
}

impl SteppedChannel for WorkerChannel {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        let mut reconnected = false;
        if self.abandoned {
            // A fresh connection cannot know about resets in between: report one, the
            // caller then assumes the login is gone (safe side).
            let WorkerEnds {
                requests,
                replies,
                thread,
                atr,
            } = spawn_worker(&self.reader)?;
            self.requests = requests;
            self.replies = replies;
            let replaced = std::mem::replace(&mut self.thread, thread);
            let now = Instant::now();
            self.abandoned_workers.retain_mut(|w| !w.join_by(now));
            self.abandoned_workers.push(replaced);
            self.atr = atr;
            self.abandoned = false;
            self.end_pending = false;
            reconnected = true;
        }
        match self.call(Request::Begin, self.card_wait)? {
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

struct WorkerEnds {
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    thread: WorkerThread,
    atr: Vec<u8>,
}

fn spawn_worker(reader: &CString) -> Result<WorkerEnds, ReaderError> {
    let (card, protocols) = super::connect(reader)?;
    let atr = current_atr(&card);
    let (req_tx, req_rx) = mpsc::channel();
    let (rep_tx, rep_rx) = mpsc::channel();
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("eimza-pcsc".into())
        .spawn(move || {
            let _module = crate::log::InModule::enter();
            let mut card = card;
            // A panic ends the worker (the caller sees it stopped), never the process;
            // the card is disconnected leaving it as it is either way.
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                worker(&mut card, protocols, req_rx, rep_tx)
            }));
            if outcome.is_err() {
                crate::log_at!(crate::log::Level::Error, "PC/SC worker: panic caught");
            }
            close(card);
            // Last: whoever drops the channel waits for this.
            drop(finished_tx);
        })
        .map_err(|e| ReaderError::Io(format!("cannot start PC/SC worker: {e}")))?;
    Ok(WorkerEnds {
        requests: req_tx,
        replies: rep_rx,
        thread: WorkerThread {
            finished: finished_rx,
            handle: Some(handle),
        },
        atr,
    })
}

/// `buf`: the worker's answer buffer, allocated once (64 KB zeroed per APDU cost more
/// than the exchange with pcscd); wiped when the worker ends.
fn transmit_on(card: &::pcsc::Card, apdu: &[u8], buf: &mut [u8]) -> Reply {
    card.transmit(apdu, buf)
        .map(|data| Answer::Data(Zeroizing::new(data.to_vec())))
        .map_err(map_error)
}

enum Flow {
    Continue,
    Close,
}

fn worker(
    card: &mut ::pcsc::Card,
    protocols: Protocols,
    requests: Receiver<Request>,
    replies: Sender<Reply>,
) {
    let mut buf = super::answer_buffer();
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
                let _ = replies.send(transmit_on(card, &apdu, &mut buf));
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
