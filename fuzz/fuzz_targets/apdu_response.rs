//! APDU and ATR bytes: response parsing, the status-word helpers, ATR parsing, and the
//! command encoder checked against the software card's command parser.
#![no_main]

use eimza_fuzz::Input;
use eimza_pkcs11::apdu::{Command, Response};
use eimza_pkcs11::card::atr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Response::parse(data) {
        assert_eq!(r.data.len() + 2, data.len());
        let _ = (r.sw(), r.is_ok(), r.tries_left());
        for n in [r.bytes_remaining(), r.exact_le()].into_iter().flatten() {
            assert!((1..=256).contains(&n), "count byte out of range: {n}");
        }
    } else {
        assert!(data.len() < 2);
    }
    if let Some(parsed) = atr::parse(data) {
        assert!(parsed.historical.len() <= data.len());
    }

    // The module's encoder against the software card's decoder: same fields back.
    let mut input = Input::new(data);
    let header = [input.u8(), input.u8(), input.u8(), input.u8()];
    let extended_ok = input.bool();
    let le = match input.u8() % 3 {
        0 => None,
        1 => Some(usize::from(input.u8())),
        _ => Some(usize::from(input.u16()) + usize::from(input.u8()) * 4),
    };
    let body_len = usize::from(input.u16()) % (virtual_card::apdu::MAX_NC + 1);
    let body = input.bytes(body_len);
    let mut cmd = Command::new(header[0], header[1], header[2], header[3]);
    if !body.is_empty() {
        cmd = cmd.with_data(body);
    }
    if let Some(ne) = le {
        cmd = cmd.with_le(ne);
    }
    if let Ok(encoded) = cmd.encode(extended_ok) {
        let decoded = virtual_card::apdu::parse(&encoded).expect("card parses our APDU");
        assert_eq!(
            [decoded.cla, decoded.ins, decoded.p1, decoded.p2],
            header,
            "header"
        );
        assert_eq!(decoded.data, body, "data field");
        assert_eq!(decoded.ne, le, "Ne");
        assert!(extended_ok || !decoded.extended);
    }
});
