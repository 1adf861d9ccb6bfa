//! `VirtualCard` as the module and `serve` use it: presence and power, ATR, statistics,
//! delays, threads, and the vpcd bridge against a fake vpcd.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use virtual_card::serve::{self, ServeOptions};
use virtual_card::{CommandCounts, Delays, KeyAlgorithm, Stats, VirtualCard, ATR};

fn card() -> VirtualCard {
    VirtualCard::from_image(
        image(&[(KeyAlgorithm::Rsa2048, false), (KeyAlgorithm::P256, false)]),
        None,
    )
    .unwrap()
}

#[test]
fn virtual_card_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<VirtualCard>();
}

#[test]
fn atr_is_the_profile_atr_with_a_valid_tck() {
    assert_eq!(&ATR[..7], &h("3B9F968131FE45")[..]);
    assert_eq!(
        &ATR[7..22],
        &h("806554435643317 3B40040 83059000".replace(' ', "").as_str())[..]
    );
    // TCK: the XOR of T0 .. TCK is zero.
    assert_eq!(ATR[1..].iter().fold(0, |acc, b| acc ^ b), 0);
    // Card capabilities byte 3 announces extended Lc/Le.
    assert_eq!(ATR[17] & 0x40, 0x40);
    assert_eq!(card().atr(), ATR.to_vec());
}

#[test]
fn presence_and_power() {
    let card = card();
    assert!(
        card.is_present() && card.is_powered(),
        "a new card is inserted and powered"
    );
    assert_eq!(status(&card, &h("0084000004")), 0x9000);
    card.power_off();
    assert!(
        card.transmit(&h("0084000004")).is_empty(),
        "unpowered: no answer"
    );
    assert_eq!(card.power_on(), ATR.to_vec());
    assert_eq!(status(&card, &h("0084000004")), 0x9000);
    card.remove();
    assert!(!card.is_present());
    assert!(
        card.transmit(&h("0084000004")).is_empty(),
        "removed: no answer"
    );
    assert!(card.power_on().is_empty(), "no ATR without a card");
    assert!(card.reset().is_empty());
    card.insert();
    assert!(
        card.is_present() && !card.is_powered(),
        "inserted cards wait for power"
    );
    assert!(card.transmit(&h("0084000004")).is_empty());
    assert_eq!(card.reset(), ATR.to_vec());
    assert_eq!(status(&card, &h("0084000004")), 0x9000);
    assert_eq!(card.serial(), SERIAL.to_vec());
}

#[test]
fn stats_count_apdus_bytes_and_transactions() {
    let card = card();
    assert_eq!(card.stats(), Stats::default());
    card.note_transaction();
    let challenge = h("0084000010");
    card.transmit(&challenge);
    card.transmit(&h("00"));
    card.power_off();
    card.transmit(&challenge); // not answered, not counted
    let stats = card.stats();
    assert_eq!(
        stats,
        Stats {
            apdus: 2,
            bytes_in: 6,
            bytes_out: 16 + 2 + 2,
            transactions: 1
        }
    );
}

#[test]
fn command_counts_tell_pin_verifies_from_status_queries_and_signatures_from_attempts() {
    let card = card();
    assert_eq!(card.command_counts(), CommandCounts::default());
    // No PIN verified yet: the card refuses to sign.
    assert_eq!(mse(&card, 2, 0x30), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x6982);
    assert_eq!(status(&card, &h("00200081")), 0x63C3);
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"999999", None)),
        0x63C2
    );
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(mse(&card, 2, 0x30), 0x9000);
    assert_eq!(pso(&card, &[1; 32]).1, 0x9000);
    card.power_off();
    card.transmit(&apdu([0, 0x20, 0, 0x81], PIN, None)); // not answered, not counted
    assert_eq!(
        card.command_counts(),
        CommandCounts {
            verify_with_data: 3,
            verify_status: 1,
            sign_commands: 2,
            signatures: 1,
        }
    );
}

