use super::*;
use der::{Decode, Encode, EncodePem};
use std::path::Path as FsPath;
use std::process::Command;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "eimza-personalise-{}-{name}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn file<'a>(image: &'a CardImage, path: &[u16]) -> &'a [u8] {
    image
        .files
        .iter()
        .find(|f| f.path == path)
        .and_then(|f| f.body.as_deref())
        .unwrap_or_else(|| panic!("no EF {path:04X?}"))
}

/// Content of the EF a PKCS#15 path with length points to; checks the rest is padding.
fn read_path<'a>(image: &'a CardImage, path: &p15::Path) -> &'a [u8] {
    assert_eq!(path.path.len(), 6, "absolute path 3F00 3D00 xxxx");
    assert_eq!(&path.path[..4], &[0x3F, 0x00, 0x3D, 0x00]);
    let fid = u16::from_be_bytes([path.path[4], path.path[5]]);
    let body = file(image, &[MF, DF_PKCS15, fid]);
    let len = path.length.expect("every path carries its length") as usize;
    assert_eq!(path.index, Some(0));
    assert!(body.len() >= len + 256, "allocated larger than content");
    assert_eq!(body.len() % 256, 0);
    assert!(body[len..].iter().all(|&b| b == 0), "00 padding");
    &body[..len]
}

fn point_or_modulus_id(algorithm: KeyAlgorithm, pkcs8: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
    use rsa::traits::PublicKeyParts;
    match algorithm {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
            let key = rsa::PrivateKey::from_pkcs8_der(pkcs8).expect("RSA PKCS#8");
            let public = key.to_public_key();
            let bits = if algorithm == KeyAlgorithm::Rsa2048 {
                2048
            } else {
                3072
            };
            assert_eq!(public.n_bytes().len() * 8, bits);
            assert_eq!(public.e_bytes().as_ref(), &[0x01, 0x00, 0x01]);
            (
                Sha1::digest(public.n_bytes()).to_vec(),
                public.to_public_key_der().unwrap().into_vec(),
            )
        }
        KeyAlgorithm::P256 => {
            use p256::elliptic_curve::sec1::ToSec1Point;
            let key = p256::SecretKey::from_pkcs8_der(pkcs8).expect("P-256 PKCS#8");
            let point = key.public_key().to_sec1_point(false);
            assert_eq!(point.as_bytes().len(), 65);
            (
                Sha1::digest(point.as_bytes()).to_vec(),
                key.public_key().to_public_key_der().unwrap().into_vec(),
            )
        }
        KeyAlgorithm::P384 => {
            use p384::elliptic_curve::sec1::ToSec1Point;
            let key = p384::SecretKey::from_pkcs8_der(pkcs8).expect("P-384 PKCS#8");
            let point = key.public_key().to_sec1_point(false);
            assert_eq!(point.as_bytes().len(), 97);
            (
                Sha1::digest(point.as_bytes()).to_vec(),
                key.public_key().to_public_key_der().unwrap().into_vec(),
            )
        }
    }
}

