//! The command line, described once with clap's builder in both languages: `eimza`
//! parses with it, and `eimza-assets` (cli/assets) writes the man page and the shell
//! completions from the English one. The builder rather than the derive API because
//! every help text exists in English and Turkish and is chosen at run time.
//!
//! A new subcommand: add it in [`command`] (with its Turkish text), in [`Command`] and
//! in [`parse`].

use crate::commands::SignOptions;
use crate::diagnose::DiagnoseOptions;
use crate::i18n::{Lang, Msg};
use crate::Options;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{value_parser, Arg, ArgAction, ArgMatches};
use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// `-h`/`--help`, `help`, or no command: the help text (in the holder's language).
    Help(String),
    Version,
    Status,
    PinChange,
    PinUnblock,
    Sign(SignOptions),
    Demo,
    Diagnose(DiagnoseOptions),
}

/// The text in the holder's language.
fn t(lang: Lang, en: &'static str, tr: &'static str) -> &'static str {
    match lang {
        Lang::English => en,
        Lang::Turkish => tr,
    }
}

/// A slot id in decimal or 0x-hex.
fn parse_slot(text: &str) -> Result<u64, String> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    }
    .map_err(|e| e.to_string())
}

/// The exit codes (crate::Exit), in English and Turkish: the help shows them, and the
/// man page's EXIT STATUS is made from them.
pub const EXIT_CODES: &[(u8, &str, &str)] = &[
    (0, "success", "başarılı"),
    (
        1,
        "usage error, or input refused before the card saw it (policy, mismatch, cancel)",
        "kullanım hatası ya da kart görmeden reddedilen girdi (kural, uyuşmazlık, iptal)",
    ),
    (
        2,
        "no module, reader, card or token",
        "modül, okuyucu, kart ya da token yok",
    ),
    (3, "wrong PIN or PUK", "yanlış PIN ya da PUK"),
    (4, "PIN or PUK blocked", "PIN ya da PUK bloke"),
    (5, "any other error", "diğer hatalar"),
];

/// Text after the option list: PIN handling, language and the exit codes.
fn after_help(lang: Lang) -> String {
    let mut text = t(
        lang,
        "\
PINs are read without echo from the terminal and never printed. New PINs are
checked against the card's policy (length, digits only; PUK 8 digits) before
the card sees them. `eimza sign --help` shows the options of sign.

Messages are in Turkish when LC_ALL, LC_MESSAGES or LANG starts with \"tr\".

Exit codes:",
        "\
PIN'ler terminalde ekrana yansıtılmadan okunur ve hiçbir zaman yazdırılmaz. Yeni
PIN'ler kart görmeden önce kartın kurallarına göre denetlenir (uzunluk, yalnızca
rakam; PUK 8 rakam). `eimza sign --help` sign'ın seçeneklerini gösterir.

LC_ALL, LC_MESSAGES ya da LANG \"tr\" ile başlıyorsa iletiler Türkçedir.

Çıkış kodları:",
    )
    .to_string();
    for (code, en, tr) in EXIT_CODES {
        text.push_str(&format!("\n  {code}  {}", t(lang, en, tr)));
    }
    text
}

/// What a help text lists before the options.
#[derive(Clone, Copy, PartialEq)]
enum Lists {
    Nothing,
    Commands,
    Arguments,
}

/// clap's own headings ("Usage:", "Options:") are English: the template names them.
/// Long help texts carry their own line breaks (clap indents the continuation lines):
/// without clap's wrap_help feature it would not wrap them.
fn template(lang: Lang, lists: Lists) -> String {
    let (usage, commands, arguments, options) = match lang {
        Lang::English => ("Usage", "Commands", "Arguments", "Options"),
        Lang::Turkish => ("Kullanım", "Komutlar", "Argümanlar", "Seçenekler"),
    };
    let listed = match lists {
        Lists::Nothing => String::new(),
        Lists::Commands => format!("{commands}:\n{{subcommands}}\n\n"),
        Lists::Arguments => format!("{arguments}:\n{{positionals}}\n\n"),
    };
    format!(
        "{{about-with-newline}}\n{usage}: {{usage}}\n\n{listed}{options}:\n{{options}}\
         {{after-help}}"
    )
}

