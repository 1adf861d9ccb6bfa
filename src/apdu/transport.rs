//! APDU transport over a card connection (pkcs11-spec.md §3.1): the transaction every
//! card operation runs in, and the ISO 7816-4 exchange rules inside it — a `6Cxx`
//! answer re-sends the command once with the exact Le, a `61xx` answer is collected
//! with GET RESPONSE until complete. Counts what it sends, per thread, for the debug
//! log and the benchmarks (§3.2.2).
//!
//! Command APDUs may carry PINs: encoded commands and raw answers are zeroized.

use super::{ApduError, Command, Response};
use crate::reader::{CardChannel, Link, ReaderError};
use std::cell::Cell;
use zeroize::Zeroizing;

/// GET RESPONSE rounds before the card is considered broken (a 64 KB answer in 256-byte
/// pieces needs 256).
pub const MAX_GET_RESPONSE: usize = 300;

/// Why an exchange failed below the card profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    Reader(ReaderError),
    /// The reader answered without a status word: the link to the card broke (vpcd
    /// answers a pulled card that way before pcscd reports it gone).
    NoStatusWord,
    /// More response data than the command's Ne (a card fault, §3.1).
    ResponseTooLong,
    /// `61xx` answers without end.
    EndlessGetResponse,
    /// The command cannot be encoded for this card (too long for its APDU size).
    Encode(ApduError),
}

impl From<ReaderError> for TransportError {
    fn from(e: ReaderError) -> Self {
        TransportError::Reader(e)
    }
}

/// Card I/O done by the current thread: APDUs (GET RESPONSE and re-sends included),
/// bytes both ways (command + response with SW) and transactions. The C edge reads
/// it before and after each call for the per-call debug line; every card operation
/// runs on the calling thread, whatever the reader, so both transports count alike.
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

/// One exclusive transaction on `channel`: `body` gets the transport and whether the
/// card was reset by someone else since the connection's previous transaction. The
/// card is released however `body` ends. `None` only if `body` never ran.
pub fn transaction<T>(
    channel: &mut dyn CardChannel,
    body: impl FnOnce(&mut Transport<'_>, bool) -> T,
) -> Result<T, ReaderError> {
    let mut body = Some(body);
    let mut result = None;
    channel.transaction(&mut |link, reset_seen| {
        count_io(0, 0, 1);
        if let Some(body) = body.take() {
            let mut transport = Transport::new(link);
            result = Some(body(&mut transport, reset_seen));
        }
    })?;
    // A channel that returns Ok without running the body breaks its contract.
    result.ok_or_else(|| ReaderError::Io("transaction body did not run".into()))
}

/// The APDU exchange of one transaction.
pub struct Transport<'a> {
    link: &'a mut dyn Link,
    /// Extended-length encoding allowed (the ATR says so).
    extended: bool,
    /// APDUs sent in this transaction.
    sent: u64,
}

impl<'a> Transport<'a> {
    pub fn new(link: &'a mut dyn Link) -> Self {
        Transport {
            link,
            extended: false,
            sent: 0,
        }
    }

    /// Allow (or not) extended-length APDUs for the commands that need them.
    pub fn set_extended(&mut self, extended: bool) {
        self.extended = extended;
    }

    /// ATR of the card in this transaction.
    pub fn atr(&self) -> &[u8] {
        self.link.atr()
    }

    /// APDUs sent so far in this transaction (GET RESPONSE and re-sends included).
    pub fn apdus_sent(&self) -> u64 {
        self.sent
    }

    /// Reset the card (warm), staying in the transaction.
    pub fn reset(&mut self) -> Result<(), ReaderError> {
        self.link.reset()
    }

    /// One APDU as is: no re-send, no GET RESPONSE.
    pub fn send_once(&mut self, cmd: &Command) -> Result<Response, TransportError> {
        let encoded = cmd.encode(self.extended).map_err(TransportError::Encode)?;
        self.sent += 1;
        crate::log::apdu(crate::log::Direction::Command, &encoded);
        let raw = Zeroizing::new(self.link.transmit(&encoded)?);
        count_io(1, (encoded.len() + raw.len()) as u64, 0);
        crate::log::apdu(crate::log::Direction::Response, &raw);
        let response = Response::parse(&raw).map_err(|_| TransportError::NoStatusWord)?;
        if response.data.len() > cmd.le.unwrap_or(0) {
            return Err(TransportError::ResponseTooLong);
        }
        Ok(response)
    }

    /// One command with the transport rules: `6Cxx` → the same command once more with
    /// Le = xx; `61xx` → GET RESPONSE until a final status.
    pub fn exchange(&mut self, cmd: &Command) -> Result<Response, TransportError> {
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
                return Err(TransportError::EndlessGetResponse);
            }
            let next = self.send_once(&get_response(more))?;
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
}

/// GET RESPONSE `00 C0 00 00 Le` [ISO].
fn get_response(le: usize) -> Command {
    Command::new(0x00, 0xC0, 0x00, 0x00).with_le(le)
}
