//! The card file: counters and PIN changes survive a reopen, a try is on disk before the
//! card compares, and damaged or foreign files give clear errors.

mod common;

use std::path::PathBuf;

use common::*;
use virtual_card::{store, KeyAlgorithm, StoreError, VirtualCard};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("vcard-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_card_file(dir: &TempDir) -> PathBuf {
    let path = dir.file("card.vc");
    VirtualCard::from_image(image(&[(KeyAlgorithm::P256, false)]), Some(path.clone())).unwrap();
    path
}

#[test]
fn counters_survive_reopen() {
    let dir = TempDir::new("counters");
    let path = new_card_file(&dir);
    {
        let card = VirtualCard::open(&path).unwrap();
        assert_eq!(
            status(&card, &apdu([0, 0x20, 0, 0x81], b"000000", None)),
            0x63C2
        );
        assert_eq!(
            status(&card, &apdu([0, 0x20, 0, 0x82], b"00000000", None)),
            0x63C9
        );
        // No explicit save or close: the file was written before the card answered.
        std::mem::forget(card);
    }
    let card = VirtualCard::open(&path).unwrap();
    let counters = card.status();
    assert_eq!(
        (
            counters.pin.unwrap().tries_left,
            counters.puk.unwrap().tries_left
        ),
        (2, 9)
    );
    assert!(!card.is_verified(0x81), "security status is not persisted");
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(
        VirtualCard::open(&path)
            .unwrap()
            .status()
            .pin
            .unwrap()
            .tries_left,
        3
    );
}

#[test]
fn blocked_pin_stays_blocked() {
    let dir = TempDir::new("blocked");
    let path = new_card_file(&dir);
    let card = VirtualCard::open(&path).unwrap();
    for _ in 0..3 {
        status(&card, &apdu([0, 0x20, 0, 0x81], b"000000", None));
    }
    drop(card);
    let card = VirtualCard::open(&path).unwrap();
    assert_eq!(verify_pin(&card), 0x6983);
    assert!(card.status().pin.unwrap().blocked());
}

#[test]
fn pin_and_puk_changes_survive_reopen() {
    let dir = TempDir::new("change");
    let path = new_card_file(&dir);
    let card = VirtualCard::open(&path).unwrap();
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x81], b"123456654321", None)),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x82], b"1234567887654321", None)),
        0x9000
    );
    drop(card);
    let card = VirtualCard::open(&path).unwrap();
    assert_eq!(verify_pin(&card), 0x63C2);
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"654321", None)),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x82], b"87654321", None)),
        0x9000
    );
    // Unblock with the new PUK and a new PIN: persisted too.
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x81], b"87654321111111", None)),
        0x9000
    );
    drop(card);
    let card = VirtualCard::open(&path).unwrap();
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"111111", None)),
        0x9000
    );
}

#[test]
fn no_comparison_without_a_persisted_try() {
    let dir = TempDir::new("nowrite");
    let path = new_card_file(&dir);
    let card = VirtualCard::open(&path).unwrap();
    // The folder disappears: the card cannot record the try, so it must not compare.
    std::fs::remove_dir_all(&dir.0).unwrap();
    assert_eq!(verify_pin(&card), 0x6F00);
    assert!(!card.is_verified(0x81));
    assert_eq!(
        card.status().pin.unwrap().tries_left,
        3,
        "memory matches the (lost) file"
    );
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x81], b"123456654321", None)),
        0x6F00
    );
    // Once the card can write again, everything works.
    std::fs::create_dir_all(&dir.0).unwrap();
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(
        VirtualCard::open(&path)
            .unwrap()
            .status()
            .pin
            .unwrap()
            .tries_left,
        3
    );
}

#[test]
fn no_temporary_files_left_behind() {
    let dir = TempDir::new("tempfiles");
    let path = new_card_file(&dir);
    let card = VirtualCard::open(&path).unwrap();
    assert_eq!(verify_pin(&card), 0x9000);
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("card.vc")]);
}

#[test]
fn round_trip_keeps_everything() {
    let image = image(&[(KeyAlgorithm::Rsa2048, true), (KeyAlgorithm::P384, false)]);
    let decoded = store::decode(&store::encode(&image)).unwrap();
    assert_eq!(decoded.serial, image.serial);
    assert_eq!(decoded.files, image.files);
    assert_eq!(decoded.keys.len(), 2);
    for (a, b) in decoded.keys.iter().zip(&image.keys) {
        assert_eq!(
            (a.key_ref, a.algorithm, a.user_consent),
            (b.key_ref, b.algorithm, b.user_consent)
        );
        assert_eq!(a.pkcs8_der, b.pkcs8_der);
    }
    for (a, b) in decoded.pins.iter().zip(&image.pins) {
        assert_eq!(
            (a.reference, &a.value, a.length, a.max_tries, a.tries_left),
            (b.reference, &b.value, b.length, b.max_tries, b.tries_left)
        );
    }
}

