//! Bind against a small file-system card (SELECT, READ BINARY, VERIFY-without-data),
//! with PKCS#15 files made by `eimza_pkcs15`'s encoders.

use super::super::tests::{hex, EXTENDED_ATR, SHORT_ATR};
use super::super::*;
use crate::reader::{ReaderError, SteppedChannel};
use eimza_pkcs15 as p15;
use p15::fixture;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Default)]
struct FsState {
    /// Path from the MF without 3F00 → content (with padding).
    files: BTreeMap<Vec<u8>, Vec<u8>>,
    current_ef: Option<Vec<u8>>,
    aid_selectable: bool,
    log: Vec<Vec<u8>>,
}

#[derive(Clone)]
struct FsCard(Arc<Mutex<FsState>>, Vec<u8>);

fn answer(data: &[u8], sw: u16) -> Vec<u8> {
    let mut out = data.to_vec();
    out.extend_from_slice(&sw.to_be_bytes());
    out
}

/// Ne of a case-2 APDU (short or extended).
fn le_of(apdu: &[u8]) -> usize {
    match apdu.len() {
        5 => match apdu[4] {
            0 => 256,
            n => n as usize,
        },
        7 => match u16::from_be_bytes([apdu[5], apdu[6]]) {
            0 => 65536,
            n => n as usize,
        },
        _ => 0,
    }
}

impl FsState {
    fn handle(&mut self, apdu: &[u8]) -> Vec<u8> {
        let (ins, p1, p2) = (apdu[1], apdu[2], apdu[3]);
        let data = apdu.get(5..).unwrap_or_default();
        // AKIS v1.0 SELECTs (P2 00, with Le): the path with 3F00 (P1 08) or an EF of
        // the PKCS#15 DF by its FID (P1 02).
        let owned;
        let data = if ins == 0xA4 && p2 == 0x00 && apdu.len() > 5 {
            let lc = usize::from(apdu[4]);
            let field = &apdu[5..5 + lc];
            match (p1, field) {
                (0x08, [0x3F, 0x00, rest @ ..]) => rest,
                (0x02, fid) => {
                    owned = [&[0x3D, 0x00][..], fid].concat();
                    &owned[..]
                }
                _ => field,
            }
        } else {
            data
        };
        let p1 = if ins == 0xA4 && p1 == 0x02 { 0x08 } else { p1 };
        match (ins, p1) {
            (0xA4, 0x04) => {
                if self.aid_selectable && data == PKCS15_AID {
                    answer(&[], 0x9000)
                } else {
                    answer(&[], 0x6A82)
                }
            }
            (0xA4, 0x00) => answer(&[], 0x9000),
            (0xA4, 0x08) => {
                let is_df = self
                    .files
                    .keys()
                    .any(|k| k.starts_with(data) && k.len() > data.len());
                if self.files.contains_key(data) {
                    self.current_ef = Some(data.to_vec());
                    answer(&[], 0x9000)
                } else if is_df {
                    answer(&[], 0x9000)
                } else {
                    answer(&[], 0x6A82)
                }
            }
            (0xB0, _) => {
                let (file, offset) = if p1 & 0x80 != 0 {
                    let sfi = p1 & 0x1F;
                    let found = self
                        .files
                        .keys()
                        .find(|k| k.len() == 4 && k[..2] == [0x3D, 0x00] && k[3] & 0x1F == sfi)
                        .cloned();
                    (found, p2 as usize)
                } else {
                    (self.current_ef.clone(), ((p1 as usize) << 8) | p2 as usize)
                };
                let Some(file) = file else {
                    return answer(&[], 0x6A82);
                };
                self.current_ef = Some(file.clone());
                let body = &self.files[&file];
                if offset > body.len() {
                    return answer(&[], 0x6B00);
                }
                let want = le_of(apdu);
                let end = (offset + want).min(body.len());
                let sw = if end - offset < want { 0x6282 } else { 0x9000 };
                answer(&body[offset..end], sw)
            }
            (0x20, _) => match p2 {
                0x81 => answer(&[], 0x63C3),
                _ => answer(&[], 0x63CA),
            },
            _ => answer(&[], 0x6D00),
        }
    }
}