#[test]
fn status_summary() {
    let image = image(&[(KeyAlgorithm::Rsa3072, true), (KeyAlgorithm::P384, false)]);
    let card = VirtualCard::from_image(image, None).unwrap();
    status(&card, &apdu([0, 0x20, 0, 0x81], b"000000", None));
    let text = card.status().to_string();
    assert!(text.contains("serial: 0C0C0C0C01020304"), "{text}");
    assert!(text.contains("key 01: RSA-3072, userConsent"), "{text}");
    assert!(text.contains("key 02: ECDSA P-384\n"), "{text}");
    assert!(text.contains("PIN: 2 of 3 tries left\n"), "{text}");
    assert!(text.contains("PUK: 10 of 10 tries left\n"), "{text}");
    for _ in 0..2 {
        status(&card, &apdu([0, 0x20, 0, 0x81], b"000000", None));
    }
    assert!(card
        .status()
        .to_string()
        .contains("PIN: 0 of 3 tries left, BLOCKED"));
}

#[test]
fn delays_parse() {
    assert_eq!(Delays::parse("").unwrap(), Delays::default());
    assert_eq!(
        Delays::parse("rsa=60ms, ecdsa=30ms,apdu=500us").unwrap(),
        Delays {
            rsa_sign: Duration::from_millis(60),
            ecdsa_sign: Duration::from_millis(30),
            per_apdu: Duration::from_micros(500)
        }
    );
    assert_eq!(
        Delays::parse("rsa=1s").unwrap().rsa_sign,
        Duration::from_secs(1)
    );
    for bad in ["rsa", "rsa=", "rsa=10", "rsa=10min", "dsa=1ms", "rsa=-1ms"] {
        assert!(Delays::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn delays_slow_the_card_but_not_its_observers() {
    let card = Arc::new(card());
    card.set_delays(Delays {
        rsa_sign: Duration::from_millis(300),
        ecdsa_sign: Duration::from_millis(100),
        per_apdu: Duration::from_millis(20),
    });
    let started = Instant::now();
    assert_eq!(status(&card, &h("0084000004")), 0x9000);
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(mse(&card, 2, 0x30), 0x9000);
    let started = Instant::now();
    assert_eq!(pso(&card, &[1; 32]).1, 0x9000);
    let ecdsa = started.elapsed();
    assert!(ecdsa >= Duration::from_millis(120), "{ecdsa:?}");
    assert_eq!(mse(&card, 1, 0x02), 0x9000);
    let signer = {
        let card = Arc::clone(&card);
        std::thread::spawn(move || pso(&card, &[1; 32]).1)
    };
    std::thread::sleep(Duration::from_millis(100));
    // While the RSA signature "takes" 300 ms, observers answer at once.
    let observed = Instant::now();
    assert!(card.is_present());
    let _ = card.stats();
    card.note_transaction();
    assert!(
        observed.elapsed() < Duration::from_millis(50),
        "{:?}",
        observed.elapsed()
    );
    assert_eq!(signer.join().unwrap(), 0x9000);
}

#[test]
fn concurrent_transmits_are_serialised() {
    let card = Arc::new(card());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let card = Arc::clone(&card);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(status(&card, &h("00CA010600")).to_be_bytes()[0], 0x90);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(card.stats().apdus, 200);
}

// ---- vpcd bridge ------------------------------------------------------------------

fn send(stream: &mut TcpStream, body: &[u8]) {
    let mut message = (body.len() as u16).to_be_bytes().to_vec();
    message.extend_from_slice(body);
    stream.write_all(&message).unwrap();
}

fn receive(stream: &mut TcpStream) -> Vec<u8> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut body).unwrap();
    body
}

#[test]
fn serve_speaks_vpcd_and_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let card = Arc::new(card());
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (card, stop) = (Arc::clone(&card), Arc::clone(&stop));
        std::thread::spawn(move || {
            let log = |_: &str| {};
            let options = ServeOptions {
                vpcd: address,
                once: false,
                stop: &stop,
                log: &log,
            };
            serve::serve(&card, &options)
        })
    };
    for round in 0..2 {
        let (mut vpcd, _) = listener.accept().unwrap();
        vpcd.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send(&mut vpcd, &[0x01]); // power on: no reply
        send(&mut vpcd, &[0x04]);
        assert_eq!(receive(&mut vpcd), ATR.to_vec(), "round {round}");
        send(&mut vpcd, &apdu([0, 0xA4, 4, 0x0C], &AID, None));
        assert_eq!(receive(&mut vpcd), h("9000"));
        send(&mut vpcd, &apdu([0, 0x20, 0, 0x81], PIN, None));
        assert_eq!(receive(&mut vpcd), h("9000"));
        assert!(card.is_verified(0x81));
        // An extended READ BINARY through the bridge.
        send(&mut vpcd, &apdu_ext([0, 0xB0, 0x84, 0], &[], Some(0)));
        let response = receive(&mut vpcd);
        assert_eq!(
            (response.len(), &response[response.len() - 2..]),
            (404 + 2, &[0x62, 0x82][..])
        );
        // 65536 random bytes do not fit a vpcd frame: 6F00, and the link survives.
        send(&mut vpcd, &apdu_ext([0, 0x84, 0, 0], &[], Some(0)));
        assert_eq!(receive(&mut vpcd), h("6F00"));
        send(&mut vpcd, &apdu_ext([0, 0x84, 0, 0], &[], Some(0xFFFD)));
        assert_eq!(receive(&mut vpcd).len(), 0xFFFF);
        send(&mut vpcd, &[0x02]); // reset
        send(&mut vpcd, &h("00200081"));
        assert_eq!(
            receive(&mut vpcd),
            h("63C3"),
            "reset cleared the PIN status"
        );
        send(&mut vpcd, &[0x00]); // power off
        send(&mut vpcd, &h("0084000008"));
        assert_eq!(
            receive(&mut vpcd),
            Vec::<u8>::new(),
            "unpowered card: empty reply"
        );
        send(&mut vpcd, &[0x01]);
        // vpcd goes away (pcscd restarted); the bridge must come back by itself.
        drop(vpcd);
    }
    let (mut vpcd, _) = listener.accept().unwrap();
    send(&mut vpcd, &[0x04]);
    assert_eq!(receive(&mut vpcd), ATR.to_vec());
    stop.store(true, Ordering::SeqCst);
    let started = Instant::now();
    server.join().unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stop is noticed while idle"
    );
}

