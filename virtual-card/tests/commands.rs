//! Every command of spec §1.4 against a hand-made in-memory card: success and failure.

mod common;

use common::*;
use virtual_card::{KeyAlgorithm, VirtualCard};

fn card() -> VirtualCard {
    VirtualCard::from_image(image(&[(KeyAlgorithm::P256, false)]), None).unwrap()
}

const SELECT_AID_FCI: [u8; 4] = [0, 0xA4, 0x04, 0x00];

#[test]
fn select_by_aid_returns_fci() {
    let card = card();
    let (data, sw) = tx(&card, &apdu(SELECT_AID_FCI, &AID, Some(0)));
    assert_eq!(sw, 0x9000);
    let mut expected = vec![0x6F, 16, 0x84, 12];
    expected.extend_from_slice(&AID);
    expected.extend_from_slice(&[0xA5, 0]);
    assert_eq!(data, expected);
    // P2 0C: no data.
    assert_eq!(
        tx(&card, &apdu([0, 0xA4, 4, 0x0C], &AID, None)),
        (vec![], 0x9000)
    );
}

#[test]
fn select_without_le_leaves_fci_for_get_response() {
    let card = card();
    let (data, sw) = tx(&card, &apdu(SELECT_AID_FCI, &AID, None));
    assert_eq!((data.len(), sw), (0, 0x6112));
    let (fci, sw) = tx(&card, &h("00C0000012"));
    assert_eq!((fci[0], fci.len(), sw), (0x6F, 18, 0x9000));
}

#[test]
fn select_by_path_and_fcp() {
    let card = card();
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x0C], &h("3D00 4404"), None)),
        0x9000
    );
    let (fcp, sw) = tx(&card, &apdu([0, 0xA4, 8, 0x04], &h("3D00 4404"), Some(0)));
    assert_eq!(sw, 0x9000);
    // EF.CDF test body: 4 + 300 + 100 bytes allocated.
    assert_eq!(fcp, h("620E 8002 0194 820101 83024404 8A0105")[..]);
    let (fcp, _) = tx(&card, &apdu([0, 0xA4, 8, 0x04], &h("3D00"), Some(0)));
    assert_eq!(&fcp[..10], &h("6218 820138 83023D00 84")[..]);
    // MF by P1 00, empty data or 3F00; a child FID of the current DF.
    assert_eq!(status(&card, &h("00A4000C")), 0x9000);
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 0, 0x0C], &h("3F00"), None)),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 0, 0x0C], &h("2F00"), None)),
        0x9000
    );
    let (data, sw) = tx(&card, &h("00B0000004"));
    assert_eq!((data, sw), (h("30820014"), 0x9000));
}

#[test]
fn select_errors() {
    let card = card();
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x0C], &h("3D00 4499"), None)),
        0x6A82
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 4, 0x0C], &h("A000000063"), None)),
        0x6A82
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 2, 0x0C], &h("3D00"), None)),
        0x6A86
    );
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x08], &h("3D00"), None)),
        0x6A86
    );
    assert_eq!(status(&card, &h("00A4040C")), 0x6700);
    assert_eq!(status(&card, &h("00A4080C")), 0x6700);
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x0C], &h("3D0044"), None)),
        0x6700
    );
}

#[test]
fn read_binary_offsets_and_end_of_file() {
    let card = card();
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x0C], &h("3D00 5031"), None)),
        0x9000
    );
    // EF.ODF test body: 30 82 00 28, 40 x 11, 24 x 00 = 68 bytes.
    let (data, sw) = tx(&card, &h("00B0000004"));
    assert_eq!((data, sw), (h("30820028"), 0x9000));
    let (data, sw) = tx(&card, &h("00B0000402"));
    assert_eq!((data, sw), (vec![0x11, 0x11], 0x9000));
    // Le 00 = 256: the file ends first.
    let (data, sw) = tx(&card, &h("00B0004000"));
    assert_eq!((data.len(), sw), (68 - 64, 0x6282));
    assert_eq!(sw_of(&card, "00B0004400"), 0x6B00);
    assert_eq!(sw_of(&card, "00B07F0001"), 0x6B00);
    assert_eq!(sw_of(&card, "00B00000"), 0x6700, "no Le");
}