fn open_error(dir: &TempDir, bytes: &[u8]) -> StoreError {
    let path = dir.file("bad.vc");
    std::fs::write(&path, bytes).unwrap();
    match VirtualCard::open(&path) {
        Ok(_) => panic!("a bad file opened"),
        Err(e) => e,
    }
}

#[test]
fn damaged_and_foreign_files_are_refused() {
    let dir = TempDir::new("corrupt");
    let good = store::encode(&image(&[(KeyAlgorithm::P256, false)])).to_vec();
    assert!(matches!(open_error(&dir, b""), StoreError::NotACardFile));
    assert!(matches!(
        open_error(&dir, b"-----BEGIN CERTIFICATE-----"),
        StoreError::NotACardFile
    ));
    assert!(matches!(
        open_error(&dir, &good[..12]),
        StoreError::Truncated
    ));
    assert!(matches!(
        open_error(&dir, &good[..good.len() - 1]),
        StoreError::Truncated
    ));
    let mut longer = good.clone();
    longer.push(0);
    assert!(matches!(open_error(&dir, &longer), StoreError::Truncated));
    let mut flipped = good.clone();
    flipped[100] ^= 0x01;
    assert!(matches!(
        open_error(&dir, &flipped),
        StoreError::ChecksumMismatch
    ));
    let mut version = good.clone();
    version[9] = 2;
    assert!(matches!(
        open_error(&dir, &version),
        StoreError::UnsupportedVersion(2)
    ));
    let mut huge = good.clone();
    huge[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(open_error(&dir, &huge), StoreError::Truncated));
    match VirtualCard::open(dir.file("missing.vc")) {
        Err(StoreError::Io { .. }) => {}
        other => panic!("expected an I/O error, got {:?}", other.err()),
    }
    // Messages say what is wrong.
    assert!(open_error(&dir, &flipped).to_string().contains("checksum"));
}

#[test]
fn sane_checksum_but_bad_contents() {
    let dir = TempDir::new("contents");
    // A valid file whose key is not a key.
    let mut bad_key = image(&[(KeyAlgorithm::P256, false)]);
    bad_key.keys[0].pkcs8_der = zeroize::Zeroizing::new(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    match open_error(&dir, &store::encode(&bad_key)) {
        StoreError::Corrupt(why) => assert!(why.contains("key 01"), "{why}"),
        other => panic!("{other}"),
    }
    // An RSA-2048 key declared as RSA-3072.
    let mut wrong_size = image(&[(KeyAlgorithm::Rsa2048, false)]);
    wrong_size.keys[0].algorithm = KeyAlgorithm::Rsa3072;
    assert!(matches!(
        open_error(&dir, &store::encode(&wrong_size)),
        StoreError::Corrupt(_)
    ));
    let mut counter = image(&[]);
    counter.pins[0].tries_left = 9;
    assert!(matches!(
        open_error(&dir, &store::encode(&counter)),
        StoreError::Corrupt(_)
    ));
    // Every truncation of the payload under a recomputed checksum: an error, no panic.
    let good = store::encode(&image(&[(KeyAlgorithm::P256, false)])).to_vec();
    let payload = &good[16..good.len() - 32];
    for cut in (0..payload.len()).step_by(7) {
        let mut forged = good[..16].to_vec();
        forged[12..16].copy_from_slice(&(cut as u32).to_be_bytes());
        forged.extend_from_slice(&payload[..cut]);
        let checksum = <sha2::Sha256 as sha2::Digest>::digest(&forged);
        forged.extend_from_slice(&checksum);
        // The header and checksum agree with the cut: the contents themselves are short.
        let result = store::decode(&forged);
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "cut at {cut}: {:?}",
            result.map(|_| ())
        );
    }
}

#[test]
fn a_bad_image_is_never_written() {
    let dir = TempDir::new("badimage");
    let path = dir.file("card.vc");
    let mut bad_key = image(&[(KeyAlgorithm::P256, false)]);
    bad_key.keys[0].pkcs8_der = zeroize::Zeroizing::new(vec![0x30, 0x00]);
    assert!(VirtualCard::from_image(bad_key, Some(path.clone())).is_err());
    assert!(!path.exists());
}