/// A subcommand with the language's help template and a translated -h/--help.
fn subcommand(lang: Lang, name: &'static str, about: &'static str) -> clap::Command {
    clap::Command::new(name)
        .about(about)
        .help_template(template(lang, Lists::Nothing))
        .args_override_self(true)
        .disable_help_flag(true)
        .arg(help_flag(lang))
}

fn help_flag(lang: Lang) -> Arg {
    Arg::new("help")
        .short('h')
        .long("help")
        .action(ArgAction::Help)
        .help(t(lang, "this help", "bu yardım"))
}

/// The whole command line in one language.
pub fn command(lang: Lang) -> clap::Command {
    let sign = subcommand(
        lang,
        "sign",
        t(
            lang,
            "write a detached CMS signature FILE.p7s (SHA-256)",
            "ayrık CMS imzası DOSYA.p7s yazar (SHA-256)",
        ),
    )
    .help_template(template(lang, Lists::Arguments))
    .override_usage(t(
        lang,
        "eimza sign [OPTIONS] FILE",
        "eimza sign [SEÇENEKLER] DOSYA",
    ))
    .arg(
        Arg::new("file")
            .value_name(t(lang, "FILE", "DOSYA"))
            .value_parser(value_parser!(PathBuf))
            .required(true)
            .help(t(lang, "the file to sign", "imzalanacak dosya")),
    )
    .arg(
        Arg::new("label")
            .long("label")
            .value_name(t(lang, "L", "E"))
            .help(t(
                lang,
                "sign with the key whose certificate is labelled L\n\
                 (default: the certificate with non-repudiation)",
                "sertifikası E etiketli anahtarla imzalar\n\
                 (varsayılan: inkâr edilemezlik özellikli sertifika)",
            )),
    )
    .arg(
        Arg::new("out")
            .long("out")
            .value_name(t(lang, "OUT.p7s", "ÇIKTI.p7s"))
            .value_parser(value_parser!(PathBuf))
            .help(t(
                lang,
                "write the signature to OUT.p7s (default: FILE.p7s)",
                "imzayı ÇIKTI.p7s dosyasına yazar (varsayılan: DOSYA.p7s)",
            )),
    )
    .arg(
        Arg::new("pss")
            .long("pss")
            .action(ArgAction::SetTrue)
            .help(t(
                lang,
                "RSA-PSS instead of PKCS#1 v1.5 (RSA keys)",
                "RSA anahtarlarında PKCS#1 v1.5 yerine RSA-PSS",
            )),
    );
    let pin = subcommand(
        lang,
        "pin",
        t(
            lang,
            "change or unblock the PIN",
            "PIN'i değiştirir ya da blokesini kaldırır",
        ),
    )
    .help_template(template(lang, Lists::Commands))
    .subcommand_required(true)
    .subcommand_value_name(t(lang, "COMMAND", "KOMUT"))
    .subcommand(subcommand(
        lang,
        "change",
        t(
            lang,
            "change the PIN (asks for the current PIN and the new one twice)",
            "PIN'i değiştirir (mevcut PIN'i ve iki kez yeni PIN'i sorar)",
        ),
    ))
    .subcommand(subcommand(
        lang,
        "unblock",
        t(
            lang,
            "unblock the PIN with the PUK and set a new PIN",
            "PUK ile PIN blokesini kaldırır ve yeni PIN atar",
        ),
    ));
    clap::Command::new("eimza")
        .version(env!("CARGO_PKG_VERSION"))
        .about(t(
            lang,
            "your e-imza card: status, PIN change and unblock, signatures",
            "e-imza kartınız: durum, PIN değiştirme ve bloke kaldırma, imza",
        ))
        .override_usage(t(
            lang,
            "eimza [OPTIONS] COMMAND",
            "eimza [SEÇENEKLER] KOMUT",
        ))
        .help_template(format!("eimza — {}", template(lang, Lists::Commands)))
        // An option given twice: the last one counts (scripts add to a base command).
        .args_override_self(true)
        .after_help(after_help(lang))
        .subcommand_value_name(t(lang, "COMMAND", "KOMUT"))
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .arg(
            Arg::new("module")
                .long("module")
                .global(true)
                .value_name(t(lang, "PATH", "YOL"))
                .value_parser(value_parser!(PathBuf))
                .help(t(
                    lang,
                    "PKCS#11 module to use (default: libeimza_pkcs11.so\n\
                     installed beside eimza, then in the system's pkcs11 folder)",
                    "kullanılacak PKCS#11 modülü (varsayılan: eimza'nın yanında\n\
                     kurulu libeimza_pkcs11.so, sonra sistemin pkcs11 klasörü)",
                )),
        )
        .arg(
            Arg::new("slot")
                .long("slot")
                .global(true)
                .value_name(t(lang, "ID", "NO"))
                .value_parser(parse_slot)
                .help(t(
                    lang,
                    "use this slot, decimal or 0x-hex\n\
                     (default: the first slot with a card)",
                    "bu yuvayı kullan, onluk ya da 0x ile onaltılık\n\
                     (varsayılan: kart takılı ilk yuva)",
                )),
        )
        .arg(
            Arg::new("stdin")
                .long("stdin")
                .global(true)
                .action(ArgAction::SetTrue)
                .help(t(
                    lang,
                    "read PINs and answers as lines from standard input\n\
                     (automatic when standard input is not a terminal)",
                    "PIN'leri ve yanıtları standart girdiden satır satır oku\n\
                     (standart girdi terminal değilse kendiliğinden)",
                )),
        )
        .arg(
            Arg::new("yes")
                .long("yes")
                .global(true)
                .action(ArgAction::SetTrue)
                .help(t(
                    lang,
                    "answer yes to the last-try question (scripts)",
                    "son deneme sorusunu evet olarak yanıtla (betikler için)",
                )),
        )
        .arg(help_flag(lang))
        .arg(
            Arg::new("version")
                .long("version")
                .action(ArgAction::Version)
                .help(t(lang, "version", "sürüm")),
        )
        .subcommand(subcommand(
            lang,
            "status",
            t(
                lang,
                "readers, card, certificates, PIN and PUK state",
                "okuyucular, kart, sertifikalar, PIN ve PUK durumu",
            ),
        ))
        .subcommand(pin)
        .subcommand(sign)
        .subcommand(
            subcommand(
                lang,
                "demo",
                t(
                    lang,
                    "walk through the card's life on a software card",
                    "yazılım kartı üzerinde kartın yaşamını adım adım gösterir",
                ),
            )
            // Not in a build without it (the packaged tool): its module has no
            // software card to run the demo against.
            .hide(!crate::demo::OFFERED),
        )
        .subcommand(diagnose_command(lang))
        // `eimza help` works but is not listed (-h/--help is).
        .subcommand(subcommand(lang, "help", t(lang, "this help", "bu yardım")).hide(true))
}