impl SteppedChannel for FsCard {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        Ok(false)
    }
    fn end(&mut self) {}
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut s = self.0.lock();
        s.log.push(apdu.to_vec());
        Ok(s.handle(apdu))
    }
    fn reset(&mut self) -> Result<(), ReaderError> {
        Ok(())
    }
    fn atr(&self) -> &[u8] {
        &self.1
    }
}

/// The fixture card's key 1 (pkcs15::fixture): its iD.
const KEY_ID: [u8; 20] = [0x01; 20];

fn p256_spki() -> Vec<u8> {
    let mut der =
        hex("30 59 30 13 06 07 2A 86 48 CE 3D 02 01 06 08 2A 86 48 CE 3D 03 01 07 03 42 00 04");
    der.extend_from_slice(&[0x11; 64]);
    der
}

/// The shared card image (pkcs15::fixture): one P-256 key with userConsent, its public
/// key only in the PuKDF. `with_lengths`: whether the ODF/PuKDF paths declare lengths.
fn fixture_card(with_lengths: bool) -> fixture::Card {
    fixture::Card {
        serial: vec![0x01, 0xAB, 0xCD],
        manufacturer: "TUBITAK BILGEM".into(),
        label: "AKIS_01ABCD".into(),
        token_flags: p15::token_flags::LOGIN_REQUIRED,
        last_update: Some("20261124120000Z".into()),
        keys: vec![fixture::Key {
            key_ref: 1,
            kind: fixture::ec_kind(256),
            spki: p256_spki(),
            user_consent: true,
        }],
        declare_lengths: with_lengths,
    }
}

fn padded(mut body: Vec<u8>, size: usize) -> Vec<u8> {
    body.resize(size.max(body.len()), 0);
    body
}

/// A stand-in card serving the fixture's files.
fn fs_card(atr: &[u8], with_lengths: bool, aid_selectable: bool) -> FsCard {
    let files = fixture_card(with_lengths)
        .files()
        .iter()
        .map(|f| {
            // Path from the MF without 3F00, as bytes.
            let path: Vec<u8> = f.path[1..]
                .iter()
                .flat_map(|fid| fid.to_be_bytes())
                .collect();
            (path, f.padded())
        })
        .collect();
    FsCard(
        Arc::new(Mutex::new(FsState {
            files,
            aid_selectable,
            ..Default::default()
        })),
        atr.to_vec(),
    )
}

fn check_token(t: &TokenData) {
    assert_eq!(t.serial, "01ABCD");
    assert_eq!(t.label, "AKIS_01ABCD");
    assert_eq!(t.manufacturer, "TUBITAK BILGEM");
    assert_eq!(t.model, "AKIS");
    assert_eq!(t.last_update.as_deref(), Some("20261124120000Z"));
    assert_eq!(t.user_pin.reference, 0x81);
    assert_eq!(t.user_pin.max_tries, PIN_MAX_TRIES);
    assert_eq!(t.user_pin.status, PinStatus::TriesLeft(3));
    assert_eq!((t.user_pin.min_len, t.user_pin.max_len), (6, 6));
    let puk = t.puk.as_ref().expect("PUK");
    assert_eq!(puk.reference, 0x82);
    assert_eq!(puk.max_tries, PUK_MAX_TRIES);
    assert_eq!(puk.status, PinStatus::TriesLeft(10));
    assert_eq!(t.keys.len(), 1);
    let k = &t.keys[0];
    assert_eq!(k.id, KEY_ID);
    assert_eq!(k.key_ref, 1);
    assert_eq!(k.bits, 256);
    assert!(k.user_consent && k.usage_sign && k.usage_non_repudiation);
    assert_eq!(k.auth_id, [0x01]);
    assert!(
        matches!(&k.public, PublicKey::Ec { curve: Curve::P256, point, .. } if point.len() == 65)
    );
    assert!(t.certificates.is_empty());
}