fn write_pem(dir: &FsPath, name: &str, der: &[u8]) -> PathBuf {
    let cert = x509_cert::Certificate::from_der(der).expect("certificate DER");
    let path = dir.join(name);
    std::fs::write(&path, cert.to_pem(der::pem::LineEnding::LF).unwrap()).unwrap();
    path
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Decodes every PKCS#15 file of `image` and checks it against the keys and spec §1.5.
/// Returns (root DER, NES CA DER, end-user cert DERs).
fn check_image(image: &CardImage, options: &CreateOptions) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let dirs = p15::parse_dir_records(file(image, &[MF, EF_DIR])).unwrap();
    assert_eq!(dirs.len(), 1);
    assert_eq!(dirs[0].aid, PKCS15_AID);
    assert_eq!(dirs[0].path.as_deref(), Some(&[0x3F, 0x00, 0x3D, 0x00][..]));
    let df = image
        .files
        .iter()
        .find(|f| f.path == [MF, DF_PKCS15])
        .unwrap();
    assert_eq!(df.df_name.as_deref(), Some(&PKCS15_AID[..]));
    assert!(df.body.is_none());

    let odf_body = file(image, &[MF, DF_PKCS15, EF_ODF]);
    let odf = p15::parse_odf(odf_body).unwrap();
    let find = |kind| {
        let entry = odf.iter().find(|e| e.kind == kind).expect("ODF entry");
        read_path(image, &entry.path)
    };
    let aodf = p15::parse_aodf(find(p15::OdfKind::AuthObjects)).unwrap();
    let prkdf = p15::parse_prkdf(find(p15::OdfKind::PrivateKeys)).unwrap();
    let pukdf = p15::parse_pukdf(find(p15::OdfKind::PublicKeys)).unwrap();
    let cdf = p15::parse_cdf(find(p15::OdfKind::Certificates)).unwrap();
    // The padded whole files decode to the same objects.
    assert_eq!(
        p15::parse_prkdf(file(image, &[MF, DF_PKCS15, EF_PRKDF])).unwrap(),
        prkdf
    );

    let info = p15::parse_token_info(file(image, &[MF, DF_PKCS15, EF_TOKEN_INFO])).unwrap();
    assert_eq!(info.serial_number, image.serial);
    assert_eq!(
        info.label,
        Some(format!("AKIS_{}", hex_upper(&image.serial)))
    );
    assert_eq!(info.manufacturer_id.as_deref(), Some(MANUFACTURER));
    // YYYYMMDDHHMMSS[.fraction]Z, the fraction without trailing zeros (DER).
    let time = info.last_update.clone().expect("lastUpdate");
    assert!(time[..14].bytes().all(|b| b.is_ascii_digit()), "{time}");
    assert!(time.ends_with('Z'), "{time}");
    if let Some(fraction) = time.get(15..time.len() - 1) {
        assert_eq!(&time[14..15], ".", "{time}");
        assert!(!fraction.is_empty() && !fraction.ends_with('0'), "{time}");
    }

    assert_eq!(aodf.len(), 2);
    let (pin, puk) = (&aodf[0], &aodf[1]);
    assert_eq!(pin.auth_id, Some(vec![1]));
    assert_eq!(pin.common.auth_id, Some(vec![2]));
    assert_eq!(pin.attributes.reference, 0x81);
    assert_eq!(pin.attributes.pin_type, p15::PinType::AsciiNumeric);
    assert_eq!(
        (
            pin.attributes.min_length,
            pin.attributes.stored_length,
            pin.attributes.max_length
        ),
        (6, 6, Some(6))
    );
    assert_eq!(puk.auth_id, Some(vec![2]));
    assert_eq!(puk.attributes.reference, 0x82);
    assert_eq!(puk.attributes.max_length, Some(8));
    let puk_flags = p15::pin_flags::UNBLOCKING_PIN | p15::pin_flags::SO_PIN;
    assert_eq!(puk.attributes.flags & puk_flags, puk_flags);
    assert_eq!(pin.attributes.flags & puk_flags, 0);

    assert_eq!(image.pins.len(), 2);
    assert_eq!(image.pins[0].value.as_slice(), options.pin.as_bytes());
    assert_eq!(
        (image.pins[0].reference, image.pins[0].max_tries),
        (0x81, 3)
    );
    assert_eq!(image.pins[1].value.as_slice(), options.puk.as_bytes());
    assert_eq!(
        (image.pins[1].reference, image.pins[1].tries_left),
        (0x82, 10)
    );

    let n = options.keys.len();
    assert_eq!((image.keys.len(), prkdf.len(), pukdf.len()), (n, n, n));
    assert_eq!(cdf.len(), n + 2);
    let mut leaves = Vec::new();
    for (i, key) in image.keys.iter().enumerate() {
        assert_eq!(key.key_ref as usize, i + 1);
        assert_eq!(key.algorithm, options.keys[i]);
        assert_eq!(key.user_consent, options.user_consent);
        let (id, spki) = point_or_modulus_id(key.algorithm, &key.pkcs8_der);
        let label = Some(format!("12345678950NES{i}"));

        let pr = &prkdf[i];
        assert_eq!(pr.key.id, id);
        assert_eq!(pr.key.id.len(), 20);
        assert_eq!(pr.common.label, label);
        assert_eq!(pr.common.auth_id, Some(vec![1]));
        assert_eq!(pr.common.user_consent, options.user_consent.then_some(1));
        assert_eq!(pr.key.key_reference, Some(u32::from(key.key_ref)));
        let usage = p15::key_usage::SIGN | p15::key_usage::NON_REPUDIATION;
        assert_eq!(pr.key.usage, usage);
        match (key.algorithm, &pr.kind) {
            (
                KeyAlgorithm::Rsa2048,
                p15::KeyKind::Rsa {
                    modulus_length: 2048,
                },
            )
            | (
                KeyAlgorithm::Rsa3072,
                p15::KeyKind::Rsa {
                    modulus_length: 3072,
                },
            ) => {}
            (
                KeyAlgorithm::P256,
                p15::KeyKind::Ec {
                    curve: Some(c),
                    field_size: Some(256),
                },
            ) => {
                assert_eq!(*c, p15::curves::P256)
            }
            (
                KeyAlgorithm::P384,
                p15::KeyKind::Ec {
                    curve: Some(c),
                    field_size: Some(384),
                },
            ) => {
                assert_eq!(*c, p15::curves::P384)
            }
            other => panic!("key kind mismatch {other:?}"),
        }

        let pu = &pukdf[i];
        assert_eq!(
            (pu.key.id.as_slice(), &pu.common.label),
            (id.as_slice(), &label)
        );
        let pub_file = read_path(image, pu.value.path().expect("pubkey path"));
        assert_eq!(pub_file, spki.as_slice());

        let c = &cdf[i];
        assert_eq!(
            (c.id.as_slice(), &c.common.label, c.authority),
            (id.as_slice(), &label, false)
        );
        let cert_der = read_path(image, c.value.path().expect("cert path"));
        let cert = x509_cert::Certificate::from_der(cert_der).expect("cert");
        assert_eq!(
            cert.tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .unwrap(),
            spki
        );
        leaves.push(cert_der.to_vec());
    }
    let nes = &cdf[n];
    let root = &cdf[n + 1];
    assert!(nes.authority && root.authority);
    assert_eq!(nes.value.path().unwrap().path[4..], [0x43, 0x0D]);
    assert_eq!(root.value.path().unwrap().path[4..], [0x43, 0x0E]);
    (
        read_path(image, root.value.path().unwrap()).to_vec(),
        read_path(image, nes.value.path().unwrap()).to_vec(),
        leaves,
    )
}

