//! `eimza demo`: the life of a card, on a software card, through the real eimza module.
//!
//! Creates a personalised software card in a temporary folder, points the module at
//! it (`EIMZA_VIRTUAL_CARD`, one slot per file), then runs the same code as the
//! commands — status, sign, verify, pin change, three wrong PINs, pin unblock, sign —
//! with the answers typed by the program (PINs shown as `*`).
//!
//! Only with the `demo` feature (on by default: the development build, whose module has
//! its software card). Without it (the Debian package) `eimza demo` answers "unknown
//! command": the installed module has no software card to run the demo against.
#![cfg_attr(not(feature = "demo"), allow(dead_code, unused_imports))]

use crate::commands::{self, Out, SignOptions};
use crate::i18n::{DemoStep, Lang, Msg, Secret};
use crate::policy::CounterFlags;
use crate::prompt::Input;
use crate::token::{self, failure, Module};
use crate::{Exit, Failure, Options};
use std::path::{Path, PathBuf};
#[cfg(feature = "demo")]
use virtual_card::personalise::{create, CreateOptions};
#[cfg(feature = "demo")]
use virtual_card::{store, KeyAlgorithm};

/// Whether this build offers `eimza demo` (help texts may leave it out when not).
#[allow(dead_code)]
pub const OFFERED: bool = cfg!(feature = "demo");

#[cfg(not(feature = "demo"))]
pub fn run(_opts: &Options, _out: &Out) -> Result<(), Failure> {
    Err(Failure::new(
        Exit::Usage,
        Msg::UnknownCommand("demo".into()),
    ))
}

/// The software card's defaults (pkcs11-spec.md §1.6, `CreateOptions::default()`).
const CARD_PIN: &str = "123456";
const CARD_PUK: &str = "12345678";
const CHANGED_PIN: &str = "246802";
const WRONG_PIN: &str = "000000";
const UNBLOCKED_PIN: &str = "135790";

/// The folder of the demo card, removed however the demo ends.
struct DemoDir(PathBuf);

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(feature = "demo")]
pub fn run(opts: &Options, out: &Out) -> Result<(), Failure> {
    let dir = DemoDir(std::env::temp_dir().join(format!("eimza-demo-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).map_err(|e| {
        Failure::new(
            Exit::Other,
            Msg::WriteFailed(dir.0.display().to_string(), e.to_string()),
        )
    })?;

    out.say(Msg::DemoStep(DemoStep::Create));
    let card = dir.0.join("card");
    let serial = create_card(&card)?;
    out.say(Msg::DemoCardCreated {
        dir: dir.0.display().to_string(),
        serial: serial.clone(),
    });
    // The module reads this when it is initialised; nothing else runs yet.
    std::env::set_var("EIMZA_VIRTUAL_CARD", &card);
    let slot = demo_slot(opts, &serial)?;
    let opts = Options {
        module: opts.module.clone(),
        slot: Some(slot),
        stdin: true,
        yes: false,
    };

    out.say(Msg::DemoStep(DemoStep::Status));
    commands::status(&opts, out)?;

    out.say(Msg::DemoStep(DemoStep::Sign));
    let document = dir.0.join("belge.txt");
    std::fs::write(
        &document,
        "e-imza demo: bu belge imzalandı / this document was signed\n",
    )
    .map_err(|e| {
        Failure::new(
            Exit::Other,
            Msg::WriteFailed(document.display().to_string(), e.to_string()),
        )
    })?;
    let sign = SignOptions {
        file: document.clone(),
        label: None,
        out: None,
        pss: false,
    };
    commands::sign(
        &opts,
        &sign,
        out,
        &mut Input::scripted(&[CARD_PIN], out.lang),
    )?;

    out.say(Msg::DemoStep(DemoStep::Verify));
    verify(&opts, &dir.0, &document, out)?;

    out.say(Msg::DemoStep(DemoStep::Change));
    let answers = [CARD_PIN, CHANGED_PIN, CHANGED_PIN];
    commands::pin_change(&opts, out, &mut Input::scripted(&answers, out.lang))?;

    for attempt in 1..=3u8 {
        out.say(Msg::DemoStep(DemoStep::Block(attempt)));
        let flags = pin_flags(&opts)?;
        // Before the last try the tool asks; the demo answers yes.
        let yes = match out.lang {
            Lang::English => "yes",
            Lang::Turkish => "evet",
        };
        let answers: &[&str] = if flags.final_try {
            &[yes, WRONG_PIN]
        } else {
            &[WRONG_PIN]
        };
        let expected = if attempt == 3 {
            Exit::Blocked
        } else {
            Exit::WrongPin
        };
        match commands::sign(&opts, &sign, out, &mut Input::scripted(answers, out.lang)) {
            Err(f) if f.code == expected => out.say(f.msg),
            _ => return Err(unexpected("6")),
        }
        out.say(Msg::State(Secret::Pin, pin_flags(&opts)?.state()));
    }

    out.say(Msg::DemoStep(DemoStep::Unblock));
    let answers = [CARD_PUK, UNBLOCKED_PIN, UNBLOCKED_PIN];
    commands::pin_unblock(&opts, out, &mut Input::scripted(&answers, out.lang))?;
    out.say(Msg::State(Secret::Pin, pin_flags(&opts)?.state()));

    out.say(Msg::DemoStep(DemoStep::SignAgain));
    commands::sign(
        &opts,
        &sign,
        out,
        &mut Input::scripted(&[UNBLOCKED_PIN], out.lang),
    )?;
    verify(&opts, &dir.0, &document, out)?;

    out.say(Msg::DemoDone);
    Ok(())
}

fn unexpected(step: &str) -> Failure {
    Failure::new(Exit::Other, Msg::DemoUnexpected(step.to_string()))
}

/// Personalises a card and writes it to `path`; returns its serial in hex.
#[cfg(feature = "demo")]
fn create_card(path: &Path) -> Result<String, Failure> {
    let options = CreateOptions {
        keys: vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::P256],
        ..CreateOptions::default()
    };
    let image = create(&options)
        .map_err(|e| Failure::new(Exit::Other, Msg::DemoUnexpected(format!("1 ({e})"))))?;
    store::save(path, &image).map_err(|e| {
        Failure::new(
            Exit::Other,
            Msg::WriteFailed(path.display().to_string(), e.to_string()),
        )
    })?;
    Ok(virtual_card::hex(&image.serial))
}

