//! What `eimza diagnose` sends: read-only commands, chosen by the card's ATR family,
//! each recorded with the card's answer. Nothing here can send a PIN: [`Prober::send`]
//! refuses every instruction but SELECT, READ BINARY, GET RESPONSE, GET DATA and (only
//! when the holder asked for counters) VERIFY without data.

use eimza_akis::atr::{self, Family};
use eimza_pkcs15 as p15;

use super::link::Link;

/// PKCS#15 application AID (ISO 7816-15).
pub const PKCS15_AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];
const MF: u16 = 0x3F00;
/// The PKCS#15 DF of AKIS cards [AKIS], used until EF.DIR names another.
const DEFAULT_APP: u16 = 0x3D00;
/// Every command of a diagnosis together: enough for a card with 8 keys and 244-byte
/// reads, and an end for a card whose files never end.
pub const MAX_COMMANDS: usize = 400;
/// A file is read up to this size (short READ BINARY offsets are 15 bits anyway).
const MAX_FILE: usize = 16 * 1024;
/// Certificates read from the CDF at most.
const MAX_CERTIFICATES: usize = 16;
/// PIN objects whose counters are queried at most.
const MAX_COUNTERS: usize = 4;
/// GET RESPONSE rounds after one command.
const MAX_GET_RESPONSE: usize = 64;

/// What the card answered to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Data and status word.
    Response { data: Vec<u8>, sw: u16 },
    /// Fewer than two bytes: no status word.
    Garbage(Vec<u8>),
    /// The reader or link failed.
    Failed(String),
}

/// One command sent and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// What the command was for (technical English, the same in every language).
    pub what: String,
    pub command: Vec<u8>,
    pub answer: Answer,
}

/// A file the diagnosis tried to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead {
    pub name: String,
    /// FIDs from the MF.
    pub path: Vec<u16>,
    /// The SELECT was answered 9000.
    pub selected: bool,
    /// Bytes read, up to the end of the DER content (or everything read).
    pub bytes: Vec<u8>,
    /// Why reading stopped early, if it did.
    pub problem: Option<String>,
}

/// One form of selecting the PKCS#15 application, and whether the card took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSelect {
    pub form: &'static str,
    /// This is the form the module sends for the card's family.
    pub module_form: bool,
    pub command: Vec<u8>,
    pub sw: Option<u16>,
}

/// A retry-counter query (VERIFY without data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub label: String,
    pub reference: u8,
    pub sw: Option<u16>,
}

/// The retry-counter part of a diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counters {
    Skipped(CountersSkipped),
    Queried(Vec<Counter>),
}

impl Default for Counters {
    fn default() -> Self {
        Counters::Skipped(CountersSkipped::NotAsked)
    }
}

/// Why counters were not queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountersSkipped {
    /// The holder did not ask (`--counters`).
    NotAsked,
    /// v1.0: the public command set has no counter query.
    V10,
    /// Not an AKIS card: what VERIFY without data does there is unknown.
    UnknownCard,
}

/// Everything the diagnosis learned.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub atr: Vec<u8>,
    pub family: Option<Family>,
    pub exchanges: Vec<Exchange>,
    /// A command the guard refused to send (a bug in the diagnosis, never expected).
    pub refused: Vec<String>,
    pub budget_exhausted: bool,
    pub select_mf: Option<u16>,
    pub dir: Option<FileRead>,
    pub dir_records: Vec<p15::DirRecord>,
    pub app_path: Vec<u16>,
    pub app_selects: Vec<AppSelect>,
    pub files: Vec<FileRead>,
    pub token_info: Option<p15::TokenInfo>,
    pub pins: Vec<p15::PinObject>,
    pub private_keys: Vec<p15::PrivateKeyObject>,
    pub public_keys: Vec<p15::PublicKeyObject>,
    pub certificates: Vec<(p15::CertificateObject, Option<FileRead>)>,
    /// Parse errors of the PKCS#15 files: (file, error).
    pub parse_errors: Vec<(String, String)>,
    /// GET DATA 01 06 and 01 04: (status word, data).
    pub serial: Option<(u16, Vec<u8>)>,
    pub life_cycle: Option<(u16, Vec<u8>)>,
    pub counters: Counters,
}

