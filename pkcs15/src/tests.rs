use super::*;

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).expect("test hex"))
        .collect()
}

use crate::fixture::{self, user_pin};

/// The fixture card's PUK with every optional field a PIN object can carry.
fn puk() -> PinObject {
    let mut puk = fixture::puk();
    puk.attributes.pad_char = Some(0xFF);
    puk.attributes.path = Some(Path::new(&[0x3F, 0x00, 0x3D, 0x00]));
    puk
}

/// The fixture card's key 1 as an RSA-2048 key with userConsent, every access flag
/// and a path.
fn rsa_key() -> PrivateKeyObject {
    let mut key = fixture::Key {
        key_ref: 1,
        kind: KeyKind::Rsa {
            modulus_length: 2048,
        },
        spki: Vec::new(),
        user_consent: true,
    }
    .private_key_object();
    key.key.access_flags = key_access::SENSITIVE
        | key_access::ALWAYS_SENSITIVE
        | key_access::NEVER_EXTRACTABLE
        | key_access::LOCAL;
    key.path = Some(Path::new(&[0x3F, 0x00, 0x3D, 0x00]));
    key
}

/// The fixture card's key 2 as a P-384 key for signing only, with a path.
fn ec_key() -> PrivateKeyObject {
    let mut key = fixture::Key {
        key_ref: 2,
        kind: fixture::ec_kind(384),
        spki: Vec::new(),
        user_consent: false,
    }
    .private_key_object();
    key.key.usage = key_usage::SIGN;
    key.path = Some(Path::new(&[0x3F, 0x00, 0x3D, 0x00]));
    key
}

#[test]
fn pin_object_matches_hand_encoding() {
    // Built by hand from the ASN.1 (the fixture card's user PIN):
    // 30 2B                                  PIN AuthenticationObject
    //   30 0C 0C 03 "PIN"                    CommonObjectAttributes label,
    //         03 02 07 80 04 01 02             flags private(0), authId 02
    //   30 03 04 01 01                       CommonAuthenticationObjectAttributes authId 01
    //   A1 16 30 14                          [1] typeAttributes, PinAttributes
    //     03 02 03 48                        pinFlags local(1) initialized(4)
    //     0A 01 01                           pinType ascii-numeric
    //     02 01 06  02 01 06  02 01 06       min / stored / max length
    //     80 02 00 81                        pinReference [0] 129
    let expected = hex(
        "302B 300C 0C03 50494E 03020780 040102 3003 040101 A116 3014 03020348 0A0101
         020106 020106 020106 80020081",
    );
    assert_eq!(user_pin().encode(), expected);
    assert_eq!(parse_aodf(&expected).unwrap(), vec![user_pin()]);
}

#[test]
fn odf_and_token_info_hand_vectors() {
    // [8] authObjects { Path { 3F00 3D00 4401, index 0, length [0] 256 } }
    let odf = hex("A811 300F 0406 3F003D004401 020100 80020100");
    let entry = OdfEntry {
        kind: OdfKind::AuthObjects,
        path: Path::with_length(&[0x3F, 0x00, 0x3D, 0x00, 0x44, 0x01], 256),
    };
    assert_eq!(entry.encode(), odf);
    assert_eq!(parse_odf(&odf).unwrap(), vec![entry]);

    // TokenInfo { version 0, serial 01 02, manufacturer "M", label [0] "L",
    //             tokenflags loginRequired(1) prnGeneration(2), lastUpdate [5] { GT } }
    let info = TokenInfo {
        version: 0,
        serial_number: vec![1, 2],
        manufacturer_id: Some("M".into()),
        label: Some("L".into()),
        token_flags: token_flags::LOGIN_REQUIRED | token_flags::PRN_GENERATION,
        last_update: Some("20261124120000Z".into()),
    };
    let expected = hex("3024 020100 04020102 0C014D 80014C 03020560
         A511 180F 3230323631313234313230303030 5A");
    assert_eq!(info.encode().unwrap(), expected);
    assert_eq!(parse_token_info(&expected).unwrap(), info);
}

#[test]
fn round_trips() {
    let pins = vec![user_pin(), puk()];
    assert_eq!(parse_aodf(&encode_aodf(&pins)).unwrap(), pins);

    let keys = vec![rsa_key(), ec_key()];
    let prkdf = encode_prkdf(&keys);
    assert_eq!(parse_prkdf(&prkdf).unwrap(), keys);
    // privateECKey is [0] IMPLICIT on the object SEQUENCE.
    let second = &prkdf[der_total_length(&prkdf).unwrap()..];
    assert_eq!(second[0], 0xA0);

    let pubs: Vec<PublicKeyObject> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| PublicKeyObject {
            common: CommonObjectAttributes {
                label: k.common.label.clone(),
                ..Default::default()
            },
            key: CommonKeyAttributes {
                id: k.key.id.clone(),
                usage: key_usage::VERIFY,
                native: false,
                access_flags: 0,
                key_reference: None,
            },
            kind: k.kind.clone(),
            value: ObjectValue::Path(Path::with_length(&[0x42, 0x15 + i as u8], 300 + i as u32)),
        })
        .collect();
    assert_eq!(parse_pukdf(&encode_pukdf(&pubs)).unwrap(), pubs);

    let certs = vec![
        CertificateObject {
            common: CommonObjectAttributes {
                label: Some("12345678950NES0".into()),
                ..Default::default()
            },
            id: vec![0xAB; 20],
            authority: false,
            value: ObjectValue::Path(Path::with_length(&[0x3F, 0, 0x3D, 0, 0x43, 0x05], 1500)),
        },
        CertificateObject {
            common: CommonObjectAttributes {
                label: Some("TEST NES CA".into()),
                ..Default::default()
            },
            id: vec![0xCD; 20],
            authority: true,
            value: ObjectValue::Direct(vec![1, 2, 3]),
        },
    ];
    assert_eq!(parse_cdf(&encode_cdf(&certs)).unwrap(), certs);

    let dir = vec![DirRecord {
        aid: hex("A000000063504B43532D3135"),
        label: Some("AKIS e-imza".into()),
        path: Some(vec![0x3F, 0x00, 0x3D, 0x00]),
    }];
    assert_eq!(parse_dir_records(&encode_dir_records(&dir)).unwrap(), dir);

    let odf = vec![
        OdfEntry {
            kind: OdfKind::PrivateKeys,
            path: Path::with_length(&[0x44, 0x02], 10),
        },
        OdfEntry {
            kind: OdfKind::Certificates,
            path: Path::new(&[0x44, 0x04]),
        },
    ];
    assert_eq!(parse_odf(&encode_odf(&odf)).unwrap(), odf);
}

