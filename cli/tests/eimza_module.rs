//! `eimza demo` with the real eimza module and a software card.
//!
//! The module is the workspace's root package (cdylib `libeimza_pkcs11.so`); the test
//! builds it into the same target folder as the `eimza` binary, where `eimza` finds it
//! by default. `EIMZA_TEST_MODULE=PATH` uses another build instead.

use std::path::{Path, PathBuf};
use std::process::Command;

fn module() -> PathBuf {
    if let Some(path) = std::env::var_os("EIMZA_TEST_MODULE") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The same profile as this test, so the module lands beside the eimza binary.
    let profile: &[&str] = if cfg!(debug_assertions) {
        &[]
    } else {
        &["--release"]
    };
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "eimza-pkcs11", "--lib"])
        .args(profile)
        .current_dir(&workspace)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p eimza-pkcs11 failed");
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_eimza"))
        .parent()
        .expect("target dir");
    exe_dir.join("libeimza_pkcs11.so")
}

fn demo(module: &Path, lang: &str) -> (i32, String) {
    // One stream, as on a terminal: prompts (stderr) between the narrative (stdout).
    let out = Command::new("sh")
        .args([
            "-c",
            "exec \"$0\" --module \"$1\" demo 2>&1",
            env!("CARGO_BIN_EXE_eimza"),
        ])
        .arg(module)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("EIMZA_VIRTUAL_CARD")
        .env("LANG", lang)
        .output()
        .expect("eimza runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn assert_in_order(text: &str, parts: &[&str]) {
    let mut rest = text;
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => panic!("missing (or out of order) {part:?} in:\n{text}"),
        }
    }
    // The demo types its PINs; they are shown as stars only.
    for pin in ["246802", "135790"] {
        assert!(!text.contains(pin), "a PIN was printed:\n{text}");
    }
}

#[test]
fn demo_walks_through_the_card_life_in_english() {
    let module = module();
    let (code, text) = demo(&module, "C");
    assert_eq!(code, 0, "{text}");
    assert_in_order(
        &text,
        &[
            "==> 1. A new software card",
            "==> 2. What the card says",
            "  PIN length: 6 digits",
            "  PIN: no wrong tries since the last correct one",
            "Certificate \"12345678950NES0\"",
            "==> 3. Sign a document",
            "PIN: ******",
            "detached signature written to",
            "==> 4. Verify",
            "The signature and its certificate chain verify.",
            "==> 5. Change the PIN",
            "Your PIN has been changed.",
            "==> 6.1",
            "Wrong PIN.",
            "==> 6.2",
            "Wrong PIN.",
            "  PIN: LAST TRY — one more wrong PIN blocks the card",
            "==> 6.3",
            "Warning: this is your last try; a wrong PIN blocks the card.",
            "  PIN: BLOCKED — unblock it with your PUK: eimza pin unblock",
            "==> 7. Unblock the PIN with the PUK",
            "PUK: ********",
            "Your PIN is unblocked and set to the new value.",
            "  PIN: no wrong tries since the last correct one",
            "==> 8. Sign again",
            "The signature and its certificate chain verify.",
            "Demo finished",
        ],
    );
}

#[test]
fn demo_in_turkish() {
    let module = module();
    let (code, text) = demo(&module, "tr_TR.UTF-8");
    assert_eq!(code, 0, "{text}");
    assert_in_order(
        &text,
        &[
            "==> 1. Gerçeği gibi kişiselleştirilmiş yeni bir yazılım kartı",
            "  PIN uzunluğu: 6 rakam",
            "İmza ve sertifika zinciri doğrulandı.",
            "PIN'iniz değiştirildi.",
            "  PIN: SON DENEME — bir yanlış PIN daha kartı bloke eder",
            "Uyarı: bu son denemeniz; yanlış bir PIN kartı bloke eder.",
            "Devam edilsin mi? [e/H] evet",
            "  PIN: BLOKE — PUK ile blokeyi kaldırın: eimza pin unblock",
            "PIN'inizin blokesi kaldırıldı ve yeni değer atandı.",
            "Gösterim tamamlandı",
        ],
    );
}

/// A card whose keys need the PIN right before every signature (userConsent →
/// CKA_ALWAYS_AUTHENTICATE): `eimza sign` logs in again between C_SignInit and the
/// signature. P-384 also checks r‖s of 2 × 48 bytes.
#[test]
fn sign_with_a_user_consent_p384_key() {
    let module = module();
    let dir = std::env::temp_dir().join(format!("eimza-cli-consent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let options = virtual_card::personalise::CreateOptions {
        keys: vec![virtual_card::KeyAlgorithm::P384],
        user_consent: true,
        ..Default::default()
    };
    let image = virtual_card::personalise::create(&options).expect("personalised");
    virtual_card::store::save(&dir.join("card"), &image).expect("saved");
    std::fs::write(dir.join("doc.txt"), "onay gerektiren anahtar\n").expect("doc");
    let run = |stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eimza"))
            .current_dir(&dir)
            .env("LANG", "C")
            .env_remove("LC_ALL")
            .env("EIMZA_VIRTUAL_CARD", dir.join("card"))
            .arg("--module")
            .arg(&module)
            .args(["sign", "doc.txt"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("eimza runs");
        use std::io::Write;
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes());
        let out = child.wait_with_output().expect("eimza ends");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, text) = run("123456\n");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("CKM_ECDSA_SHA256"), "{text}");
    let verified = Command::new("openssl")
        .current_dir(&dir)
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "doc.txt.p7s",
            "-content",
            "doc.txt",
            "-noverify",
            "-out",
            "/dev/null",
        ])
        .status()
        .expect("openssl runs");
    assert!(verified.success(), "openssl cms -verify failed");
    let (code, text) = run("000000\n");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains("Wrong PIN. More than one try remains."),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// No reader at all, and a reader without its card: exit 2 with the holder's words.
#[test]
fn no_reader_and_no_card() {
    let module = module();
    let run = |card: Option<&str>, lang: &str, args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eimza"));
        c.env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang);
        // No pcscd in the test: without a software card there is no reader at all.
        c.env("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm");
        match card {
            Some(path) => c.env("EIMZA_VIRTUAL_CARD", path),
            None => c.env_remove("EIMZA_VIRTUAL_CARD"),
        };
        let out = c
            .arg("--module")
            .arg(&module)
            .args(args)
            .output()
            .expect("eimza runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, text) = run(None, "C", &["status"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("No card reader (slot) found."), "{text}");
    let (code, text) = run(Some("/nonexistent/card"), "C", &["status"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("  Card: none in this reader"), "{text}");
    let (code, text) = run(Some("/nonexistent/card"), "tr_TR.UTF-8", &["pin", "change"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("Kart bulunamadı: kartınızı okuyucuya takın."),
        "{text}"
    );
}
