//! Reading PINs and answers: without echo from a terminal, or as plain lines from
//! standard input for scripts.
//!
//! Terminal echo is switched off with termios and switched back on by a guard on every
//! way out: normal return, error, panic (the guard's `Drop`) and the signals that end a
//! process from the keyboard or the system (a handler restores the saved settings and
//! re-raises the signal). Ctrl-Z restores echo for the shell and switches it off again
//! on `fg`. On Windows the console's `ENABLE_ECHO_INPUT` mode is switched off instead,
//! and restored by the guard and by a console control handler (Ctrl-C, Ctrl-Break,
//! closing the window). This file and nothing else in the tool uses `unsafe`.

use crate::i18n::{Lang, Msg};
use crate::{write_err, Exit, Failure};
#[cfg(windows)]
use console::{read_stdin_byte, stdin_is_terminal, EchoOff};
#[cfg(unix)]
use std::cell::UnsafeCell;
#[cfg(unix)]
use std::mem::MaybeUninit;
#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroizing;

/// Where input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Standard input is a terminal: prompts on stderr, PINs without echo.
    Terminal,
    /// Lines from standard input (`--stdin` or a pipe); prompts still on stderr.
    Lines,
}

pub struct Input {
    mode: Mode,
    assume_yes: bool,
    lang: Lang,
    /// `eimza demo`: answers given by the program, shown on screen as `******`.
    script: Option<std::collections::VecDeque<Zeroizing<String>>>,
}

impl Input {
    pub fn new(force_lines: bool, assume_yes: bool, lang: Lang) -> Input {
        let mode = if force_lines || !stdin_is_terminal() {
            Mode::Lines
        } else {
            Mode::Terminal
        };
        Input {
            mode,
            assume_yes,
            lang,
            script: None,
        }
    }

    /// Input that answers from `answers` in order (PINs and yes/no), for the demo.
    #[cfg_attr(not(feature = "demo"), allow(dead_code))]
    pub fn scripted(answers: &[&str], lang: Lang) -> Input {
        Input {
            mode: Mode::Lines,
            assume_yes: false,
            lang,
            script: Some(
                answers
                    .iter()
                    .map(|a| Zeroizing::new(a.to_string()))
                    .collect(),
            ),
        }
    }

    /// The next scripted answer, echoed as stars (secret) or as itself.
    fn next_scripted(
        &mut self,
        prompt: &Msg,
        secret: bool,
    ) -> Option<Result<Zeroizing<String>, Failure>> {
        let script = self.script.as_mut()?;
        let answer = script.pop_front();
        Some(match answer {
            Some(answer) => {
                let shown = if secret {
                    "*".repeat(answer.chars().count())
                } else {
                    answer.to_string()
                };
                write_err(&format!("{}{shown}\n", prompt.text(self.lang)));
                Ok(answer)
            }
            None => Err(Failure::new(Exit::Usage, Msg::EndOfInput)),
        })
    }

    /// Asks for a secret. The line is returned without its line ending.
    pub fn secret(&mut self, prompt: &Msg) -> Result<Zeroizing<String>, Failure> {
        if let Some(answer) = self.next_scripted(prompt, true) {
            return answer;
        }
        let line = match self.mode {
            Mode::Terminal => {
                // Echo goes off before the prompt appears, so nothing typed after
                // seeing the prompt can be echoed.
                let guard = EchoOff::new();
                write_err(&prompt.text(self.lang));
                let line = read_line_raw();
                drop(guard);
                // The user's Enter was not echoed: end the prompt line ourselves.
                write_err("\n");
                line
            }
            Mode::Lines => {
                write_err(&prompt.text(self.lang));
                read_line_raw()
            }
        };
        let bytes = line
            .map_err(|e| Failure::new(Exit::Other, Msg::ReadFailed("stdin".into(), e.to_string())))?
            .ok_or_else(|| Failure::new(Exit::Usage, Msg::EndOfInput))?;
        // A PIN that is not UTF-8 cannot satisfy the digits-only policy; turn it into
        // a string the policy check will reject, without printing it.
        let text = match std::str::from_utf8(&bytes) {
            Ok(s) => Zeroizing::new(s.to_string()),
            Err(_) => Zeroizing::new("\u{fffd}".to_string()),
        };
        Ok(text)
    }