/// Sends commands through the guard and records them.
struct Prober<'a> {
    link: &'a mut dyn Link,
    counters_allowed: bool,
    findings: Findings,
    /// Largest Le per command: 244 on v1.0 [AKIS], else 256.
    max_ne: usize,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// `CLA INS P1 P2 [Lc data] [Le]`, short.
fn apdu(header: [u8; 4], data: &[u8], le: Option<usize>) -> Vec<u8> {
    let mut out = header.to_vec();
    if !data.is_empty() {
        out.push(data.len() as u8);
        out.extend_from_slice(data);
    }
    if let Some(le) = le {
        out.push(if le >= 256 { 0 } else { le as u8 });
    }
    out
}

/// A short APDU of case 2 or 4 (its last byte is Le).
fn has_le(command: &[u8]) -> bool {
    command.len() == 5 || (command.len() > 5 && command.len() == 6 + usize::from(command[4]))
}

fn fid_bytes(fids: &[u16]) -> Vec<u8> {
    fids.iter().flat_map(|f| f.to_be_bytes()).collect()
}

impl Prober<'_> {
    /// The only way out to the card. Read-only instructions pass; VERIFY passes only
    /// without data and only with `--counters`; anything else is refused unsent.
    fn send(&mut self, what: String, command: Vec<u8>) -> Option<(Vec<u8>, u16)> {
        let allowed = match command.as_slice() {
            [0x00, 0xA4 | 0xB0 | 0xC0 | 0xCA, ..] => true,
            // Case 1: exactly the header, no Lc, no data.
            [0x00, 0x20, 0x00, _] => self.counters_allowed,
            _ => false,
        };
        if !allowed {
            self.findings
                .refused
                .push(format!("{what}: {}", hex(&command)));
            return None;
        }
        if self.findings.exchanges.len() >= MAX_COMMANDS {
            self.findings.budget_exhausted = true;
            return None;
        }
        let answer = match self.link.transmit(&command) {
            Ok(raw) if raw.len() >= 2 => {
                let (data, sw) = raw.split_at(raw.len() - 2);
                Answer::Response {
                    data: data.to_vec(),
                    sw: u16::from_be_bytes([sw[0], sw[1]]),
                }
            }
            Ok(raw) => Answer::Garbage(raw),
            Err(e) => Answer::Failed(e),
        };
        let result = match &answer {
            Answer::Response { data, sw } => Some((data.clone(), *sw)),
            _ => None,
        };
        self.findings.exchanges.push(Exchange {
            what,
            command,
            answer,
        });
        result
    }

    /// A command and what ISO 7816-4 says follows: `61xx` → GET RESPONSE (data joined),
    /// `6Cxx` → the same command again with Le = xx, once.
    fn command(&mut self, what: &str, command: Vec<u8>) -> Option<(Vec<u8>, u16)> {
        let (mut data, mut sw) = self.send(what.to_string(), command.clone())?;
        if sw & 0xFF00 == 0x6C00 && has_le(&command) {
            let mut again = command;
            *again.last_mut()? = (sw & 0xFF) as u8;
            (data, sw) = self.send(format!("{what} (Le from 6Cxx)"), again)?;
        }
        let mut rounds = 0;
        while sw & 0xFF00 == 0x6100 && rounds < MAX_GET_RESPONSE {
            rounds += 1;
            let le = match (sw & 0xFF) as usize {
                0 => self.max_ne,
                n => n.min(self.max_ne),
            };
            let (more, next) = self.send(
                format!("GET RESPONSE ({what})"),
                apdu([0x00, 0xC0, 0x00, 0x00], &[], Some(le)),
            )?;
            data.extend_from_slice(&more);
            sw = next;
        }
        Some((data, sw))
    }

    /// Reads the current EF from offset 0 until its DER content ends, the file ends,
    /// `declared` bytes are read, or the card answers anything else.
    fn read_current(&mut self, name: &str, declared: Option<usize>) -> (Vec<u8>, Option<String>) {
        let mut bytes = Vec::new();
        let limit = declared.unwrap_or(MAX_FILE).min(MAX_FILE);
        loop {
            if let Some(end) = content_end(&bytes) {
                bytes.truncate(end);
                return (bytes, None);
            }
            if bytes.len() >= limit {
                bytes.truncate(limit);
                let problem = declared
                    .is_none()
                    .then(|| format!("stopped after {MAX_FILE} bytes"));
                return (bytes, problem);
            }
            let offset = bytes.len();
            let want = (limit - offset).min(self.max_ne);
            let Ok(p1p2) = u16::try_from(offset) else {
                return (bytes, Some("offset beyond READ BINARY's range".into()));
            };
            let [p1, p2] = p1p2.to_be_bytes();
            let what = format!("READ BINARY {name} @{offset}");
            let Some((data, sw)) = self.command(&what, apdu([0x00, 0xB0, p1, p2], &[], Some(want)))
            else {
                return (bytes, Some("no answer".into()));
            };
            let got = data.len();
            if got > want {
                return (bytes, Some(format!("{got} bytes for Le {want}")));
            }
            bytes.extend_from_slice(&data);
            match sw {
                0x9000 if got == want => continue,
                0x9000 | 0x6282 => return (bytes, None),
                0x6B00 if offset > 0 => return (bytes, None),
                other => return (bytes, Some(format!("status {other:04X}"))),
            }
        }
    }

    /// SELECT (the family's form) and read one EF of the application or the MF.
    fn read_file(&mut self, name: &str, path: &[u16], declared: Option<usize>) -> FileRead {
        let command = select_ef(self.findings.family, &self.findings.app_path, path);
        let selected = match command {
            Some(command) => {
                let what = format!("SELECT {name}");
                matches!(self.command(&what, command), Some((_, 0x9000)))
            }
            None => false,
        };
        let (bytes, problem) = if selected {
            self.read_current(name, declared)
        } else {
            (Vec::new(), Some("not selected".into()))
        };
        FileRead {
            name: name.to_string(),
            path: path.to_vec(),
            selected,
            bytes,
            problem,
        }
    }
}