#[test]
fn bind_extended_sfi_reads_exact_lengths() {
    let card = fs_card(&EXTENDED_ATR, true, true);
    let mut c = Card::new(Box::new(card.clone()));
    let t = c.bind().expect("bind");
    check_token(&t);
    let log = card.0.lock().log.clone();
    let files = card.0.lock().files.clone();
    let size = |p: &[u8]| {
        let body = &files[p];
        let end = body.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        end
    };
    let aodf_len = size(&[0x3D, 0x00, 0x44, 0x01]);
    let prkdf_len = size(&[0x3D, 0x00, 0x44, 0x02]);
    let pukdf_len = size(&[0x3D, 0x00, 0x44, 0x03]);
    // Short encoding whenever Ne fits in one byte: the files here are small.
    let ext = |p1: u8, n: usize| vec![0x00, 0xB0, p1, 0x00, n as u8];
    let expected = vec![
        hex("00 A4 04 0C 0C A0 00 00 00 63 50 4B 43 53 2D 31 35"),
        hex("00 B0 92 00 00"),
        hex("00 B0 91 00 00"),
        ext(0x81, aodf_len),
        ext(0x82, prkdf_len),
        // CDF with declared length 0: not read. Key without certificate: PuKDF + SPKI.
        ext(0x83, pukdf_len),
        ext(0x95, p256_spki().len()),
        hex("00 20 00 81"),
        hex("00 20 00 82"),
    ];
    assert_eq!(log, expected);
    println!(
        "bind (extended length, SFI, key via PuKDF): {} APDUs",
        log.len()
    );
    assert_eq!(c.apdus_sent(), log.len() as u64);
}

#[test]
fn bind_short_apdus_select_by_path_and_der_lengths() {
    // No capabilities in the ATR and no Path.length anywhere: SELECT by path, READ
    // BINARY in 256-byte chunks, and lengths from the DER headers.
    let card = fs_card(&SHORT_ATR, false, true);
    let mut c = Card::new(Box::new(card.clone()));
    let t = c.bind().expect("bind");
    check_token(&t);
    let log = card.0.lock().log.clone();
    assert!(
        log.iter().all(|a| a.len() <= 5 + 255 + 1),
        "short APDUs only"
    );
    assert!(
        log.iter().all(|a| !(a[1] == 0xB0 && a[2] & 0x80 != 0)),
        "no SFI reads"
    );
    let selects: Vec<&Vec<u8>> = log
        .iter()
        .filter(|a| a[1] == 0xA4 && a[2] == 0x08)
        .collect();
    // EF.TokenInfo first (the cache check), then EF.ODF.
    assert_eq!(selects[0], &hex("00 A4 08 0C 04 3D 00 50 32"));
    assert_eq!(selects[1], &hex("00 A4 08 0C 04 3D 00 50 31"));
    // Never reads into the padding of the 2048-byte directory files.
    for a in log.iter().filter(|a| a[1] == 0xB0) {
        let offset = ((a[2] as usize) << 8) | a[3] as usize;
        assert!(offset < 600, "read at {offset}");
    }
    println!("bind (short APDUs, no lengths): {} APDUs", log.len());
}

/// The public AKIS v1.0 ATR: no capabilities object.
const V10_ATR: [u8; 19] = [
    0x3B, 0xBA, 0x11, 0x00, 0x81, 0x31, 0xFE, 0x4D, 0x55, 0x45, 0x4B, 0x41, 0x45, 0x20, 0x56, 0x31,
    0x2E, 0x30, 0xAE,
];

