//! Nothing lost on `kill -9`: a helper process (this test binary, re-run for this same
//! test with the card in `EIMZA_KILL_TEST_CARD`, see `kill_child_loop`) changes, mis-verifies and unblocks the PIN of a card file in
//! a loop, acknowledging each answer on stdout; the test kills it with SIGKILL at random
//! moments, 100 times, and after each kill reopens the file. It must load (never
//! corrupt), and its PIN state must be exactly the state after the last acknowledged
//! operation, or after the one in flight, or that with only the in-flight operation's
//! try spent (the card counts a try on disk before comparing): an answered operation is
//! on disk, a wrong try is never forgotten, and nothing else half-done is ever seen.
//!
//! This tests the process dying, not the machine: data the kernel accepted survives
//! kill -9 even without fsync (the card's fsyncs are for power loss, not tested here).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use virtual_card::{KeyAlgorithm, VirtualCard};

const CHILD_ENV: &str = "EIMZA_KILL_TEST_CARD";
const WRONG: &[u8] = b"000000";
const OTHER_PIN: &[u8] = b"654321";
const KILLS: usize = 100;

/// What the card file holds: PIN value, PIN tries left, PUK tries left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PinState {
    pin: &'static [u8],
    tries: u8,
    puk_tries: u8,
}

const START: PinState = PinState {
    pin: PIN,
    tries: 3,
    puk_tries: 10,
};

/// The cycle: wrong VERIFY → CHANGE PIN→OTHER_PIN → wrong VERIFY → RESET RETRY
/// COUNTER PUK‖PIN. The PIN value before `step`, from the step alone.
fn pin_before(step: i64) -> &'static [u8] {
    match step.rem_euclid(4) {
        2 | 3 => OTHER_PIN,
        _ => PIN,
    }
}

/// The state after operation `step` completed on `s`.
fn done(step: i64, s: PinState) -> PinState {
    match step.rem_euclid(4) {
        0 | 2 => PinState {
            tries: s.tries - 1,
            ..s
        },
        1 => PinState {
            pin: OTHER_PIN,
            tries: 3,
            ..s
        },
        _ => PinState {
            pin: PIN,
            tries: 3,
            puk_tries: 10,
        },
    }
}

/// The state when operation `step` was killed after the card spent its try on disk
/// (a real card's defence against being pulled after a wrong guess) but before it
/// compared: only that try is gone.
fn try_spent(step: i64, s: PinState) -> PinState {
    match step.rem_euclid(4) {
        3 => PinState {
            puk_tries: s.puk_tries - 1,
            ..s
        },
        _ => PinState {
            tries: s.tries - 1,
            ..s
        },
    }
}

/// The helper process: runs the cycle from `start` until killed. Not a test of its own
/// (a helper test would pass, doing nothing, in every `--ignored` run).
fn kill_child_loop(spec: &str) -> ! {
    let (path, start) = spec.rsplit_once('|').expect("path|step");
    let mut step: i64 = start.parse().expect("step");
    let card = VirtualCard::open(path).expect("open card file");
    let mut out = std::io::stdout().lock();
    loop {
        let before = pin_before(step);
        let (command, expected) = match step.rem_euclid(4) {
            0 | 2 => (apdu([0, 0x20, 0, 0x81], WRONG, None), 0x63C2),
            1 => (
                apdu([0, 0x24, 0, 0x81], &[before, OTHER_PIN].concat(), None),
                0x9000,
            ),
            _ => (apdu([0, 0x2C, 0, 0x81], &[PUK, PIN].concat(), None), 0x9000),
        };
        let sw = status(&card, &command);
        if sw != expected {
            writeln!(out, "BAD {step} {sw:04X}").expect("stdout");
            std::process::exit(2);
        }
        writeln!(out, "ACK {step}").expect("stdout");
        out.flush().expect("stdout");
        step += 1;
    }
}

/// A small xorshift generator: kill moments need spread, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn pin_state(path: &Path) -> (Vec<u8>, u8, Vec<u8>, u8) {
    let card = VirtualCard::open(path).unwrap_or_else(|e| panic!("card file corrupt: {e:?}"));
    let image = card.image();
    let pin = image
        .pins
        .iter()
        .find(|p| p.reference == 0x81)
        .expect("PIN");
    let puk = image
        .pins
        .iter()
        .find(|p| p.reference == 0x82)
        .expect("PUK");
    (
        pin.value.to_vec(),
        pin.tries_left,
        puk.value.to_vec(),
        puk.tries_left,
    )
}

