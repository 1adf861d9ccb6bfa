//! `eimza diagnose`: for a holder whose card does not work, one safe step that gathers
//! what the project needs to adapt its card profile (pkcs11-spec.md §1.4.1), as one
//! text file to attach to a bug report.
//!
//! It talks to the card directly (any PC/SC reader, or a software card file), not
//! through a PKCS#11 module, and sends only read commands: SELECT, READ BINARY, GET
//! RESPONSE, GET DATA; VERIFY without data (a retry-counter query) only with
//! `--counters`, and never to an AKIS v1.0 or unknown card. It never sends a PIN, a
//! PUK, CHANGE REFERENCE DATA, RESET RETRY COUNTER, MSE or PSO (`probe::Prober::send`
//! refuses them). National ID numbers are masked in the report unless `--full`.

mod link;
mod probe;
mod report;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::i18n::{Lang, Msg};
use crate::{Exit, Failure};
#[cfg(any(feature = "demo", test))]
pub use link::SoftwareLink;
pub use link::{Link, PcscError};
pub use probe::Findings;

/// What `eimza diagnose` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiagnoseOptions {
    /// Use the reader whose name contains this (default: the first with a card).
    pub reader: Option<String>,
    /// A software card file instead of a PC/SC reader (builds with feature "demo").
    pub card_file: Option<PathBuf>,
    /// Also query the PIN and PUK retry counters (VERIFY without data).
    pub counters: bool,
    /// Do not mask national ID numbers.
    pub full: bool,
    /// The report file (default `eimza-diagnose-<UTC time>.txt` here).
    pub out: Option<PathBuf>,
}

/// Console messages of `eimza diagnose`, in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiagnoseMsg {
    NoReader,
    ReaderNotFound(String),
    NoCard,
    Failed(String),
    WriteFailed(String, String),
    Summary {
        reader: String,
        family: Option<String>,
        profile: String,
        commands: usize,
    },
    UnknownCard,
    Written(String),
}

impl DiagnoseMsg {
    pub fn english(&self) -> String {
        match self {
            DiagnoseMsg::NoReader => "no smart card reader found (is pcscd running?)".into(),
            DiagnoseMsg::ReaderNotFound(name) => format!("no reader's name contains {name:?}"),
            DiagnoseMsg::NoCard => "no card in any reader".into(),
            DiagnoseMsg::Failed(e) => format!("the diagnosis failed: {e}"),
            DiagnoseMsg::WriteFailed(path, e) => format!("cannot write the report {path}: {e}"),
            DiagnoseMsg::Summary {
                reader,
                family,
                profile,
                commands,
            } => {
                format!(
                "Reader: {reader}\nCard family: {}\nModule: {profile}\nCommands sent: {commands} \
                 (read commands only: no PIN, no PUK, no change of anything on the card)",
                family.as_deref().unwrap_or("not an AKIS family the module knows")
            )
            }
            DiagnoseMsg::UnknownCard => "This card is not one of the AKIS families the module \
                 knows. The report shows what it answered to standard ISO 7816-4 read \
                 commands; please attach it to a bug report."
                .into(),
            DiagnoseMsg::Written(path) => format!(
                "Report written to {path}. It holds no PIN; national ID numbers are masked \
                 unless --full was given. Please attach it to your bug report."
            ),
        }
    }

    pub fn turkish(&self) -> String {
        match self {
            DiagnoseMsg::NoReader => "akıllı kart okuyucu bulunamadı (pcscd çalışıyor mu?)".into(),
            DiagnoseMsg::ReaderNotFound(name) => {
                format!("adında {name:?} geçen bir okuyucu yok")
            }
            DiagnoseMsg::NoCard => "hiçbir okuyucuda kart yok".into(),
            DiagnoseMsg::Failed(e) => format!("tanı başarısız oldu: {e}"),
            DiagnoseMsg::WriteFailed(path, e) => format!("rapor {path} yazılamadı: {e}"),
            DiagnoseMsg::Summary {
                reader,
                family,
                profile,
                commands,
            } => format!(
                "Okuyucu: {reader}\nKart ailesi: {}\nModül: {profile}\nGönderilen komutlar: \
                 {commands} (yalnızca okuma komutları: PIN yok, PUK yok, kartta hiçbir şey \
                 değiştirilmedi)",
                family
                    .as_deref()
                    .unwrap_or("modülün tanıdığı bir AKIS ailesi değil")
            ),
            DiagnoseMsg::UnknownCard => "Bu kart, modülün tanıdığı AKIS ailelerinden biri \
                 değil. Rapor, kartın standart ISO 7816-4 okuma komutlarına verdiği yanıtları \
                 gösterir; lütfen bir hata bildirimine ekleyin."
                .into(),
            DiagnoseMsg::Written(path) => format!(
                "Rapor {path} dosyasına yazıldı. PIN içermez; --full verilmedikçe T.C. \
                 kimlik numaraları gizlenir. Lütfen hata bildiriminize ekleyin."
            ),
        }
    }
}

