//! Debug log: `EIMZA_PKCS11_LOG=FILE|stderr`, `EIMZA_PKCS11_LOG_LEVEL=error|warn|info|debug|trace`
//! (default `debug` when a log target is set). Set from the [`Config`] of each
//! `C_Initialize`, never from a library constructor: loading the module must not open
//! files in every process that happens to load it.
//!
//! PINs are never logged: the PKCS#11 layer logs their length only, and
//! [`apdu`] redacts the data of VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER.
//!
//! A panic inside the module (in a call, or on a PC/SC worker thread) is reported here
//! and nowhere else: the host application's stderr stays quiet unless the log is on
//! (and is stderr). Panics outside the module go to the hook that was there before.

use crate::config::{Config, LogTarget};
use parking_lot::Mutex;
use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub(crate) fn parse(text: &str) -> Option<Level> {
        match text.trim().to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            "trace" => Some(Level::Trace),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

/// Highest level written; 0: the log is off. Read on every `log_at!`, so an atomic.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(0);

struct Sink {
    target: LogTarget,
    out: Box<dyn Write + Send>,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);

/// Apply a configuration: open the target if it changed, set the level, or turn the
/// log off. A file that cannot be opened means no log (logging never fails a call).
pub fn configure(config: &Config) {
    let mut sink = SINK.lock();
    let Some(target) = &config.log else {
        MAX_LEVEL.store(0, Ordering::Relaxed);
        *sink = None;
        return;
    };
    if sink.as_ref().map(|s| &s.target) != Some(target) {
        let out: Option<Box<dyn Write + Send>> = match target {
            LogTarget::Stderr => Some(Box::new(std::io::stderr())),
            LogTarget::File(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
                .map(|f| Box::new(f) as Box<dyn Write + Send>),
        };
        *sink = out.map(|out| Sink {
            target: target.clone(),
            out,
        });
    }
    let level = if sink.is_some() {
        config.log_level as u8
    } else {
        0
    };
    MAX_LEVEL.store(level, Ordering::Relaxed);
}

/// Whether a message at `level` would be written (callers skip formatting otherwise).
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Write one line. Errors writing the log are ignored: logging must never fail a call.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Formatted before the sink is locked: a panic while formatting must not happen
    // under the lock the panic hook then needs.
    let line = format!(
        "{}.{:03} [{}] pid={} {:?}: {}\n",
        now.as_secs(),
        now.subsec_millis(),
        level.name(),
        std::process::id(),
        std::thread::current().id(),
        args
    );
    if let Some(sink) = SINK.lock().as_mut() {
        let _ = sink.out.write_all(line.as_bytes());
        let _ = sink.out.flush();
    }
}

thread_local! {
    /// Module code is running on this thread (a PKCS#11 call, or a PC/SC worker).
    static IN_MODULE: Cell<u32> = const { Cell::new(0) };
}

/// Marks the current thread as running module code while alive, so a panic on it is
/// the module's (reported to the log only).
pub struct InModule(());

impl InModule {
    pub fn enter() -> InModule {
        IN_MODULE.with(|d| d.set(d.get().saturating_add(1)));
        InModule(())
    }
}

impl Drop for InModule {
    fn drop(&mut self) {
        IN_MODULE.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Install (once per process) the panic hook: a panic in module code goes to the log
/// when it is on and is otherwise silent; any other panic goes to the previous hook.
pub fn install_panic_hook() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_MODULE.with(Cell::get) > 0 {
                write(Level::Error, format_args!("panic: {info}"));
            } else {
                previous(info);
            }
        }));
    });
}

/// `log_at!(Level::Debug, "format {}", args)`: formats only when enabled.
#[macro_export]
macro_rules! log_at {
    ($level:expr, $($arg:tt)*) => {
        if $crate::log::enabled($level) {
            $crate::log::write($level, format_args!($($arg)*));
        }
    };
}

/// Direction of an APDU for [`apdu`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Module → card.
    Command,
    /// Card → module.
    Response,
}

/// INS bytes whose command data carries PIN/PUK values.
const SECRET_INS: [u8; 3] = [0x20, 0x24, 0x2C];

/// Render an APDU for the log, with PIN-carrying data replaced by its length.
pub fn format_apdu(direction: Direction, bytes: &[u8]) -> String {
    match direction {
        Direction::Command if bytes.len() > 4 && SECRET_INS.contains(&bytes[1]) => {
            format!(
                "> {} [{} bytes of PIN data redacted]",
                hex(&bytes[..4]),
                bytes.len() - 4
            )
        }
        Direction::Command => format!("> {}", hex(bytes)),
        Direction::Response => format!("< {}", hex(bytes)),
    }
}

/// Log one APDU at trace level (for the card/reader layers).
pub fn apdu(direction: Direction, bytes: &[u8]) {
    if enabled(Level::Trace) {
        write(
            Level::Trace,
            format_args!("{}", format_apdu(direction, bytes)),
        );
    }
}

/// Upper-case hex with spaces, for logs.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_data_is_redacted() {
        let verify = [
            0x00, 0x20, 0x00, 0x81, 0x06, b'1', b'2', b'3', b'4', b'5', b'6',
        ];
        let line = format_apdu(Direction::Command, &verify);
        assert!(line.contains("00 20 00 81"));
        assert!(line.contains("7 bytes of PIN data redacted"));
        assert!(!line.contains("31 32"));
    }

    #[test]
    fn change_and_reset_data_are_redacted_but_other_commands_are_not() {
        for ins in [0x24u8, 0x2C] {
            let line = format_apdu(
                Direction::Command,
                &[0x00, ins, 0x00, 0x81, 0x02, 0x31, 0x32],
            );
            assert!(!line.contains("31 32"), "{line}");
        }
        let read = format_apdu(Direction::Command, &[0x00, 0xB0, 0x8B, 0x00, 0x00]);
        assert_eq!(read, "> 00 B0 8B 00 00");
        // A counter query (VERIFY without data) has nothing to hide.
        let query = format_apdu(Direction::Command, &[0x00, 0x20, 0x00, 0x81]);
        assert_eq!(query, "> 00 20 00 81");
    }

    #[test]
    fn extended_length_pin_commands_are_redacted_too() {
        let pin = [0x31, 0x32, 0x33, 0x34, 0x35, 0x36];
        // Extended Lc (00 00 06), extended Lc + Le, and a PUK‖new RESET RETRY COUNTER.
        let mut extended = vec![0x00, 0x20, 0x00, 0x81, 0x00, 0x00, 0x06];
        extended.extend_from_slice(&pin);
        let mut with_le = extended.clone();
        with_le.extend_from_slice(&[0x00, 0x00]);
        let mut change = vec![0x00, 0x24, 0x00, 0x81, 0x00, 0x00, 0x0C];
        change.extend_from_slice(&pin);
        change.extend_from_slice(&pin);
        let mut reset = vec![0x00, 0x2C, 0x00, 0x81, 0x0E];
        reset.extend_from_slice(&[0x37; 8]);
        reset.extend_from_slice(&pin);
        for apdu in [extended, with_le, change, reset] {
            let line = format_apdu(Direction::Command, &apdu);
            assert!(line.contains("redacted"), "{line}");
            assert!(!line.contains("31 32") && !line.contains("37 37"), "{line}");
            assert!(
                line.starts_with(&format!("> {}", hex(&apdu[..4]))),
                "{line}"
            );
        }
    }

    #[test]
    fn levels_parse() {
        assert_eq!(Level::parse("TRACE"), Some(Level::Trace));
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse("loud"), None);
        assert!(Level::Error < Level::Trace);
    }
}