fn verify_chain(dir: &FsPath, root: &[u8], nes: &[u8], leaf: &[u8]) -> String {
    let root_pem = write_pem(dir, "root.pem", root);
    let ca_pem = write_pem(dir, "ca.pem", nes);
    let leaf_pem = write_pem(dir, "leaf.pem", leaf);
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        root_pem.to_str().unwrap(),
        "-untrusted",
        ca_pem.to_str().unwrap(),
        leaf_pem.to_str().unwrap(),
    ]);
    assert!(ok, "openssl verify failed: {out}");
    let (ok, text) = openssl(&["x509", "-in", leaf_pem.to_str().unwrap(), "-noout", "-text"]);
    assert!(ok, "{text}");
    text
}

#[test]
fn default_card_is_consistent_and_chain_verifies() {
    let options = CreateOptions::default();
    let image = create(&options).unwrap();
    assert_eq!(image.serial.len(), 8);
    let (root, nes, leaves) = check_image(&image, &options);
    let dir = temp_dir("default");
    let text = verify_chain(&dir, &root, &nes, &leaves[0]);
    for needle in [
        "ecdsa-with-SHA384",
        "Subject: C = TR, CN = TEST KULLANICI, serialNumber = 12345678950",
        "X509v3 Key Usage: critical\n                Non Repudiation\n",
        "2.16.792.1.2.1.1.5.7.1.9",
        "0.4.0.194112.1.2",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "qcStatements",
        "Public-Key: (2048 bit)",
        "TEST Kamu Elektronik Sertifika",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // A default key is like a real NES key: no digitalSignature, no extended key usage.
    for absent in ["Digital Signature", "Extended Key Usage", "TLS Web Client"] {
        assert!(!text.contains(absent), "unexpected {absent:?} in\n{text}");
    }
    let root_text = openssl(&[
        "x509",
        "-in",
        dir.join("root.pem").to_str().unwrap(),
        "-noout",
        "-text",
    ])
    .1;
    assert!(root_text.contains("CA:TRUE") && root_text.contains("Certificate Sign, CRL Sign"));
    assert!(root_text.contains("NIST CURVE: P-384"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_key_type_with_user_consent_and_serial() {
    let options = CreateOptions {
        keys: vec![
            KeyAlgorithm::P384,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::P256,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::P256,
        ],
        tls_client_keys: vec![0, 3],
        serial: Some(vec![0x12, 0x34, 0xAB]),
        user_consent: true,
        pin: Zeroizing::new("654321".into()),
        puk: Zeroizing::new("87654321".into()),
        ..Default::default()
    };
    let image = create(&options).unwrap();
    assert_eq!(image.serial, vec![0x12, 0x34, 0xAB]);
    let (root, nes, leaves) = check_image(&image, &options);
    let dir = temp_dir("all");
    // Keys 0 and 3 were asked for as TLS keys; the others are NES-like: nonRepudiation
    // only, no extended key usage.
    let tls = [true, false, false, true, false];
    for (leaf, tls) in leaves.iter().zip(tls) {
        let text = verify_chain(&dir, &root, &nes, leaf);
        assert_eq!(
            text.contains("TLS Web Client Authentication"),
            tls,
            "{text}"
        );
        assert_eq!(text.contains("Digital Signature"), tls, "{text}");
        assert_eq!(text.contains("X509v3 Extended Key Usage"), tls, "{text}");
        assert!(text.contains("Non Repudiation"));
    }
    let info = p15::parse_token_info(file(&image, &[MF, DF_PKCS15, EF_TOKEN_INFO])).unwrap();
    assert_eq!(info.label.as_deref(), Some("AKIS_1234AB"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ca_dir_is_created_then_shared() {
    let dir = temp_dir("cadir");
    let ca_dir = dir.join("ca");
    let options = CreateOptions {
        keys: vec![KeyAlgorithm::P256],
        ca_dir: Some(ca_dir.clone()),
        ..Default::default()
    };
    let first = create(&options).unwrap();
    for f in ["root-ca.pem", "root-ca.key", "nes-ca.pem", "nes-ca.key"] {
        assert!(ca_dir.join(f).is_file(), "{f} written");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ca_dir.join("root-ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "CA key not readable by others");
    }
    let second = create(&options).unwrap();
    let (root1, nes1, _) = check_image(&first, &options);
    let (root2, nes2, leaves2) = check_image(&second, &options);
    assert_eq!(
        (root1.as_slice(), nes1.as_slice()),
        (root2.as_slice(), nes2.as_slice())
    );
    // A card made without the folder has a different root.
    let other = create(&CreateOptions {
        keys: vec![KeyAlgorithm::P256],
        ..Default::default()
    })
    .unwrap();
    let (root3, _, _) = check_image(&other, &options);
    assert_ne!(root1, root3);
    verify_chain(&dir, &root1, &nes1, &leaves2[0]);

    // Half a CA is refused, not overwritten.
    std::fs::remove_file(ca_dir.join("nes-ca.key")).unwrap();
    assert!(matches!(create(&options), Err(PersonaliseError::CaDir(_))));
    assert!(!ca_dir.join("nes-ca.key").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_options_are_refused() {
    let with = |f: fn(&mut CreateOptions)| {
        let mut o = CreateOptions::default();
        f(&mut o);
        create(&o).map(|_| ()).unwrap_err()
    };
    for pin in ["12345", "1234567", "12345a", "", "１２３４５６"] {
        let o = CreateOptions {
            pin: Zeroizing::new(pin.into()),
            ..Default::default()
        };
        assert!(
            matches!(create(&o), Err(PersonaliseError::InvalidPin)),
            "{pin}"
        );
    }
    assert!(matches!(
        with(|o| o.puk = Zeroizing::new("1234567".into())),
        PersonaliseError::InvalidPuk
    ));
    assert!(matches!(
        with(|o| o.puk = Zeroizing::new("1234567x".into())),
        PersonaliseError::InvalidPuk
    ));
    assert!(matches!(
        with(|o| o.keys.clear()),
        PersonaliseError::KeyCount(0)
    ));
    assert!(matches!(
        with(|o| o.keys = vec![KeyAlgorithm::P256; 9]),
        PersonaliseError::KeyCount(9)
    ));
    assert!(matches!(
        with(|o| o.serial = Some(vec![1; 13])),
        PersonaliseError::InvalidSerial(13)
    ));
    assert!(matches!(
        with(|o| o.serial = Some(vec![])),
        PersonaliseError::InvalidSerial(0)
    ));
    // Neither the error text nor the options' Debug carry the PIN.
    let shown = format!("{:?}", CreateOptions::default());
    assert!(
        !shown.contains("123456") && !shown.contains("12345678"),
        "{shown}"
    );
    let o = CreateOptions {
        pin: Zeroizing::new("98765x".into()),
        ..Default::default()
    };
    let message = create(&o).map(|_| ()).unwrap_err().to_string();
    assert!(!message.contains("98765"));
}

#[test]
fn family_is_kept_and_v10_takes_rsa_2048_only() {
    let v10 = create(&CreateOptions {
        family: CardFamily::V10,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(v10.family, CardFamily::V10);
    assert_eq!(
        create(&CreateOptions::default()).unwrap().family,
        CardFamily::V2x
    );
    let refused = create(&CreateOptions {
        family: CardFamily::V10,
        keys: vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::P384],
        ..Default::default()
    });
    assert!(matches!(
        refused,
        Err(PersonaliseError::FamilyKey(
            CardFamily::V10,
            KeyAlgorithm::P384
        ))
    ));
}

#[test]
fn eight_keys_use_all_file_slots() {
    let options = CreateOptions {
        keys: vec![KeyAlgorithm::P256; 8],
        ..Default::default()
    };
    let image = create(&options).unwrap();
    check_image(&image, &options);
    for n in 0..8u16 {
        file(&image, &[MF, DF_PKCS15, EF_CERT_BASE + n]);
        file(&image, &[MF, DF_PKCS15, EF_PUBKEY_BASE + n]);
    }
    assert_eq!(EF_CERT_BASE + 7, 0x430C);
    assert_eq!(EF_PUBKEY_BASE + 7, 0x421C);
    // SFIs (five low bits of the FIDs) are unique in the DF.
    let mut sfis: Vec<u16> = image
        .files
        .iter()
        .filter(|f| f.path.len() == 3)
        .map(|f| f.path[2] & 0x1F)
        .collect();
    let count = sfis.len();
    sfis.sort();
    sfis.dedup();
    assert_eq!(sfis.len(), count);
}

#[test]
fn openssl_parses_every_pkcs15_record() {
    // An independent DER parser must accept each record of each PKCS#15 file.
    let options = CreateOptions {
        keys: vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::P384],
        user_consent: true,
        ..Default::default()
    };
    let image = create(&options).unwrap();
    let dir = temp_dir("asn1parse");
    let mut dumps = String::new();
    for fid in [EF_ODF, EF_TOKEN_INFO, EF_AODF, EF_PRKDF, EF_PUKDF, EF_CDF] {
        let mut rest = file(&image, &[MF, DF_PKCS15, fid]);
        while let Some(len) = p15::der_total_length(rest) {
            let path = dir.join("record.der");
            std::fs::write(&path, &rest[..len]).unwrap();
            let (ok, out) =
                openssl(&["asn1parse", "-inform", "DER", "-in", path.to_str().unwrap()]);
            assert!(ok && !out.contains("Error"), "{fid:04X}: {out}");
            dumps.push_str(&out);
            rest = &rest[len..];
        }
    }
    // The EC key's curve and the userConsent INTEGER are visible to OpenSSL too.
    assert!(dumps.contains("secp384r1"), "{dumps}");
    assert!(dumps.contains("12345678950NES1"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends one APDU; returns (data, SW).
fn send(card: &crate::VirtualCard, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut response = card.transmit(apdu);
    assert!(response.len() >= 2, "short response to {apdu:02X?}");
    let sw = u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]]);
    response.truncate(response.len() - 2);
    (response, sw)
}

/// Reads the current EF completely in short READ BINARY steps.
fn read_current_ef(card: &crate::VirtualCard, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let offset = u16::try_from(out.len()).unwrap().to_be_bytes();
        let want = (len - out.len()).min(255) as u8;
        let (data, sw) = send(card, &[0x00, 0xB0, offset[0], offset[1], want]);
        assert_eq!(sw, 0x9000);
        assert!(!data.is_empty());
        out.extend(data);
    }
    out
}

fn select_path(card: &crate::VirtualCard, path: &p15::Path) {
    let fids = path.absolute_fids(&[MF, DF_PKCS15]).unwrap();
    let mut apdu = vec![0x00, 0xA4, 0x08, 0x0C, ((fids.len() - 1) * 2) as u8];
    apdu.extend(fids[1..].iter().flat_map(|f| f.to_be_bytes()));
    assert_eq!(send(card, &apdu).1, 0x9000, "select {path:?}");
}

#[test]
fn card_runtime_serves_the_personalised_image() {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    // The image goes through the card file store and the APDU runtime: the module's
    // view of it (PKCS#15 over APDUs) must match, and the EC key must sign for its cert.
    let options = CreateOptions {
        keys: vec![KeyAlgorithm::Rsa2048, KeyAlgorithm::P384],
        ..Default::default()
    };
    let dir = temp_dir("runtime");
    let path = dir.join("card.vcard");
    crate::VirtualCard::from_image(create(&options).unwrap(), Some(path.clone())).unwrap();
    let card = crate::VirtualCard::open(&path).unwrap();

    let mut select_aid = vec![0x00, 0xA4, 0x04, 0x0C, PKCS15_AID.len() as u8];
    select_aid.extend(PKCS15_AID);
    assert_eq!(send(&card, &select_aid).1, 0x9000);
    // ODF by SFI 11 (READ BINARY P1 = 80 | SFI).
    let (odf_data, sw) = send(&card, &[0x00, 0xB0, 0x80 | 0x11, 0x00, 0x00]);
    assert!(sw == 0x9000 || sw == 0x6282, "{sw:04X}");
    let odf = p15::parse_odf(&odf_data).unwrap();
    let cdf_path = p15::odf_path(&odf, p15::OdfKind::Certificates).unwrap();
    select_path(&card, cdf_path);
    let cdf = p15::parse_cdf(&read_current_ef(&card, cdf_path.length.unwrap() as usize)).unwrap();
    let prkdf_path = p15::odf_path(&odf, p15::OdfKind::PrivateKeys).unwrap();
    select_path(&card, prkdf_path);
    let prkdf =
        p15::parse_prkdf(&read_current_ef(&card, prkdf_path.length.unwrap() as usize)).unwrap();
    let ec_key = prkdf
        .iter()
        .find(|k| matches!(k.kind, p15::KeyKind::Ec { .. }))
        .unwrap();
    let ec_cert = cdf.iter().find(|c| c.id == ec_key.key.id).unwrap();
    let cert_path = ec_cert.value.path().unwrap();
    select_path(&card, cert_path);
    let cert_der = read_current_ef(&card, cert_path.length.unwrap() as usize);
    let cert = x509_cert::Certificate::from_der(&cert_der).unwrap();
    let point = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    let verifying_key = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();

    assert_eq!(send(&card, b"\x00\x20\x00\x81\x06123456").1, 0x9000);
    let key_ref = ec_key.key.key_reference.unwrap() as u8;
    let mse = [
        0x00, 0x22, 0x41, 0xB6, 0x06, 0x80, 0x01, 0x30, 0x84, 0x01, key_ref,
    ];
    assert_eq!(send(&card, &mse).1, 0x9000);
    let digest = sha2::Sha384::digest(b"e-imza");
    let mut pso = vec![0x00, 0x2A, 0x9E, 0x9A, digest.len() as u8];
    pso.extend_from_slice(&digest);
    pso.push(0x00);
    let (signature, sw) = send(&card, &pso);
    assert_eq!(sw, 0x9000);
    let signature = p384::ecdsa::Signature::from_slice(&signature).unwrap();
    verifying_key.verify_prehash(&digest, &signature).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_key_index_must_name_a_key() {
    let options = CreateOptions {
        keys: vec![KeyAlgorithm::P256],
        tls_client_keys: vec![1],
        ..Default::default()
    };
    assert!(matches!(
        create(&options),
        Err(PersonaliseError::TlsKeyIndex(1))
    ));
}