#[test]
fn bind_v10_uses_its_forms_asks_no_counter_and_offers_rsa_2048_only() {
    let card = fs_card(&V10_ATR, true, true);
    let mut c = Card::new(Box::new(card.clone()));
    let t = c.bind().expect("bind");
    let log = card.0.lock().log.clone();
    // The application by its path with 3F00, P2 00 and Le (§1.4.1).
    assert_eq!(log[0], hex("00 A4 08 00 04 3F 00 3D 00 00"));
    for a in &log[1..] {
        match a[1] {
            0xA4 => assert_eq!(&a[..5], &hex("00 A4 02 00 02")[..], "{a:02X?}"),
            0xB0 => assert!(a.len() == 5 && (1..=0xF4).contains(&a[4]), "{a:02X?}"),
            _ => panic!("not a v1.0 bind command: {a:02X?}"),
        }
    }
    // No retry-counter query: the counters are unknown until a PIN command answers.
    assert_eq!(t.user_pin.status, PinStatus::Unknown);
    assert_eq!(t.puk.as_ref().map(|p| p.status), Some(PinStatus::Unknown));
    // The fixture's key is P-256: no public v1.0 command could use it.
    assert!(t.keys.is_empty());
    assert_eq!(t.family.family, atr::Family::AkisV10);
    assert_eq!(c.pin_status(&t.user_pin), Ok(PinStatus::Unknown));
    assert_eq!(
        card.0.lock().log.len(),
        log.len(),
        "nothing sent for the counter"
    );
    println!("bind (AKIS v1.0 forms): {} APDUs", log.len());
}

#[test]
fn bind_falls_back_to_ef_dir() {
    let card = fs_card(&EXTENDED_ATR, true, false);
    let mut c = Card::new(Box::new(card.clone()));
    let t = c.bind().expect("bind");
    check_token(&t);
    let log = card.0.lock().log.clone();
    assert_eq!(log[1], hex("00 A4 00 0C 02 3F 00"));
    assert_eq!(log[2], hex("00 A4 08 0C 02 2F 00"));
    assert!(log.contains(&hex("00 A4 08 0C 02 3D 00")));
}

#[test]
fn bind_without_application_is_not_recognized() {
    let card = fs_card(&EXTENDED_ATR, true, false);
    card.0.lock().files.remove(&vec![0x2F, 0x00]);
    let mut c = Card::new(Box::new(card));
    assert_eq!(c.bind(), Err(CardError::NotRecognized));
}

#[test]
fn bind_survives_garbage_files() {
    // Every PKCS#15 file replaced by junk in turn: an error, never a panic.
    for target in [
        vec![0x3D, 0x00, 0x50, 0x31],
        vec![0x3D, 0x00, 0x50, 0x32],
        vec![0x3D, 0x00, 0x44, 0x01],
        vec![0x3D, 0x00, 0x44, 0x02],
        vec![0x3D, 0x00, 0x44, 0x03],
        vec![0x3D, 0x00, 0x42, 0x15],
    ] {
        for junk in [
            vec![0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
            vec![0x04, 0x01],
            vec![0xA8, 0x03, 0x30, 0x01],
        ] {
            let card = fs_card(&SHORT_ATR, false, true);
            card.0.lock().files.insert(target.clone(), junk.clone());
            let mut c = Card::new(Box::new(card));
            let r = c.bind();
            assert!(r.is_err(), "{target:02X?} {junk:02X?} gave {r:?}");
        }
    }
}

/// The file-system card with its answers damaged at random (bytes flipped, answers cut).
struct Damaged {
    inner: FsCard,
    state: u64,
}

impl Damaged {
    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl SteppedChannel for Damaged {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        Ok(false)
    }
    fn end(&mut self) {}
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut answer = self.inner.transmit(apdu)?;
        match self.next() % 6 {
            0 if !answer.is_empty() => {
                let i = (self.next() as usize) % answer.len();
                answer[i] ^= 1 << (self.next() % 8);
            }
            1 => {
                let keep = (self.next() as usize) % (answer.len() + 1);
                answer.truncate(keep);
            }
            _ => {}
        }
        Ok(answer)
    }
    fn reset(&mut self) -> Result<(), ReaderError> {
        Ok(())
    }
    fn atr(&self) -> &[u8] {
        SteppedChannel::atr(&self.inner)
    }
}

