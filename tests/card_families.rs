//! The card layer on the software card of each AKIS family (pkcs11-spec.md §1.4.1):
//! the software card answers only its family's command forms, so every operation here
//! fails if the module sent another family's form. What reached the card is read from
//! the card's own record (`VirtualCard::received`): exact headers, never data.

use eimza_pkcs11::card::{
    atr::Family, Card, CardError, HashAlg, PinStatus, PublicKey, SignAlgorithm, TokenData,
};
use eimza_pkcs11::reader::software::{SoftCard, SoftwareReader, VirtualSoftCard};
use eimza_pkcs11::reader::Reader;
use rsa::traits::PublicKeyParts;
use sha2::Digest;
use std::sync::{Arc, OnceLock};
use virtual_card::personalise::{create, CreateOptions};
use virtual_card::{CardFamily, CardImage, KeyAlgorithm, ReceivedCommand, VirtualCard};

/// One personalised image per family (key generation is slow), each test on a copy.
fn image(family: CardFamily) -> CardImage {
    static IMAGES: [OnceLock<CardImage>; 3] = [const { OnceLock::new() }; 3];
    let slot = match family {
        CardFamily::V10 => 0,
        CardFamily::V1x => 1,
        CardFamily::V2x => 2,
    };
    IMAGES[slot]
        .get_or_init(|| {
            create(&CreateOptions {
                family,
                keys: vec![KeyAlgorithm::Rsa2048],
                serial: Some(vec![0xFA, 0x41, 0x17, slot as u8]),
                ..CreateOptions::default()
            })
            .expect("personalise")
        })
        .clone()
}

struct Setup {
    soft: Arc<VirtualSoftCard>,
    card: Card,
}

fn setup(family: CardFamily) -> Setup {
    let virtual_card = VirtualCard::from_image(image(family), None).expect("virtual card");
    let soft = Arc::new(VirtualSoftCard::new(virtual_card));
    let reader = SoftwareReader::new(
        "eimza software card 0".into(),
        Some(soft.clone() as Arc<dyn SoftCard>),
    );
    let card = Card::new(reader.connect().expect("connect"));
    Setup { soft, card }
}

impl Setup {
    fn virtual_card(&self) -> &VirtualCard {
        self.soft.card()
    }

    /// Headers received since `mark` entries, as "CLA INS P1 P2 Nc=.. Ne=..".
    fn sent_since(&self, mark: usize) -> Vec<String> {
        self.virtual_card().received()[mark..]
            .iter()
            .map(ReceivedCommand::to_string)
            .collect()
    }

    fn mark(&self) -> usize {
        self.virtual_card().received().len()
    }

    fn tries(&self) -> (u8, u8) {
        let status = self.virtual_card().status();
        (
            status.pin.unwrap().tries_left,
            status.puk.unwrap().tries_left,
        )
    }
}

fn sha256_digest_info(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let hash = sha2::Sha256::digest(message).to_vec();
    let mut info = vec![
        0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    info.extend_from_slice(&hash);
    (hash, info)
}

fn rsa_public(t: &TokenData) -> rsa::PublicKey {
    let PublicKey::Rsa { modulus, exponent } = &t.keys[0].public else {
        panic!("RSA key expected");
    };
    rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(modulus),
        rsa::BoxedUint::from_be_slice_vartime(exponent),
    )
    .expect("RSA public key")
}

#[test]
fn v10_binds_with_its_own_forms_and_no_counter_query() {
    let mut s = setup(CardFamily::V10);
    let t = s.card.bind().expect("bind");
    let sent = s.sent_since(0);
    assert_eq!(
        sent[0], "00 A4 08 00 Nc=4 Ne=256",
        "the DF by its path with 3F00"
    );
    for line in &sent[1..] {
        let ok = line.starts_with("00 A4 02 00 Nc=2 Ne=256")
            || (line.starts_with("00 B0 ")
                && line
                    .rsplit_once("Ne=")
                    .and_then(|(_, ne)| ne.parse::<usize>().ok())
                    .is_some_and(|ne| ne <= 244));
        assert!(ok, "not a v1.0 bind command: {line}\n{sent:#?}");
    }
    println!("AKIS v1.0 bind: {} APDUs", sent.len());
    assert_eq!(t.family.family, Family::AkisV10);
    assert_eq!(t.user_pin.status, PinStatus::Unknown);
    assert_eq!(t.puk.as_ref().unwrap().status, PinStatus::Unknown);
    assert_eq!(t.keys.len(), 1);
    assert_eq!(t.keys[0].bits, 2048);
    assert_eq!(t.certificates.len(), 3);
    assert_eq!(s.tries(), (3, 10));
    let mark = s.mark();
    assert_eq!(s.card.pin_status(&t.user_pin), Ok(PinStatus::Unknown));
    assert!(s.sent_since(mark).is_empty(), "no counter query on v1.0");
}

