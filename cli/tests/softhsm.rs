//! The built `eimza` binary against SoftHSM2 — the "any PKCS#11 module" property.
//!
//! Every test makes its own SoftHSM token in a temporary folder (SOFTHSM2_CONF), with a
//! test CA made by openssl and two keys imported with pkcs11-tool:
//! - "12345678950AUTH": RSA-2048, keyUsage digitalSignature, imported first;
//! - "12345678950NES0": EC P-256, keyUsage nonRepudiation (the one `sign` must choose).
//!
//! Needs softhsm2-util, pkcs11-tool and openssl (Debian: softhsm2, opensc, openssl).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "246802";
const SO_PIN: &str = "97531864";

struct Fixture {
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Fixture {
    fn new() -> Fixture {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "eimza-cli-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).expect("temp dir");
        let f = Fixture { dir };
        std::fs::write(
            f.path("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                f.path("tokens").display()
            ),
        )
        .expect("conf");
        assert!(Path::new(SOFTHSM).exists(), "SoftHSM2 is needed: {SOFTHSM}");
        run_ok(f.cmd("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            "TEST CARD",
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]));
        f.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/C=TR/CN=TEST KOK SERTIFIKA",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        f.user_key(
            "auth",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            "digitalSignature",
            "02",
            "12345678950AUTH",
        );
        f.user_key(
            "nes",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "nonRepudiation",
            "01",
            "12345678950NES0",
        );
        std::fs::write(f.path("doc.txt"), "İmzalanacak belge / document to sign\n").expect("doc");
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.current_dir(&self.dir)
            .env("SOFTHSM2_CONF", self.path("softhsm2.conf"));
        c
    }

    fn openssl(&self, args: &[&str]) {
        run_ok(self.cmd("openssl").args(args));
    }

    fn user_key(&self, name: &str, genpkey: &[&str], usage: &str, id: &str, label: &str) {
        let key = format!("{name}.key");
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genpkey);
        args.extend_from_slice(&["-out", &key]);
        self.openssl(&args);
        let csr = format!("{name}.csr");
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &key,
            "-out",
            &csr,
            "-subj",
            "/C=TR/CN=TEST KULLANICI/serialNumber=12345678950",
        ]);
        let ext = format!("{name}.ext");
        std::fs::write(self.path(&ext), format!("keyUsage=critical,{usage}\n")).expect("ext");
        let pem = format!("{name}.pem");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "10",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ]);
        let der = format!("{name}.der");
        self.openssl(&["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
        let p8 = format!("{name}.p8");
        self.openssl(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER", "-out", &p8,
        ]);
        for (file, kind) in [(&p8, "privkey"), (&der, "cert")] {
            run_ok(self.cmd("pkcs11-tool").args([
                "--module",
                SOFTHSM,
                "--login",
                "--pin",
                PIN,
                "--write-object",
                file,
                "--type",
                kind,
                "--id",
                id,
                "--label",
                label,
            ]));
        }
    }

    /// Runs eimza with the given language and stdin lines.
    fn eimza(&self, lang: &str, args: &[&str], stdin: &str) -> Result_ {
        self.eimza_with(SOFTHSM, &[], lang, args, stdin)
    }

    /// Compiles the flag shim (tests/shim/flag_shim.c) in front of SoftHSM.
    fn shim(&self) -> PathBuf {
        let so = self.path("flag_shim.so");
        if !so.exists() {
            let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shim/flag_shim.c");
            run_ok(
                self.cmd("cc")
                    .args(["-shared", "-fPIC", "-o"])
                    .arg(&so)
                    .arg(source)
                    .arg("-ldl"),
            );
        }
        so
    }

    /// Runs eimza through the shim with SHIM_* settings; returns what reached SoftHSM.
    fn eimza_shim(
        &self,
        shim: &[(&str, &str)],
        lang: &str,
        args: &[&str],
        stdin: &str,
    ) -> (Result_, String) {
        let so = self.shim();
        let log = self.path("shim.log");
        let _ = std::fs::remove_file(&log);
        let mut env = vec![
            ("SHIM_MODULE", SOFTHSM.to_string()),
            ("SHIM_LOG", log.display().to_string()),
        ];
        env.extend(shim.iter().map(|(k, v)| (*k, v.to_string())));
        let r = self.eimza_with(&so.display().to_string(), &env, lang, args, stdin);
        (r, std::fs::read_to_string(&log).unwrap_or_default())
    }

    fn eimza_with(
        &self,
        module: &str,
        env: &[(&str, String)],
        lang: &str,
        args: &[&str],
        stdin: &str,
    ) -> Result_ {
        let mut child = self
            .cmd(env!("CARGO_BIN_EXE_eimza"))
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .env("LANG", lang)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("--module")
            .arg(module)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("eimza runs");
        let mut pipe = child.stdin.take().expect("stdin");
        // The tool may stop reading early (e.g. a refused PIN); ignore a broken pipe.
        let _ = pipe.write_all(stdin.as_bytes());
        drop(pipe);
        Result_(child.wait_with_output().expect("eimza finishes"))
    }

    /// `openssl cms -verify` of a detached signature; with `ca` against the test CA.
    fn verify(&self, p7s: &str, ca: bool) -> bool {
        let mut c = self.cmd("openssl");
        c.args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            p7s,
            "-content",
            "doc.txt",
            "-out",
            "/dev/null",
        ]);
        if ca {
            c.args(["-CAfile", "ca.pem", "-purpose", "any"]);
        } else {
            c.arg("-noverify");
        }
        c.output().map(|o| o.status.success()).unwrap_or(false)
    }
}

