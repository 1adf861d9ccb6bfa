//! `eimza`: the card holder's tool for e-imza cards, a PKCS#11 client that works with
//! any module (`--module PATH`; by default the eimza module installed beside it).
//!
//! Commands: `status`, `pin change`, `pin unblock`, `sign FILE`, `demo`, `diagnose`; the command
//! line is [`args::command`] (clap). Messages are Turkish when LC_ALL / LC_MESSAGES /
//! LANG start with "tr". A library so that cli/assets can generate the man page and
//! shell completions from the same command line; the binary is src/main.rs.
//!
//! Exit codes:
//! - 0 success
//! - 1 usage error, or input refused before the card saw it (policy, mismatch, cancel)
//! - 2 no module, reader, card or token
//! - 3 wrong PIN or PUK
//! - 4 PIN or PUK blocked
//! - 5 any other error

pub mod args;
mod certinfo;
mod cms;
mod commands;
mod demo;
pub mod diagnose;
pub mod i18n;
mod policy;
mod prompt;
mod token;

use args::Command;
use commands::Out;
use i18n::{Lang, Msg};
use std::path::PathBuf;

/// Process exit codes (documented in `--help` and above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Usage = 1,
    NoToken = 2,
    WrongPin = 3,
    Blocked = 4,
    Other = 5,
}

/// Why a command stopped: the message for the holder and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: Exit,
    pub msg: Msg,
}

impl Failure {
    pub fn new(code: Exit, msg: Msg) -> Failure {
        Failure { code, msg }
    }
}

/// Options valid for every command.
#[derive(Default)]
pub struct Options {
    pub module: Option<PathBuf>,
    pub slot: Option<u64>,
    pub stdin: bool,
    pub yes: bool,
}

fn run(lang: Lang) -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, command) = args::parse(&args, lang).map_err(|m| Failure::new(Exit::Usage, m))?;
    let out = Out { lang };
    let mut input = prompt::Input::new(opts.stdin, opts.yes, lang);
    match command {
        Command::Help(text) => {
            write_out(text.trim_end());
            write_out("\n");
            Ok(())
        }
        Command::Version => {
            write_out(&format!("{}\n", Msg::Version.text(lang)));
            Ok(())
        }
        Command::Status => commands::status(&opts, &out),
        Command::PinChange => commands::pin_change(&opts, &out, &mut input),
        Command::PinUnblock => commands::pin_unblock(&opts, &out, &mut input),
        Command::Sign(sign) => commands::sign(&opts, &sign, &out, &mut input),
        Command::Demo => demo::run(&opts, &out),
        Command::Diagnose(options) => diagnose::run(&options, lang),
    }
}

/// Writes to stdout; a closed pipe (`eimza status | head`) is not worth a panic.
pub fn write_out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush());
}

/// Writes to stderr (prompts, warnings, errors), flushed so a prompt shows at once.
pub fn write_err(text: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|_| stderr.flush());
}

/// The whole program: run the command line, print the failure, exit with its code.
pub fn main() {
    let lang = Lang::from_env();
    match run(lang) {
        Ok(()) => std::process::exit(0),
        Err(failure) => {
            write_err(&format!("eimza: {}\n", failure.msg.text(lang)));
            std::process::exit(failure.code as i32)
        }
    }
}