#[test]
fn padding_ends_directory_files() {
    let mut data = encode_aodf(&[user_pin(), puk()]);
    let content_len = data.len();
    data.extend(std::iter::repeat_n(0x00, 100));
    assert_eq!(parse_aodf(&data).unwrap().len(), 2);
    data.truncate(content_len);
    data.extend(std::iter::repeat_n(0xFF, 3));
    assert_eq!(parse_aodf(&data).unwrap().len(), 2);
    // TokenInfo: everything after the first TLV is ignored.
    let mut ti = hex("300A 020100 040101 03020560");
    ti.extend([0u8; 40]);
    assert_eq!(parse_token_info(&ti).unwrap().serial_number, vec![1]);
    assert_eq!(parse_odf(&[0u8; 16]).unwrap(), vec![]);
}

#[test]
fn unknown_fields_and_objects_are_skipped() {
    // CommonObjectAttributes with an unknown [5] field in the middle and an
    // accessControlRules SEQUENCE at the end; PinAttributes with lastPinChange; an
    // unknown biometric [0] object before the PIN; an unknown ODF [9] entry.
    let pin = hex("A003 020101
         3034 3010 0C03 50494E 8502 AAAA 040102 3002 0500
              3003 040101
              A11B 3019 03020348 0A0101 020106 020106
                   80020081 1802 3132 9F2001 00");
    let parsed = parse_aodf(&pin).unwrap();
    assert_eq!(parsed.len(), 1);
    let p = &parsed[0];
    assert_eq!(p.common.label.as_deref(), Some("PIN"));
    assert_eq!(p.common.auth_id, Some(vec![2]));
    assert_eq!(p.attributes.max_length, None);
    assert_eq!(p.attributes.reference, 0x81);

    let odf = hex("A906 3004 04024400 A006 3004 04024402");
    let entries = parse_odf(&odf).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].kind, OdfKind::Other(9));
    assert_eq!(entries[1].kind, OdfKind::PrivateKeys);

    // Minimal RSA key: no flags, no keyReference, native FALSE given explicitly,
    // reference written as one negative byte by an old encoder.
    let key = hex("3029 3000 300F 0401 45 03020520 010100 020181 0500
         A114 3012 3004 04023F00 02020800 3006 020101 0401 00");
    let keys = parse_prkdf(&key).unwrap();
    assert_eq!(keys[0].key.id, vec![0x45]);
    assert!(!keys[0].key.native);
    assert_eq!(keys[0].key.key_reference, Some(0x81));
    assert_eq!(
        keys[0].kind,
        KeyKind::Rsa {
            modulus_length: 2048
        }
    );
    assert_eq!(keys[0].key.usage, key_usage::SIGN);
}