    /// Asks a yes/no question; anything but an explicit yes is no.
    pub fn confirm(&mut self, question: &Msg) -> Result<bool, Failure> {
        if let Some(answer) = self.next_scripted(question, false) {
            return Ok(is_yes(answer?.trim()));
        }
        write_err(&question.text(self.lang));
        if self.assume_yes {
            write_err(match self.lang {
                Lang::English => "yes\n",
                Lang::Turkish => "evet\n",
            });
            return Ok(true);
        }
        let line = read_line_raw()
            .map_err(|e| Failure::new(Exit::Other, Msg::ReadFailed("stdin".into(), e.to_string())))?
            .ok_or_else(|| Failure::new(Exit::Usage, Msg::EndOfInput))?;
        let answer = String::from_utf8_lossy(&line).trim().to_lowercase();
        Ok(is_yes(&answer))
    }
}

/// English and Turkish yes.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer, "y" | "yes" | "e" | "evet")
}

#[cfg(unix)]
fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// One byte from fd 0: 1, 0 at end of input, negative on error (errno).
#[cfg(unix)]
fn read_stdin_byte(byte: &mut u8) -> isize {
    // SAFETY: reads at most one byte into a valid local.
    unsafe { libc::read(libc::STDIN_FILENO, (byte as *mut u8).cast(), 1) }
}

/// Reads one line from fd 0 a byte at a time, so nothing beyond the line is consumed
/// (the next prompt reads the next line) and no library buffer keeps a copy of the PIN.
/// `Ok(None)` at end of input before any byte.
fn read_line_raw() -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(LINE_LIMIT));
    let mut too_long = false;
    loop {
        let mut byte = 0u8;
        let n = read_stdin_byte(&mut byte);
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if n == 0 {
            if line.is_empty() && !too_long {
                return Ok(None);
            }
            break;
        }
        if byte == b'\n' {
            break;
        }
        // Never reallocate (that would leave an unzeroized copy behind); a line this
        // long is no PIN, and is replaced below by something the policy rejects.
        if line.len() < LINE_LIMIT {
            line.push(byte);
        } else {
            too_long = true;
        }
    }
    if too_long {
        line.clear();
        line.extend_from_slice(b"?");
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// Longest line kept; PINs are at most a few dozen characters.
const LINE_LIMIT: usize = 512;

#[cfg(unix)]
/// Termios saved for the signal handler. Written only while no handler is installed
/// (before `sigaction`), read only by the handler and the guard.
struct SavedTermios(UnsafeCell<MaybeUninit<libc::termios>>);
#[cfg(unix)]
// SAFETY: access is ordered by SAVED_VALID and by installing the handlers after the write.
unsafe impl Sync for SavedTermios {}
#[cfg(unix)]
static SAVED: SavedTermios = SavedTermios(UnsafeCell::new(MaybeUninit::uninit()));
#[cfg(unix)]
/// The echo-off settings, re-applied when the process continues after Ctrl-Z.
static SILENT: SavedTermios = SavedTermios(UnsafeCell::new(MaybeUninit::uninit()));
#[cfg(unix)]
static SAVED_VALID: AtomicBool = AtomicBool::new(false);

#[cfg(unix)]
const RESTORE_SIGNALS: [libc::c_int; 4] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

#[cfg(unix)]
extern "C" fn restore_and_reraise(signal: libc::c_int) {
    // Only async-signal-safe calls here: tcsetattr, write, signal, raise.
    if SAVED_VALID.load(Ordering::SeqCst) {
        // SAFETY: SAVED holds a complete termios whenever SAVED_VALID is true.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, (*SAVED.0.get()).as_ptr());
        }
    }
    // SAFETY: plain system calls with valid arguments.
    unsafe {
        libc::write(libc::STDERR_FILENO, b"\n".as_ptr().cast(), 1);
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

#[cfg(unix)]
/// Ctrl-Z at the prompt: give the shell its terminal back with echo on, stop, and
/// switch echo off again when continued (`fg`), so the PIN is never echoed after it.
extern "C" fn suspend_with_echo(signal: libc::c_int) {
    let valid = SAVED_VALID.load(Ordering::SeqCst);
    // SAFETY: async-signal-safe calls only; SAVED/SILENT are complete while `valid`.
    unsafe {
        if valid {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, (*SAVED.0.get()).as_ptr());
        }
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal); // stops here until SIGCONT (SA_NODEFER: not blocked)
        install(signal, suspend_with_echo, libc::SA_NODEFER);
        if valid {
            libc::tcsetattr(
                libc::STDIN_FILENO,
                libc::TCSANOW,
                (*SILENT.0.get()).as_ptr(),
            );
        }
    }
}