#[test]
fn every_kill_leaves_a_consistent_card() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        kill_child_loop(&spec);
    }
    let dir = std::env::temp_dir().join(format!("vcard-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path: PathBuf = dir.join("card.vc");
    VirtualCard::from_image(image(&[(KeyAlgorithm::P256, false)]), Some(path.clone()))
        .expect("card file");
    let seed = Instant::now().elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
    let mut rng = Rng(seed | 1);
    let exe = std::env::current_exe().expect("test binary");
    let mut next_step: i64 = 0;
    let (mut acknowledged, mut in_flight_kept, mut in_flight_lost, mut try_spent_count) =
        (0, 0, 0, 0);
    let mut model = START;
    let started = Instant::now();
    for kill in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "every_kill_leaves_a_consistent_card",
                "--exact",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env(CHILD_ENV, format!("{}|{next_step}", path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start helper");
        let stdout = child.stdout.take().expect("helper stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            // libtest writes "test every_kill_leaves_a_consistent_card ... " first.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(at) = line.find("ACK ").or_else(|| line.find("BAD ")) {
                    if tx.send(line[at..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        // Kill after a random number of answered operations (0-4), at a random moment
        // of the next one: counted in operations, not in time, so a loaded machine
        // changes how long this takes, not what it tests. With 0 the kill often lands
        // before the first operation completes.
        let answers_first = (rng.next() % 5) as usize;
        let mut lines: Vec<String> = Vec::new();
        while lines.iter().filter(|l| l.starts_with("ACK")).count() < answers_first {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => lines.push(line),
                // The helper stopped by itself (a BAD answer): checked below.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the helper answered nothing for 60 s")
                }
            }
        }
        std::thread::sleep(Duration::from_micros(rng.next() % 3_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap helper");
        reader.join().expect("reader thread");
        lines.extend(rx.try_iter());
        assert!(
            !lines.iter().any(|l| l.starts_with("BAD")),
            "helper saw an unexpected answer: {lines:?}"
        );
        let acks: Vec<i64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ACK ")?.parse().ok())
            .collect();
        let expected_acks: Vec<i64> = (next_step..).take(acks.len()).collect();
        assert_eq!(acks, expected_acks, "helper skipped or repeated a step");
        acknowledged += acks.len();
        for &step in &acks {
            model = done(step, model);
        }
        let in_flight = next_step + acks.len() as i64;

        let (pin, tries, puk, puk_tries) = pin_state(&path);
        assert_eq!(puk, PUK, "kill {kill}: PUK value changed");
        let seen = (pin.as_slice(), tries, puk_tries);
        let as_tuple = |s: PinState| (s.pin, s.tries, s.puk_tries);
        if seen == as_tuple(model) {
            in_flight_lost += 1;
            next_step = in_flight;
        } else if seen == as_tuple(done(in_flight, model)) {
            // The operation in flight reached the disk before the kill, whole.
            in_flight_kept += 1;
            model = done(in_flight, model);
            next_step = in_flight + 1;
        } else if seen == as_tuple(try_spent(in_flight, model)) {
            // Redone by the next helper: the right secret succeeds and resets.
            try_spent_count += 1;
            model = try_spent(in_flight, model);
            next_step = in_flight;
        } else {
            panic!(
                "kill {kill}: with step {in_flight} in flight from {model:?} the card holds \
                 PIN {:?} with {tries} tries, PUK {puk_tries} tries",
                String::from_utf8_lossy(&pin)
            );
        }
        if model.tries == 0 {
            // Killed twice inside a PIN operation at the last try: unblock next.
            next_step += (3 - next_step.rem_euclid(4)).rem_euclid(4);
        }
    }
    let leftovers = std::fs::read_dir(&dir)
        .expect("scratch dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name() != "card.vc"))
        .count();
    eprintln!(
        "kill -9: {KILLS} faults injected in {:.1} s; {acknowledged} acknowledged operations \
         all on disk; operation in flight at the kill: {in_flight_kept} complete on disk, \
         {in_flight_lost} not started on disk, {try_spent_count} with only the try spent; \
         {leftovers} temporary files left after reopening",
        started.elapsed().as_secs_f64()
    );
    // Opening the card cleans up the temporary files of killed writers.
    assert_eq!(
        leftovers, 0,
        "temporary card files (keys, PINs) left behind"
    );
    assert!(
        acknowledged > KILLS,
        "the helper hardly ran: {acknowledged} operations"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
