//! The `eimza diagnose` binary on software card files: the report file, the console
//! summary in both languages, exit codes, and a card left exactly as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use virtual_card::personalise::{create, CreateOptions};
use virtual_card::{store, CardFamily, KeyAlgorithm};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eimza-diagnose-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn card_file(dir: &Path, family: CardFamily) -> PathBuf {
    let path = dir.join(format!("{}.card", family.name()));
    let image = create(&CreateOptions {
        family,
        keys: vec![KeyAlgorithm::Rsa2048],
        ..CreateOptions::default()
    })
    .expect("personalise");
    store::save(&path, &image).expect("save");
    path
}

fn eimza(dir: &Path, lang: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eimza"))
        .args(args)
        .current_dir(dir)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        // No PC/SC reader may be used by accident.
        .env("PCSCLITE_CSOCK_NAME", dir.join("no-pcscd"))
        .output()
        .expect("eimza runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn diagnose_writes_one_report_and_leaves_the_card_as_it_was() {
    let dir = scratch("families");
    for family in CardFamily::ALL {
        let card = card_file(&dir, family);
        let before = std::fs::read(&card).expect("card");
        let report = dir.join(format!("{}.txt", family.name()));
        let (code, out, err) = eimza(
            &dir,
            "C",
            &[
                "diagnose",
                "--card",
                card.to_str().unwrap(),
                "--counters",
                "--out",
                report.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        let family_name = match family {
            CardFamily::V10 => "AKIS v1.0",
            CardFamily::V1x => "AKIS v1.x",
            CardFamily::V2x => "AKIS v2.x",
        };
        assert!(
            out.contains(&format!("Card family: {family_name}")),
            "{out}"
        );
        assert!(out.contains("no PIN, no PUK"), "{out}");
        assert!(
            out.contains(&format!("Report written to {}", report.display())),
            "{out}"
        );
        let text = std::fs::read_to_string(&report).expect("report");
        assert!(text.contains(&format!("family: {family_name}")), "{text}");
        assert!(!text.contains("12345678950"), "national ID masked");
        let counter_queries = if family == CardFamily::V10 { 0 } else { 2 };
        assert!(
            text.contains(&format!(
                "Retry-counter queries (VERIFY without data): {counter_queries}"
            )),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&report).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Nothing on the card changed: the file is byte for byte the same.
        assert_eq!(std::fs::read(&card).expect("card"), before, "{family:?}");
        // Never over an existing report.
        let (code, _, err) = eimza(
            &dir,
            "C",
            &[
                "diagnose",
                "--card",
                card.to_str().unwrap(),
                "--out",
                report.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 5, "{err}");
        assert!(err.contains("cannot write the report"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diagnose_speaks_turkish_and_names_its_report_by_time() {
    let dir = scratch("turkish");
    let card = card_file(&dir, CardFamily::V10);
    let (code, out, err) = eimza(
        &dir,
        "tr_TR.UTF-8",
        &["diagnose", "--card", card.to_str().unwrap(), "--full"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Kart ailesi: AKIS v1.0"), "{out}");
    assert!(out.contains("Rapor eimza-diagnose-"), "{out}");
    let report: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("eimza-diagnose-")
        })
        .collect();
    assert_eq!(report.len(), 1, "{report:?}");
    let text = std::fs::read_to_string(&report[0]).unwrap();
    assert!(text.contains("aile: AKIS v1.0"), "{text}");
    assert!(text.contains("12345678950"), "--full keeps the national ID");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn diagnose_without_a_card_exits_2() {
    let dir = scratch("nocard");
    let (code, _, err) = eimza(&dir, "C", &["diagnose", "--card", "/nonexistent/card"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the diagnosis failed"), "{err}");
    // No PC/SC service at all (the socket points nowhere): no reader.
    let (code, _, err) = eimza(&dir, "C", &["diagnose"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no smart card reader found"), "{err}");
    let (code, _, err) = eimza(&dir, "C", &["diagnose", "extra"]);
    assert_eq!(code, 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