fn sw_of(card: &VirtualCard, hex: &str) -> u16 {
    status(card, &h(hex))
}

#[test]
fn read_binary_by_sfi() {
    let card = card();
    assert_eq!(status(&card, &apdu([0, 0xA4, 4, 0x0C], &AID, None)), 0x9000);
    // SFI 04 = EF.CDF 4404; 404 bytes, read with extended Le.
    let (data, sw) = tx(&card, &apdu_ext([0, 0xB0, 0x84, 0], &[], Some(1024)));
    assert_eq!((data.len(), sw), (404, 0x6282));
    assert_eq!(&data[..4], &h("3082012C")[..]);
    assert!(data[4..304].iter().all(|b| *b == 0x04));
    // The SFI read made 4404 the current EF: an offset read continues in it.
    let (data, sw) = tx(&card, &h("00B0012C02"));
    assert_eq!((data, sw), (vec![0x04, 0x04], 0x9000));
    // SFI 0x11 = 5031, offset in P2.
    let (data, _) = tx(&card, &h("00B0910202"));
    assert_eq!(data, vec![0x00, 0x28]);
    assert_eq!(sw_of(&card, "00B0930001"), 0x6A82, "SFI 13 does not exist");
    assert_eq!(sw_of(&card, "00B0C40001"), 0x6A86, "P1 bits 7-6 must be 0");
}

#[test]
fn read_binary_without_current_ef() {
    let card = card();
    assert_eq!(
        sw_of(&card, "00B0000001"),
        0x6986,
        "after power-on nothing is selected"
    );
    assert_eq!(status(&card, &apdu([0, 0xA4, 4, 0x0C], &AID, None)), 0x9000);
    assert_eq!(
        sw_of(&card, "00B0000001"),
        0x6981,
        "the current file is a DF"
    );
    // SFI of a file in another DF: not found from the MF.
    assert_eq!(status(&card, &h("00A4000C")), 0x9000);
    assert_eq!(sw_of(&card, "00B0840001"), 0x6A82);
}

#[test]
fn get_response_errors_and_discarding() {
    let card = card();
    assert_eq!(sw_of(&card, "00C0000010"), 0x6985, "nothing pending");
    assert_eq!(tx(&card, &apdu(SELECT_AID_FCI, &AID, Some(4))).1, 0x610E);
    // Pieces: 4 bytes, then 10 of the remaining 14, then 4.
    let (part, sw) = tx(&card, &h("00C000000A"));
    assert_eq!((part.len(), sw), (10, 0x6104));
    assert_eq!(sw_of(&card, "00C0010004"), 0x6A86);
    assert_eq!(sw_of(&card, "00C00000"), 0x6700);
    let (part, sw) = tx(&card, &h("00C0000000"));
    assert_eq!((part.len(), sw), (4, 0x9000));
    assert_eq!(sw_of(&card, "00C0000004"), 0x6985);
    // Any other command discards pending data.
    assert_eq!(tx(&card, &apdu(SELECT_AID_FCI, &AID, Some(4))).1, 0x610E);
    assert_eq!(sw_of(&card, "0084000008"), 0x9000);
    assert_eq!(sw_of(&card, "00C000000E"), 0x6985);
}