/// Where the DER content of a file ends: after its last TLV, at the first `00`/`FF`
/// padding byte between TLVs. `None` while a TLV is incomplete.
fn content_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        match bytes.get(at) {
            None => return None,
            Some(0x00 | 0xFF) => return Some(at),
            Some(_) => {}
        }
        let total = p15::der_total_length(&bytes[at..])?;
        let end = at.checked_add(total)?;
        if end > bytes.len() {
            return None;
        }
        at = end;
        if at == bytes.len() {
            // Exactly at a boundary: more TLVs may follow; the next read tells.
            return None;
        }
    }
}

/// SELECT of an EF given by its path from the MF (`[3F00, …]`), in the family's form:
/// v1.0 an EF under the current DF (`P1 02`) when it is in the current application DF
/// or the MF, else the absolute path with `3F00` (`P1 08`); every other card the ISO
/// path from the MF without `3F00` (`P1 08`). Answers with an FCI (`P2 00`, Le).
fn select_ef(family: Option<Family>, app_path: &[u16], path: &[u16]) -> Option<Vec<u8>> {
    let (&fid, parent) = path.split_last()?;
    if path.first() != Some(&MF) || path.len() < 2 {
        return None;
    }
    Some(if family == Some(Family::AkisV10) {
        let in_app = parent.len() == app_path.len() + 1 && parent[1..] == *app_path;
        if in_app || parent == [MF] {
            apdu([0x00, 0xA4, 0x02, 0x00], &fid.to_be_bytes(), Some(256))
        } else {
            apdu([0x00, 0xA4, 0x08, 0x00], &fid_bytes(path), Some(256))
        }
    } else {
        apdu([0x00, 0xA4, 0x08, 0x00], &fid_bytes(&path[1..]), Some(256))
    })
}

