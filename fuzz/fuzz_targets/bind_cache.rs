//! The bind cache's file format (`card::cache::decode`): the module reads these files
//! inside the host application (pkcs11-spec.md §3.2.1). Input: a mode byte, then either
//! the whole file (mode even: exercises the magic, version and checksum checks) or the
//! body after magic and version (mode odd: the harness adds them and a correct
//! SHA-256, so the fuzzer gets past the checksum into the parser).
//!
//! Must hold: no panic; what decodes re-encodes to a file that decodes to the same entry.
#![no_main]

use eimza_pkcs11::card::cache::{decode, encode, Entry};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// Magic and version, as every file written by this module starts.
fn prefix() -> Vec<u8> {
    let empty = encode(&Entry::default());
    empty[..10].to_vec()
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut file = prefix();
        file.extend_from_slice(rest);
        let digest = Sha256::digest(&file);
        file.extend_from_slice(&digest);
        file
    };
    if let Some(entry) = decode(&file) {
        let again = encode(&entry);
        assert_eq!(
            decode(&again),
            Some(entry),
            "own encoding does not decode back"
        );
    }
});