#[test]
fn verify_counts_down_and_blocks() {
    let card = card();
    let wrong = apdu([0, 0x20, 0, 0x81], b"000000", None);
    assert_eq!(sw_of(&card, "00200081"), 0x63C3, "query");
    assert_eq!(status(&card, &wrong), 0x63C2);
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(sw_of(&card, "00200081"), 0x9000, "query while verified");
    assert_eq!(
        card.status().pin.unwrap().tries_left,
        3,
        "success restores the counter"
    );
    assert_eq!(status(&card, &wrong), 0x63C2);
    assert_eq!(status(&card, &wrong), 0x63C1);
    assert_eq!(status(&card, &wrong), 0x63C0);
    assert_eq!(
        verify_pin(&card),
        0x6983,
        "blocked: the right PIN is refused"
    );
    assert_eq!(sw_of(&card, "00200081"), 0x6983);
    assert!(card.status().pin.unwrap().blocked());
    assert!(!card.is_verified(0x81), "blocking clears the status");
}

#[test]
fn verify_rejects_garbage_without_spending_a_try() {
    let card = card();
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"12345", None)),
        0x6700
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"1234567", None)),
        0x6700
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"12a456", None)),
        0x6A80
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x82], b"1234567\0", None)),
        0x6A80
    );
    assert_eq!(card.status().pin.unwrap().tries_left, 3);
    assert_eq!(card.status().puk.unwrap().tries_left, 10);
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x83], b"123456", None)),
        0x6A88
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 1, 0x81], b"123456", None)),
        0x6A86
    );
}

#[test]
fn puk_has_ten_tries_and_blocks_for_good() {
    let card = card();
    let wrong = apdu([0, 0x20, 0, 0x82], b"00000000", None);
    for left in (0..10).rev() {
        assert_eq!(status(&card, &wrong), 0x63C0 | left);
    }
    assert_eq!(status(&card, &apdu([0, 0x20, 0, 0x82], PUK, None)), 0x6983);
    let mut data = PUK.to_vec();
    data.extend_from_slice(b"111111");
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x81], &data, None)),
        0x6983
    );
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 2, 0x81], b"111111", None)),
        0x6983
    );
    let mut change = PUK.to_vec();
    change.extend_from_slice(b"87654321");
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x82], &change, None)),
        0x6983
    );
    assert!(card.status().puk.unwrap().blocked());
    assert_eq!(
        card.status().pin.unwrap().tries_left,
        3,
        "the PIN is untouched"
    );
}

#[test]
fn change_reference_data() {
    let card = card();
    let change = |old: &[u8], new: &[u8]| {
        let mut data = old.to_vec();
        data.extend_from_slice(new);
        status(&card, &apdu([0, 0x24, 0, 0x81], &data, None))
    };
    assert_eq!(
        change(b"123456", b"65432a"),
        0x6A80,
        "letters in the new PIN"
    );
    assert_eq!(change(b"12345", b"654321"), 0x6700, "lengths are fixed");
    assert_eq!(card.status().pin.unwrap().tries_left, 3);
    assert_eq!(change(b"123456", b"654321"), 0x9000);
    assert!(card.is_verified(0x81), "success sets the security status");
    assert_eq!(verify_pin(&card), 0x63C2, "the old PIN is gone");
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"654321", None)),
        0x9000
    );
    assert_eq!(change(b"000000", b"111111"), 0x63C2);
    assert!(
        !card.is_verified(0x81),
        "a failed change clears the PIN status"
    );
    // PUK change.
    let mut data = PUK.to_vec();
    data.extend_from_slice(b"87654321");
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x82], &data, None)),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x82], b"87654321", None)),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0x24, 1, 0x81], b"123456", None)),
        0x6A86
    );
    assert_eq!(
        status(&card, &apdu([0, 0x24, 0, 0x85], b"123456123456", None)),
        0x6A88
    );
}