/// The forms of selecting the PKCS#15 application, the module's first.
fn app_forms(family: Option<Family>, app_path: &[u16]) -> Vec<(&'static str, bool, Vec<u8>)> {
    let mut with_mf = vec![MF];
    with_mf.extend_from_slice(app_path);
    let v10 = (
        "path with 3F00, P1 08 (AKIS v1.0)",
        apdu([0x00, 0xA4, 0x08, 0x00], &fid_bytes(&with_mf), Some(256)),
    );
    let iso_path = (
        "path without 3F00, P1 08 (ISO)",
        apdu([0x00, 0xA4, 0x08, 0x00], &fid_bytes(app_path), Some(256)),
    );
    let by_name_fci = (
        "DF name, P1 04, FCI (ISO)",
        apdu([0x00, 0xA4, 0x04, 0x00], &PKCS15_AID, Some(256)),
    );
    let by_name_module = (
        "DF name, P1 04 P2 0C (ISO)",
        apdu([0x00, 0xA4, 0x04, 0x0C], &PKCS15_AID, None),
    );
    let forms = match family {
        Some(Family::AkisV10) => vec![(v10, true), (iso_path, false), (by_name_fci, false)],
        Some(_) => vec![
            (by_name_module, true),
            (iso_path, false),
            (v10, false),
            (by_name_fci, false),
        ],
        None => vec![(by_name_fci, false), (iso_path, false), (v10, false)],
    };
    forms
        .into_iter()
        .map(|((form, command), module)| (form, module, command))
        .collect()
}

/// Runs the whole diagnosis on `link`.
pub fn run(link: &mut dyn Link, counters: bool) -> Findings {
    let atr = link.atr();
    let family = atr::parse(&atr).and_then(|a| a.family);
    let akis = family.is_some();
    let mut p = Prober {
        link,
        counters_allowed: counters && matches!(family, Some(Family::AkisV1x | Family::AkisV2x)),
        max_ne: if family == Some(Family::AkisV10) {
            244
        } else {
            256
        },
        findings: Findings {
            atr,
            family,
            app_path: vec![DEFAULT_APP],
            ..Findings::default()
        },
    };

    // The MF and EF.DIR: the same for every family, ISO 7816-4 reads.
    p.findings.select_mf = p
        .command(
            "SELECT MF",
            apdu([0x00, 0xA4, 0x00, 0x00], &MF.to_be_bytes(), Some(256)),
        )
        .map(|(_, sw)| sw);
    let dir = p.read_file("EF.DIR", &[MF, 0x2F00], None);
    if !dir.bytes.is_empty() {
        match p15::parse_dir_records(&dir.bytes) {
            Ok(records) => {
                if let Some(path) = records
                    .iter()
                    .find(|r| r.aid == PKCS15_AID)
                    .and_then(|r| r.path.as_deref())
                    .and_then(|bytes| p15::Path::new(bytes).fids())
                {
                    let relative: Vec<u16> = path.into_iter().skip_while(|f| *f == MF).collect();
                    if !relative.is_empty() && relative.len() <= 4 {
                        p.findings.app_path = relative;
                    }
                }
                p.findings.dir_records = records;
            }
            Err(e) => p
                .findings
                .parse_errors
                .push(("EF.DIR".into(), e.to_string())),
        }
    }
    p.findings.dir = Some(dir);

    // The application: the module's form first, then the others, to learn which the
    // card takes; then select again with the first that worked.
    let mut working = None;
    for (form, module_form, command) in app_forms(family, &p.findings.app_path.clone()) {
        let sw = p
            .command(&format!("SELECT PKCS#15 ({form})"), command.clone())
            .map(|(_, sw)| sw);
        if sw == Some(0x9000) && working.is_none() {
            working = Some((form, command.clone()));
        }
        p.findings.app_selects.push(AppSelect {
            form,
            module_form,
            command,
            sw,
        });
    }
    if let Some((form, command)) = working {
        p.command(&format!("SELECT PKCS#15 again ({form})"), command);
        read_pkcs15(&mut p);
    }

    if akis {
        p.findings.serial = p
            .command(
                "GET DATA 01 06 (serial number)",
                apdu([0x00, 0xCA, 0x01, 0x06], &[], Some(0x4D)),
            )
            .map(|(data, sw)| (sw, data));
        p.findings.life_cycle = p
            .command(
                "GET DATA 01 04 (life cycle)",
                apdu([0x00, 0xCA, 0x01, 0x04], &[], Some(0x0A)),
            )
            .map(|(data, sw)| (sw, data));
    }

    p.findings.counters = if !counters {
        Counters::Skipped(CountersSkipped::NotAsked)
    } else if family == Some(Family::AkisV10) {
        Counters::Skipped(CountersSkipped::V10)
    } else if !akis {
        Counters::Skipped(CountersSkipped::UnknownCard)
    } else {
        let mut targets: Vec<(String, u8)> = p
            .findings
            .pins
            .iter()
            .filter_map(|pin| {
                let reference = u8::try_from(pin.attributes.reference).ok()?;
                let label = pin.common.label.clone().unwrap_or_default();
                Some((label, reference))
            })
            .take(MAX_COUNTERS)
            .collect();
        if targets.is_empty() {
            // The profile's references (pkcs11-spec.md §1.4 VERIFY).
            targets = vec![("PIN".into(), 0x81), ("PUK".into(), 0x82)];
        }
        Counters::Queried(
            targets
                .into_iter()
                .map(|(label, reference)| {
                    let sw = p
                        .send(
                            format!("VERIFY without data ({label}, counter query)"),
                            vec![0x00, 0x20, 0x00, reference],
                        )
                        .map(|(_, sw)| sw);
                    Counter {
                        label,
                        reference,
                        sw,
                    }
                })
                .collect(),
        )
    };
    p.findings
}

