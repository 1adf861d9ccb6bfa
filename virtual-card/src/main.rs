//! `eimza-vcard`: make, inspect and serve software e-imza cards. See `usage()`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use virtual_card::serve::{self, ServeOptions};
use virtual_card::{store, CardFamily, CardImage, CardStatus, Delays, KeyAlgorithm, VirtualCard};

const USAGE: &str = "\
eimza-vcard: software e-imza card (pkcs11-spec.md Part 1)

Usage:
  eimza-vcard create FILE [--family v1.0|v1|v2] [--key rsa2048|rsa3072|p256|p384[:tls]]...
                     [--pin 123456] [--puk 12345678] [--serial HEX] [--user-consent]
                     [--ca-dir DIR] [--force]
      Personalise a new card into FILE (default: family v2, one rsa2048 key, PIN
      123456, PUK 12345678, 8 random serial bytes). --family gives the card that
      AKIS family's ATR and makes it answer only that family's command forms
      (pkcs11-spec.md §1.4); a v1.0 card holds rsa2048 keys only. Every key gets a certificate like a
      real NES key (keyUsage nonRepudiation, no extended key usage); a key given
      as ALG:tls gets digitalSignature and the clientAuth extended key usage as
      well, for TLS client authentication. --ca-dir keeps the test CA in DIR so
      several cards share one root. FILE must not exist unless --force is given.
  eimza-vcard show FILE
      Serial, family, keys (algorithm, userConsent), PIN/PUK tries left and blocked
      state.
  eimza-vcard certs FILE
      Every certificate on the card (end-user, NES CA, root) as PEM.
  eimza-vcard serve FILE [--vpcd HOST:PORT] [--once] [--log-commands LOG]
      Insert the card into vpcd's virtual reader (default 127.0.0.1:35963, reader
      \"Virtual PCD 00 00\"; 35964 is reader 00 01). Reconnects every 250 ms while
      vpcd is away; --once exits when the first connection ends. SIGTERM/SIGINT
      exit cleanly (the card file is always consistent: every change is written
      atomically before the card answers).
      EIMZA_VCARD_DELAYS=\"rsa=60ms,ecdsa=30ms,apdu=5ms\" models a real card's speed.
  eimza-vcard --help

Exit status: 0 success; 1 the card file or the connection failed (message on
stderr); 2 usage error.
";

enum Failure {
    Usage(String),
    Runtime(String),
}

fn usage_error<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Usage(message.into()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("eimza-vcard: {message}\nTry 'eimza-vcard --help'.");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("eimza-vcard: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &[String]) -> Result<(), Failure> {
    let Some((command, rest)) = args.split_first() else {
        return usage_error("missing command (create, show, certs, serve)");
    };
    match command.as_str() {
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        "create" => create(rest),
        "show" => show(rest),
        "certs" => certs(rest),
        "serve" => serve_card(rest),
        other => usage_error(format!("unknown command '{other}'")),
    }
}

/// Splits arguments into the single FILE operand and `--option [value]` pairs.
struct Args<'a> {
    file: Option<&'a str>,
    options: Vec<(&'a str, Option<&'a str>)>,
}

fn parse_args<'a>(
    args: &'a [String],
    with_value: &[&str],
    flags: &[&str],
) -> Result<Args<'a>, Failure> {
    let mut parsed = Args {
        file: None,
        options: Vec::new(),
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let arg = arg.as_str();
        if with_value.contains(&arg) {
            match iter.next() {
                Some(value) => parsed.options.push((arg, Some(value.as_str()))),
                None => return usage_error(format!("{arg} needs a value")),
            }
        } else if flags.contains(&arg) {
            parsed.options.push((arg, None));
        } else if arg.starts_with('-') {
            return usage_error(format!("unknown option '{arg}'"));
        } else if parsed.file.is_some() {
            return usage_error(format!("unexpected argument '{arg}'"));
        } else {
            parsed.file = Some(arg);
        }
    }
    Ok(parsed)
}

impl<'a> Args<'a> {
    fn file(&self) -> Result<&'a Path, Failure> {
        match self.file {
            Some(file) => Ok(Path::new(file)),
            None => usage_error("missing card FILE"),
        }
    }
    fn last(&self, name: &str) -> Option<&'a str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v)
    }
    fn all(&self, name: &str) -> Vec<&'a str> {
        self.options
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| *v)
            .collect()
    }
    fn has(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| *n == name)
    }
}