#[test]
fn serve_once_returns_when_the_connection_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let card = Arc::new(card());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let log = |_: &str| {};
            let options = ServeOptions {
                vpcd: address,
                once: true,
                stop: &stop,
                log: &log,
            };
            serve::serve(&card, &options)
        });
        let (mut vpcd, _) = listener.accept().unwrap();
        send(&mut vpcd, &h("0084000008"));
        assert_eq!(receive(&mut vpcd).len(), 10);
        drop(vpcd);
        server.join().unwrap().unwrap();
    });
    assert!(!card.is_powered(), "a lost reader powers the card down");
}

#[test]
fn serve_waits_for_vpcd_to_appear() {
    // Reserve a port, close it, start serving, then open the port.
    let address = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let card = Arc::new(card());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let log = |_: &str| {};
            let options = ServeOptions {
                vpcd: address.to_string(),
                once: true,
                stop: &stop,
                log: &log,
            };
            serve::serve(&card, &options)
        });
        std::thread::sleep(Duration::from_millis(600));
        let listener = TcpListener::bind(address).unwrap();
        let (mut vpcd, _) = listener.accept().unwrap();
        send(&mut vpcd, &[0x04]);
        assert_eq!(receive(&mut vpcd), ATR.to_vec());
        drop(vpcd);
        server.join().unwrap().unwrap();
    });
}