/// The slot of the demo card: the token whose serial is the card's (PC/SC readers may
/// come first), else the last token.
fn demo_slot(opts: &Options, serial_hex: &str) -> Result<u64, Failure> {
    let module = Module::load(opts.module.as_deref()).map_err(|f| match f.msg {
        Msg::ModuleNotFound(_) => Failure::new(Exit::NoToken, Msg::DemoNeedsModule),
        _ => f,
    })?;
    let slots = module.ctx.get_slots_with_token().map_err(failure)?;
    let wanted = serial_hex.to_ascii_lowercase();
    let mut last = None;
    for slot in slots {
        if let Ok(info) = module.ctx.get_token_info(slot) {
            let serial = token::trimmed(info.serial_number()).to_ascii_lowercase();
            if !serial.is_empty() && (wanted.contains(&serial) || serial.contains(&wanted)) {
                return Ok(slot.id());
            }
            last = Some(slot.id());
        }
    }
    last.ok_or_else(|| Failure::new(Exit::NoToken, Msg::NoCard))
}

fn pin_flags(opts: &Options) -> Result<CounterFlags, Failure> {
    let module = Module::load(opts.module.as_deref())?;
    let (_, info) = module.choose_token(opts.slot)?;
    Ok(CounterFlags::user(&info))
}

/// `openssl cms -verify` of the demo signature against the card's own root
/// certificate (the CMS carries the intermediate CA).
fn verify(opts: &Options, dir: &Path, document: &Path, out: &Out) -> Result<(), Failure> {
    let module = Module::load(opts.module.as_deref())?;
    let (slot, _) = module.choose_token(opts.slot)?;
    let session = module.ctx.open_ro_session(slot).map_err(failure)?;
    let mut roots = String::new();
    for cert in token::read_certificates(&session)? {
        let Ok(summary) = cert.summary else { continue };
        let tbs = summary.cert.tbs_certificate();
        if summary.is_ca && tbs.subject() == tbs.issuer() {
            roots.push_str(&pem_certificate(&summary.der));
        }
    }
    drop(session);
    drop(module);
    let root = dir.join("root.pem");
    std::fs::write(&root, roots).map_err(|e| {
        Failure::new(
            Exit::Other,
            Msg::WriteFailed(root.display().to_string(), e.to_string()),
        )
    })?;
    let mut p7s = document.as_os_str().to_owned();
    p7s.push(".p7s");
    let mut command = std::process::Command::new("openssl");
    command.args([
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-purpose",
        "any",
        "-out",
        "/dev/null",
    ]);
    command
        .arg("-in")
        .arg(&p7s)
        .arg("-content")
        .arg(document)
        .arg("-CAfile")
        .arg(&root);
    match command.output() {
        Err(_) => {
            out.say(Msg::DemoNoOpenssl);
            Ok(())
        }
        Ok(result) if result.status.success() => {
            out.say(Msg::DemoVerified);
            Ok(())
        }
        Ok(result) => Err(Failure::new(
            Exit::Other,
            Msg::DemoVerifyFailed(String::from_utf8_lossy(&result.stderr).trim().to_string()),
        )),
    }
}

fn pem_certificate(der: &[u8]) -> String {
    let body = base64(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// RFC 4648 base64 with padding (only PEM needs it; not worth a dependency).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn pem_lines_are_64_characters() {
        let pem = pem_certificate(&[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert_eq!(lines[1].len(), 64);
        // 100 bytes are 136 base64 characters: 64 + 64 + 8.
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3].len(), 8);
    }
}