/// `eimza diagnose` (crate::diagnose).
fn diagnose_command(lang: Lang) -> clap::Command {
    subcommand(
        lang,
        "diagnose",
        t(
            lang,
            "read-only diagnosis of a card that does not work, as one text\n\
             file for a bug report (no PIN is sent, nothing on the card changes)",
            "çalışmayan bir kartın salt okunur tanısı: hata bildirimi için tek\n\
             bir metin dosyası (PIN gönderilmez, kartta hiçbir şey değişmez)",
        ),
    )
    .override_usage(t(
        lang,
        "eimza diagnose [OPTIONS]",
        "eimza diagnose [SEÇENEKLER]",
    ))
    .arg(
        Arg::new("reader")
            .long("reader")
            .value_name(t(lang, "NAME", "AD"))
            .help(t(
                lang,
                "the PC/SC reader whose name contains NAME\n\
                 (default: the first reader with a card)",
                "adında AD geçen PC/SC okuyucu\n\
                 (varsayılan: kart takılı ilk okuyucu)",
            )),
    )
    // A software card exists only in a build with it (not the packaged tool).
    .args(crate::demo::OFFERED.then(|| {
        Arg::new("card")
            .long("card")
            .value_name(t(lang, "FILE", "DOSYA"))
            .value_parser(value_parser!(PathBuf))
            .conflicts_with("reader")
            .help(t(
                lang,
                "a software card file (eimza-vcard) instead of a reader",
                "okuyucu yerine bir yazılım kartı dosyası (eimza-vcard)",
            ))
    }))
    .arg(
        Arg::new("counters")
            .long("counters")
            .action(ArgAction::SetTrue)
            .help(t(
                lang,
                "also query the PIN and PUK retry counters (VERIFY without a\n\
                 PIN; never on AKIS v1.0 or unknown cards)",
                "PIN ve PUK deneme sayaçlarını da sorgula (PIN'siz VERIFY;\n\
                 AKIS v1.0 ve tanınmayan kartlarda asla)",
            )),
    )
    .arg(
        Arg::new("full")
            .long("full")
            .action(ArgAction::SetTrue)
            .help(t(
                lang,
                "do not mask national ID numbers in the report",
                "rapordaki T.C. kimlik numaralarını gizleme",
            )),
    )
    .arg(
        Arg::new("out")
            .long("out")
            .value_name(t(lang, "FILE", "DOSYA"))
            .value_parser(value_parser!(PathBuf))
            .help(t(
                lang,
                "the report file (default: eimza-diagnose-<UTC time>.txt here;\n\
                 never over an existing file)",
                "rapor dosyası (varsayılan: burada eimza-diagnose-<UTC zamanı>.txt;\n\
                 var olan bir dosyanın üzerine asla yazılmaz)",
            )),
    )
}