fn load(path: &Path) -> Result<CardImage, Failure> {
    store::load(path).map_err(|e| Failure::Runtime(format!("{}: {e}", path.display())))
}

/// What `create` was asked for, checked.
struct CreateArgs {
    family: CardFamily,
    keys: Vec<KeyAlgorithm>,
    tls_client_keys: Vec<usize>,
    pin: zeroize::Zeroizing<String>,
    puk: zeroize::Zeroizing<String>,
    serial: Option<Vec<u8>>,
    user_consent: bool,
    ca_dir: Option<PathBuf>,
}

fn create(args: &[String]) -> Result<(), Failure> {
    let parsed = parse_args(
        args,
        &[
            "--family", "--key", "--pin", "--puk", "--serial", "--ca-dir",
        ],
        &["--user-consent", "--force"],
    )?;
    let file = parsed.file()?;
    let family = match parsed.last("--family") {
        None => CardFamily::default(),
        Some(name) => match CardFamily::parse(name) {
            Some(family) => family,
            None => return usage_error(format!("unknown family '{name}' (v1.0, v1, v2)")),
        },
    };
    let mut keys = Vec::new();
    let mut tls_client_keys = Vec::new();
    for spec in parsed.all("--key") {
        let name = match spec.strip_suffix(":tls") {
            Some(name) => {
                tls_client_keys.push(keys.len());
                name
            }
            None => spec,
        };
        keys.push(match name {
            "rsa2048" => KeyAlgorithm::Rsa2048,
            "rsa3072" => KeyAlgorithm::Rsa3072,
            "p256" => KeyAlgorithm::P256,
            "p384" => KeyAlgorithm::P384,
            other => {
                return usage_error(format!(
                    "unknown key type '{other}' (rsa2048, rsa3072, p256, p384, each optionally with :tls)"
                ))
            }
        });
    }
    if keys.is_empty() {
        keys.push(KeyAlgorithm::Rsa2048);
    }
    if keys.len() > 8 {
        return usage_error("at most 8 keys per card");
    }
    if family == CardFamily::V10 {
        if let Some(other) = keys.iter().find(|&&k| k != KeyAlgorithm::Rsa2048) {
            return usage_error(format!(
                "an AKIS v1.0 card holds rsa2048 keys only, not {}",
                virtual_card::algorithm_name(*other)
            ));
        }
    }
    let pin = parsed.last("--pin").unwrap_or("123456");
    if pin.len() != 6 || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return usage_error("--pin must be exactly 6 digits");
    }
    let puk = parsed.last("--puk").unwrap_or("12345678");
    if puk.len() != 8 || !puk.bytes().all(|b| b.is_ascii_digit()) {
        return usage_error("--puk must be exactly 8 digits");
    }
    let serial = match parsed.last("--serial") {
        Some(text) => match parse_hex(text) {
            Some(bytes) if !bytes.is_empty() && bytes.len() <= 16 => Some(bytes),
            _ => return usage_error("--serial must be 1 to 16 bytes of hex"),
        },
        None => None,
    };
    if file.exists() && !parsed.has("--force") {
        return Err(Failure::Runtime(format!(
            "{} exists; use --force to replace it",
            file.display()
        )));
    }
    let request = CreateArgs {
        family,
        keys,
        tls_client_keys,
        pin: zeroize::Zeroizing::new(pin.to_string()),
        puk: zeroize::Zeroizing::new(puk.to_string()),
        serial,
        user_consent: parsed.has("--user-consent"),
        ca_dir: parsed.last("--ca-dir").map(PathBuf::from),
    };
    let image = personalise(&request).map_err(Failure::Runtime)?;
    let card = VirtualCard::from_image(image, Some(file.to_path_buf()))
        .map_err(|e| Failure::Runtime(format!("{}: {e}", file.display())))?;
    print!("{}", card.status());
    Ok(())
}

/// Personalises a card image from the command line options.
fn personalise(request: &CreateArgs) -> Result<CardImage, String> {
    use virtual_card::personalise::{create, CreateOptions};
    let options = CreateOptions {
        family: request.family,
        keys: request.keys.clone(),
        tls_client_keys: request.tls_client_keys.clone(),
        pin: request.pin.clone(),
        puk: request.puk.clone(),
        serial: request.serial.clone(),
        user_consent: request.user_consent,
        ca_dir: request.ca_dir.clone(),
    };
    create(&options).map_err(|e| format!("personalisation failed: {e}"))
}

