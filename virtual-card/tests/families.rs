//! The three card families (spec §1.1, §1.4 "Per family"): each card has its family's
//! ATR and answers only its family's command forms; every other form gets the status
//! word a strict card gives, without spending a try or changing state. The family
//! survives the card file, and files written before families existed load as v2.x.

mod common;

use common::*;
use rsa::pkcs8::DecodePrivateKey;
use rsa::Pkcs1v15Sign;
use sha2::Digest;
use virtual_card::{
    store, CardFamily, KeyAlgorithm, ReceivedCommand, StoreError, VirtualCard, ATR, ATR_V10,
    ATR_V1X,
};

const RSA: [(KeyAlgorithm, bool); 1] = [(KeyAlgorithm::Rsa2048, false)];
const SHA256_DIGEST_INFO: &str = "3031300d060960864801650304020105000420";

fn card(family: CardFamily) -> VirtualCard {
    let mut image = image(&RSA);
    image.family = family;
    VirtualCard::from_image(image, None).unwrap()
}

fn tries(card: &VirtualCard) -> (u8, u8) {
    let status = card.status();
    (
        status.pin.unwrap().tries_left,
        status.puk.unwrap().tries_left,
    )
}

/// The v1.0 SELECT of the PKCS#15 DF: absolute path with the MF, P2 00, Le 00.
fn select_df_v10(card: &VirtualCard) -> (Vec<u8>, u16) {
    tx(card, &apdu([0, 0xA4, 0x08, 0x00], &h("3F00 3D00"), Some(0)))
}

fn digest_info(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let hash = sha2::Sha256::digest(message).to_vec();
    let mut info = h(SHA256_DIGEST_INFO);
    info.extend_from_slice(&hash);
    (hash, info)
}

fn rsa_public() -> rsa::PublicKey {
    rsa::PrivateKey::from_pkcs8_der(&pkcs8(KeyAlgorithm::Rsa2048))
        .unwrap()
        .to_public_key()
}

#[test]
fn each_family_has_its_atr_and_the_default_is_v2() {
    assert_eq!(CardFamily::default(), CardFamily::V2x);
    assert_eq!(card(CardFamily::V2x).atr(), ATR.to_vec());
    assert_eq!(card(CardFamily::V2x).power_on(), ATR.to_vec());
    // The public v1.0 ATR, byte for byte (card-facts.md).
    assert_eq!(
        card(CardFamily::V10).power_on(),
        h("3B BA 11 00 81 31 FE 4D 55 45 4B 41 45 20 56 31 2E 30 AE")
    );
    assert_eq!(card(CardFamily::V10).atr(), ATR_V10.to_vec());
    let v1x = card(CardFamily::V1x).reset();
    assert_eq!(v1x, ATR_V1X.to_vec());
    // The v1.x pattern: 3B 9F xx 81 31 FE 45 80 67 "UEKAE" ...; TCK makes the XOR of
    // T0..TCK zero (ISO 7816-3 §8.2.5).
    assert_eq!(&v1x[..2], &[0x3B, 0x9F]);
    assert_eq!(&v1x[3..14], &h("81 31 FE 45 80 67 55 45 4B 41 45")[..]);
    assert_eq!(v1x[1..].iter().fold(0, |a, b| a ^ b), 0);
    assert_eq!(ATR_V10[1..].iter().fold(0, |a, b| a ^ b), 0);
    for family in CardFamily::ALL {
        assert_eq!(CardFamily::parse(family.name()), Some(family));
    }
    assert_eq!(CardFamily::parse("v1.x"), Some(CardFamily::V1x));
    assert_eq!(CardFamily::parse("v2.x"), Some(CardFamily::V2x));
    assert_eq!(CardFamily::parse("v3"), None);
}