#[cfg(unix)]
/// Installs `handler` for `signal` unless the signal is ignored (nohup, shells);
/// returns the previous action when it installed one.
///
/// # Safety
/// `handler` must be async-signal-safe.
unsafe fn install(
    signal: libc::c_int,
    handler: extern "C" fn(libc::c_int),
    flags: libc::c_int,
) -> Option<libc::sigaction> {
    // SAFETY: sigaction is plain data (all-zero is a valid value); the query only
    // writes `current`.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } != 0
        || current.sa_sigaction == libc::SIG_IGN
    {
        return None;
    }
    // SAFETY: plain data, all-zero is valid.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as *const () as libc::sighandler_t;
    action.sa_flags = flags;
    // SAFETY: `action.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: plain data, all-zero is valid.
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: the handler is async-signal-safe (this function's contract); `action` and
    // `previous` are valid sigaction values.
    (unsafe { libc::sigaction(signal, &action, &mut previous) } == 0).then_some(previous)
}

#[cfg(unix)]
/// Echo is off while this lives.
struct EchoOff {
    previous_actions: Vec<(libc::c_int, libc::sigaction)>,
}

#[cfg(unix)]
impl EchoOff {
    fn new() -> EchoOff {
        let mut guard = EchoOff {
            previous_actions: Vec::new(),
        };
        let mut original = MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the termios on success; we use it only then.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, original.as_mut_ptr()) } != 0 {
            return guard; // not a terminal after all: read with echo rather than fail
        }
        // SAFETY: initialised by the successful tcgetattr above.
        let original = unsafe { original.assume_init() };
        let mut silent = original;
        silent.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
        // SAFETY: no handler is installed yet, so nobody reads SAVED/SILENT concurrently.
        unsafe {
            (*SAVED.0.get()).write(original);
            (*SILENT.0.get()).write(silent);
        }
        SAVED_VALID.store(true, Ordering::SeqCst);
        for signal in RESTORE_SIGNALS {
            // SAFETY: restore_and_reraise is async-signal-safe.
            if let Some(previous) = unsafe { install(signal, restore_and_reraise, 0) } {
                guard.previous_actions.push((signal, previous));
            }
        }
        // SAFETY: suspend_with_echo is async-signal-safe.
        if let Some(previous) =
            unsafe { install(libc::SIGTSTP, suspend_with_echo, libc::SA_NODEFER) }
        {
            guard.previous_actions.push((libc::SIGTSTP, previous));
        }
        // TCSANOW, not TCSAFLUSH: type-ahead (a pasted PIN) is kept, not discarded.
        // SAFETY: a valid termios derived from the current one.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &silent) };
        guard
    }
}

#[cfg(unix)]
impl Drop for EchoOff {
    fn drop(&mut self) {
        if SAVED_VALID.load(Ordering::SeqCst) {
            // SAFETY: SAVED holds the termios saved by `new`.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, (*SAVED.0.get()).as_ptr());
            }
        }
        for (signal, previous) in self.previous_actions.drain(..) {
            // SAFETY: restores the action saved by `new`.
            unsafe {
                libc::sigaction(signal, &previous, std::ptr::null_mut());
            }
        }
        SAVED_VALID.store(false, Ordering::SeqCst);
    }
}

/// The Windows console: echo off through the console mode (kernel32, declared here
/// rather than pulling in a bindings crate for five functions).
#[cfg(windows)]
mod console {
    use std::ffi::c_void;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    type Handle = *mut c_void;
    const STD_INPUT_HANDLE: u32 = -10i32 as u32;
    const ENABLE_ECHO_INPUT: u32 = 0x0004;
    const ERROR_BROKEN_PIPE: i32 = 109;

    #[link(name = "kernel32")]
    extern "system" {
        fn GetStdHandle(which: u32) -> Handle;
        fn GetConsoleMode(console: Handle, mode: *mut u32) -> i32;
        fn SetConsoleMode(console: Handle, mode: u32) -> i32;
        fn ReadFile(
            file: Handle,
            buffer: *mut c_void,
            to_read: u32,
            read: *mut u32,
            overlapped: *mut c_void,
        ) -> i32;
        fn SetConsoleCtrlHandler(
            handler: Option<unsafe extern "system" fn(u32) -> i32>,
            add: i32,
        ) -> i32;
    }

