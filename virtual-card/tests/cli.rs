//! The `eimza-vcard` binary: usage errors, show, certs, serve.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use virtual_card::{KeyAlgorithm, VirtualCard, ATR};

const BIN: &str = env!("CARGO_BIN_EXE_eimza-vcard");

fn card_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("vcard-cli-{name}-{}.vc", std::process::id()));
    let image = image(&[(KeyAlgorithm::Rsa2048, false), (KeyAlgorithm::P256, true)]);
    VirtualCard::from_image(image, Some(path.clone())).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BIN).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Exit status") && out.contains("serve FILE"));
    for args in [
        &[][..],
        &["frobnicate"],
        &["show"],
        &["show", "a", "b"],
        &["show", "--bogus", "x"],
        &["serve", "x", "--vpcd"],
        &["create", "x", "--pin", "12345"],
        &["create", "x", "--puk", "1234567a"],
        &["create", "x", "--key", "rsa1024"],
        &["create", "x", "--key", "p256:ssl"],
        &["create", "x", "--serial", "XYZ"],
        &["create", "x", "--family", "v3"],
        &["create", "x", "--family", "v1.0", "--key", "p256"],
        &["create", "x", "--family", "v1.0", "--key", "rsa3072"],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("eimza-vcard:"), "{err}");
    }
}