#[test]
fn truncated_and_malformed_input_is_an_error() {
    let full = encode_prkdf(&[rsa_key(), ec_key()]);
    for cut in 1..full.len() {
        // Cutting inside the second object at its start looks like the end of the file
        // only if the cut lands exactly on a boundary; everything else must fail.
        let r = parse_prkdf(&full[..cut]);
        let boundary = der_total_length(&full).unwrap();
        if cut == boundary {
            assert_eq!(r.unwrap().len(), 1);
        } else {
            assert_eq!(r.map(|_| ()), Err(Error::Truncated), "cut at {cut}");
        }
    }
    assert_eq!(parse_token_info(&[]), Err(Error::Truncated));
    assert!(matches!(
        parse_token_info(&hex("0400")),
        Err(Error::UnexpectedTag { .. })
    ));
    // Indefinite length and over-long length fields.
    assert_eq!(
        parse_aodf(&hex("3080 0000")).map(|_| ()),
        Err(Error::Invalid("indefinite length"))
    );
    assert_eq!(
        parse_aodf(&hex("3085 0000000001 00")).map(|_| ()),
        Err(Error::Invalid("length field too long"))
    );
    // Mandatory field missing: PinAttributes without pinType.
    let no_type = hex("3015 3000 3003 040101 A10C 300A 03020348 020106 020106");
    assert_eq!(parse_aodf(&no_type), Err(Error::Missing("pinType")));
    // Huge declared length must not allocate or panic.
    assert_eq!(parse_cdf(&hex("3084FFFFFFFF")), Err(Error::Truncated));
}

#[test]
fn no_panic_on_arbitrary_bytes() {
    // Cheap deterministic fuzz: every parser over pseudo-random buffers and over every
    // single-byte mutation of a valid file.
    let mut state = 0x1234_5678u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let run_all = |data: &[u8]| {
        let _ = parse_dir_records(data);
        let _ = parse_odf(data);
        let _ = parse_token_info(data);
        let _ = parse_aodf(data);
        let _ = parse_prkdf(data);
        let _ = parse_pukdf(data);
        let _ = parse_cdf(data);
        let _ = der_total_length(data);
    };
    for _ in 0..2000 {
        let len = (next() % 64) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        run_all(&data);
    }
    let valid = encode_prkdf(&[rsa_key(), ec_key()]);
    for i in 0..valid.len() {
        for v in [0x00, 0x30, 0x80, 0x84, 0xFF] {
            let mut m = valid.clone();
            m[i] = v;
            run_all(&m);
        }
    }
}

#[test]
fn der_total_length_reads_headers() {
    assert_eq!(der_total_length(&hex("3003")), Some(5));
    assert_eq!(der_total_length(&hex("308201F4")), Some(4 + 500));
    assert_eq!(der_total_length(&hex("5F2D02")), Some(5));
    assert_eq!(der_total_length(&hex("3082")), None);
    assert_eq!(der_total_length(&hex("30")), None);
    assert_eq!(der_total_length(&hex("3080")), None);
    assert_eq!(der_total_length(&hex("0000")), None);
}

#[test]
fn bit_strings_are_minimal_der() {
    assert_eq!(tlv::bit_flags(0x03, 0), hex("030100"));
    assert_eq!(
        tlv::bit_flags(0x03, key_usage::SIGN | key_usage::NON_REPUDIATION),
        hex("0303062040")
    );
    assert_eq!(tlv::decode_bit_flags(&hex("062040")).unwrap(), 0x204);
    assert_eq!(generalized_time_from_unix(0).unwrap(), "19700101000000Z");
}

#[test]
fn paths_resolve_to_fids() {
    let absolute = Path::new(&hex("3F003D004404"));
    assert_eq!(
        absolute.absolute_fids(&[0x3F00, 0x3D00]),
        Some(vec![0x3F00, 0x3D00, 0x4404])
    );
    let relative = Path::new(&hex("4404"));
    assert_eq!(
        relative.absolute_fids(&[0x3F00, 0x3D00]),
        Some(vec![0x3F00, 0x3D00, 0x4404])
    );
    assert_eq!(Path::new(&hex("3F003D")).fids(), None);
    assert_eq!(Path::new(&[]).absolute_fids(&[0x3F00]), None);
    let odf = parse_odf(&hex("A000 A406 3004 04024404")).unwrap();
    assert_eq!(odf.len(), 1);
    assert_eq!(
        odf_path(&odf, OdfKind::Certificates),
        Some(&Path::new(&hex("4404")))
    );
    assert_eq!(odf_path(&odf, OdfKind::PrivateKeys), None);
}

/// Found by fuzzing (fuzz/fuzz_targets/pkcs15.rs): an EC key without a path is written
/// with an empty Path SEQUENCE; reading it back must keep the curve from keyInfo.
#[test]
fn ec_private_key_without_path_keeps_its_curve() {
    let key = PrivateKeyObject {
        common: CommonObjectAttributes::default(),
        key: CommonKeyAttributes {
            id: vec![1],
            usage: 0,
            native: true,
            access_flags: 0,
            key_reference: Some(1),
        },
        kind: KeyKind::Ec {
            field_size: None,
            curve: Some(curves::P256),
        },
        path: None,
    };
    let decoded = parse_prkdf(&encode_prkdf(std::slice::from_ref(&key))).expect("decode");
    assert_eq!(decoded, vec![key]);
}