#[test]
fn v10_signs_rsa_pkcs1_after_mse_c3_and_nothing_else() {
    let mut s = setup(CardFamily::V10);
    let t = s.card.bind().expect("bind");
    s.card.verify(&t.user_pin, b"123456").expect("login");
    let (hash, info) = sha256_digest_info(b"AKIS v1.0");
    let mark = s.mark();
    let signature = s
        .card
        .sign(t.keys[0].key_ref, SignAlgorithm::RsaPkcs1, &info, None)
        .expect("sign");
    assert_eq!(
        s.sent_since(mark),
        [
            "00 22 C3 01 Nc=0 Ne=-",
            "00 2A 9E 9A Nc=51 Ne=244",
            "00 C0 00 00 Nc=0 Ne=12"
        ]
    );
    let public = rsa_public(&t);
    assert_eq!(public.size(), 256);
    public
        .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature)
        .expect("valid PKCS#1 v1.5 signature");
    // The algorithms v1.0 does not have: refused before any APDU.
    let mark = s.mark();
    for algorithm in [SignAlgorithm::RsaPss(HashAlg::Sha256), SignAlgorithm::Ecdsa] {
        assert_eq!(
            s.card.sign(t.keys[0].key_ref, algorithm, &hash, None),
            Err(CardError::Status(0x6A81)),
            "{algorithm:?}"
        );
    }
    assert!(s.sent_since(mark).is_empty());
    assert_eq!(s.virtual_card().command_counts().signatures, 1);
}

#[test]
fn raw_pkcs1_input_is_at_most_the_familys_largest_command() {
    // AKIS v1.0 takes at most 244 data bytes in a command (card-akis.c), one less than
    // PKCS#1 v1.5 allows a 2048-bit key (k − 11 = 245): a longer input is refused
    // before any APDU. A v2.x card takes all 245 in one PSO.
    let mut s = setup(CardFamily::V10);
    let t = s.card.bind().expect("bind");
    s.card.verify(&t.user_pin, b"123456").expect("login");
    let input = [0x5A; 245];
    let mark = s.mark();
    let signature = s
        .card
        .sign(
            t.keys[0].key_ref,
            SignAlgorithm::RsaPkcs1,
            &input[..244],
            None,
        )
        .expect("244 bytes sign");
    assert_eq!(
        s.sent_since(mark),
        [
            "00 22 C3 01 Nc=0 Ne=-",
            "00 2A 9E 9A Nc=244 Ne=244",
            "00 C0 00 00 Nc=0 Ne=12"
        ]
    );
    rsa_public(&t)
        .verify(
            rsa::Pkcs1v15Sign::new_unprefixed(),
            &input[..244],
            &signature,
        )
        .expect("valid PKCS#1 v1.5 signature of the raw input");
    let mark = s.mark();
    assert_eq!(
        s.card
            .sign(t.keys[0].key_ref, SignAlgorithm::RsaPkcs1, &input, None),
        Err(CardError::DataInvalid)
    );
    assert_eq!(s.sent_since(mark), Vec::<String>::new(), "nothing sent");
    assert_eq!(s.virtual_card().command_counts().signatures, 1);

    let mut s = setup(CardFamily::V2x);
    let t = s.card.bind().expect("bind");
    s.card.verify(&t.user_pin, b"123456").expect("login");
    let signature = s
        .card
        .sign(t.keys[0].key_ref, SignAlgorithm::RsaPkcs1, &input, None)
        .expect("245 bytes sign on v2.x");
    rsa_public(&t)
        .verify(rsa::Pkcs1v15Sign::new_unprefixed(), &input, &signature)
        .expect("valid PKCS#1 v1.5 signature of the raw input");
}