#[test]
fn family_persists_and_old_card_files_load_as_v2() {
    let dir = std::env::temp_dir().join(format!("vcard-families-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for family in CardFamily::ALL {
        let path = dir.join(format!("{}.vc", family.name()));
        let mut image = image(&RSA);
        image.family = family;
        store::save(&path, &image).unwrap();
        assert_eq!(store::load(&path).unwrap().family, family);
        let card = VirtualCard::open(&path).unwrap();
        assert_eq!(card.family(), family);
        assert_eq!(card.status().family, family);
        assert!(card
            .status()
            .to_string()
            .contains(&format!("\nfamily: {}\n", family.name())));
    }
    // A v2.x card file is what every card file was before families: header bytes
    // 10..12 (then "reserved") are 0.
    let v2 = store::encode(&image(&RSA));
    assert_eq!(&v2[8..12], &[0, 1, 0, 0]);
    // A family code nobody wrote is refused (with a fresh checksum, so the code itself
    // is what is refused).
    let mut foreign = v2.to_vec();
    foreign[11] = 7;
    let body_len = foreign.len() - 32;
    let checksum = sha2::Sha256::digest(&foreign[..body_len]);
    foreign[body_len..].copy_from_slice(&checksum);
    match store::decode(&foreign) {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("family code 7"), "{why}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // A v1.0 card holds RSA-2048 keys only.
    let mut image = image(&[(KeyAlgorithm::Rsa2048, false), (KeyAlgorithm::P256, false)]);
    image.family = CardFamily::V10;
    assert!(matches!(
        VirtualCard::from_image(image, None),
        Err(StoreError::Corrupt(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn v10_select_forms() {
    let card = card(CardFamily::V10);
    // By DF name: not a v1.0 form.
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 4, 0x00], &AID, Some(0))),
        0x6A86
    );
    // P2 0C (no answer data) is not either: v1.0 always answers with its FCI.
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x0C], &h("3F00 3D00"), None)),
        0x6A86
    );
    // ISO path without the MF: not found (a v1.0 path starts at 3F00); a one-FID
    // path is too short (v1.0 selects those with P1 00 or 02).
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x00], &h("3D00 4404"), Some(0))),
        0x6A82
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x00], &h("3D00"), Some(0))),
        0x6700
    );
    let (fci, sw) = select_df_v10(&card);
    assert_eq!(sw, 0x9000);
    // 6F { 83 3D00, 82 38, 84 AID, 90 security byte }.
    let mut expected = h("6F 18 8302 3D00 8201 38 840C");
    expected.extend_from_slice(&AID);
    expected.extend_from_slice(&h("9001 02"));
    assert_eq!(fci, expected);
    // P1 02: an EF under the current DF, FCI with size and tag 90.
    let (fci, sw) = tx(&card, &apdu([0, 0xA4, 2, 0x00], &h("4404"), Some(0)));
    assert_eq!(sw, 0x9000);
    assert_eq!(fci, h("6F 0E 8302 4404 8201 01 8002 0194 9001 12"));
    // A DF is not an EF for P1 02, an EF is not a DF for P1 00.
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 0, 0x00], &h("3F00"), Some(0))),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 2, 0x00], &h("3D00"), Some(0))),
        0x6A82
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 0, 0x00], &h("2F00"), Some(0))),
        0x6A82
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 2, 0x00], &h("2F00"), Some(0))),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 0, 0x00], &h("3D00"), Some(0))),
        0x9000
    );
    // Without Le the FCI waits behind 61xx.
    let (data, sw) = tx(&card, &apdu([0, 0xA4, 8, 0x00], &h("3F00 3D00 5032"), None));
    assert_eq!((data.len(), sw), (0, 0x6110));
    // Other P1, odd or short paths.
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 1, 0x00], &h("3D00"), Some(0))),
        0x6A86
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x00], &h("3F00"), Some(0))),
        0x6700
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 2, 0x00], &h("44"), Some(0))),
        0x6700
    );
}

#[test]
fn v10_reads_without_sfi_in_244_byte_pieces() {
    let card = card(CardFamily::V10);
    assert_eq!(select_df_v10(&card).1, 0x9000);
    assert_eq!(status(&card, &h("00B0840004")), 0x6A86, "SFI read");
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 2, 0x00], &h("4404"), Some(0))),
        0x9000
    );
    assert_eq!(status(&card, &h("00B0000000")), 0x6700, "Le 00 = 256 > 244");
    assert_eq!(status(&card, &h("00B00000F5")), 0x6700);
    assert_eq!(status(&card, &h("00B00000000100")), 0x6700, "extended Le");
    let (data, sw) = tx(&card, &h("00B00000F4"));
    assert_eq!((data.len(), sw), (244, 0x9000));
    assert_eq!(&data[..4], &h("3082012C")[..]);
    // The rest of the 404-byte EF: 160 bytes and "end of file".
    let (data, sw) = tx(&card, &h("00B000F4F4"));
    assert_eq!((data.len(), sw), (160, 0x6282));
    // GET CHALLENGE produces its answer in one piece too.
    assert_eq!(status(&card, &h("0084000000")), 0x6700);
    let (random, sw) = tx(&card, &h("00840000F4"));
    assert_eq!((random.len(), sw), (244, 0x9000));
    // More than 244 bytes of command data.
    let mut long = h("00A40800F5");
    long.extend(std::iter::repeat_n(0x3F, 245));
    assert_eq!(status(&card, &long), 0x6700);
}