/// TokenInfo, ODF, and the files the ODF and CDF name.
fn read_pkcs15(p: &mut Prober<'_>) {
    let app: Vec<u16> = std::iter::once(MF)
        .chain(p.findings.app_path.iter().copied())
        .collect();
    let in_app = |fid: u16| -> Vec<u16> { app.iter().copied().chain([fid]).collect() };

    let token_info = p.read_file("EF.TokenInfo", &in_app(0x5032), None);
    if !token_info.bytes.is_empty() {
        match p15::parse_token_info(&token_info.bytes) {
            Ok(info) => p.findings.token_info = Some(info),
            Err(e) => p
                .findings
                .parse_errors
                .push(("EF.TokenInfo".into(), e.to_string())),
        }
    }
    p.findings.files.push(token_info);

    let odf = p.read_file("EF.ODF", &in_app(0x5031), None);
    let entries = if odf.bytes.is_empty() {
        Vec::new()
    } else {
        p15::parse_odf(&odf.bytes).unwrap_or_else(|e| {
            p.findings
                .parse_errors
                .push(("EF.ODF".into(), e.to_string()));
            Vec::new()
        })
    };
    p.findings.files.push(odf);

    let mut cdf_paths = Vec::new();
    for (kind, name) in [
        (p15::OdfKind::AuthObjects, "EF.AODF"),
        (p15::OdfKind::PrivateKeys, "EF.PrKDF"),
        (p15::OdfKind::PublicKeys, "EF.PuKDF"),
        (p15::OdfKind::Certificates, "EF.CDF"),
        (p15::OdfKind::TrustedCertificates, "EF.CDF (trusted)"),
        (p15::OdfKind::UsefulCertificates, "EF.CDF (useful)"),
    ] {
        for entry in entries.iter().filter(|e| e.kind == kind) {
            let Some(path) = entry.path.absolute_fids(&app) else {
                continue;
            };
            let declared = entry.path.length.map(|l| l as usize);
            let file = p.read_file(name, &path, declared);
            if !file.bytes.is_empty() {
                let bytes = file.bytes.clone();
                let error = match kind {
                    p15::OdfKind::AuthObjects => p15::parse_aodf(&bytes)
                        .map(|pins| p.findings.pins.extend(pins))
                        .err(),
                    p15::OdfKind::PrivateKeys => p15::parse_prkdf(&bytes)
                        .map(|keys| p.findings.private_keys.extend(keys))
                        .err(),
                    p15::OdfKind::PublicKeys => p15::parse_pukdf(&bytes)
                        .map(|keys| p.findings.public_keys.extend(keys))
                        .err(),
                    _ => match p15::parse_cdf(&bytes) {
                        Ok(certs) => {
                            cdf_paths.extend(certs);
                            None
                        }
                        Err(e) => Some(e),
                    },
                };
                if let Some(e) = error {
                    p.findings.parse_errors.push((name.into(), e.to_string()));
                }
            }
            p.findings.files.push(file);
        }
    }

    for (index, cert) in cdf_paths.into_iter().enumerate() {
        let read = match cert.value.path() {
            Some(path) if index < MAX_CERTIFICATES => path.absolute_fids(&app).map(|fids| {
                let declared = path.length.map(|l| l as usize);
                p.read_file(&format!("certificate {}", index + 1), &fids, declared)
            }),
            _ => None,
        };
        p.findings.certificates.push((cert, read));
    }
}

