//! The diagnosis as one text file for a bug report, in the holder's language (headings
//! and explanations; command bytes and status words are the same in both). National
//! ID numbers are masked unless the holder asks for `--full`.

use std::fmt::Write as _;

use eimza_akis::atr::{self, Family, Tck};
use eimza_akis::known;
use eimza_pkcs15 as p15;
use sha2::{Digest, Sha256};

use super::probe::{Answer, Counters, CountersSkipped, FileRead, Findings};
use crate::certinfo::CertSummary;
use crate::i18n::Lang;

/// The same sentence in both languages; both are required, so none can be missing.
fn t(lang: Lang, en: &'static str, tr: &'static str) -> &'static str {
    match lang {
        Lang::English => en,
        Lang::Turkish => tr,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn path_text(path: &[u16]) -> String {
    path.iter()
        .map(|f| format!("{f:04X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Printable ASCII as text, the rest as dots.
fn ascii(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect()
}

/// Replaces every run of exactly 11 ASCII digits (a Turkish national ID number has 11)
/// with `*`, in text or in bytes.
pub fn mask_digit_runs(bytes: &mut [u8]) {
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let end = bytes[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| start + n);
        if end - start == 11 {
            bytes[start..end].fill(b'*');
        }
        start = end;
    }
}

pub fn mask_text(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    mask_digit_runs(&mut bytes);
    // Only ASCII digits were replaced by an ASCII star: still UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}

/// What the module does with a card of this family (pkcs11-spec.md §1.4.1).
pub fn module_profile(family: Option<Family>, lang: Lang) -> String {
    match family {
        Some(Family::AkisV10) => t(
            lang,
            "the AKIS v1.0 profile: the public v1.0 commands (pkcs11-spec.md §1.4.1)",
            "AKIS v1.0 profili: herkese açık v1.0 komutları (pkcs11-spec.md §1.4.1)",
        )
        .into(),
        Some(Family::AkisV1x | Family::AkisV2x) => t(
            lang,
            "the ISO profile of AKIS v1.x/v2.x (pkcs11-spec.md §1.4)",
            "AKIS v1.x/v2.x için ISO profili (pkcs11-spec.md §1.4)",
        )
        .into(),
        None => t(
            lang,
            "none: the module answers CKR_TOKEN_NOT_RECOGNIZED for this card and sends it nothing",
            "yok: modül bu kart için CKR_TOKEN_NOT_RECOGNIZED döndürür ve karta hiçbir komut göndermez",
        )
        .into(),
    }
}

fn sw_text(answer: &Answer) -> String {
    match answer {
        Answer::Response { data, sw } if data.is_empty() => format!("{sw:04X}"),
        Answer::Response { data, sw } => format!("{sw:04X} +{} bytes", data.len()),
        Answer::Garbage(raw) => format!("no status word: [{}]", spaced(raw)),
        Answer::Failed(e) => format!("reader error: {e}"),
    }
}

/// The whole report. `full`: national ID numbers are not masked.
pub fn render(findings: &Findings, reader: &str, lang: Lang, full: bool) -> String {
    let mut r = String::new();
    let w = &mut r;
    let decoded = atr::decode(&findings.atr);
    let family = findings.family;

    let _ = writeln!(w, "eimza diagnose");
    let _ = writeln!(w, "==============");
    let _ = writeln!(
        w,
        "{}",
        t(
            lang,
            "A read-only diagnosis of an e-imza card, to attach to a bug report.",
            "Bir e-imza kartının salt okunur tanısı; hata bildirimine eklemek için.",
        )
    );
    let _ = writeln!(w, "eimza {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(w, "{}: {reader}", t(lang, "Reader", "Okuyucu"));
    let _ = writeln!(
        w,
        "{}: {}",
        t(lang, "National ID numbers", "T.C. kimlik numaraları"),
        if full {
            t(lang, "included (--full)", "dahil (--full)")
        } else {
            t(
                lang,
                "masked as *********** (--full includes them)",
                "*********** olarak gizlendi (--full ile dahil edilir)",
            )
        }
    );
    let verify_sent = findings
        .exchanges
        .iter()
        .filter(|e| e.command.get(1) == Some(&0x20))
        .count();
    let _ = writeln!(
        w,
        "{}: {}",
        t(lang, "Commands sent", "Gönderilen komutlar"),
        findings.exchanges.len()
    );
    let _ = writeln!(
        w,
        "{}",
        t(
            lang,
            "No PIN, no PUK, no CHANGE REFERENCE DATA, no RESET RETRY COUNTER, no MSE and no PSO were sent.",
            "PIN, PUK, CHANGE REFERENCE DATA, RESET RETRY COUNTER, MSE ve PSO gönderilmedi.",
        )
    );
    let _ = writeln!(
        w,
        "{}: {verify_sent}{}",
        t(
            lang,
            "Retry-counter queries (VERIFY without data)",
            "Deneme sayacı sorguları (verisiz VERIFY)",
        ),
        if matches!(findings.counters, Counters::Queried(_)) {
            t(
                lang,
                " (asked for with --counters)",
                " (--counters ile istendi)",
            )
        } else {
            ""
        }
    );

    // ---- ATR -------------------------------------------------------------------------
    let _ = writeln!(w, "\n## ATR");
    let _ = writeln!(w, "ATR: {}", spaced(&findings.atr));
    match &decoded {
        None => {
            let _ = writeln!(
                w,
                "{}",
                t(
                    lang,
                    "The ATR is not well formed (ISO 7816-3): it is shorter than its own bytes announce.",
                    "ATR ISO 7816-3'e uygun değil: kendi baytlarının bildirdiğinden kısa.",
                )
            );
        }
        Some(d) => {
            let interface: Vec<String> = d
                .interface
                .iter()
                .map(|b| format!("T{}{}={:02X}", b.kind, b.index, b.value))
                .collect();
            let _ = writeln!(
                w,
                "TS {:02X}, T0 {:02X}; {}: {}",
                d.ts,
                d.t0,
                t(lang, "interface bytes", "arayüz baytları"),
                interface.join(" ")
            );
            let protocols: Vec<String> = d.protocols.iter().map(|p| format!("T={p}")).collect();
            let _ = writeln!(
                w,
                "{}: {}",
                t(lang, "protocols", "protokoller"),
                protocols.join(", ")
            );
            let _ = writeln!(
                w,
                "{} ({}): {} \"{}\"",
                t(lang, "historical bytes", "tarihsel baytlar"),
                d.historical.len(),
                spaced(&d.historical),
                ascii(&d.historical)
            );
            for (tag, value) in &d.objects {
                let _ = writeln!(
                    w,
                    "  compact-TLV {tag:X}: {} \"{}\"",
                    spaced(value),
                    ascii(value)
                );
            }
            let yes_no = |b: bool| {
                if b {
                    t(lang, "yes", "evet")
                } else {
                    t(lang, "no", "hayır")
                }
            };
            let _ = writeln!(
                w,
                "{}: SFI {}, {} {}",
                t(lang, "card capabilities", "kart yetenekleri"),
                yes_no(d.capabilities.sfi),
                t(lang, "extended length", "uzun APDU"),
                yes_no(d.capabilities.extended_length)
            );
            let tck = match d.tck {
                Tck::NotExpected => t(lang, "none (T=0 only)", "yok (yalnız T=0)").to_string(),
                Tck::Valid(b) => format!("{b:02X} ({})", t(lang, "valid", "geçerli")),
                Tck::Invalid(b) => format!("{b:02X} ({})", t(lang, "WRONG", "YANLIŞ")),
                Tck::Missing => t(lang, "MISSING", "EKSİK").to_string(),
            };
            let _ = writeln!(w, "TCK: {tck}");
            if !d.trailing.is_empty() {
                let _ = writeln!(
                    w,
                    "{}: {}",
                    t(lang, "bytes after the ATR", "ATR'den sonraki baytlar"),
                    spaced(&d.trailing)
                );
            }
        }
    }
    let _ = writeln!(
        w,
        "{}: {}",
        t(lang, "family", "aile"),
        match family {
            Some(f) => f.name().to_string(),
            None => t(
                lang,
                "none of the AKIS families the module knows",
                "modülün tanıdığı AKIS ailelerinden hiçbiri",
            )
            .to_string(),
        }
    );
    if let Some(code) = decoded.as_ref().and_then(|d| d.version_code.clone()) {
        let _ = writeln!(
            w,
            "{}: {} \"{}\"",
            t(lang, "version code", "sürüm kodu"),
            spaced(&code),
            ascii(&code)
        );
    }
    let listed = match known::lookup(&findings.atr) {
        Some(known::Match::Exact(k)) => format!("{} ({})", k.description, k.source),
        Some(known::Match::SameHistoricalBytes(k)) => format!(
            "{} ({}; {})",
            k.description,
            k.source,
            t(
                lang,
                "same historical bytes, other interface bytes",
                "aynı tarihsel baytlar, farklı arayüz baytları",
            )
        ),
        None => t(lang, "not listed", "listede yok").to_string(),
    };
    let _ = writeln!(
        w,
        "{}: {listed}",
        t(lang, "public ATR lists", "herkese açık ATR listeleri")
    );
    let _ = writeln!(
        w,
        "{}: {}",
        t(lang, "module", "modül"),
        module_profile(family, lang)
    );

    // ---- Commands ----------------------------------------------------------------------
    let _ = writeln!(
        w,
        "\n## {}",
        t(lang, "Commands and answers", "Komutlar ve yanıtlar")
    );
    for (i, e) in findings.exchanges.iter().enumerate() {
        let _ = writeln!(
            w,
            "{:3}  {}  ->  {}   {}",
            i + 1,
            spaced(&e.command),
            sw_text(&e.answer),
            e.what
        );
    }
    if findings.budget_exhausted {
        let _ = writeln!(
            w,
            "{}",
            t(
                lang,
                "(stopped: the diagnosis sends at most 400 commands)",
                "(durduruldu: tanı en fazla 400 komut gönderir)",
            )
        );
    }
    for refused in &findings.refused {
        let _ = writeln!(w, "NOT SENT (guard): {refused}");
    }

    // ---- Application -------------------------------------------------------------------
    let _ = writeln!(
        w,
        "\n## {}",
        t(lang, "PKCS#15 application", "PKCS#15 uygulaması")
    );
    let _ = writeln!(
        w,
        "SELECT MF: {}",
        findings
            .select_mf
            .map_or("-".to_string(), |sw| format!("{sw:04X}"))
    );
    for a in &findings.app_selects {
        let _ = writeln!(
            w,
            "{}{}: {} -> {}",
            a.form,
            if a.module_form {
                t(lang, " [the module's form]", " [modülün kullandığı biçim]")
            } else {
                ""
            },
            spaced(&a.command),
            a.sw.map_or("-".to_string(), |sw| format!("{sw:04X}"))
        );
    }
    let _ = writeln!(
        w,
        "{}: 3F00 {}",
        t(lang, "application DF", "uygulama DF'i"),
        path_text(&findings.app_path)
    );
    if !findings.app_selects.iter().any(|a| a.sw == Some(0x9000)) {
        let _ = writeln!(
            w,
            "{}",
            t(
                lang,
                "The card took none of these forms: the PKCS#15 files could not be read.",
                "Kart bu biçimlerin hiçbirini kabul etmedi: PKCS#15 dosyaları okunamadı.",
            )
        );
    }
    let _ = writeln!(w, "\n## EF.DIR");
    if findings.dir_records.is_empty() {
        let _ = writeln!(w, "{}", t(lang, "no records", "kayıt yok"));
    }
    for record in &findings.dir_records {
        let _ = writeln!(
            w,
            "AID {}, label {:?}, path {}",
            hex(&record.aid),
            record.label.clone().unwrap_or_default(),
            record.path.as_deref().map_or("-".to_string(), hex)
        );
    }

    // ---- Token, PINs, keys, certificates ----------------------------------------------
    let _ = writeln!(
        w,
        "\n## {}",
        t(lang, "Token (EF.TokenInfo)", "Token (EF.TokenInfo)")
    );
    match &findings.token_info {
        None => {
            let _ = writeln!(w, "{}", t(lang, "not read", "okunamadı"));
        }
        Some(info) => {
            let _ = writeln!(w, "serialNumber: {}", hex(&info.serial_number));
            let _ = writeln!(
                w,
                "manufacturerID: {:?}",
                info.manufacturer_id.clone().unwrap_or_default()
            );
            let _ = writeln!(w, "label: {:?}", info.label.clone().unwrap_or_default());
            let _ = writeln!(w, "tokenflags: {:#x}", info.token_flags);
            let _ = writeln!(
                w,
                "lastUpdate: {}",
                info.last_update.clone().unwrap_or_else(|| "-".into())
            );
        }
    }
    let _ = writeln!(w, "\n## {}", t(lang, "PINs (EF.AODF)", "PIN'ler (EF.AODF)"));
    for pin in &findings.pins {
        let a = &pin.attributes;
        let _ = writeln!(
            w,
            "{:?}: authId {}, reference {:02X}, {:?}, length {}..{} (stored {}), flags {:#x}, pad {}, unblocked by {}",
            pin.common.label.clone().unwrap_or_default(),
            pin.auth_id.as_deref().map_or("-".to_string(), hex),
            a.reference,
            a.pin_type,
            a.min_length,
            a.max_length.map_or("-".to_string(), |m| m.to_string()),
            a.stored_length,
            a.flags,
            a.pad_char.map_or("-".to_string(), |c| format!("{c:02X}")),
            pin.common.auth_id.as_deref().map_or("-".to_string(), hex),
        );
    }
    let _ = writeln!(
        w,
        "\n## {}",
        t(
            lang,
            "Private keys (EF.PrKDF)",
            "Özel anahtarlar (EF.PrKDF)"
        )
    );
    for key in &findings.private_keys {
        let kind = match &key.kind {
            p15::KeyKind::Rsa { modulus_length } => format!("RSA {modulus_length}"),
            p15::KeyKind::Ec { field_size, curve } => format!(
                "EC {} {}",
                field_size.map_or("-".to_string(), |f| f.to_string()),
                curve.map_or("-".to_string(), |c| c.to_string())
            ),
        };
        let _ = writeln!(
            w,
            "{:?}: iD {}, keyReference {}, {kind}, usage {:#x}, accessFlags {:#x}, authId {}, userConsent {}",
            key.common.label.clone().unwrap_or_default(),
            hex(&key.key.id),
            key.key
                .key_reference
                .map_or("-".to_string(), |r| format!("{r:02X}")),
            key.key.usage,
            key.key.access_flags,
            key.common.auth_id.as_deref().map_or("-".to_string(), hex),
            key.common
                .user_consent
                .map_or("-".to_string(), |n| n.to_string()),
        );
        if family == Some(Family::AkisV10)
            && !matches!(
                key.kind,
                p15::KeyKind::Rsa {
                    modulus_length: 2048
                }
            )
        {
            let _ = writeln!(
                w,
                "  {}",
                t(
                    lang,
                    "not RSA-2048: no public AKIS v1.0 command can use this key",
                    "RSA-2048 değil: herkese açık AKIS v1.0 komutlarıyla bu anahtar kullanılamaz",
                )
            );
        }
    }
    let _ = writeln!(
        w,
        "{}: {}",
        t(lang, "public keys (EF.PuKDF)", "açık anahtarlar (EF.PuKDF)"),
        findings.public_keys.len()
    );
    let _ = writeln!(
        w,
        "\n## {}",
        t(lang, "Certificates (EF.CDF)", "Sertifikalar (EF.CDF)")
    );
    for (i, (object, read)) in findings.certificates.iter().enumerate() {
        let _ = writeln!(
            w,
            "{}. {:?}: iD {}, authority {}, {}",
            i + 1,
            object.common.label.clone().unwrap_or_default(),
            hex(&object.id),
            object.authority,
            object
                .value
                .path()
                .map_or("-".to_string(), |p| format!("path {}", hex(&p.path)))
        );
        let Some(read) = read else {
            continue;
        };
        match CertSummary::parse(&read.bytes) {
            Ok(c) => {
                let key = match c.key.describe() {
                    (kind, Some(bits)) if kind == "RSA" => format!("RSA-{bits}"),
                    (kind, _) => kind,
                };
                let _ = writeln!(
                    w,
                    "   subject CN {:?}{}; issuer CN {:?}",
                    c.subject_cn,
                    c.subject_serial
                        .as_ref()
                        .map_or(String::new(), |s| format!(", serialNumber {s:?}")),
                    c.issuer_cn
                );
                let _ = writeln!(
                    w,
                    "   {} {} .. {}; key {key}; key usage {}; CA {}",
                    t(lang, "valid", "geçerlilik"),
                    c.not_before_text,
                    c.not_after_text,
                    c.key_usage
                        .as_ref()
                        .map_or("-".to_string(), |u| u.join(", ")),
                    c.is_ca
                );
                let _ = writeln!(
                    w,
                    "   SHA-256 {} ({} bytes)",
                    hex(&Sha256::digest(&read.bytes)),
                    read.bytes.len()
                );
            }
            Err(e) => {
                let _ = writeln!(
                    w,
                    "   {}: {e} ({} bytes{})",
                    t(lang, "not a certificate", "sertifika değil"),
                    read.bytes.len(),
                    read.problem
                        .as_ref()
                        .map_or(String::new(), |p| format!(", {p}"))
                );
            }
        }
    }

    // ---- GET DATA, counters -----------------------------------------------------------
    if family.is_some() {
        let _ = writeln!(w, "\n## GET DATA");
        match &findings.serial {
            Some((0x9000, data)) if data.len() >= 67 => {
                let _ = writeln!(
                    w,
                    "01 06: 9000, {} (bytes 55..67): {}",
                    t(lang, "serial number", "seri numarası"),
                    hex(&data[55..67])
                );
            }
            Some((sw, data)) => {
                let _ = writeln!(w, "01 06: {sw:04X}, {} bytes", data.len());
            }
            None => {
                let _ = writeln!(w, "01 06: -");
            }
        }
        match &findings.life_cycle {
            Some((0x9000, data)) if data.len() > 6 => {
                let phase = match data[6] {
                    0xA5 => t(lang, "user phase", "kullanıcı aşaması"),
                    0xA0 => t(lang, "admin phase", "yönetici aşaması"),
                    _ => t(lang, "unknown", "bilinmiyor"),
                };
                let _ = writeln!(
                    w,
                    "01 04: 9000, {} (byte 6): {:02X} {phase}",
                    t(lang, "life cycle", "yaşam döngüsü"),
                    data[6]
                );
            }
            Some((sw, data)) => {
                let _ = writeln!(w, "01 04: {sw:04X}, {} bytes", data.len());
            }
            None => {
                let _ = writeln!(w, "01 04: -");
            }
        }
    }
    let _ = writeln!(w, "\n## {}", t(lang, "Retry counters", "Deneme sayaçları"));
    match &findings.counters {
        Counters::Skipped(CountersSkipped::NotAsked) => {
            let _ = writeln!(
                w,
                "{}",
                t(
                    lang,
                    "Not queried. 'eimza diagnose --counters' adds them: it sends VERIFY without a PIN, which spends no try on cards that follow ISO 7816-4.",
                    "Sorgulanmadı. 'eimza diagnose --counters' ekler: PIN'siz VERIFY gönderir; ISO 7816-4'e uyan kartlarda bu hiçbir deneme harcamaz.",
                )
            );
        }
        Counters::Skipped(CountersSkipped::V10) => {
            let _ = writeln!(
                w,
                "{}",
                t(
                    lang,
                    "Not queried although --counters was given: the public AKIS v1.0 command set has no counter query, and on some cards VERIFY without a PIN counts as a wrong PIN.",
                    "--counters verildiği hâlde sorgulanmadı: herkese açık AKIS v1.0 komutlarında sayaç sorgusu yok; bazı kartlarda PIN'siz VERIFY yanlış PIN sayılır.",
                )
            );
        }
        Counters::Skipped(CountersSkipped::UnknownCard) => {
            let _ = writeln!(
                w,
                "{}",
                t(
                    lang,
                    "Not queried although --counters was given: this is not an AKIS card the module knows, and what VERIFY without a PIN does on it is unknown.",
                    "--counters verildiği hâlde sorgulanmadı: bu, modülün tanıdığı bir AKIS kartı değil; PIN'siz VERIFY'ın bu kartta ne yaptığı bilinmiyor.",
                )
            );
        }
        Counters::Queried(counters) => {
            let _ = writeln!(
                w,
                "{}",
                t(
                    lang,
                    "Queried because --counters was given (VERIFY without data).",
                    "--counters verildiği için sorgulandı (verisiz VERIFY).",
                )
            );
            for c in counters {
                let meaning = match c.sw {
                    Some(sw) if sw & 0xFFF0 == 0x63C0 => format!(
                        "{} {}",
                        sw & 0x0F,
                        t(lang, "tries left", "deneme hakkı kaldı")
                    ),
                    Some(0x9000) => t(lang, "verified now", "şu an doğrulanmış").into(),
                    Some(0x6983 | 0x6984) => t(lang, "BLOCKED", "BLOKE").into(),
                    Some(_) => t(lang, "not a counter answer", "sayaç yanıtı değil").into(),
                    None => t(lang, "no answer", "yanıt yok").into(),
                };
                let _ = writeln!(
                    w,
                    "{:?} ({:02X}): {} — {meaning}",
                    c.label,
                    c.reference,
                    c.sw.map_or("-".to_string(), |sw| format!("{sw:04X}"))
                );
            }
        }
    }

    // ---- Problems and raw files --------------------------------------------------------
    if !findings.parse_errors.is_empty() {
        let _ = writeln!(
            w,
            "\n## {}",
            t(lang, "Files that did not parse", "Çözümlenemeyen dosyalar")
        );
        for (file, error) in &findings.parse_errors {
            let _ = writeln!(w, "{file}: {error}");
        }
    }
    let _ = writeln!(
        w,
        "\n## {}",
        t(
            lang,
            "Files as read (hex; certificates are summarised above)",
            "Okunan dosyalar (hex; sertifikalar yukarıda özetlendi)",
        )
    );
    let files = findings.dir.iter().chain(findings.files.iter());
    for file in files {
        dump(w, file, full);
    }
    r
}

fn dump(w: &mut String, file: &FileRead, full: bool) {
    let _ = writeln!(
        w,
        "{} (3F00…: {}), {} bytes{}",
        file.name,
        path_text(&file.path),
        file.bytes.len(),
        file.problem
            .as_ref()
            .map_or(String::new(), |p| format!(", {p}"))
    );
    let mut bytes = file.bytes.clone();
    if !full {
        mask_digit_runs(&mut bytes);
    }
    for (i, line) in bytes.chunks(16).enumerate() {
        let _ = writeln!(
            w,
            "  {:04X}  {:<47}  |{}|",
            i * 16,
            spaced(line),
            ascii(line)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_eleven_digits_are_masked() {
        assert_eq!(mask_text("12345678950NES0"), "***********NES0");
        assert_eq!(mask_text("id 12345678950."), "id ***********.");
        assert_eq!(mask_text("123456789501"), "123456789501", "12 digits");
        assert_eq!(mask_text("1234567895"), "1234567895", "10 digits");
        assert_eq!(mask_text("Ş12345678950ş"), "Ş***********ş");
        let mut bytes = b"\x0c\x0f12345678950NES0\x00".to_vec();
        mask_digit_runs(&mut bytes);
        assert_eq!(&bytes, b"\x0c\x0f***********NES0\x00");
    }
}
