//! The PC/SC reader layer against a real pcscd with the vpcd virtual reader and a
//! software card served into it (in this process, through `virtual_card::serve`).
//!
//! Ignored by a plain `cargo test` (they need a running pcscd with vpcd, "Virtual PCD
//! 00 00" on 127.0.0.1:35963, to themselves): `scripts/test-pcsc-reader.sh` starts one
//! and runs them with `--ignored`.

mod common;

use common::worker_threads;
use eimza_pkcs11::card::{Card, CardError, PinStatus, SignAlgorithm};
use eimza_pkcs11::config::Config;
use eimza_pkcs11::reader::pcsc::{PcscReader, PcscReaderSet, Settings};
use eimza_pkcs11::reader::{system_reader_set, Reader, ReaderError, ReaderSet, SteppedChannel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use virtual_card::serve::{Plugged, DEFAULT_VPCD};
use virtual_card::VirtualCard;

const READER: &str = "Virtual PCD 00 00";

/// The tests share one vpcd reader: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Plug a fresh card into `reader` once the previous test's card is gone (vpcd
/// notices a closed connection only at its next ATR poll).
fn plug_into(reader: &dyn Reader) -> Plugged {
    assert!(
        wait_until(Duration::from_secs(5), || !reader.state().present),
        "previous card still present"
    );
    let plugged = plug();
    assert!(
        wait_until(Duration::from_secs(5), || reader.state().present),
        "card never appeared"
    );
    plugged
}

/// A fresh software card served into vpcd reader 0 (until the result is dropped).
fn plug() -> Plugged {
    let card =
        Arc::new(VirtualCard::from_image(common::image(&common::ec_keys()), None).expect("card"));
    Plugged::new(card, DEFAULT_VPCD.into())
}

fn reader(set: &dyn ReaderSet) -> Arc<dyn Reader> {
    set.readers()
        .into_iter()
        .find(|r| r.name() == READER)
        .expect("vpcd reader listed")
}

/// The PC/SC reader set alone, with the connection settings given, and its vpcd
/// reader 0 as the concrete type (stepwise transactions).
fn pcsc_reader(settings: Settings) -> (PcscReaderSet, Arc<PcscReader>) {
    let set = PcscReaderSet::new(settings);
    let r = set
        .readers()
        .into_iter()
        .find(|r| r.name() == READER)
        .expect("vpcd reader listed");
    (set, r)
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-reader.sh"]
fn readers_state_bind_sign_over_pcsc() {
    let _one = SERIAL.lock();
    // Both connection kinds: a worker thread per connection, and everything on the
    // calling thread (an application that passes CKF_LIBRARY_CANT_CREATE_OS_THREADS).
    for threads in [true, false] {
        println!("--- threads allowed: {threads}");
        let config = Config {
            threads,
            ..Config::default()
        };
        let workers_before = worker_threads();
        let set = system_reader_set(&config);
        bind_sign_reset(&*set);
        if !threads {
            assert_eq!(
                worker_threads(),
                workers_before,
                "no thread started without permission"
            );
        }
    }
}

fn bind_sign_reset(set: &dyn ReaderSet) {
    let r = reader(set);
    assert!(r.is_hardware());
    let index = set.readers().iter().position(|x| x.name() == READER);
    let plugged = plug_into(&*r);
    let st = r.state();
    assert_eq!(st.atr, virtual_card::ATR);

    // state() is cheap enough for Java's 50 ms polling.
    let t = Instant::now();
    for _ in 0..1000 {
        let _ = r.state();
    }
    println!("1000 x state(): {:?}", t.elapsed());

    let mut card = Card::new(r.connect().expect("connect"));
    let before = plugged.card.stats();
    let t = Instant::now();
    let token = card.bind().expect("bind");
    let took = t.elapsed();
    let after = plugged.card.stats();
    println!(
        "bind over pcscd: {} APDUs in {took:?}",
        after.apdus - before.apdus
    );
    assert_eq!(token.user_pin.status, PinStatus::TriesLeft(3));
    card.verify(&token.user_pin, b"123456").expect("login");
    let t = Instant::now();
    for _ in 0..20 {
        card.sign(1, SignAlgorithm::Ecdsa, &[9; 32], None)
            .expect("sign");
    }
    println!("20 ECDSA signatures over pcscd: {:?}", t.elapsed());

    // Another application resets the card: our next signature reports the lost login
    // and sends nothing.
    let (_other_set, other_reader) = pcsc_reader(Settings::default());
    let mut other = other_reader.open_stepped().expect("second connection");
    other.reset().expect("reset by the other application");
    drop(other);
    let apdus = plugged.card.stats().apdus;
    assert_eq!(
        card.sign(1, SignAlgorithm::Ecdsa, &[9; 32], None),
        Err(CardError::ResetLostLogin)
    );
    assert_eq!(plugged.card.stats().apdus, apdus);
    card.verify(&token.user_pin, b"123456")
        .expect("login again");
    card.sign(1, SignAlgorithm::Ecdsa, &[9; 32], None)
        .expect("sign after login");

    // Stable index.
    assert_eq!(set.readers().iter().position(|x| x.name() == READER), index);
    drop(card);
    drop(plugged);
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-reader.sh"]
fn removal_wakes_waiters_and_kills_the_connection() {
    let _one = SERIAL.lock();
    let set = system_reader_set(&Config::default());
    let r = reader(&*set);
    let mut plugged = plug_into(&*r);
    let mut card = Card::new(r.connect().expect("connect"));
    let token = card.bind().expect("bind");
    let before = r.state();

    let waiter = {
        let set = set.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            (set.wait_for_change(Duration::from_secs(10)), t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    plugged.unplug();
    let (changed, took) = waiter.join().expect("waiter");
    assert!(changed, "wait_for_change missed the removal");
    println!("removal seen by wait_for_change after {took:?}");
    let after = r.state();
    assert!(!after.present);
    assert_ne!(after.insertions, before.insertions);
    assert_eq!(
        card.verify(&token.user_pin, b"123456"),
        Err(CardError::Reader(ReaderError::Removed))
    );
    assert_eq!(r.connect().err(), Some(ReaderError::NoCard));

    // Insertion: a card plugged while nobody looks is reported by the next wait.
    let _again = plug();
    let t = Instant::now();
    let mut changed = false;
    while !changed && t.elapsed() < Duration::from_secs(5) {
        changed = set.wait_for_change(Duration::from_millis(500));
    }
    assert!(changed, "insertion not reported");
    println!("insertion seen by wait_for_change after {:?}", t.elapsed());
    let inserted = r.state();
    assert!(inserted.present);
    assert_ne!(inserted.insertions, after.insertions);
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-reader.sh"]
fn cancel_releases_a_blocked_wait() {
    let _one = SERIAL.lock();
    let set = system_reader_set(&Config::default());
    // A card pulled by the previous test must be gone first: that would be a change.
    let r = reader(&*set);
    assert!(wait_until(Duration::from_secs(5), || !r.state().present));
    let waiter = {
        let set = set.clone();
        std::thread::spawn(move || set.wait_for_change(Duration::from_secs(30)))
    };
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    set.cancel();
    let changed = waiter.join().expect("waiter");
    let took = t.elapsed();
    println!("cancel released the waiter in {took:?}");
    assert!(!changed);
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-reader.sh"]
fn transactions_exclude_each_other() {
    let _one = SERIAL.lock();
    let (_set, r) = pcsc_reader(Settings::default());
    let _plugged = plug_into(&*r);
    let mut a = r.open_stepped().expect("a");
    let mut b = r.open_stepped().expect("b");
    assert_eq!(a.begin(), Ok(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let got = b.begin();
        tx.send(()).ok();
        b.end();
        got
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "second transaction must wait for the first"
    );
    a.end();
    assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
    assert_eq!(t.join().ok(), Some(Ok(false)));
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-reader.sh"]
fn transactions_on_the_calling_thread_exclude_each_other_too() {
    let _one = SERIAL.lock();
    let no_threads = Settings {
        threads: false,
        ..Settings::default()
    };
    let (_set, r) = pcsc_reader(no_threads);
    let _plugged = plug_into(&*r);
    let mut a = r.connect().expect("a");
    let mut b = r.connect().expect("b");
    let (held, hold) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        a.transaction(&mut |_link, _reset| {
            held.send(()).ok();
            released.recv_timeout(Duration::from_secs(10)).ok();
        })
    });
    hold.recv_timeout(Duration::from_secs(5))
        .expect("a holds the card");
    let (entered, enter) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        b.transaction(&mut |link, reset| {
            let answer = link.transmit(&[0x00, 0x84, 0x00, 0x00, 0x08]);
            entered.send((answer.map(|a| a.len()), reset)).ok();
        })
    });
    assert!(
        enter.recv_timeout(Duration::from_millis(300)).is_err(),
        "second transaction must wait for the first"
    );
    release.send(()).ok();
    assert_eq!(
        enter.recv_timeout(Duration::from_secs(5)),
        Ok((Ok(10), false))
    );
    assert_eq!(holder.join().ok(), Some(Ok(())));
    assert_eq!(waiter.join().ok(), Some(Ok(())));
}

#[test]
#[ignore = "needs pcscd + vpcd: scripts/test-pcsc-reader.sh"]
fn begin_waits_a_bounded_time_then_recovers() {
    let _one = SERIAL.lock();
    let (_set, r) = pcsc_reader(Settings {
        card_wait: Duration::from_millis(300),
        threads: true,
    });
    let _plugged = plug_into(&*r);
    let mut a = r.open_stepped().expect("a");
    let mut b = r.open_stepped().expect("b");
    assert_eq!(a.begin(), Ok(false));
    let t = Instant::now();
    assert_eq!(b.begin(), Err(ReaderError::Timeout));
    assert!(t.elapsed() < Duration::from_secs(2));
    a.end();
    // A fresh connection underneath: a reset is reported (safe side), then it works.
    assert_eq!(b.begin(), Ok(true));
    let answer = b
        .transmit(&[0x00, 0x84, 0x00, 0x00, 0x08])
        .expect("transmit");
    assert_eq!(answer.len(), 10);
    b.end();
}
