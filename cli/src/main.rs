//! `eimza`: the card holder's tool for e-imza cards, a PKCS#11 client that works with
//! any module (`--module PATH`; by default the eimza module installed beside it).
//!
//! Commands: `status`, `pin change`, `pin unblock`, `sign FILE`, `demo`, `diagnose`.
//! Messages are Turkish when LC_ALL / LC_MESSAGES / LANG start with "tr".
//!
//! Exit codes:
//! - 0 success
//! - 1 usage error, or input refused before the card saw it (policy, mismatch, cancel)
//! - 2 no module, reader, card or token
//! - 3 wrong PIN or PUK
//! - 4 PIN or PUK blocked
//! - 5 any other error

mod certinfo;
mod cms;
mod commands;
mod demo;
mod diagnose;
mod i18n;
mod policy;
mod prompt;
mod token;

use commands::{Out, SignOptions};
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

enum Command {
    Help,
    Version,
    Status,
    PinChange,
    PinUnblock,
    Sign(SignOptions),
    Demo,
    Diagnose(diagnose::DiagnoseOptions),
}

fn parse_slot(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse(args: &[String]) -> Result<(Options, Command), Msg> {
    let mut opts = Options::default();
    let mut words: Vec<String> = Vec::new();
    let (mut label, mut out, mut pss) = (None, None, false);
    let mut diag = diagnose::DiagnoseOptions::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| Msg::MissingValue(name.to_string()))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok((opts, Command::Help)),
            "--version" => return Ok((opts, Command::Version)),
            "--module" => opts.module = Some(PathBuf::from(value("--module")?)),
            "--slot" => {
                let v = value("--slot")?;
                opts.slot = Some(parse_slot(&v).ok_or(Msg::BadSlotId(v))?);
            }
            "--stdin" => opts.stdin = true,
            "--yes" => opts.yes = true,
            "--label" => label = Some(value("--label")?),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--pss" => pss = true,
            "--reader" => diag.reader = Some(value("--reader")?),
            "--card" => diag.card_file = Some(PathBuf::from(value("--card")?)),
            "--counters" => diag.counters = true,
            "--full" => diag.full = true,
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(Msg::UnknownCommand(s.to_string()))
            }
            _ => words.push(arg.clone()),
        }
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let command = match words.as_slice() {
        [] | ["help"] => Command::Help,
        ["status"] => Command::Status,
        ["pin", "change"] => Command::PinChange,
        ["pin", "unblock"] => Command::PinUnblock,
        ["sign"] => return Err(Msg::MissingFile),
        ["sign", file] => Command::Sign(SignOptions {
            file: PathBuf::from(file),
            label,
            out,
            pss,
        }),
        ["demo"] => Command::Demo,
        ["diagnose"] => Command::Diagnose(diagnose::DiagnoseOptions { out, ..diag }),
        ["status" | "demo" | "diagnose", extra, ..]
        | ["pin", _, extra, ..]
        | ["sign", _, extra, ..] => return Err(Msg::UnexpectedArgument(extra.to_string())),
        [first, ..] => return Err(Msg::UnknownCommand(first.to_string())),
    };
    Ok((opts, command))
}

fn run(lang: Lang) -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (opts, command) = parse(&args).map_err(|m| Failure::new(Exit::Usage, m))?;
    let out = Out { lang };
    let mut input = prompt::Input::new(opts.stdin, opts.yes, lang);
    match command {
        Command::Help => {
            write_out(&Msg::Help.text(lang));
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

fn main() {
    let lang = Lang::from_env();
    match run(lang) {
        Ok(()) => std::process::exit(0),
        Err(failure) => {
            write_err(&format!("eimza: {}\n", failure.msg.text(lang)));
            std::process::exit(failure.code as i32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn commands_and_options_parse() {
        let (o, c) = parse(&args("--module /x.so pin change --stdin --slot 0x10")).expect("parses");
        assert!(matches!(c, Command::PinChange));
        assert_eq!(o.module, Some(PathBuf::from("/x.so")));
        assert_eq!(o.slot, Some(16));
        assert!(o.stdin);
        let (_, c) = parse(&args("sign f.txt --label L --out o.p7s --pss")).expect("parses");
        match c {
            Command::Sign(s) => {
                assert_eq!(s.file, PathBuf::from("f.txt"));
                assert_eq!(s.label.as_deref(), Some("L"));
                assert_eq!(s.out, Some(PathBuf::from("o.p7s")));
                assert!(s.pss);
            }
            _ => panic!("not sign"),
        }
    }

    #[test]
    fn bad_command_lines_are_usage_errors() {
        assert!(matches!(parse(&args("pin")), Err(Msg::UnknownCommand(_))));
        assert!(matches!(parse(&args("sign")), Err(Msg::MissingFile)));
        assert!(matches!(
            parse(&args("status extra")),
            Err(Msg::UnexpectedArgument(_))
        ));
        assert!(matches!(
            parse(&args("status --slot")),
            Err(Msg::MissingValue(_))
        ));
        assert!(matches!(
            parse(&args("status --slot x1")),
            Err(Msg::BadSlotId(_))
        ));
        assert!(matches!(
            parse(&args("status --bogus")),
            Err(Msg::UnknownCommand(_))
        ));
    }
}