/// Tries to send what the diagnosis must never send; returns how many the guard
/// refused (all of them, or the test fails: nothing may reach the card).
#[cfg(test)]
pub fn guard_check(link: &mut dyn Link) -> usize {
    let mut p = Prober {
        link,
        counters_allowed: false,
        max_ne: 256,
        findings: Findings::default(),
    };
    let forbidden: [&[u8]; 6] = [
        b"\x00\x20\x00\x81\x06123456",
        b"\x00\x24\x00\x81\x0C123456654321",
        b"\x00\x2C\x00\x81\x0E12345678123456",
        b"\x00\x22\x41\xB6\x06\x80\x01\x02\x84\x01\x01",
        b"\x00\x2A\x9E\x9A\x01\x00\x00",
        b"\x00\x20\x00\x81",
    ];
    for command in forbidden {
        p.send("forbidden".into(), command.to_vec());
    }
    p.findings.refused.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_end_finds_padding_after_whole_tlvs() {
        assert_eq!(content_end(&[]), None);
        assert_eq!(content_end(&[0x30, 0x02, 1, 2, 0, 0]), Some(4));
        assert_eq!(
            content_end(&[0x30, 0x02, 1, 2, 0xA0, 0x01, 9, 0xFF]),
            Some(7)
        );
        assert_eq!(content_end(&[0x30, 0x02, 1]), None, "incomplete");
        assert_eq!(content_end(&[0x30, 0x02, 1, 2]), None, "more may follow");
        assert_eq!(content_end(&[0x00]), Some(0), "empty file");
    }

    #[test]
    fn select_forms_per_family() {
        let app = [DEFAULT_APP];
        let path = [MF, DEFAULT_APP, 0x4404];
        assert_eq!(
            select_ef(Some(Family::AkisV10), &app, &path),
            Some(vec![0, 0xA4, 2, 0, 2, 0x44, 0x04, 0])
        );
        assert_eq!(
            select_ef(Some(Family::AkisV10), &app, &[MF, 0x2F00]),
            Some(vec![0, 0xA4, 2, 0, 2, 0x2F, 0, 0])
        );
        assert_eq!(
            select_ef(Some(Family::AkisV10), &app, &[MF, 0x5000, 0x4404]),
            Some(vec![0, 0xA4, 8, 0, 6, 0x3F, 0, 0x50, 0, 0x44, 0x04, 0])
        );
        for family in [Some(Family::AkisV2x), None] {
            assert_eq!(
                select_ef(family, &app, &path),
                Some(vec![0, 0xA4, 8, 0, 4, 0x3D, 0, 0x44, 0x04, 0])
            );
        }
        assert_eq!(select_ef(None, &app, &[0x3D00]), None);
        let forms = app_forms(Some(Family::AkisV10), &app);
        assert_eq!(forms[0].2, vec![0, 0xA4, 8, 0, 4, 0x3F, 0, 0x3D, 0, 0]);
        assert!(forms[0].1 && !forms[1].1);
        let forms = app_forms(Some(Family::AkisV1x), &app);
        assert_eq!(&forms[0].2[..5], &[0, 0xA4, 4, 0x0C, 12]);
        assert_eq!(forms[0].2.len(), 17, "no Le");
        assert!(app_forms(None, &app).iter().all(|f| !f.1));
    }
}