struct Result_(Output);

impl Result_ {
    fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    fn all(&self) -> String {
        format!(
            "{}{}",
            self.stdout(),
            String::from_utf8_lossy(&self.0.stderr)
        )
    }
    fn expect(&self, code: i32, texts: &[&str]) {
        let all = self.all();
        assert_eq!(self.code(), code, "exit code; output:\n{all}");
        for t in texts {
            assert!(all.contains(t), "missing {t:?} in:\n{all}");
        }
        for secret in [PIN, SO_PIN, "654321", "111111", "999999"] {
            assert!(!all.contains(secret), "a PIN was printed:\n{all}");
        }
    }
}

#[test]
fn status_in_english() {
    let f = Fixture::new();
    let r = f.eimza("C", &["status"], "");
    r.expect(
        0,
        &[
            "Module: /usr/lib/softhsm/libsofthsm2.so",
            "  Card: present",
            "  Token label: TEST CARD",
            "  Manufacturer: SoftHSM project",
            "  PIN length: 4 to 255 digits",
            "  PIN: no wrong tries since the last correct one",
            "  PUK: no wrong tries since the last correct one",
            "  Certificate \"12345678950NES0\"",
            "    Subject: TEST KULLANICI (serial number 12345678950)",
            "    Issuer: TEST KOK SERTIFIKA",
            "    Key: EC P-256 256 bits",
            "    Key: RSA 2048 bits",
            "    Key usage: nonRepudiation",
            "    Key usage: digitalSignature",
            "(valid)",
            // SoftHSM's spare slot holds an empty token.
            "  Card: present, but not initialised (empty)",
        ],
    );
}

#[test]
fn status_in_turkish() {
    let f = Fixture::new();
    let r = f.eimza("tr_TR.UTF-8", &["status"], "");
    r.expect(
        0,
        &[
            "Modül: /usr/lib/softhsm/libsofthsm2.so",
            "  Kart: takılı",
            "  Kart etiketi: TEST CARD",
            "  PIN: son doğru girişten beri yanlış deneme yok",
            "  PUK: son doğru girişten beri yanlış deneme yok",
            "    Sahibi: TEST KULLANICI (seri numarası 12345678950)",
            "    Veren: TEST KOK SERTIFIKA",
            "    Anahtar: RSA 2048 bit",
            "    Anahtar kullanımı: nonRepudiation",
            "(geçerli)",
        ],
    );
    assert!(!r.all().contains("Card: present"));
}

