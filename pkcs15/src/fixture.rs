//! One PKCS#15 card image for the tests of every crate (the `fixture` feature; always
//! in this crate's own tests): the module's bind tests serve its files from a
//! stand-in card, the integration tests put them on a software card, and this crate's
//! tests encode and decode its objects. A card of the profile (pkcs11-spec.md §1.5):
//! EF.DIR, and in the PKCS#15 DF `3F00/3D00` the ODF, EF.TokenInfo, AODF (user PIN
//! `81`, PUK `82`), PrKDF, PuKDF, an empty CDF, and one SubjectPublicKeyInfo file per
//! key; no certificates, so public keys come from the PuKDF.

use crate::{
    curves, encode_aodf, encode_dir_records, encode_odf, encode_prkdf, encode_pukdf,
    encode_token_info, key_access, key_usage, object_flags, pin_flags, CommonKeyAttributes,
    CommonObjectAttributes, DirRecord, KeyKind, ObjectValue, OdfEntry, OdfKind, Path,
    PinAttributes, PinObject, PinType, PrivateKeyObject, PublicKeyObject, TokenInfo,
};

/// The PKCS#15 application identifier (ISO 7816-15 default).
pub const AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];
/// The PKCS#15 DF.
pub const APPLICATION: [u16; 2] = [0x3F00, 0x3D00];
/// File identifiers in the DF.
pub const ODF: u16 = 0x5031;
pub const TOKEN_INFO: u16 = 0x5032;
pub const AODF: u16 = 0x4401;
pub const PRKDF: u16 = 0x4402;
pub const PUKDF: u16 = 0x4403;
pub const CDF: u16 = 0x4404;
/// EF.DIR, in the MF.
pub const EF_DIR: u16 = 0x2F00;

/// The user PIN: reference `81`, six ASCII digits, authId `01`, unblocked by the PUK.
pub fn user_pin() -> PinObject {
    PinObject {
        common: CommonObjectAttributes {
            label: Some("PIN".into()),
            flags: object_flags::PRIVATE,
            auth_id: Some(vec![0x02]),
            user_consent: None,
        },
        auth_id: Some(vec![0x01]),
        attributes: PinAttributes {
            flags: pin_flags::LOCAL | pin_flags::INITIALIZED,
            pin_type: PinType::AsciiNumeric,
            min_length: 6,
            stored_length: 6,
            max_length: Some(6),
            reference: 0x81,
            pad_char: None,
            path: None,
        },
    }
}

/// The PUK: reference `82`, eight ASCII digits, authId `02`, unblocking and SO.
pub fn puk() -> PinObject {
    let mut puk = user_pin();
    puk.common.label = Some("PUK".into());
    puk.common.auth_id = None;
    puk.auth_id = Some(vec![0x02]);
    puk.attributes.flags |= pin_flags::UNBLOCKING_PIN | pin_flags::SO_PIN;
    puk.attributes.min_length = 8;
    puk.attributes.stored_length = 8;
    puk.attributes.max_length = Some(8);
    puk.attributes.reference = 0x82;
    puk
}

/// A signing key of the card.
#[derive(Debug, Clone)]
pub struct Key {
    /// Key reference (MSE `84`), 1..=8.
    pub key_ref: u8,
    pub kind: KeyKind,
    /// The SubjectPublicKeyInfo DER its PuKDF entry points to.
    pub spki: Vec<u8>,
    /// PrKDF userConsent 1: the PIN right before each signature.
    pub user_consent: bool,
}

impl Key {
    /// iD shared by its PrKDF and PuKDF entries: 20 times the key reference.
    pub fn id(&self) -> Vec<u8> {
        vec![self.key_ref; 20]
    }

    /// `<national id>NES<n>`, n = key reference − 1 (pkcs11-spec.md §1.5).
    pub fn label(&self) -> String {
        format!("12345678950NES{}", self.key_ref.saturating_sub(1))
    }

    /// The file of its SubjectPublicKeyInfo in the DF.
    pub fn spki_fid(&self) -> u16 {
        0x4214 + u16::from(self.key_ref)
    }

    fn attributes(&self) -> CommonKeyAttributes {
        CommonKeyAttributes {
            id: self.id(),
            usage: key_usage::SIGN | key_usage::NON_REPUDIATION,
            native: true,
            access_flags: key_access::SENSITIVE,
            key_reference: Some(u32::from(self.key_ref)),
        }
    }

    /// Its PrKDF entry.
    pub fn private_key_object(&self) -> PrivateKeyObject {
        PrivateKeyObject {
            common: CommonObjectAttributes {
                label: Some(self.label()),
                flags: object_flags::PRIVATE,
                auth_id: Some(vec![0x01]),
                user_consent: self.user_consent.then_some(1),
            },
            key: self.attributes(),
            kind: self.kind.clone(),
            path: None,
        }
    }

    /// Its PuKDF entry; the path declares the file's length if `with_length`.
    pub fn public_key_object(&self, with_length: bool) -> PublicKeyObject {
        PublicKeyObject {
            common: CommonObjectAttributes {
                label: Some(self.label()),
                ..Default::default()
            },
            key: self.attributes(),
            kind: self.kind.clone(),
            value: ObjectValue::Path(path(
                self.spki_fid(),
                with_length.then_some(self.spki.len()),
            )),
        }
    }
}

/// An EC key of `bits` (256 or 384) on its named curve.
pub fn ec_kind(bits: u32) -> KeyKind {
    KeyKind::Ec {
        field_size: Some(bits),
        curve: Some(if bits == 384 {
            curves::P384
        } else {
            curves::P256
        }),
    }
}