#[test]
fn reset_retry_counter_with_puk_in_command() {
    let card = card();
    for _ in 0..3 {
        status(&card, &apdu([0, 0x20, 0, 0x81], b"000000", None));
    }
    assert!(card.status().pin.unwrap().blocked());
    let mut data = b"00000000".to_vec();
    data.extend_from_slice(b"111111");
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x81], &data, None)),
        0x63C9,
        "wrong PUK"
    );
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x81], b"12345678111", None)),
        0x6700
    );
    let mut data = PUK.to_vec();
    data.extend_from_slice(b"11111x");
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x81], &data, None)),
        0x6A80
    );
    assert_eq!(
        card.status().puk.unwrap().tries_left,
        9,
        "garbage cost nothing"
    );
    let mut data = PUK.to_vec();
    data.extend_from_slice(b"111111");
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x81], &data, None)),
        0x9000
    );
    let counters = card.status();
    assert_eq!(
        (
            counters.pin.unwrap().tries_left,
            counters.puk.unwrap().tries_left
        ),
        (3, 10)
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"111111", None)),
        0x9000
    );
    assert_eq!(status(&card, &apdu([0, 0x2C, 3, 0x81], b"", None)), 0x6A86);
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 0, 0x82], &data, None)),
        0x6A86
    );
}

#[test]
fn reset_retry_counter_unblock_only_keeps_pin() {
    let card = card();
    for _ in 0..3 {
        status(&card, &apdu([0, 0x20, 0, 0x81], b"000000", None));
    }
    assert_eq!(status(&card, &apdu([0, 0x2C, 1, 0x81], PUK, None)), 0x9000);
    assert_eq!(verify_pin(&card), 0x9000);
}

#[test]
fn reset_retry_counter_after_puk_verification() {
    let card = card();
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 2, 0x81], b"222222", None)),
        0x6982
    );
    assert_eq!(status(&card, &apdu([0, 0x20, 0, 0x82], PUK, None)), 0x9000);
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 2, 0x81], b"22222", None)),
        0x6700
    );
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 2, 0x81], b"222222", None)),
        0x9000
    );
    assert_eq!(
        status(&card, &apdu([0, 0x20, 0, 0x81], b"222222", None)),
        0x9000
    );
    // The PUK status does not survive a reset.
    card.reset();
    assert_eq!(
        status(&card, &apdu([0, 0x2C, 2, 0x81], b"333333", None)),
        0x6982
    );
}

#[test]
fn logout_reset_and_power_clear_security_status() {
    let card = card();
    for clear in [
        &(|c: &VirtualCard| assert_eq!(status(c, &h("801A0000")), 0x9000)) as &dyn Fn(&VirtualCard),
        &|c: &VirtualCard| {
            c.reset();
        },
        &|c: &VirtualCard| {
            c.power_off();
            c.power_on();
        },
        &|c: &VirtualCard| {
            c.remove();
            c.insert();
            c.power_on();
        },
    ] {
        assert_eq!(verify_pin(&card), 0x9000);
        assert_eq!(status(&card, &apdu([0, 0x20, 0, 0x82], PUK, None)), 0x9000);
        clear(&card);
        assert!(!card.is_verified(0x81) && !card.is_verified(0x82));
        assert_eq!(sw_of(&card, "00200081"), 0x63C3);
    }
    assert_eq!(sw_of(&card, "801A0001"), 0x6A86);
    assert_eq!(sw_of(&card, "801A000001"), 0x9000, "Le is ignored");
}

#[test]
fn get_challenge() {
    let card = card();
    let (a, sw) = tx(&card, &h("0084000008"));
    assert_eq!((a.len(), sw), (8, 0x9000));
    let (b, _) = tx(&card, &h("0084000000"));
    assert_eq!(b.len(), 256);
    let (c, _) = tx(&card, &h("0084000020"));
    let (d, _) = tx(&card, &h("0084000020"));
    assert_ne!(c, d, "random");
    let (e, sw) = tx(&card, &apdu_ext([0, 0x84, 0, 0], &[], Some(3000)));
    assert_eq!((e.len(), sw), (3000, 0x9000));
    assert_eq!(sw_of(&card, "00840000"), 0x6700);
    assert_eq!(sw_of(&card, "0084010008"), 0x6A86);
}