fn diagnose_options(matches: &ArgMatches) -> DiagnoseOptions {
    DiagnoseOptions {
        reader: matches.get_one::<String>("reader").cloned(),
        card_file: matches
            .try_get_one::<PathBuf>("card")
            .ok()
            .flatten()
            .cloned(),
        counters: matches.get_flag("counters"),
        full: matches.get_flag("full"),
        out: matches.get_one::<PathBuf>("out").cloned(),
    }
}

/// The help text of the whole tool.
pub fn help(lang: Lang) -> String {
    command(lang).render_help().to_string()
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String], lang: Lang) -> Result<(Options, Command), Msg> {
    let argv = std::iter::once("eimza".to_string()).chain(args.iter().cloned());
    let matches = match command(lang).try_get_matches_from(argv) {
        Ok(matches) => matches,
        Err(e) => return usage_error(e).map(|c| (Options::default(), c)),
    };
    let opts = Options {
        module: matches.get_one::<PathBuf>("module").cloned(),
        slot: matches.get_one::<u64>("slot").copied(),
        stdin: matches.get_flag("stdin"),
        yes: matches.get_flag("yes"),
    };
    let command = match matches.subcommand() {
        None | Some(("help", _)) => Command::Help(help(lang)),
        Some(("status", _)) => Command::Status,
        Some(("pin", pin)) => match pin.subcommand() {
            Some(("change", _)) => Command::PinChange,
            Some(("unblock", _)) => Command::PinUnblock,
            _ => unreachable!("pin requires change or unblock"),
        },
        Some(("sign", sign)) => Command::Sign(sign_options(sign)),
        Some(("demo", _)) => Command::Demo,
        Some(("diagnose", diagnose)) => Command::Diagnose(diagnose_options(diagnose)),
        Some((other, _)) => unreachable!("subcommand {other} is not in command()"),
    };
    Ok((opts, command))
}

fn sign_options(sign: &ArgMatches) -> SignOptions {
    SignOptions {
        file: sign
            .get_one::<PathBuf>("file")
            .cloned()
            .expect("FILE is required"),
        label: sign.get_one::<String>("label").cloned(),
        out: sign.get_one::<PathBuf>("out").cloned(),
        pss: sign.get_flag("pss"),
    }
}