#[test]
fn missing_module_is_exit_2_and_usage_error_is_exit_1() {
    let f = Fixture::new();
    let r = f.eimza("C", &["--module", "/nonexistent/lib.so", "status"], "");
    r.expect(2, &["cannot load the PKCS#11 module /nonexistent/lib.so"]);
    let r = f.eimza("tr_TR.UTF-8", &["frobnicate"], "");
    r.expect(1, &["bilinmeyen komut ya da seçenek: frobnicate"]);
    let r = f.eimza("C", &["--slot", "4242", "status"], "");
    r.expect(2, &["There is no slot 4242."]);
    let r = f.eimza("tr_TR.UTF-8", &["--slot", "4242", "pin", "change"], "");
    r.expect(2, &["4242 numaralı yuva yok."]);
    let r = f.eimza("C", &["--help"], "");
    r.expect(0, &["Exit codes:", "  4  PIN or PUK blocked"]);
    let r = f.eimza("tr_TR.UTF-8", &["--help"], "");
    r.expect(0, &["Çıkış kodları:", "  3  yanlış PIN ya da PUK"]);
}

#[test]
fn sign_chooses_the_non_repudiation_key_and_openssl_verifies() {
    let f = Fixture::new();
    let r = f.eimza("C", &["sign", "doc.txt"], "246802\n");
    r.expect(
        0,
        &[
            // SoftHSM 2.6 lists CKM_ECDSA only: the tool hashes and uses it.
            "Signing with \"12345678950NES0\" (TEST KULLANICI), CKM_ECDSA",
            "Signed doc.txt: detached signature written to doc.txt.p7s",
        ],
    );
    assert!(f.verify("doc.txt.p7s", false), "signature does not verify");
    assert!(
        f.verify("doc.txt.p7s", true),
        "chain to the test CA does not verify"
    );
    // The signature covers the content: another content must not verify.
    std::fs::write(f.path("doc.txt"), "changed").expect("write");
    assert!(
        !f.verify("doc.txt.p7s", false),
        "a changed document verified"
    );
}

#[test]
fn sign_with_label_rsa_pkcs1_and_pss_in_turkish() {
    let f = Fixture::new();
    let r = f.eimza(
        "tr_TR.UTF-8",
        &[
            "sign",
            "doc.txt",
            "--label",
            "12345678950AUTH",
            "--out",
            "rsa.p7s",
        ],
        "246802\n",
    );
    r.expect(
        0,
        &[
            "\"12345678950AUTH\" ile imzalanıyor",
            "CKM_SHA256_RSA_PKCS",
            "rsa.p7s",
        ],
    );
    assert!(f.verify("rsa.p7s", true));
    let r = f.eimza(
        "C",
        &[
            "sign",
            "doc.txt",
            "--label",
            "12345678950AUTH",
            "--pss",
            "--out",
            "pss.p7s",
        ],
        "246802\n",
    );
    r.expect(0, &["CKM_SHA256_RSA_PKCS_PSS"]);
    assert!(f.verify("pss.p7s", true));
    let printed = f
        .cmd("openssl")
        .args([
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "pss.p7s",
        ])
        .output()
        .expect("openssl");
    let printed = String::from_utf8_lossy(&printed.stdout);
    for attr in [
        "contentType",
        "messageDigest",
        "signingTime",
        "signingCertificateV2",
        "rsassaPss",
    ] {
        assert!(printed.contains(attr), "no {attr} in the CMS:\n{printed}");
    }
}

#[test]
fn sign_refuses_bad_pins_before_and_after_the_card() {
    let f = Fixture::new();
    // Not digits: refused by the policy, exit 1, no signature written.
    let r = f.eimza("C", &["sign", "doc.txt"], "12ab56\n");
    r.expect(
        1,
        &["The PIN may contain digits only; nothing was sent to the card."],
    );
    assert!(!f.path("doc.txt.p7s").exists());
    // Too short for the token's ulMinPinLen (4).
    let r = f.eimza("tr_TR.UTF-8", &["sign", "doc.txt"], "123\n");
    r.expect(
        1,
        &["PIN 4–255 rakam olmalı; karta hiçbir şey gönderilmedi."],
    );
    // Well-formed but wrong: the token says CKR_PIN_INCORRECT.
    let r = f.eimza("C", &["sign", "doc.txt"], "999999\n");
    // SoftHSM sets CKF_USER_PIN_COUNT_LOW after a wrong PIN (and never locks).
    r.expect(3, &["Wrong PIN. More than one try remains."]);
    let r = f.eimza("tr_TR.UTF-8", &["sign", "doc.txt"], "999999\n");
    r.expect(3, &["Yanlış PIN. Birden fazla deneme hakkınız kaldı."]);
    let r = f.eimza("C", &["status"], "");
    r.expect(
        0,
        &["  PIN: wrong tries since the last correct one; fewer tries are left"],
    );
    assert!(!f.path("doc.txt.p7s").exists());
    // --pss on the EC key: refused before any PIN is asked.
    let r = f.eimza("C", &["sign", "doc.txt", "--pss"], "");
    r.expect(1, &["--pss is for RSA keys; this key is not RSA."]);
    assert!(!r.all().contains("PIN:"));
    // No label like that.
    let r = f.eimza("C", &["sign", "doc.txt", "--label", "nope"], "246802\n");
    r.expect(5, &["No certificate labelled \"nope\" on the card."]);
    // End of input where the PIN should be.
    let r = f.eimza("C", &["sign", "doc.txt"], "");
    r.expect(1, &["No input (end of file)"]);
}