fn failure(code: Exit, msg: DiagnoseMsg) -> Failure {
    Failure::new(code, Msg::Diagnose(msg))
}

/// Runs the diagnosis on `link` and renders the report (masked unless `full`).
pub fn diagnose(link: &mut dyn Link, counters: bool, full: bool, lang: Lang) -> (Findings, String) {
    let reader = link.reader();
    let findings = probe::run(link, counters);
    let mut text = format!(
        "{}{}",
        utc_line(lang),
        report::render(&findings, &reader, lang, full)
    );
    if !full {
        text = report::mask_text(&text);
    }
    (findings, text)
}

fn utc_line(lang: Lang) -> String {
    let label = match lang {
        Lang::English => "Time (UTC)",
        Lang::Turkish => "Zaman (UTC)",
    };
    format!("{label}: {}\n", utc_now("-", ":", " "))
}

/// `YYYY-MM-DD HH:MM:SS` (or with other separators) now, in UTC.
fn utc_now(date_sep: &str, time_sep: &str, between: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    match der::DateTime::from_unix_duration(std::time::Duration::from_secs(now.as_secs())) {
        Ok(t) => format!(
            "{:04}{date_sep}{:02}{date_sep}{:02}{between}{:02}{time_sep}{:02}{time_sep}{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minutes(),
            t.seconds()
        ),
        Err(_) => now.as_secs().to_string(),
    }
}

/// `eimza diagnose`: exit 0 with a report written, 2 without reader or card, 5 when
/// the report cannot be written.
pub fn run(options: &DiagnoseOptions, lang: Lang) -> Result<(), Failure> {
    let (findings, reader, text) = match &options.card_file {
        #[cfg(feature = "demo")]
        Some(path) => {
            let mut link = SoftwareLink::open(path)
                .map_err(|e| failure(Exit::NoToken, DiagnoseMsg::Failed(e)))?;
            let reader = link.reader();
            let (findings, text) = diagnose(&mut link, options.counters, options.full, lang);
            (findings, reader, text)
        }
        // The command line offers --card only with the software card built in.
        #[cfg(not(feature = "demo"))]
        Some(path) => {
            return Err(failure(
                Exit::NoToken,
                DiagnoseMsg::Failed(format!(
                    "{}: no software card in this build",
                    path.display()
                )),
            ))
        }
        None => {
            let outcome = link::with_pcsc(options.reader.as_deref(), |link| {
                let reader = link.reader();
                let (findings, text) = diagnose(link, options.counters, options.full, lang);
                (findings, reader, text)
            });
            outcome.map_err(|e| match e {
                PcscError::NoReader => failure(Exit::NoToken, DiagnoseMsg::NoReader),
                PcscError::ReaderNotFound(name) => {
                    failure(Exit::NoToken, DiagnoseMsg::ReaderNotFound(name))
                }
                PcscError::NoCard => failure(Exit::NoToken, DiagnoseMsg::NoCard),
                PcscError::Failed(e) => failure(Exit::Other, DiagnoseMsg::Failed(e)),
            })?
        }
    };
    let path = options
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("eimza-diagnose-{}.txt", utc_now("", "", "-"))));
    write_report(&path, &text).map_err(|e| {
        failure(
            Exit::Other,
            DiagnoseMsg::WriteFailed(path.display().to_string(), e.to_string()),
        )
    })?;
    let say = |m: DiagnoseMsg| crate::write_out(&format!("{}\n", Msg::Diagnose(m).text(lang)));
    say(DiagnoseMsg::Summary {
        reader,
        family: findings.family.map(|f| f.name().to_string()),
        profile: report::module_profile(findings.family, lang),
        commands: findings.exchanges.len(),
    });
    if findings.family.is_none() {
        say(DiagnoseMsg::UnknownCard);
    }
    say(DiagnoseMsg::Written(path.display().to_string()));
    Ok(())
}

/// A new file (never over another), readable by its owner only: with `--full` it
/// holds national ID numbers.
fn write_report(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