#[test]
fn v10_changes_and_unblocks_the_pin_spending_only_the_tries_asked_for() {
    let mut s = setup(CardFamily::V10);
    let t = s.card.bind().expect("bind");
    let puk = t.puk.clone().expect("PUK");
    assert_eq!(s.tries(), (3, 10), "bind spent nothing");
    // CHANGE with length bytes: P1 02, P2 = 81 & 7F.
    let mark = s.mark();
    s.card
        .change_reference_data(&t.user_pin, b"123456", b"654321")
        .expect("change");
    assert_eq!(s.sent_since(mark), ["00 24 02 01 Nc=14 Ne=-"]);
    assert_eq!(s.tries(), (3, 10));
    assert_eq!(
        s.card
            .change_reference_data(&t.user_pin, b"123456", b"111111"),
        Err(CardError::PinIncorrect { tries_left: 2 })
    );
    assert_eq!(s.tries(), (2, 10), "one try, as asked");
    // The PUK: 82 → P1 02, P2 02.
    let mark = s.mark();
    s.card
        .change_reference_data(&puk, b"12345678", b"87654321")
        .expect("change PUK");
    assert_eq!(s.sent_since(mark), ["00 24 02 02 Nc=18 Ne=-"]);
    // Block the PIN, unblock it with the PUK in the command (ISO, P1 00).
    for left in [1u8, 0] {
        assert_eq!(
            s.card.verify(&t.user_pin, b"999999"),
            Err(CardError::PinIncorrect { tries_left: left })
        );
    }
    let mark = s.mark();
    s.card
        .reset_retry_counter(&t.user_pin, Some((&puk, b"87654321")), b"222222")
        .expect("unblock");
    assert_eq!(s.sent_since(mark), ["00 2C 00 81 Nc=14 Ne=-"]);
    assert_eq!(s.tries(), (3, 10));
    s.card.verify(&t.user_pin, b"222222").expect("new PIN");
    // The SO flow: VERIFY 82, then RESET RETRY COUNTER P1 02.
    s.card.logout().expect("logout");
    s.card.verify(&puk, b"87654321").expect("SO login");
    let mark = s.mark();
    s.card
        .reset_retry_counter(&t.user_pin, None, b"333333")
        .expect("init PIN");
    assert_eq!(s.sent_since(mark), ["00 2C 02 81 Nc=6 Ne=-"]);
    s.card
        .verify(&t.user_pin, b"333333")
        .expect("PIN set by SO");
    assert_eq!(s.tries(), (3, 10));
    assert_eq!(s.virtual_card().command_counts().verify_status, 0);
}

#[test]
fn v1x_reads_without_sfi_or_extended_length_and_keeps_the_iso_profile() {
    let mut s = setup(CardFamily::V1x);
    let t = s.card.bind().expect("bind");
    let sent = s.sent_since(0);
    assert_eq!(sent[0], "00 A4 04 0C Nc=12 Ne=-");
    assert!(
        sent.iter().all(|l| !l.starts_with("00 B0 8")),
        "no SFI read"
    );
    assert!(
        sent.iter().filter(|l| l.starts_with("00 A4 08 0C")).count() >= 5,
        "{sent:#?}"
    );
    assert_eq!(
        &sent[sent.len() - 2..],
        ["00 20 00 81 Nc=0 Ne=-", "00 20 00 82 Nc=0 Ne=-"]
    );
    assert_eq!(t.user_pin.status, PinStatus::TriesLeft(3));
    assert_eq!(t.family.family, Family::AkisV1x);
    s.card.verify(&t.user_pin, b"123456").expect("login");
    let (hash, info) = sha256_digest_info(b"AKIS v1.x");
    let mark = s.mark();
    let signature = s
        .card
        .sign(t.keys[0].key_ref, SignAlgorithm::RsaPkcs1, &info, None)
        .expect("sign");
    assert_eq!(
        s.sent_since(mark),
        ["00 22 41 B6 Nc=6 Ne=-", "00 2A 9E 9A Nc=51 Ne=256"]
    );
    rsa_public(&t)
        .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature)
        .expect("valid signature");
    // PSS exists on v1.x.
    let pss = s
        .card
        .sign(
            t.keys[0].key_ref,
            SignAlgorithm::RsaPss(HashAlg::Sha256),
            &hash,
            None,
        )
        .expect("PSS");
    assert_eq!(pss.len(), 256);
    let mark = s.mark();
    s.card
        .change_reference_data(&t.user_pin, b"123456", b"654321")
        .expect("change");
    assert_eq!(s.sent_since(mark), ["00 24 00 81 Nc=12 Ne=-"]);
}

#[test]
fn v2x_keeps_todays_profile() {
    let mut s = setup(CardFamily::V2x);
    let t = s.card.bind().expect("bind");
    let sent = s.sent_since(0);
    assert_eq!(sent[0], "00 A4 04 0C Nc=12 Ne=-");
    assert!(
        sent.iter().any(|l| l.starts_with("00 B0 92 00")),
        "SFI reads"
    );
    assert_eq!(t.family.family, Family::AkisV2x);
    assert_eq!(t.user_pin.status, PinStatus::TriesLeft(3));
}