#[test]
fn pin_change_through_stdin_in_both_languages() {
    let f = Fixture::new();
    let r = f.eimza("C", &["pin", "change"], "246802\n654321\n654321\n");
    r.expect(0, &["Card: TEST CARD", "Your PIN has been changed."]);
    // The old PIN is now wrong, the new one signs.
    let r = f.eimza("C", &["sign", "doc.txt"], "246802\n");
    r.expect(3, &["Wrong PIN."]);
    let r = f.eimza("C", &["sign", "doc.txt"], "654321\n");
    r.expect(0, &["Signed doc.txt"]);
    // And back, in Turkish, with --stdin given explicitly.
    let r = f.eimza(
        "tr_TR.UTF-8",
        &["--stdin", "pin", "change"],
        "654321\n246802\n246802\n",
    );
    r.expect(0, &["PIN'iniz değiştirildi."]);
}

#[test]
fn pin_change_refusals() {
    let f = Fixture::new();
    let r = f.eimza("C", &["pin", "change"], "246802\n654321\n654320\n");
    r.expect(1, &["The two new PINs differ; nothing was changed."]);
    let r = f.eimza(
        "tr_TR.UTF-8",
        &["pin", "change"],
        "246802\n65a321\n65a321\n",
    );
    r.expect(1, &["PIN yalnızca rakamlardan oluşabilir"]);
    let r = f.eimza("C", &["pin", "change"], "999999\n654321\n654321\n");
    r.expect(3, &["Wrong PIN."]);
    let r = f.eimza(
        "tr_TR.UTF-8",
        &["pin", "change"],
        "999999\n654321\n654321\n",
    );
    r.expect(3, &["Yanlış PIN."]);
    // Nothing changed: the original PIN still signs.
    let r = f.eimza("C", &["sign", "doc.txt"], "246802\n");
    r.expect(0, &["Signed doc.txt"]);
}

#[test]
fn pin_unblock_with_the_puk() {
    let f = Fixture::new();
    let r = f.eimza("C", &["pin", "unblock"], "1234567\n111111\n111111\n");
    r.expect(
        1,
        &["The PUK must be exactly 8 digits; nothing was sent to the card."],
    );
    let r = f.eimza("C", &["pin", "unblock"], "87654321\n111111\n111111\n");
    r.expect(3, &["Wrong PUK. More than one try remains."]);
    let r = f.eimza(
        "tr_TR.UTF-8",
        &["pin", "unblock"],
        "87654321\n111111\n111111\n",
    );
    r.expect(3, &["Yanlış PUK."]);
    let r = f.eimza("C", &["pin", "unblock"], "97531864\n111111\n111111\n");
    r.expect(0, &["Your PIN is unblocked and set to the new value."]);
    let r = f.eimza("C", &["sign", "doc.txt"], "111111\n");
    r.expect(0, &["Signed doc.txt"]);
    let r = f.eimza(
        "tr_TR.UTF-8",
        &["pin", "unblock"],
        "97531864\n246802\n246802\n",
    );
    r.expect(0, &["PIN'inizin blokesi kaldırıldı ve yeni değer atandı."]);
}