fn show(args: &[String]) -> Result<(), Failure> {
    let parsed = parse_args(args, &[], &[])?;
    let file = parsed.file()?;
    let image = load(file)?;
    print!("{}", CardStatus::of_image(&image));
    Ok(())
}

/// The certificate files of spec §1.3 in the PKCS#15 DF: end-user 4305…430C, then the
/// NES CA 430D and the root 430E.
const CERT_FIDS: std::ops::RangeInclusive<u16> = 0x4305..=0x430E;

fn certs(args: &[String]) -> Result<(), Failure> {
    let parsed = parse_args(args, &[], &[])?;
    let file = parsed.file()?;
    let image = load(file)?;
    let mut found = 0;
    for fid in CERT_FIDS {
        let Some(body) = image
            .files
            .iter()
            .find(|f| f.path == [0x3F00, 0x3D00, fid])
            .and_then(|f| f.body.as_deref())
        else {
            continue;
        };
        // EFs are padded with 00 after the certificate: keep the DER length.
        let Some(length) = der_length(body) else {
            continue;
        };
        println!("# EF {fid:04X}");
        print!("{}", pem("CERTIFICATE", &body[..length]));
        found += 1;
    }
    if found == 0 {
        return Err(Failure::Runtime(format!(
            "{}: no certificates on the card",
            file.display()
        )));
    }
    Ok(())
}

/// Total length of the DER SEQUENCE at the start of `bytes`, if it fits.
fn der_length(bytes: &[u8]) -> Option<usize> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (content, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 3 || rest.len() < count {
            return None;
        }
        let content = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (content, 2 + count)
    };
    let total = header + content;
    (total <= bytes.len()).then_some(total)
}

fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3F) as usize]));
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

fn serve_card(args: &[String]) -> Result<(), Failure> {
    let parsed = parse_args(args, &["--vpcd", "--log-commands"], &["--once"])?;
    let file = parsed.file()?;
    let vpcd = parsed
        .last("--vpcd")
        .unwrap_or(serve::DEFAULT_VPCD)
        .to_string();
    let delays = Delays::from_env().map_err(Failure::Usage)?;
    let card = VirtualCard::open(file)
        .map_err(|e| Failure::Runtime(format!("{}: {e}", file.display())))?;
    card.set_delays(delays);
    let handler = request_stop as extern "C" fn(libc::c_int);
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
    let log = |line: &str| eprintln!("eimza-vcard: {line}");
    let options = ServeOptions {
        vpcd,
        once: parsed.has("--once"),
        stop: &STOP,
        log: &log,
    };
    eprintln!(
        "eimza-vcard: serving {} (serial {}) to vpcd at {}",
        file.display(),
        virtual_card::hex(&card.serial()),
        options.vpcd
    );
    let served = serve::serve(&card, &options)
        .map_err(|e| Failure::Runtime(format!("vpcd {}: {e}", options.vpcd)));
    if let Some(log_file) = parsed.last("--log-commands") {
        let lines: String = card.received().iter().map(|c| format!("{c}\n")).collect();
        std::fs::write(log_file, lines)
            .map_err(|e| Failure::Runtime(format!("{log_file}: {e}")))?;
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_matches_known_base64() {
        assert_eq!(
            pem("X", b"Man"),
            "-----BEGIN X-----\nTWFu\n-----END X-----\n"
        );
        assert_eq!(
            pem("X", b"Ma"),
            "-----BEGIN X-----\nTWE=\n-----END X-----\n"
        );
        assert_eq!(pem("X", b"M"), "-----BEGIN X-----\nTQ==\n-----END X-----\n");
        let long = pem("X", &[0u8; 60]);
        assert_eq!(long.lines().nth(1).map(str::len), Some(64));
    }

    #[test]
    fn der_length_of_padded_sequences() {
        assert_eq!(der_length(&[0x30, 0x02, 1, 2, 0, 0]), Some(4));
        assert_eq!(der_length(&[0x30, 0x81, 0x01, 9, 0]), Some(4));
        assert_eq!(der_length(&[0x30, 0x82, 0x01, 0x00]), None);
        assert_eq!(der_length(&[0x04, 0x01, 0]), None);
        assert_eq!(der_length(&[0; 8]), None);
    }

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex("0A0b"), Some(vec![0x0A, 0x0B]));
        assert_eq!(parse_hex("0A0"), None);
        assert_eq!(parse_hex("zz"), None);
    }
}
