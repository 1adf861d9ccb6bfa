//! The software card's file format (`virtual_card::store::decode`): the module opens
//! these files in process in development builds (`EIMZA_VIRTUAL_CARD`), and
//! `eimza-vcard` reads them. Input: a mode byte, then either the whole file (mode
//! even: magic, version, length and checksum checks) or the payload (mode odd: the
//! harness adds a correct header and SHA-256, so the fuzzer reaches the parser and the
//! invariant checks).
//!
//! Must hold: no panic; what decodes re-encodes to bytes that decode and encode the
//! same again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use virtual_card::{store, CardImage};

/// Magic, version and the family field (v2.x) of a file this version writes.
fn header_start() -> Vec<u8> {
    let empty = store::encode(&CardImage {
        family: Default::default(),
        serial: Vec::new(),
        files: Vec::new(),
        keys: Vec::new(),
        pins: Vec::new(),
    });
    empty[..12].to_vec()
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut file = header_start();
        file.extend_from_slice(&(rest.len() as u32).to_be_bytes());
        file.extend_from_slice(rest);
        let digest = Sha256::digest(&file);
        file.extend_from_slice(&digest);
        file
    };
    if let Ok(image) = store::decode(&file) {
        let encoded = store::encode(&image);
        let again = store::decode(&encoded).expect("own encoding rejected");
        assert_eq!(*store::encode(&again), *encoded, "encoding not stable");
    }
});