/// Drives `eimza pin change` through a pseudo-terminal: the PIN typed at the prompt
/// must not be echoed, and the terminal must echo again afterwards (`stty -a` run in
/// the same terminal after eimza, and after eimza was interrupted with Ctrl-C); with
/// Ctrl-Z the stopped eimza leaves echo on, and after SIGCONT the PIN is still silent.
#[test]
fn terminal_prompt_does_not_echo_and_restores_the_terminal() {
    let f = Fixture::new();
    let script = r#"
import os, pty, sys, time, select
exe, module, mode, old, new = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    # In the terminal, like a job-control shell: eimza runs in its own foreground
    # process group (so Ctrl-C and Ctrl-Z reach it alone and Ctrl-Z may stop it);
    # then we take the terminal back, report, and show its settings.
    import signal, subprocess
    os.environ["LANG"] = "C"
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    def foreground_job():
        # A job-control shell gives its foreground job default signal actions, even
        # when the shell itself was started with SIGINT ignored (cargo test in `&`).
        os.setpgid(0, 0)
        for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTOU):
            signal.signal(s, signal.SIG_DFL)
    p = subprocess.Popen([exe, "--module", module, "pin", "change"], preexec_fn=foreground_job)
    os.tcsetpgrp(0, p.pid)
    while True:
        _, st = os.waitpid(p.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(st):
            break
        # Stopped by Ctrl-Z: the terminal as the shell gets it, then `fg`.
        os.tcsetpgrp(0, os.getpgrp())
        print("STOPPED", flush=True)
        subprocess.call(["stty", "-a"])
        print("CONTINUING", flush=True)
        os.tcsetpgrp(0, p.pid)
        os.killpg(p.pid, signal.SIGCONT)
    os.tcsetpgrp(0, os.getpgrp())
    rc = os.waitstatus_to_exitcode(st)
    print("EXIT=%d" % rc, flush=True)
    subprocess.call(["stty", "-a"])
    print("END-OF-TEST", flush=True)
    os._exit(0)
out = b""
def read_until(token, timeout=30):
    global out
    end = time.time() + timeout
    while token not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
read_until(b"Current PIN: ")
if mode == "interrupt":
    os.write(fd, old[:2].encode())
    time.sleep(0.3)
    os.write(fd, b"\x03")
else:
    if mode == "suspend":
        os.write(fd, b"\x1a")
        read_until(b"CONTINUING")
        time.sleep(0.5)
    for answer, prompt in [(old, b"New PIN: "), (new, b"New PIN again: ")]:
        os.write(fd, answer.encode() + b"\r")
        read_until(prompt)
    os.write(fd, new.encode() + b"\r")
read_until(b"EXIT=")
read_until(b"END-OF-TEST")
sys.stdout.write(out.decode("utf-8", "replace"))
"#;
    // The PIN goes 246802 → 654321 (type), stays (interrupt), and comes back (suspend).
    for (mode, old, new) in [
        ("type", PIN, "654321"),
        ("interrupt", "654321", ""),
        ("suspend", "654321", PIN),
    ] {
        let out = f
            .cmd("python3")
            .args([
                "-c",
                script,
                env!("CARGO_BIN_EXE_eimza"),
                SOFTHSM,
                mode,
                old,
                new,
            ])
            .output()
            .expect("python3 runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Current PIN: "), "{mode}: no prompt:\n{text}");
        assert!(
            !text.contains("246802") && !text.contains("654321"),
            "{mode}: echoed:\n{text}"
        );
        // stty -a lists "echo" (on) or "-echo" (off) among the local flags.
        let flags: Vec<&str> = text.split_whitespace().collect();
        assert!(
            flags.contains(&"echo"),
            "{mode}: echo not restored:\n{text}"
        );
        assert!(!flags.contains(&"-echo"), "{mode}: echo left off:\n{text}");
        if mode == "suspend" {
            // Stopped with echo on for the shell, then silent again after SIGCONT.
            assert!(
                text.contains("STOPPED") && text.contains("CONTINUING"),
                "{text}"
            );
        }
        if mode == "interrupt" {
            // Killed by SIGINT (re-raised after restoring the terminal).
            assert!(text.contains("EXIT=-2"), "{text}");
        } else {
            assert!(
                text.contains("Your PIN has been changed."),
                "{mode}: {text}"
            );
            assert!(text.contains("EXIT=0"), "{mode}: {text}");
        }
    }
}

// PKCS#11 token flags the shim injects.
const USER_PIN_COUNT_LOW: &str = "10000";
const USER_PIN_FINAL_TRY: &str = "20000";
const USER_PIN_LOCKED: &str = "40000";
const USER_PIN_TO_BE_CHANGED: &str = "80000";
const SO_PIN_FINAL_TRY: &str = "200000";
const SO_PIN_LOCKED: &str = "400000";