#[test]
fn v10_has_no_counter_query_and_verifies_as_iso() {
    let card = card(CardFamily::V10);
    assert_eq!(status(&card, &h("00200081")), 0x6700);
    assert_eq!(status(&card, &h("00200082")), 0x6700);
    assert_eq!(tries(&card), (3, 10), "nothing spent");
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"654321", None)),
        0x63C2
    );
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(tries(&card), (3, 10));
    assert_eq!(status(&card, &apdu([0, 0x20, 0, 0x82], PUK, None)), 0x9000);
}

#[test]
fn v10_change_pin_carries_lengths() {
    let card = card(CardFamily::V10);
    let v10_change = |p1, p2, old: &[u8], new: &[u8]| {
        let mut data = vec![old.len() as u8];
        data.extend_from_slice(old);
        data.push(new.len() as u8);
        data.extend_from_slice(new);
        status(&card, &apdu([0, 0x24, p1, p2], &data, None))
    };
    // The ISO form is not a v1.0 form, and spends nothing.
    let mut iso = PIN.to_vec();
    iso.extend_from_slice(b"111111");
    assert_eq!(status(&card, &apdu([0, 0x24, 0, 0x81], &iso, None)), 0x6A86);
    // P1 02 takes the reference without bit 8; P1 01 a reference without it.
    assert_eq!(v10_change(0x02, 0x81, PIN, b"111111"), 0x6A86);
    assert_eq!(v10_change(0x01, 0x01, PIN, b"111111"), 0x6A88);
    assert_eq!(v10_change(0x03, 0x01, PIN, b"111111"), 0x6A86);
    // Lengths: inconsistent with Lc, or not the policy's: 6700, nothing spent.
    assert_eq!(
        status(
            &card,
            &apdu([0, 0x24, 2, 1], &h("06 313233343536 07 313131"), None)
        ),
        0x6700
    );
    assert_eq!(v10_change(0x02, 0x01, b"12345", b"111111"), 0x6700);
    assert_eq!(v10_change(0x02, 0x01, PIN, b"1111111"), 0x6700);
    assert_eq!(v10_change(0x02, 0x01, PIN, b"11111a"), 0x6A80);
    assert_eq!(tries(&card), (3, 10));
    // A wrong old PIN spends one try.
    assert_eq!(v10_change(0x02, 0x01, b"000000", b"111111"), 0x63C2);
    assert_eq!(tries(&card), (2, 10));
    // The right one changes the PIN (counter full again) and sets its status.
    assert_eq!(v10_change(0x02, 0x01, PIN, b"111111"), 0x9000);
    assert_eq!(tries(&card), (3, 10));
    assert!(card.is_verified(0x81));
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"111111", None)),
        0x9000
    );
    // The PUK: reference 82 → P1 02, P2 02.
    assert_eq!(v10_change(0x02, 0x02, PUK, b"87654321"), 0x9000);
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x82], b"87654321", None)),
        0x9000
    );
    // RESET RETRY COUNTER is ISO on every family.
    let mut data = b"87654321".to_vec();
    data.extend_from_slice(b"222222");
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x81], &data, None)),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"222222", None)),
        0x9000
    );
}

#[test]
fn v10_signs_after_mse_c3_in_244_byte_pieces() {
    let card = card(CardFamily::V10);
    assert_eq!(verify_pin(&card), 0x9000);
    // The ISO MSE SET DST is not a v1.0 form.
    assert_eq!(mse(&card, 1, 0x02), 0x6A86);
    assert_eq!(status(&card, &h("002241B6")), 0x6A86);
    assert_eq!(status(&card, &h("0022C309")), 0x6A88, "no key 09");
    assert_eq!(
        status(&card, &h("0022C301 01 02")),
        0x6700,
        "MSE C3 has no data"
    );
    // A failed MSE left no environment.
    let (_, info) = digest_info(b"v1.0");
    assert_eq!(
        status(&card, &apdu([0, 0x2A, 0x9E, 0x9A], &info, Some(0xF4))),
        0x6985
    );
    assert_eq!(status(&card, &h("0022C301")), 0x9000);
    let (hash, info) = digest_info(b"hello v1.0 card");
    let (first, sw) = tx(&card, &apdu([0, 0x2A, 0x9E, 0x9A], &info, Some(0xF4)));
    assert_eq!((first.len(), sw), (244, 0x610C));
    let (rest, sw) = tx(&card, &h("00C000000C"));
    assert_eq!((rest.len(), sw), (12, 0x9000));
    let signature = [first, rest].concat();
    rsa_public()
        .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &signature)
        .unwrap();
    // Le 00 asks for 256: still 244 at a time.
    let (first, sw) = tx(&card, &apdu([0, 0x2A, 0x9E, 0x9A], &info, Some(0)));
    assert_eq!((first.len(), sw), (244, 0x610C));
    // Extended APDUs do not exist on v1.0.
    assert_eq!(
        status(&card, &apdu_ext([0, 0x2A, 0x9E, 0x9A], &info, Some(0))),
        0x6700
    );
    assert_eq!(card.command_counts().signatures, 2);
}

