//! `eimza-assets OUTDIR`: writes eimza's man pages and shell completions, generated from
//! its clap command line (`eimza::args::command`, English), so they cannot drift from
//! what the tool accepts:
//!
//! - `eimza.1`, and one page per subcommand (`eimza-sign.1`, `eimza-pin-change.1`, ...)
//!   by clap_mangen; eimza.1 adds ENVIRONMENT, EXIT STATUS, FILES and SEE ALSO;
//! - `eimza.bash`, `_eimza` (zsh), `eimza.fish` by clap_complete.
//!
//! packaging/build-deb.sh runs it and installs the results. The pages carry the date of
//! SOURCE_DATE_EPOCH (build-deb.sh sets it from the changelog: reproducible builds),
//! else today's.

use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;
use eimza::args;
use eimza::i18n::Lang;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The DESCRIPTION of eimza.1 (the help text's one-line about is too short for it).
const DESCRIPTION: &str = "\
eimza works with an e-imza smart card (Kamu SM, AKIS card operating system) through a \
PKCS#11 module, by default the eimza-pkcs11 module \
/usr/lib/<multiarch>/pkcs11/libeimza_pkcs11.so: it shows the card, its certificates \
and the state of its PIN and PUK, changes the PIN, unblocks it with the PUK, and writes \
detached CMS signatures. For a card that does not work, eimza diagnose talks to the \
card directly (PC/SC) with read commands only and writes a report for a bug report.

PINs are read without echo from the terminal and never printed. New PINs are checked \
against the card's policy (length, digits only; PUK 8 digits) before the card sees them.";

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "LC_ALL, LC_MESSAGES, LANG",
        "Messages and help are in Turkish when the first of these that is set starts with \"tr\".",
    ),
    (
        "EIMZA_VIRTUAL_CARD",
        "Read by the eimza module: use these software card files (separated by \":\") \
         instead of the PC/SC readers. For demonstrations and tests.",
    ),
    (
        "EIMZA_PKCS11_LOG, EIMZA_PKCS11_LOG_LEVEL",
        "Read by the eimza module: debug log destination (\"stderr\" or a file) and level.",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "/usr/lib/<multiarch>/pkcs11/libeimza_pkcs11.so",
        "The PKCS#11 module.",
    ),
    (
        "/usr/share/p11-kit/modules/eimza.module",
        "Its p11-kit registration.",
    ),
    (
        "/usr/share/eimza-pkcs11/firefox-policies.json",
        "Enterprise policy snippet that loads the module in Firefox and Thunderbird.",
    ),
];

const SEE_ALSO: &[(&str, &str)] = &[("pkcs11-tool", "1"), ("p11-kit", "8"), ("pkcs11.conf", "5")];

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: eimza-assets OUTDIR");
        std::process::exit(2);
    };
    if let Err(e) = write_all(&dir) {
        eprintln!("eimza-assets: {}: {e}", dir.display());
        std::process::exit(1);
    }
}

fn write_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let date = source_date();
    let mut command = args::command(Lang::English).long_about(DESCRIPTION);
    command.build();
    // One page per subcommand, named as clap_mangen names them in eimza.1's list.
    let mut pages = vec![];
    collect_subcommands(&command, &mut pages);
    for sub in pages {
        let man = page(sub, &date);
        let mut file = std::fs::File::create(dir.join(man.get_filename()))?;
        man.render(&mut file)?;
    }
    let mut page = std::fs::File::create(dir.join("eimza.1"))?;
    render_main_page(command.clone(), &date, &mut page)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut file =
            std::fs::File::create(dir.join(clap_complete::Generator::file_name(&shell, "eimza")))?;
        clap_complete::generate(shell, &mut command.clone(), "eimza", &mut file);
        file.flush()?;
    }
    Ok(())
}

fn collect_subcommands(command: &clap::Command, pages: &mut Vec<clap::Command>) {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        pages.push(sub.clone());
        collect_subcommands(sub, pages);
    }
}

/// clap_mangen's sections, then ours in place of EXTRA (the help's closing text).
fn render_main_page(
    command: clap::Command,
    date: &str,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let man = page(command, date);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    let mut roff = Roff::default();
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, text) in ENVIRONMENT {
        roff.control("TP", [])
            .text([bold(*name)])
            .text([roman(*text)]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, text, _) in args::EXIT_CODES {
        roff.control("TP", [])
            .text([bold(code.to_string())])
            .text([roman(*text)]);
    }
    roff.control("SH", ["FILES"]);
    for (path, text) in FILES {
        roff.control("TP", [])
            .text([italic(*path)])
            .text([roman(*text)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut see_also = vec![];
    for (i, (page, section)) in SEE_ALSO.iter().enumerate() {
        if i > 0 {
            see_also.push(roman(", "));
        }
        see_also.push(bold(*page));
        see_also.push(roman(format!("({section})")));
    }
    see_also.push(roman(", "));
    see_also.push(italic("/usr/share/doc/eimza-pkcs11/README.Debian"));
    roff.text(see_also);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

fn page(command: clap::Command, date: &str) -> Man {
    Man::new(command)
        .date(date)
        .source(format!("eimza {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands")
}

/// SOURCE_DATE_EPOCH (else now) as YYYY-MM-DD, UTC.
fn source_date() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = seconds.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_dates() {
        std::env::set_var("SOURCE_DATE_EPOCH", "0");
        assert_eq!(source_date(), "1970-01-01");
        std::env::set_var("SOURCE_DATE_EPOCH", "1764633600");
        assert_eq!(source_date(), "2025-12-02");
        std::env::set_var("SOURCE_DATE_EPOCH", "951782400");
        assert_eq!(source_date(), "2000-02-29");
    }

    #[test]
    fn pages_and_completions_name_every_command_and_option() {
        std::env::remove_var("SOURCE_DATE_EPOCH");
        let dir = std::env::temp_dir().join(format!("eimza-assets-{}", std::process::id()));
        write_all(&dir).expect("write");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
        let main = read("eimza.1");
        for text in [
            ".SH SYNOPSIS",
            ".SH OPTIONS",
            "\\-\\-module",
            "\\-\\-slot",
            "\\-\\-stdin",
            "eimza\\-sign(1)",
            "eimza\\-pin(1)",
            ".SH \"EXIT STATUS\"",
            "PIN or PUK blocked",
            ".SH FILES",
            "pkcs11\\-tool",
        ] {
            assert!(main.contains(text), "eimza.1 lacks {text}:\n{main}");
        }
        let sign = read("eimza-sign.1");
        for text in ["\\-\\-label", "\\-\\-out", "\\-\\-pss", "FILE"] {
            assert!(sign.contains(text), "eimza-sign.1 lacks {text}:\n{sign}");
        }
        for page in [
            "eimza-pin-change.1",
            "eimza-pin-unblock.1",
            "eimza-status.1",
            "eimza-demo.1",
            "eimza-diagnose.1",
        ] {
            assert!(dir.join(page).exists(), "{page}");
        }
        let diagnose = read("eimza-diagnose.1");
        for text in ["\\-\\-counters", "\\-\\-full", "\\-\\-reader", "\\-\\-card"] {
            assert!(
                diagnose.contains(text),
                "eimza-diagnose.1 lacks {text}:\n{diagnose}"
            );
        }
        assert!(
            !dir.join("eimza-help.1").exists(),
            "the help subcommand has no page"
        );
        let bash = read("eimza.bash");
        for word in ["status", "unblock", "--pss", "--module"] {
            assert!(bash.contains(word), "bash completion lacks {word}");
        }
        assert!(read("_eimza").contains("--label"));
        assert!(read("eimza.fish").contains("pss"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