#[test]
fn show_prints_keys_and_counters() {
    let path = card_file("show");
    let card = VirtualCard::open(&path).unwrap();
    status(&card, &apdu([0, 0x20, 0, 0x81], b"000000", None));
    drop(card);
    let (code, out, err) = run(&["show", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("serial: 0C0C0C0C01020304"), "{out}");
    assert!(out.contains("key 01: RSA-2048\n"), "{out}");
    assert!(out.contains("key 02: ECDSA P-256, userConsent"), "{out}");
    assert!(out.lines().any(|l| l == "PIN: 2 of 3 tries left"), "{out}");
    assert!(
        out.lines().any(|l| l == "PUK: 10 of 10 tries left"),
        "{out}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn show_reports_bad_files_with_exit_1() {
    let path = std::env::temp_dir().join(format!("vcard-cli-bad-{}.vc", std::process::id()));
    std::fs::write(&path, b"not a card").unwrap();
    let (code, _, err) = run(&["show", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not an eimza software card file"), "{err}");
    let (code, _, _) = run(&["show", "/nonexistent/card.vc"]);
    assert_eq!(code, 1);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn certs_prints_every_certificate_trimmed_to_its_der_length() {
    let path = card_file("certs");
    let (code, out, err) = run(&["certs", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let blocks: Vec<&str> = out.split("-----BEGIN CERTIFICATE-----\n").skip(1).collect();
    // Two end-user certificates, the NES CA and the root.
    assert_eq!(blocks.len(), 4, "{out}");
    let base64_len = |block: &str| -> usize {
        block
            .split("-----END")
            .next()
            .unwrap()
            .lines()
            .map(str::len)
            .sum()
    };
    // der_blob(1200, ..) is 1204 bytes of DER followed by 800 bytes of padding.
    assert_eq!(base64_len(blocks[0]), 1204_usize.div_ceil(3) * 4);
    assert_eq!(base64_len(blocks[2]), 704_usize.div_ceil(3) * 4);
    assert!(out.contains("# EF 4305") && out.contains("# EF 430E"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn create_makes_nes_keys_and_tls_keys_only_on_request() {
    let path = std::env::temp_dir().join(format!("vcard-cli-tls-{}.vc", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let file = path.to_str().unwrap();
    let (code, _, err) = run(&["create", file, "--key", "p256", "--key", "p256:tls"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["certs", file]);
    assert_eq!(code, 0, "{err}");
    // The end-user certificates come first, in key order.
    let pems: Vec<String> = out
        .split("-----BEGIN CERTIFICATE-----\n")
        .skip(1)
        .map(|b| {
            format!(
                "-----BEGIN CERTIFICATE-----\n{}",
                b.split("# EF").next().unwrap()
            )
        })
        .collect();
    let text = |pem: &str| {
        let mut child = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "keyUsage,extendedKeyUsage"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(pem.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let nes = text(&pems[0]);
    assert!(nes.contains("Non Repudiation"), "{nes}");
    assert!(!nes.contains("Digital Signature"), "{nes}");
    assert!(!nes.contains("Extended Key Usage"), "{nes}");
    let tls = text(&pems[1]);
    assert!(tls.contains("Digital Signature, Non Repudiation"), "{tls}");
    assert!(tls.contains("TLS Web Client Authentication"), "{tls}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn create_refuses_to_overwrite() {
    let path = card_file("overwrite");
    let (code, _, err) = run(&["create", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exists"), "{err}");
    assert!(VirtualCard::open(&path).is_ok(), "the card is untouched");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn serve_once_talks_to_vpcd_and_exits() {
    let path = card_file("serve");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            path.to_str().unwrap(),
            "--vpcd",
            &address,
            "--once",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut vpcd, _) = listener.accept().unwrap();
    vpcd.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    vpcd.write_all(&[0, 1, 0x04]).unwrap();
    let mut length = [0u8; 2];
    vpcd.read_exact(&mut length).unwrap();
    let mut atr = vec![0u8; usize::from(u16::from_be_bytes(length))];
    vpcd.read_exact(&mut atr).unwrap();
    assert_eq!(atr, ATR.to_vec());
    // A wrong PIN through the bridge is on disk when the answer arrives.
    let verify = apdu([0, 0x20, 0, 0x81], b"000000", None);
    let mut message = (verify.len() as u16).to_be_bytes().to_vec();
    message.extend_from_slice(&verify);
    vpcd.write_all(&message).unwrap();
    let mut reply = [0u8; 4];
    vpcd.read_exact(&mut reply).unwrap();
    assert_eq!(reply, [0, 2, 0x63, 0xC2]);
    assert_eq!(
        VirtualCard::open(&path)
            .unwrap()
            .status()
            .pin
            .unwrap()
            .tries_left,
        2
    );
    drop(vpcd);
    let status = child.wait().unwrap();
    assert!(status.success());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn serve_exits_cleanly_on_sigterm() {
    let path = card_file("sigterm");
    // Nothing listens here: serve keeps retrying until it is told to stop.
    let address = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let mut child = Command::new(BIN)
        .args(["serve", path.to_str().unwrap(), "--vpcd", &address])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(killed.unwrap().success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn create_family_sets_atr_and_show_prints_it() {
    for (family, atr) in [
        ("v1.0", &virtual_card::ATR_V10[..]),
        ("v1", &virtual_card::ATR_V1X[..]),
        ("v2", &ATR[..]),
    ] {
        let path = std::env::temp_dir().join(format!(
            "vcard-cli-family-{family}-{}.vc",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let file = path.to_str().unwrap();
        let (code, out, err) = run(&["create", file, "--family", family]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.lines().any(|l| l == format!("family: {family}")),
            "{out}"
        );
        let card = VirtualCard::open(&path).unwrap();
        assert_eq!(card.atr(), atr.to_vec());
        let (_, out, _) = run(&["show", file]);
        assert!(
            out.lines().any(|l| l == format!("family: {family}")),
            "{out}"
        );
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn serve_log_commands_writes_every_header_without_data() {
    let path = std::env::temp_dir().join(format!("vcard-cli-log-{}.vc", std::process::id()));
    let mut image = image(&[(KeyAlgorithm::Rsa2048, false)]);
    image.family = virtual_card::CardFamily::V10;
    VirtualCard::from_image(image, Some(path.clone())).unwrap();
    let log = path.with_extension("log");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            path.to_str().unwrap(),
            "--vpcd",
            &address,
            "--once",
        ])
        .arg("--log-commands")
        .arg(&log)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut vpcd, _) = listener.accept().unwrap();
    vpcd.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut exchange = |body: &[u8]| {
        let mut message = (body.len() as u16).to_be_bytes().to_vec();
        message.extend_from_slice(body);
        vpcd.write_all(&message).unwrap();
        let mut length = [0u8; 2];
        vpcd.read_exact(&mut length).unwrap();
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
        vpcd.read_exact(&mut reply).unwrap();
        reply
    };
    assert_eq!(exchange(&[0x04]), virtual_card::ATR_V10.to_vec());
    assert_eq!(
        exchange(&apdu([0, 0x20, 0, 0x81], b"123456", None)),
        [0x90, 0]
    );
    assert_eq!(exchange(&h("0022C301")), [0x90, 0]);
    drop(vpcd);
    assert!(child.wait().unwrap().success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged, "00 20 00 81 Nc=6 Ne=-\n00 22 C3 01 Nc=0 Ne=-\n");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&log);
}