#[test]
fn flags_read_in_plain_words() {
    let f = Fixture::new();
    let final_try = [
        USER_PIN_COUNT_LOW,
        USER_PIN_FINAL_TRY,
        USER_PIN_TO_BE_CHANGED,
    ]
    .iter()
    .map(|h| u64::from_str_radix(h, 16).expect("hex"))
    .fold(0, |a, b| a | b);
    let final_try = format!("{final_try:x}");
    let (r, _) = f.eimza_shim(&[("SHIM_OR_FLAGS", &final_try)], "C", &["status"], "");
    r.expect(
        0,
        &[
            "  PIN: LAST TRY — one more wrong PIN blocks the card",
            "  PIN: must be changed before use (eimza pin change)",
            "  PUK: no wrong tries since the last correct one",
        ],
    );
    let (r, _) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", USER_PIN_COUNT_LOW)],
        "C",
        &["status"],
        "",
    );
    r.expect(
        0,
        &["  PIN: wrong tries since the last correct one; fewer tries are left"],
    );
    let (r, _) = f.eimza_shim(&[("SHIM_OR_FLAGS", USER_PIN_LOCKED)], "C", &["status"], "");
    r.expect(
        0,
        &["  PIN: BLOCKED — unblock it with your PUK: eimza pin unblock"],
    );
    let (r, _) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", USER_PIN_LOCKED)],
        "tr_TR.UTF-8",
        &["status"],
        "",
    );
    r.expect(
        0,
        &["  PIN: BLOKE — PUK ile blokeyi kaldırın: eimza pin unblock"],
    );
    let (r, _) = f.eimza_shim(&[("SHIM_OR_FLAGS", SO_PIN_FINAL_TRY)], "C", &["status"], "");
    r.expect(
        0,
        &["  PUK: LAST TRY — one more wrong PUK makes the card unusable"],
    );
    let (r, _) = f.eimza_shim(&[("SHIM_OR_FLAGS", SO_PIN_LOCKED)], "C", &["status"], "");
    r.expect(0, &["  PUK: BLOCKED — the card must be re-issued"]);
    let (r, _) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", SO_PIN_LOCKED)],
        "tr_TR.UTF-8",
        &["status"],
        "",
    );
    r.expect(0, &["  PUK: BLOKE — kartın yeniden çıkarılması gerekir"]);
}

#[test]
fn last_try_needs_a_yes_and_a_no_sends_nothing() {
    let f = Fixture::new();
    let last = [("SHIM_OR_FLAGS", USER_PIN_FINAL_TRY)];
    let (r, log) = f.eimza_shim(&last, "C", &["pin", "change"], "n\n");
    r.expect(
        1,
        &[
            "Warning: this is your last try; a wrong PIN blocks the card.",
            "Continue? [y/N]",
            "Cancelled; nothing was sent to the card.",
        ],
    );
    assert_eq!(log, "", "the card was used after a no");
    let (r, log) = f.eimza_shim(&last, "tr_TR.UTF-8", &["pin", "change"], "hayır\n");
    r.expect(
        1,
        &[
            "Uyarı: bu son denemeniz; yanlış bir PIN kartı bloke eder.",
            "İptal edildi",
        ],
    );
    assert_eq!(log, "");
    let (r, log) = f.eimza_shim(&last, "C", &["sign", "doc.txt"], "\n");
    r.expect(1, &["Cancelled"]);
    assert_eq!(log, "");
    // Yes (Turkish "evet"): the change goes through.
    let (r, log) = f.eimza_shim(
        &last,
        "tr_TR.UTF-8",
        &["pin", "change"],
        "evet\n246802\n654321\n654321\n",
    );
    r.expect(0, &["PIN'iniz değiştirildi."]);
    assert_eq!(log, "C_SetPIN\n");
    // --yes answers for scripts.
    let (r, log) = f.eimza_shim(
        &last,
        "C",
        &["--yes", "pin", "change"],
        "654321\n246802\n246802\n",
    );
    r.expect(0, &["Your PIN has been changed."]);
    assert_eq!(log, "C_SetPIN\n");
    // The PUK's last try.
    let (r, log) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", SO_PIN_FINAL_TRY)],
        "C",
        &["pin", "unblock"],
        "no\n",
    );
    r.expect(
        1,
        &[
            "Warning: this is your last try; a wrong PUK makes the card unusable.",
            "Cancelled",
        ],
    );
    assert_eq!(log, "");
}

