//! Writes the seed corpus of every fuzz target to `fuzz/seeds/<target>/` from real
//! sessions with the software card, so fuzzing starts from deep inside the code paths:
//! `cargo run --manifest-path fuzz/Cargo.toml --bin make_seeds`.

use eimza_fuzz::{card_session, encode_chunk, ScriptedChannel};
use eimza_pkcs11::card::{BindCache, Card, PublicKey};
use eimza_pkcs11::reader::{ReaderError, SteppedChannel};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use virtual_card::personalise::{create, CreateOptions};
use virtual_card::{store, KeyAlgorithm, VirtualCard};

/// Passes APDUs to a software card and keeps every answer.
struct Recorder {
    card: Arc<VirtualCard>,
    atr: Vec<u8>,
    answers: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl SteppedChannel for Recorder {
    fn begin(&mut self) -> Result<bool, ReaderError> {
        Ok(false)
    }
    fn end(&mut self) {}
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let answer = self.card.transmit(apdu);
        self.answers.lock().expect("lock").push(answer.clone());
        Ok(answer)
    }
    fn reset(&mut self) -> Result<(), ReaderError> {
        self.card.reset();
        Ok(())
    }
    fn atr(&self) -> &[u8] {
        &self.atr
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("seed dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn card(keys: Vec<KeyAlgorithm>, user_consent: bool) -> VirtualCard {
    let image = create(&CreateOptions {
        keys,
        pin: String::from("123456").into(),
        puk: String::from("12345678").into(),
        serial: Some(vec![0x5E, 0xED]),
        user_consent,
        ca_dir: None,
        tls_client_keys: Vec::new(),
        family: Default::default(),
    })
    .expect("personalise");
    VirtualCard::from_image(image, None).expect("card")
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let cards = [
        ("rsa", card(vec![KeyAlgorithm::Rsa2048], false)),
        ("p256", card(vec![KeyAlgorithm::P256], false)),
        ("p384-consent", card(vec![KeyAlgorithm::P384], true)),
    ];
    for (name, vcard) in cards {
        let vcard = Arc::new(vcard);
        write_file_seeds(&root, name, &vcard);
        for options in [0u8, 1] {
            let answers = Arc::new(Mutex::new(Vec::new()));
            let recorder = Recorder {
                card: vcard.clone(),
                atr: virtual_card::ATR.to_vec(),
                answers: answers.clone(),
            };
            let mut card = Card::new(Box::new(recorder));
            let token = card.bind().expect("bind the software card");
            // Log in again: bind is not part of the recorded session below.
            answers.lock().expect("lock").clear();
            let recorder = Recorder {
                card: vcard.clone(),
                atr: virtual_card::ATR.to_vec(),
                answers: answers.clone(),
            };
            let mut card = Card::new(Box::new(recorder));
            card_session(&mut card, options, 40);
            let answers = answers.lock().expect("lock").clone();
            let mut seed = vec![0, options, 0];
            seed.extend_from_slice(&40u16.to_be_bytes());
            for a in &answers {
                encode_chunk(&mut seed, a);
            }
            // The recorded answers replay to the same session (else the seed is useless).
            let mut replay = Card::new(Box::new(ScriptedChannel::new(
                virtual_card::ATR.to_vec(),
                0,
                &seed[5..],
            )));
            assert_eq!(replay.bind().as_ref().ok(), Some(&token), "replayed bind");
            write(
                &root.join("card_answers"),
                &format!("{name}-{options}"),
                &seed,
            );
            for (i, a) in answers.iter().enumerate() {
                write(&root.join("apdu_response"), &format!("{name}-{i}"), a);
                if a.len() > 2 {
                    write(
                        &root.join("pkcs15"),
                        &format!("{name}-{i}"),
                        &a[..a.len() - 2],
                    );
                }
            }
            write(&root.join("apdu_response"), "atr", &virtual_card::ATR);
            // certificate: id, shape, bits, public key, CA DER, certificate DER.
            let key = &token.keys[0];
            let cert = token
                .certificates
                .iter()
                .find(|c| c.id == key.id && !c.authority);
            let ca = token.certificates.iter().find(|c| c.authority);
            let mut seed = Vec::new();
            encode_chunk(&mut seed, &key.id);
            match &key.public {
                PublicKey::Rsa { modulus, exponent } => {
                    seed.push(0);
                    seed.extend_from_slice(&(key.bits as u32).to_be_bytes());
                    encode_chunk(&mut seed, modulus);
                    encode_chunk(&mut seed, exponent);
                }
                PublicKey::Ec {
                    ec_params, point, ..
                } => {
                    seed.push(1);
                    seed.extend_from_slice(&(key.bits as u32).to_be_bytes());
                    encode_chunk(&mut seed, ec_params);
                    encode_chunk(&mut seed, point);
                }
            }
            encode_chunk(&mut seed, ca.map_or(&[][..], |c| &c.der));
            seed.extend_from_slice(cert.map_or(&[][..], |c| &c.der));
            write(&root.join("certificate"), name, &seed);
        }
    }
    write_api_seeds(&root.join("pkcs11_api"));
}

/// bind_cache and card_file: the bind cache entry a bind of `vcard` writes and the
/// card's own file, each whole (mode 0) and as the body the harness seals (mode 1).
fn write_file_seeds(root: &Path, name: &str, vcard: &Arc<VirtualCard>) {
    let dir = std::env::temp_dir().join(format!("eimza-seeds-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = BindCache::new(dir.join("cache"), eimza_pkcs11::ffi::effective_uid());
    let recorder = Recorder {
        card: vcard.clone(),
        atr: virtual_card::ATR.to_vec(),
        answers: Arc::new(Mutex::new(Vec::new())),
    };
    Card::new(Box::new(recorder))
        .bind_with_cache(Some(&cache))
        .expect("bind with the cache");
    let entry = std::fs::read_dir(dir.join("cache"))
        .expect("cache folder")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("card-"))
        .map(|e| std::fs::read(e.path()).expect("entry"))
        .expect("a cache entry was written");
    let card_file = store::encode(&vcard.image());
    for (target, file, header) in [
        ("bind_cache", &entry[..], 10),
        ("card_file", &card_file[..], 16),
    ] {
        let mut whole = vec![0];
        whole.extend_from_slice(file);
        write(&root.join(target), &format!("{name}-file"), &whole);
        let mut body = vec![1];
        body.extend_from_slice(&file[header..file.len() - 32]);
        write(&root.join(target), &format!("{name}-body"), &body);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Call sequences in the byte language of fuzz_targets/pkcs11_api.rs.
fn write_api_seeds(dir: &Path) {
    let slots = [3, 1, 3, 0];
    let open = |slot: u8| [8, slot, 0, 0];
    let login = [12, 0, 0, 1];
    let find_all = [17, 0, 0, 0, 19, 0, 11];
    for (mech_index, mech_name) in [(8u8, "ecdsa"), (3, "sha256-rsa"), (6, "sha256-pss")] {
        for key in 0..8u8 {
            // Slot 2 is the AKIS v1.0 card (fuzz_targets/pkcs11_api.rs).
            for slot in 0..3u8 {
                let mut seed = Vec::new();
                seed.extend_from_slice(&slots);
                seed.extend_from_slice(&open(slot));
                seed.extend_from_slice(&login);
                seed.extend_from_slice(&find_all);
                // SignInit(session 0, object `key`, mechanism, params: PSS for PSS).
                let param = if mech_index == 6 {
                    [1, 0, 0, 32]
                } else {
                    [0, 0, 0, 0]
                };
                seed.extend_from_slice(&[25, 0, key, mech_index]);
                seed.extend_from_slice(&param[..if mech_index == 6 { 4 } else { 1 }]);
                seed.push(0);
                // Sign 32 bytes into a 1 KB buffer.
                seed.extend_from_slice(&[27, 0, 32]);
                seed.extend_from_slice(&[0xA5; 32]);
                seed.extend_from_slice(&[2, 0]);
                // A context-specific login, random, logout, close.
                seed.extend_from_slice(&[13, 0, 3, 1, 31, 0, 0, 64, 14, 0, 9, 0]);
                write(dir, &format!("{mech_name}-slot{slot}-key{key}"), &seed);
            }
        }
    }
    let mut pin_seed = Vec::new();
    pin_seed.extend_from_slice(&slots);
    pin_seed.extend_from_slice(&open(0)[..2]);
    pin_seed.extend_from_slice(&[1, 0]);
    // SetPIN old=PIN new=PIN, SO login with PUK, InitPIN, attributes of object 0.
    pin_seed.extend_from_slice(&[
        15, 0, 1, 1, 12, 0, 2, 3, 16, 0, 1, 22, 0, 0, 3, 0, 1, 2, 1, 44, 0, 1, 3,
    ]);
    write(dir, "pin-management", &pin_seed);
    // The same on the AKIS v1.0 card (slot 2): CHANGE with length bytes, RESET RETRY
    // COUNTER, no counter query.
    pin_seed[slots.len() + 1] = 2;
    write(dir, "pin-management-v10", &pin_seed);
}