/// clap's answer when it did not produce matches: the help or version it was asked
/// for, or a usage error as one of our messages (in the holder's language; clap's own
/// messages are English). Usage errors are exit code 1, not clap's 2.
fn usage_error(e: clap::Error) -> Result<Command, Msg> {
    let context = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let invalid_arg = context(ContextKind::InvalidArg).unwrap_or_default();
    // "--slot <ID>" names the option; its value is what the holder typed.
    let option = invalid_arg
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    match e.kind() {
        ErrorKind::DisplayHelp => Ok(Command::Help(e.render().to_string())),
        ErrorKind::DisplayVersion => Ok(Command::Version),
        ErrorKind::UnknownArgument if invalid_arg.starts_with('-') => {
            Err(Msg::UnknownCommand(invalid_arg))
        }
        ErrorKind::UnknownArgument => Err(Msg::UnexpectedArgument(invalid_arg)),
        ErrorKind::InvalidSubcommand => Err(Msg::UnknownCommand(
            context(ContextKind::InvalidSubcommand).unwrap_or_default(),
        )),
        // clap names the command that lacks one as "eimza pin".
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let command = context(ContextKind::InvalidSubcommand).unwrap_or_default();
            let name = command.rsplit(' ').next().unwrap_or_default();
            Err(Msg::MissingSubcommand(name.to_string()))
        }
        ErrorKind::MissingRequiredArgument => Err(Msg::MissingFile),
        ErrorKind::InvalidValue if context(ContextKind::InvalidValue).unwrap_or_default() == "" => {
            Err(Msg::MissingValue(option))
        }
        ErrorKind::ValueValidation | ErrorKind::InvalidValue if option == "--slot" => Err(
            Msg::BadSlotId(context(ContextKind::InvalidValue).unwrap_or_default()),
        ),
        _ => Err(Msg::Usage(e.kind().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parsed(s: &str) -> (Options, Command) {
        parse(&args(s), Lang::English).expect("parses")
    }

    #[test]
    fn the_command_definition_is_consistent() {
        command(Lang::English).debug_assert();
        command(Lang::Turkish).debug_assert();
    }

    #[test]
    fn commands_and_options_parse() {
        let (o, c) = parsed("--module /x.so pin change --stdin --slot 0x10");
        assert!(matches!(c, Command::PinChange));
        assert_eq!(o.module, Some(PathBuf::from("/x.so")));
        assert_eq!(o.slot, Some(16));
        assert!(o.stdin);
        assert!(!o.yes);
        let (o, c) = parsed("sign f.txt --label L --out o.p7s --pss --yes --slot 3");
        match c {
            Command::Sign(s) => {
                assert_eq!(s.file, PathBuf::from("f.txt"));
                assert_eq!(s.label.as_deref(), Some("L"));
                assert_eq!(s.out, Some(PathBuf::from("o.p7s")));
                assert!(s.pss);
            }
            other => panic!("not sign: {other:?}"),
        }
        assert!(o.yes);
        assert_eq!(o.slot, Some(3));
        assert!(matches!(parsed("status").1, Command::Status));
        assert!(matches!(parsed("pin unblock").1, Command::PinUnblock));
        assert!(matches!(parsed("demo").1, Command::Demo));
        assert!(matches!(parsed("--version").1, Command::Version));
        let (o, _) = parsed("--module /a.so status --module /b.so --slot 1 --slot 2");
        assert_eq!((o.module, o.slot), (Some(PathBuf::from("/b.so")), Some(2)));
    }

    #[test]
    fn help_in_both_languages() {
        for (line, lang) in [("", Lang::English), ("help", Lang::Turkish)] {
            let Command::Help(text) = parse(&args(line), lang).expect("parses").1 else {
                panic!("{line:?} is not help");
            };
            assert_eq!(text, help(lang));
        }
        let Command::Help(text) = parse(&args("--help"), Lang::Turkish).unwrap().1 else {
            panic!("--help is not help");
        };
        for words in [
            "Kullanım: eimza [SEÇENEKLER] KOMUT",
            "Komutlar:",
            "Seçenekler:",
        ] {
            assert!(text.contains(words), "{words} missing in:\n{text}");
        }
        assert!(
            !text.contains("Usage") && !text.contains("Options"),
            "{text}"
        );
        let Command::Help(text) = parse(&args("sign -h"), Lang::English).unwrap().1 else {
            panic!("sign -h is not help");
        };
        assert!(text.contains("Usage: eimza sign [OPTIONS] FILE"), "{text}");
        assert!(text.contains("--pss"), "{text}");
    }

    #[test]
    fn bad_command_lines_are_our_usage_errors() {
        let err = |s: &str| parse(&args(s), Lang::English).map(|_| ()).unwrap_err();
        assert_eq!(err("pin"), Msg::MissingSubcommand("pin".into()));
        assert_eq!(err("frobnicate"), Msg::UnknownCommand("frobnicate".into()));
        assert_eq!(err("sign"), Msg::MissingFile);
        assert_eq!(err("status extra"), Msg::UnexpectedArgument("extra".into()));
        assert_eq!(err("status --slot"), Msg::MissingValue("--slot".into()));
        assert_eq!(err("status --slot x1"), Msg::BadSlotId("x1".into()));
        assert_eq!(err("status --bogus"), Msg::UnknownCommand("--bogus".into()));
    }
}