/// A path from the MF to a file of the DF, with its length if given.
pub fn path(fid: u16, length: Option<usize>) -> Path {
    let mut p = vec![0x3F, 0x00, 0x3D, 0x00];
    p.extend_from_slice(&fid.to_be_bytes());
    match length {
        Some(l) => Path::with_length(&p, l as u32),
        None => Path::new(&p),
    }
}

/// The card: what differs between the tests that use it.
#[derive(Debug, Clone)]
pub struct Card {
    pub serial: Vec<u8>,
    pub manufacturer: String,
    pub label: String,
    pub token_flags: u32,
    /// EF.TokenInfo lastUpdate (the bind cache needs one to cache).
    pub last_update: Option<String>,
    pub keys: Vec<Key>,
    /// The ODF and PuKDF paths declare their files' lengths.
    pub declare_lengths: bool,
}

/// One EF: its path from the MF (`3F00` first), its content, and the size allocated
/// on the card (the content is followed by zero padding up to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: Vec<u16>,
    pub body: Vec<u8>,
    pub size: usize,
}

impl File {
    fn new(path: &[u16], body: Vec<u8>, size: usize) -> File {
        File {
            path: path.to_vec(),
            size: size.max(body.len()),
            body,
        }
    }

    /// The content padded to the allocated size, as a card returns it.
    pub fn padded(&self) -> Vec<u8> {
        let mut out = self.body.clone();
        out.resize(self.size, 0);
        out
    }
}

impl Card {
    pub fn token_info(&self) -> TokenInfo {
        TokenInfo {
            version: 0,
            serial_number: self.serial.clone(),
            manufacturer_id: Some(self.manufacturer.clone()),
            label: Some(self.label.clone()),
            token_flags: self.token_flags,
            last_update: self.last_update.clone(),
        }
    }

    /// EF.TokenInfo as encoded.
    pub fn token_info_bytes(&self) -> Vec<u8> {
        encode_token_info(&self.token_info()).expect("fixture TokenInfo encodes")
    }

    /// Every EF of the card (the DFs are the MF and [`APPLICATION`]).
    pub fn files(&self) -> Vec<File> {
        let df = |fid: u16| [APPLICATION[0], APPLICATION[1], fid];
        let aodf = encode_aodf(&[user_pin(), puk()]);
        let prkdf = encode_prkdf(
            &self
                .keys
                .iter()
                .map(Key::private_key_object)
                .collect::<Vec<_>>(),
        );
        let pukdf = encode_pukdf(
            &self
                .keys
                .iter()
                .map(|k| k.public_key_object(self.declare_lengths))
                .collect::<Vec<_>>(),
        );
        let cdf: Vec<u8> = Vec::new();
        let len = |b: &Vec<u8>| self.declare_lengths.then_some(b.len());
        let odf = encode_odf(&[
            OdfEntry {
                kind: OdfKind::AuthObjects,
                path: path(AODF, len(&aodf)),
            },
            OdfEntry {
                kind: OdfKind::PrivateKeys,
                path: path(PRKDF, len(&prkdf)),
            },
            OdfEntry {
                kind: OdfKind::PublicKeys,
                path: path(PUKDF, len(&pukdf)),
            },
            OdfEntry {
                kind: OdfKind::Certificates,
                path: path(CDF, len(&cdf)),
            },
        ]);
        let dir = encode_dir_records(&[DirRecord {
            aid: AID.to_vec(),
            label: Some("AKIS e-imza".into()),
            path: Some(vec![0x3F, 0x00, 0x3D, 0x00]),
        }]);
        let mut files = vec![
            File::new(&[0x3F00, EF_DIR], dir, 128),
            File::new(&df(ODF), odf, 512),
            File::new(&df(TOKEN_INFO), self.token_info_bytes(), 512),
            File::new(&df(AODF), aodf, 1024),
            File::new(&df(PRKDF), prkdf, 2048),
            File::new(&df(PUKDF), pukdf, 2048),
            File::new(&df(CDF), cdf, 2048),
        ];
        for key in &self.keys {
            files.push(File::new(&df(key.spki_fid()), key.spki.clone(), 600));
        }
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_aodf, parse_odf, parse_prkdf, parse_pukdf, parse_token_info, token_flags};

    #[test]
    fn every_file_of_the_fixture_decodes_to_what_it_was_made_of() {
        let key = Key {
            key_ref: 2,
            kind: ec_kind(384),
            spki: vec![0x30, 0x00],
            user_consent: true,
        };
        for declare_lengths in [true, false] {
            let card = Card {
                serial: vec![1, 2, 3],
                manufacturer: "M".into(),
                label: "L".into(),
                token_flags: token_flags::LOGIN_REQUIRED,
                last_update: Some("20261124120000Z".into()),
                keys: vec![key.clone()],
                declare_lengths,
            };
            let files = card.files();
            let body = |fid: u16| {
                files
                    .iter()
                    .find(|f| f.path.last() == Some(&fid))
                    .map(|f| f.padded())
                    .expect("file")
            };
            assert_eq!(
                parse_token_info(&body(TOKEN_INFO)).unwrap(),
                card.token_info()
            );
            assert_eq!(parse_aodf(&body(AODF)).unwrap(), vec![user_pin(), puk()]);
            assert_eq!(
                parse_prkdf(&body(PRKDF)).unwrap(),
                vec![key.private_key_object()]
            );
            assert_eq!(
                parse_pukdf(&body(PUKDF)).unwrap(),
                vec![key.public_key_object(declare_lengths)]
            );
            let odf = parse_odf(&body(ODF)).unwrap();
            assert_eq!(odf.len(), 4);
            assert_eq!(odf[0].path.length.is_some(), declare_lengths);
            assert_eq!(body(key.spki_fid())[..2], [0x30, 0x00]);
        }
    }
}
