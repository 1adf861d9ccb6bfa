//! The vpcd bridge: connects to vsmartcard's vpcd reader driver (inside pcscd) and lets
//! it drive the card. Protocol (`shared/pcsc-stack.md`): every message is a 2-byte
//! big-endian length and a body; a 1-byte body is a control (`00` power off, `01` power
//! on, `02` reset, `04` get ATR), anything else is a command APDU.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::vcard::VirtualCard;

/// vpcd's first reader ("Virtual PCD 00 00").
pub const DEFAULT_VPCD: &str = "127.0.0.1:35963";
/// Pause between connection attempts while vpcd (pcscd) is not there.
pub const RECONNECT_INTERVAL: Duration = Duration::from_millis(250);
/// How often a blocked read wakes up to look at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How `serve` behaves.
pub struct ServeOptions<'a> {
    /// vpcd address, e.g. `127.0.0.1:35963`.
    pub vpcd: String,
    /// Return when the first connection ends instead of reconnecting.
    pub once: bool,
    /// Set by a signal handler (or a test) to make `serve` return.
    pub stop: &'a AtomicBool,
    /// Called with a line of progress (connected, disconnected).
    pub log: &'a (dyn Fn(&str) + Sync),
}

/// Serves `card` to vpcd until `stop` is set (or, with `once`, the connection ends).
/// When vpcd goes away (pcscd restarted) the card reconnects every 250 ms.
pub fn serve(card: &VirtualCard, options: &ServeOptions<'_>) -> io::Result<()> {
    let mut waiting_logged = false;
    while !options.stop.load(Ordering::SeqCst) {
        let stream = match connect(&options.vpcd) {
            Ok(stream) => stream,
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Err(e),
            Err(e) => {
                if !waiting_logged {
                    (options.log)(&format!("waiting for vpcd at {}: {e}", options.vpcd));
                    waiting_logged = true;
                }
                std::thread::sleep(RECONNECT_INTERVAL);
                continue;
            }
        };
        waiting_logged = false;
        (options.log)(&format!("connected to vpcd at {}", options.vpcd));
        let result = run_connection(card, stream, options.stop);
        // The reader lost its card: a real card would lose power too.
        card.power_off();
        match result {
            Ok(()) => (options.log)("vpcd closed the connection"),
            Err(e) => (options.log)(&format!("vpcd connection lost: {e}")),
        }
        if options.once {
            break;
        }
    }
    Ok(())
}

/// A card in a vpcd reader: served from a background thread for one connection, until
/// [`unplug`](Self::unplug) or drop pulls it out (tests and tools that drive pcscd).
pub struct Plugged {
    pub card: Arc<VirtualCard>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Plugged {
    /// Start serving `card` to the vpcd reader at `vpcd` (e.g. [`DEFAULT_VPCD`]).
    pub fn new(card: Arc<VirtualCard>, vpcd: String) -> Plugged {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (card, stop) = (card.clone(), stop.clone());
            std::thread::spawn(move || {
                let options = ServeOptions {
                    vpcd,
                    once: true,
                    stop: &stop,
                    log: &|_| {},
                };
                let _ = serve(&card, &options);
            })
        };
        Plugged {
            card,
            stop,
            thread: Some(thread),
        }
    }

    /// Pull the card out: stop serving and wait for the serving thread to end.
    pub fn unplug(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Plugged {
    fn drop(&mut self) {
        self.unplug();
    }
}

fn connect(address: &str) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::InvalidInput, "address resolves to nothing");
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => {
                // vpcd sends length and body separately; without these every APDU
                // waits ~40 ms for delayed ACKs (pcsc-stack.md).
                stream.set_nodelay(true)?;
                stream.set_read_timeout(Some(POLL_INTERVAL))?;
                return Ok(stream);
            }
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Handles one vpcd connection; `Ok` when vpcd closed it or `stop` was set.
fn run_connection(card: &VirtualCard, mut stream: TcpStream, stop: &AtomicBool) -> io::Result<()> {
    loop {
        let mut header = [0u8; 2];
        if !read_message(&mut stream, &mut header, stop)? {
            return Ok(());
        }
        let length = usize::from(u16::from_be_bytes(header));
        let mut body = vec![0u8; length];
        if length > 0 && !read_message(&mut stream, &mut body, stop)? {
            return Ok(());
        }
        let reply = match body.as_slice() {
            [] => continue,
            [0x00] => {
                card.power_off();
                continue;
            }
            [0x01] => {
                card.power_on();
                continue;
            }
            [0x02] => {
                card.reset();
                continue;
            }
            [0x04] => {
                if card.is_present() {
                    card.atr()
                } else {
                    Vec::new()
                }
            }
            [_] => continue,
            apdu => card.transmit(apdu),
        };
        // vpcd's frame holds at most 65535 bytes; only GET CHALLENGE with extended
        // Le 0000 (65536 + SW) can exceed it: answer "no precise diagnosis" instead.
        let reply = if reply.len() > usize::from(u16::MAX) {
            vec![0x6F, 0x00]
        } else {
            reply
        };
        let length = reply.len() as u16;
        // Length and body in one write: a split write meets vpcd's delayed ACK.
        let mut message = Vec::with_capacity(2 + reply.len());
        message.extend_from_slice(&length.to_be_bytes());
        message.extend_from_slice(&reply);
        stream.write_all(&message)?;
    }
}

/// Fills `buf` completely. `Ok(false)`: the peer closed the connection before the first
/// byte, or `stop` was set while idle. A message is never abandoned halfway.
fn read_message(stream: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        quick_ack(stream);
        match stream.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if filled == 0 && stop.load(Ordering::SeqCst) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// TCP_QUICKACK: Linux turns it off again by itself, so it is set before every read.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn quick_ack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the stated size.
    // Failure only costs latency, so the result is ignored.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_stream: &TcpStream) {}