#[test]
fn blocked_pin_or_puk_is_refused_without_asking() {
    let f = Fixture::new();
    let (r, log) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", USER_PIN_LOCKED)],
        "C",
        &["pin", "change"],
        "",
    );
    r.expect(
        4,
        &["Your PIN is blocked. Unblock it with your PUK: eimza pin unblock"],
    );
    assert!(!r.all().contains("Current PIN"), "asked for a PIN anyway");
    assert_eq!(log, "");
    let (r, log) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", USER_PIN_LOCKED)],
        "tr_TR.UTF-8",
        &["sign", "doc.txt"],
        "",
    );
    r.expect(
        4,
        &["PIN'iniz bloke. PUK ile blokeyi kaldırın: eimza pin unblock"],
    );
    assert_eq!(log, "");
    let (r, log) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", SO_PIN_LOCKED)],
        "C",
        &["pin", "unblock"],
        "",
    );
    r.expect(
        4,
        &["Your PUK is blocked; the card must be re-issued by its issuer."],
    );
    assert_eq!(log, "");
    // A blocked PIN is what unblock is for.
    let (r, log) = f.eimza_shim(
        &[("SHIM_OR_FLAGS", USER_PIN_LOCKED)],
        "C",
        &["pin", "unblock"],
        "97531864\n111111\n111111\n",
    );
    r.expect(0, &["Your PIN is unblocked and set to the new value."]);
    assert_eq!(log, "C_Login SO\nC_InitPIN\n");
}

#[test]
fn what_happened_is_explained_from_the_module_answer() {
    let f = Fixture::new();
    // A wrong PIN on the last try: afterwards the token reports the PIN locked.
    let shim = [
        ("SHIM_OR_FLAGS", USER_PIN_FINAL_TRY),
        ("SHIM_FLAGS_AFTER_FAIL", USER_PIN_LOCKED),
    ];
    let (r, log) = f.eimza_shim(&shim, "C", &["sign", "doc.txt"], "y\n999999\n");
    r.expect(
        4,
        &["Wrong PIN. The PIN is now BLOCKED; unblock it with your PUK: eimza pin unblock"],
    );
    assert_eq!(log, "C_Login\n");
    // One left after a wrong PIN.
    let shim = [("SHIM_FLAGS_AFTER_FAIL", USER_PIN_FINAL_TRY)];
    let (r, _) = f.eimza_shim(
        &shim,
        "tr_TR.UTF-8",
        &["pin", "change"],
        "999999\n654321\n654321\n",
    );
    r.expect(3, &["Yanlış PIN. Yalnızca BİR deneme hakkınız kaldı: bir sonraki yanlış PIN kartı bloke eder."]);
    // A wrong PUK that blocked it.
    let shim = [("SHIM_FLAGS_AFTER_FAIL", SO_PIN_LOCKED)];
    let (r, _) = f.eimza_shim(
        &shim,
        "C",
        &["pin", "unblock"],
        "87654321\n111111\n111111\n",
    );
    r.expect(
        4,
        &["Wrong PUK. The PUK is now BLOCKED; the card must be re-issued."],
    );
    // CKR_PIN_LOCKED from C_Login.
    let (r, _) = f.eimza_shim(
        &[("SHIM_LOGIN_RV", "a4")],
        "C",
        &["sign", "doc.txt"],
        "246802\n",
    );
    r.expect(
        4,
        &["The PIN is BLOCKED; unblock it with your PUK: eimza pin unblock"],
    );
    // CKR_PIN_LEN_RANGE from C_SetPIN.
    let (r, _) = f.eimza_shim(
        &[("SHIM_SETPIN_RV", "a2")],
        "C",
        &["pin", "change"],
        "246802\n654321\n654321\n",
    );
    r.expect(
        1,
        &["The card refused the length of the PIN; nothing was changed."],
    );
    // Any other error: exit 5 with the module's words.
    let (r, _) = f.eimza_shim(
        &[("SHIM_INITPIN_RV", "30")],
        "C",
        &["pin", "unblock"],
        "97531864\n111111\n111111\n",
    );
    r.expect(5, &["the PKCS#11 module reported an error"]);
}