    fn stdin() -> Handle {
        // SAFETY: no arguments beyond the constant; the handle is not owned by us.
        unsafe { GetStdHandle(STD_INPUT_HANDLE) }
    }

    fn console_mode() -> Option<u32> {
        let mut mode = 0u32;
        // SAFETY: a handle from GetStdHandle and a valid out pointer; fails (0) for
        // anything that is not a console.
        (unsafe { GetConsoleMode(stdin(), &mut mode) } != 0).then_some(mode)
    }

    pub fn stdin_is_terminal() -> bool {
        console_mode().is_some()
    }

    /// One byte of standard input (console, pipe or file): 1, 0 at end of input,
    /// negative on error (GetLastError). The console hands over a line after Enter,
    /// ending in "\r\n"; the caller drops the '\r'.
    pub fn read_stdin_byte(byte: &mut u8) -> isize {
        let mut read = 0u32;
        // SAFETY: reads at most one byte into a valid local; no overlapped I/O.
        let ok = unsafe {
            ReadFile(
                stdin(),
                (byte as *mut u8).cast(),
                1,
                &mut read,
                std::ptr::null_mut(),
            )
        };
        if ok != 0 {
            read as isize
        } else if std::io::Error::last_os_error().raw_os_error() == Some(ERROR_BROKEN_PIPE) {
            0 // the writing end of a pipe closed: end of input
        } else {
            -1
        }
    }

    /// The console mode before echo went off, for the control handler.
    static SAVED_MODE: AtomicU32 = AtomicU32::new(0);
    static SAVED_VALID: AtomicBool = AtomicBool::new(false);

    /// Ctrl-C, Ctrl-Break, closing the window: echo back on, then let the default
    /// handler end the process (FALSE = not handled here).
    unsafe extern "system" fn restore_on_control(_event: u32) -> i32 {
        if SAVED_VALID.load(Ordering::SeqCst) {
            // SAFETY: the console input handle and the mode saved before echo went off.
            unsafe { SetConsoleMode(stdin(), SAVED_MODE.load(Ordering::SeqCst)) };
        }
        0
    }

    /// Echo is off while this lives.
    pub struct EchoOff {
        handler_installed: bool,
    }

    impl EchoOff {
        pub fn new() -> EchoOff {
            let Some(original) = console_mode() else {
                // Not a console after all: read with echo rather than fail.
                return EchoOff {
                    handler_installed: false,
                };
            };
            SAVED_MODE.store(original, Ordering::SeqCst);
            SAVED_VALID.store(true, Ordering::SeqCst);
            // SAFETY: registers a handler that only restores the saved console mode.
            let handler_installed =
                unsafe { SetConsoleCtrlHandler(Some(restore_on_control), 1) } != 0;
            // SAFETY: the console input handle and a mode derived from its current one.
            unsafe { SetConsoleMode(stdin(), original & !ENABLE_ECHO_INPUT) };
            EchoOff { handler_installed }
        }
    }

    impl Drop for EchoOff {
        fn drop(&mut self) {
            if SAVED_VALID.swap(false, Ordering::SeqCst) {
                // SAFETY: restores the mode saved by `new` on the same handle.
                unsafe { SetConsoleMode(stdin(), SAVED_MODE.load(Ordering::SeqCst)) };
            }
            if self.handler_installed {
                // SAFETY: removes the handler `new` registered.
                unsafe { SetConsoleCtrlHandler(Some(restore_on_control), 0) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_answers_come_in_order_and_then_run_out() {
        let mut input = Input::scripted(&["123456", "evet", "no"], Lang::Turkish);
        assert_eq!(
            input
                .secret(&Msg::PromptPin)
                .ok()
                .as_deref()
                .map(|s| s.as_str()),
            Some("123456")
        );
        assert!(matches!(input.confirm(&Msg::ConfirmQuestion), Ok(true)));
        assert!(matches!(input.confirm(&Msg::ConfirmQuestion), Ok(false)));
        let end = input.secret(&Msg::PromptPin).err().map(|f| (f.code, f.msg));
        assert_eq!(end, Some((Exit::Usage, Msg::EndOfInput)));
    }

    #[test]
    fn yes_in_both_languages_and_nothing_else() {
        for yes in ["y", "yes", "e", "evet"] {
            assert!(is_yes(yes));
        }
        for no in ["", "n", "no", "h", "hayır", "yess", "ye"] {
            assert!(!is_yes(no), "{no}");
        }
    }
}