#[test]
fn get_data_serial_and_life_cycle() {
    let card = card();
    let (data, sw) = tx(&card, &h("00CA010600"));
    assert_eq!((data.len(), sw), (0x4D, 0x9000));
    assert_eq!(&data[59..67], &SERIAL, "right-aligned in bytes 55..=66");
    assert!(data[55..59].iter().all(|b| *b == 0));
    let (data, _) = tx(&card, &h("00CA010400"));
    assert_eq!(data[6], 0xA5);
    assert_eq!(sw_of(&card, "00CA010700"), 0x6A88);
    assert_eq!(sw_of(&card, "00CA020600"), 0x6A86);
    // Short Le smaller than the data: the rest follows with GET RESPONSE.
    let (data, sw) = tx(&card, &h("00CA010640"));
    assert_eq!((data.len(), sw), (0x40, 0x610D));
}

#[test]
fn unknown_class_and_instruction() {
    let card = card();
    assert_eq!(sw_of(&card, "0CA4000C"), 0x6E00, "secure messaging class");
    assert_eq!(sw_of(&card, "FFCA000000"), 0x6E00);
    assert_eq!(sw_of(&card, "00FE0000"), 0x6D00);
    assert_eq!(sw_of(&card, "80A4000C"), 0x6D00);
    assert_eq!(
        sw_of(&card, "001A0000"),
        0x6D00,
        "LOGOUT is proprietary (CLA 80)"
    );
}

#[test]
fn malformed_apdus_change_nothing() {
    let card = card();
    assert_eq!(verify_pin(&card), 0x9000);
    assert_eq!(tx(&card, &apdu(SELECT_AID_FCI, &AID, Some(4))).1, 0x610E);
    let mut oversized = h("002A9E9A000401");
    oversized.extend(std::iter::repeat_n(0, 1025));
    for bad in [
        h(""),
        h("00"),
        h("00A404"),
        h("00A4040C05A000"),
        h("00A4040C01A00000"),
        h("00A40400000002A0"),
        h("002000810000"),
        oversized,
        // A VERIFY with a wrong PIN but a broken length field: must not spend a try.
        h("0020008107303030303030"),
    ] {
        assert_eq!(status(&card, &bad), 0x6700, "{bad:02X?}");
    }
    assert_eq!(card.status().pin.unwrap().tries_left, 3);
    assert!(card.is_verified(0x81));
    let (rest, sw) = tx(&card, &h("00C000000E"));
    assert_eq!((rest.len(), sw), (14, 0x9000), "pending data survived");
}

#[test]
fn fuzzed_apdus_never_panic_and_always_answer() {
    let card = card();
    let mut seed = 0x1234_5678_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let instructions = [
        0xA4, 0xB0, 0xC0, 0x20, 0x24, 0x2C, 0x1A, 0x22, 0x2A, 0x84, 0xCA,
    ];
    for _ in 0..3000 {
        let len = (next() % 24) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 2 {
            bytes[0] = if next() % 2 == 0 { 0x00 } else { 0x80 };
            bytes[1] = instructions[next() as usize % instructions.len()];
        }
        let response = card.transmit(&bytes);
        assert!(response.len() >= 2, "{bytes:02X?}");
    }
}

#[test]
fn folders_without_their_own_node_are_dfs() {
    let mut image = image(&[]);
    image
        .files
        .retain(|f| f.path != [0x3F00] && f.path != [0x3F00, 0x3D00]);
    let card = VirtualCard::from_image(image, None).unwrap();
    assert_eq!(
        status(&card, &apdu([0, 0xA4, 8, 0x0C], &h("3D00"), None)),
        0x9000
    );
    assert_eq!(sw_of(&card, "00B0000001"), 0x6981, "a DF is current");
    assert_eq!(tx(&card, &h("00B0910202")), (h("0028"), 0x9000));
    assert_eq!(sw_of(&card, "00A4000C"), 0x9000);
}