#[test]
fn damaged_answers_never_panic() {
    let mut outcomes = [0usize; 2];
    for seed in 1..300u64 {
        for (atr, lengths) in [(&EXTENDED_ATR[..], true), (&SHORT_ATR[..], false)] {
            let mut card = Card::new(Box::new(Damaged {
                inner: fs_card(atr, lengths, seed % 5 != 0),
                state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            }));
            outcomes[usize::from(card.bind().is_ok())] += 1;
        }
    }
    // Both outcomes occur: the damage reaches deep into bind, not only the first APDU.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

// ---- persistent bind cache (pkcs11-spec.md §3.2.1)

fn temp_cache(name: &str) -> (std::path::PathBuf, super::super::BindCache) {
    let dir = std::env::temp_dir().join(format!("eimza-bind-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = super::super::BindCache::new(dir.join("eimza-pkcs11"), crate::ffi::effective_uid());
    (dir, cache)
}

fn set_token_info(card: &FsCard, last_update: Option<&str>) {
    let info = fixture::Card {
        last_update: last_update.map(Into::into),
        ..fixture_card(true)
    }
    .token_info_bytes();
    card.0
        .lock()
        .files
        .insert(vec![0x3D, 0x00, 0x50, 0x32], padded(info, 512));
}

/// Bind over a fresh connection; returns the token and the APDUs it sent.
fn bind_cached(
    card: &FsCard,
    cache: &super::super::BindCache,
) -> (Result<TokenData, CardError>, Vec<Vec<u8>>) {
    card.0.lock().log.clear();
    let mut c = Card::new(Box::new(card.clone()));
    let t = c.bind_with_cache(Some(cache));
    let log = card.0.lock().log.clone();
    (t, log)
}

// The bind cache exists only where its trust rule can be checked (Unix).
#[cfg(unix)]
#[test]
fn cached_bind_sends_select_token_info_and_the_counters() {
    let (dir, cache) = temp_cache("hit");
    let card = fs_card(&EXTENDED_ATR, true, true);
    let (cold, cold_log) = bind_cached(&card, &cache);
    let cold = cold.expect("cold bind");
    check_token(&cold);
    assert_eq!(cold_log.len(), 9, "cold bind is the uncached sequence");
    assert!(cache
        .entry_path(&[0x01, 0xAB, 0xCD])
        .expect("path")
        .exists());

    let (warm, warm_log) = bind_cached(&card, &cache);
    let warm = warm.expect("cached bind");
    assert_eq!(
        warm_log,
        vec![
            hex("00 A4 04 0C 0C A0 00 00 00 63 50 4B 43 53 2D 31 35"),
            hex("00 B0 92 00 00"),
            hex("00 20 00 81"),
            hex("00 20 00 82"),
        ]
    );
    assert_eq!(warm, cold);
    let _ = std::fs::remove_dir_all(dir);
}

// The bind cache exists only where its trust rule can be checked (Unix).
#[cfg(unix)]
#[test]
fn changed_contents_with_a_new_last_update_are_read_from_the_card() {
    let (dir, cache) = temp_cache("stale");
    let card = fs_card(&EXTENDED_ATR, true, true);
    let (first, _) = bind_cached(&card, &cache);
    let first = first.expect("bind");
    // Re-personalised under the same serial: a new public key, a new lastUpdate.
    let mut spki = p256_spki();
    let n = spki.len();
    spki[n - 64..].fill(0x22);
    card.0
        .lock()
        .files
        .insert(vec![0x3D, 0x00, 0x42, 0x15], padded(spki, 600));
    set_token_info(&card, Some("20261124130000Z"));
    let (second, log) = bind_cached(&card, &cache);
    let second = second.expect("bind");
    assert_eq!(log.len(), 9, "the card was read in full");
    assert_ne!(second.keys[0].public, first.keys[0].public);
    let PublicKey::Ec { point, .. } = &second.keys[0].public else {
        panic!("EC key expected");
    };
    assert_eq!(&point[1..], &[0x22; 64][..]);
    // And the new contents are what the cache serves next.
    let (third, log) = bind_cached(&card, &cache);
    assert_eq!(log.len(), 4);
    assert_eq!(third.expect("bind").keys, second.keys);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_card_without_last_update_is_never_cached() {
    let (dir, cache) = temp_cache("no-last-update");
    let card = fs_card(&EXTENDED_ATR, true, true);
    set_token_info(&card, None);
    for _ in 0..2 {
        let (t, log) = bind_cached(&card, &cache);
        let t = t.expect("bind");
        assert_eq!(t.last_update, None);
        assert_eq!(t.keys.len(), 1);
        assert_eq!(log.len(), 9);
    }
    assert!(!cache
        .entry_path(&[0x01, 0xAB, 0xCD])
        .expect("path")
        .exists());
    let _ = std::fs::remove_dir_all(dir);
}

// The bind cache exists only where its trust rule can be checked (Unix).
#[cfg(unix)]
#[test]
fn an_entry_that_does_not_bind_is_replaced_by_a_full_read() {
    let (dir, cache) = temp_cache("bad-entry");
    let card = fs_card(&EXTENDED_ATR, true, true);
    let (good, _) = bind_cached(&card, &cache);
    let good = good.expect("bind");
    // A well-formed entry (valid checksum, matching TokenInfo) with a broken ODF.
    let path = cache.entry_path(&[0x01, 0xAB, 0xCD]).expect("path");
    let mut entry =
        super::super::cache::decode(&std::fs::read(&path).expect("read")).expect("entry");
    let odf = entry
        .files
        .get_mut(&(vec![0x3D, 0x00, 0x50, 0x31], 0))
        .expect("ODF cached");
    *odf = vec![0x30, 0x05, 0x01];
    std::fs::write(&path, super::super::cache::encode(&entry)).expect("write");

    let (t, log) = bind_cached(&card, &cache);
    assert_eq!(t.expect("bind falls back to the card"), good);
    // SELECT + TokenInfo, then the full sequence in a second transaction.
    assert_eq!(log.len(), 2 + 9);
    // The entry was rewritten: the next bind is served again.
    let (_, log) = bind_cached(&card, &cache);
    assert_eq!(log.len(), 4);

    // Garbage in place of the entry: ignored, then rewritten.
    std::fs::write(&path, b"garbage").expect("write");
    let (t, log) = bind_cached(&card, &cache);
    assert_eq!(t.expect("bind"), good);
    assert_eq!(log.len(), 9);
    let _ = std::fs::remove_dir_all(dir);
}

/// Another local user plants an entry for this card with a certificate of their own:
/// it is never shown. Served only from a folder and file that are the user's alone
/// (pkcs11-spec.md §3.2.1 Trust).
#[cfg(unix)]
#[test]
fn a_planted_entry_is_not_served() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, cache) = temp_cache("planted");
    let card = fs_card(&EXTENDED_ATR, true, true);
    let (good, _) = bind_cached(&card, &cache);
    let good = good.expect("bind");
    // The planted entry matches this card's ATR and TokenInfo and carries a
    // certificate directory of the planter's choosing.
    let path = cache.entry_path(&[0x01, 0xAB, 0xCD]).expect("path");
    let mut entry =
        super::super::cache::decode(&std::fs::read(&path).expect("read")).expect("entry");
    let planted_cert = vec![0x30, 0x03, 0x02, 0x01, 0x07];
    entry
        .files
        .insert((vec![0x3D, 0x00, 0x44, 0x04], 0), planted_cert.clone());
    std::fs::write(&path, super::super::cache::encode(&entry)).expect("write");
    let folder = path.parent().expect("folder").to_path_buf();
    let chmod = |p: &std::path::Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    // Where someone else could have written it: the folder or the file writable by
    // others. Each time the card is read in full and the card's token comes back.
    for (folder_mode, file_mode) in [(0o777, 0o600), (0o700, 0o666)] {
        chmod(&folder, folder_mode);
        chmod(&path, file_mode);
        let (t, log) = bind_cached(&card, &cache);
        assert_eq!(t.expect("bind from the card"), good);
        assert_eq!(
            log.len(),
            9,
            "folder {folder_mode:o}, file {file_mode:o}: full read"
        );
        // Not rewritten into an untrusted folder; the planted file is left alone.
        if folder_mode == 0o777 {
            assert_eq!(
                super::super::cache::decode(&std::fs::read(&path).expect("read"))
                    .expect("entry")
                    .files
                    .get(&(vec![0x3D, 0x00, 0x44, 0x04], 0)),
                Some(&planted_cert)
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