#[test]
fn v10_keeps_logout_and_get_data() {
    let card = card(CardFamily::V10);
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(status(&card, &h("801A0000")), 0x9000);
    assert!(!card.is_verified(0x81));
    let (data, sw) = tx(&card, &h("00CA01064D"));
    assert_eq!((data.len(), sw), (0x4D, 0x9000));
    assert_eq!(&data[59..67], &SERIAL);
    let (data, sw) = tx(&card, &h("00CA01040A"));
    assert_eq!((data[6], sw), (0xA5, 0x9000));
    assert_eq!(status(&card, &h("84CA0106")), 0x6E00, "CLA 84");
    assert_eq!(
        status(&card, &h("80180000")),
        0x6D00,
        "LIST FILES is not implemented"
    );
}

#[test]
fn v1x_is_the_iso_profile_without_sfi_or_extended_length() {
    let card = card(CardFamily::V1x);
    assert_eq!(status(&card, &apdu([0, 0xA4, 4, 0x0C], &AID, None)), 0x9000);
    assert_eq!(status(&card, &h("00B0840004")), 0x6A86, "SFI read");
    assert_eq!(
        status(&card, &apdu_ext([0, 0xA4, 8, 0x0C], &h("3D00 4404"), None)),
        0x6700,
        "extended APDU"
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x0C], &h("3D00 4404"), None)),
        0x9000
    );
    let (data, sw) = tx(&card, &h("00B0000000"));
    assert_eq!((data.len(), sw), (256, 0x9000));
    // The counter query, the ISO change, the ISO MSE: today's profile.
    assert_eq!(status(&card, &h("00200081")), 0x63C3);
    let mut change = PIN.to_vec();
    change.extend_from_slice(b"111111");
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x81], &change, None)),
        0x9000
    );
    assert_eq!(mse(&card, 1, 0x02), 0x9000);
    let (hash, info) = digest_info(b"v1.x");
    let (first, sw) = tx(&card, &apdu([0, 0x2A, 0x9E, 0x9A], &info, Some(0)));
    assert_eq!((first.len(), sw), (256, 0x9000));
    rsa_public()
        .verify(Pkcs1v15Sign::new::<sha2::Sha256>(), &hash, &first)
        .unwrap();
    assert_eq!(status(&card, &h("0022C301")), 0x6A86, "the v1.0 MSE");
}

#[test]
fn v2x_refuses_the_v10_forms() {
    let card = card(CardFamily::V2x);
    assert_eq!(status(&card, &h("0022C301")), 0x6A86);
    let mut data = vec![6];
    data.extend_from_slice(PIN);
    data.push(6);
    data.extend_from_slice(b"111111");
    assert_eq!(status(&card, &apdu([0, 0x24, 2, 1], &data, None)), 0x6A86);
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x81], &data, None)),
        0x6700
    );
    assert_eq!(tries(&card), (3, 10));
    // P1 02 (EF under the current DF) is not in the v2.x profile either.
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 2, 0x00], &h("2F00"), Some(0))),
        0x6A86
    );
}

#[test]
fn received_commands_keep_headers_never_data() {
    let card = card(CardFamily::V10);
    card.transmit(&apdu([0, 0x20, 0, 0x81], PIN, None));
    card.transmit(&h("00B000"));
    card.transmit(&h("80 1A 00 00"));
    card.transmit(&h("00A40800 04 3F003D00 00"));
    let received = card.received();
    assert_eq!(received.len() as u64, card.stats().apdus);
    assert_eq!(
        received[0],
        ReceivedCommand {
            cla: 0,
            ins: 0x20,
            p1: 0,
            p2: 0x81,
            nc: 6,
            ne: None,
            well_formed: true
        }
    );
    assert!(!received[1].well_formed);
    assert_eq!(received[0].to_string(), "00 20 00 81 Nc=6 Ne=-");
    assert_eq!(received[1].to_string(), "00 B0 00 00 Nc=0 Ne=- malformed");
    assert_eq!(received[3].to_string(), "00 A4 08 00 Nc=4 Ne=256");
    let text = format!("{received:?}");
    assert!(!text.contains("49, 50, 51"), "no PIN bytes: {text}");
}
