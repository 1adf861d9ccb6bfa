//! PKCS#11 objects built from the card's PKCS#15 contents: per key a certificate, a
//! public key and a private key with the same CKA_ID and CKA_LABEL; CA certificates
//! on their own. Objects are read-only (CKA_MODIFIABLE FALSE) and live as long as the
//! token (one card insertion).

use crate::card::{CertificateEntry, Curve, KeyEntry, PublicKey, TokenData};
use cryptoki_sys::*;
use der::{Decode, Encode};
use sha1::{Digest, Sha1};
use x509_cert::Certificate;

/// One attribute value as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Bytes(Vec<u8>),
    /// Exists but may not be revealed (secret key parts): CKR_ATTRIBUTE_SENSITIVE.
    Sensitive,
}

/// What C_GetAttributeValue learns about one requested attribute type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrLookup<'a> {
    Value(&'a [u8]),
    Sensitive,
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ec,
}

/// Signing facts of a private key object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub key_ref: u8,
    pub kind: KeyKind,
    pub bits: usize,
    /// Size of the signature in bytes (RSA: k; ECDSA: 2 × field size).
    pub signature_len: usize,
    pub always_authenticate: bool,
    pub curve: Option<Curve>,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub handle: CK_OBJECT_HANDLE,
    pub class: CK_OBJECT_CLASS,
    pub private: bool,
    /// Present on private keys only.
    pub signing: Option<SigningKey>,
    attributes: Vec<(CK_ATTRIBUTE_TYPE, AttrValue)>,
}

impl Object {
    pub fn lookup(&self, attribute: CK_ATTRIBUTE_TYPE) -> AttrLookup<'_> {
        match self.attributes.iter().find(|(t, _)| *t == attribute) {
            Some((_, AttrValue::Bytes(v))) => AttrLookup::Value(v),
            Some((_, AttrValue::Sensitive)) => AttrLookup::Sensitive,
            None => AttrLookup::Invalid,
        }
    }

    /// Exact byte match on every template attribute; an attribute the object lacks
    /// (or keeps sensitive) never matches.
    pub fn matches(&self, template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> bool {
        template.iter().all(
            |(t, want)| matches!(self.lookup(*t), AttrLookup::Value(v) if v == want.as_slice()),
        )
    }

    /// Sum of the visible attribute lengths (C_GetObjectSize).
    pub fn size(&self) -> usize {
        self.attributes
            .iter()
            .map(|(_, v)| match v {
                AttrValue::Bytes(b) => b.len(),
                AttrValue::Sensitive => 0,
            })
            .sum()
    }
}

pub fn ulong(value: CK_ULONG) -> Vec<u8> {
    value.to_ne_bytes().to_vec()
}

pub fn bool_attr(value: bool) -> Vec<u8> {
    vec![if value { CK_TRUE } else { CK_FALSE }]
}

/// DER OCTET STRING wrapping (CKA_EC_POINT).
pub fn der_octet_string(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// Facts taken from a certificate's DER.
struct CertFacts {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    serial: Vec<u8>,
    start: Vec<u8>,
    end: Vec<u8>,
}

fn date_bytes(time: &x509_cert::time::Time) -> Vec<u8> {
    let dt = time.to_date_time();
    format!("{:04}{:02}{:02}", dt.year(), dt.month(), dt.day()).into_bytes()
}

fn cert_facts(der_bytes: &[u8]) -> Option<CertFacts> {
    let cert = Certificate::from_der(der_bytes).ok()?;
    let tbs = cert.tbs_certificate();
    Some(CertFacts {
        subject: tbs.subject().to_der().ok()?,
        issuer: tbs.issuer().to_der().ok()?,
        serial: tbs.serial_number().to_der().ok()?,
        start: date_bytes(&tbs.validity().not_before),
        end: date_bytes(&tbs.validity().not_after),
    })
}

/// Object labels are ASCII for Java (Latin-1) and NSS nicknames.
fn ascii_label(label: &str) -> Vec<u8> {
    label
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

fn common(
    class: CK_OBJECT_CLASS,
    private: bool,
    label: &str,
    id: &[u8],
) -> Vec<(CK_ATTRIBUTE_TYPE, AttrValue)> {
    vec![
        (CKA_CLASS, AttrValue::Bytes(ulong(class))),
        (CKA_TOKEN, AttrValue::Bytes(bool_attr(true))),
        (CKA_PRIVATE, AttrValue::Bytes(bool_attr(private))),
        (CKA_MODIFIABLE, AttrValue::Bytes(bool_attr(false))),
        (CKA_COPYABLE, AttrValue::Bytes(bool_attr(false))),
        (CKA_DESTROYABLE, AttrValue::Bytes(bool_attr(false))),
        (CKA_LABEL, AttrValue::Bytes(ascii_label(label))),
        (CKA_ID, AttrValue::Bytes(id.to_vec())),
    ]
}

fn certificate_object(
    handle: CK_OBJECT_HANDLE,
    entry: &CertificateEntry,
    label: &str,
    category: CK_ULONG,
) -> Object {
    let mut attributes = common(CKO_CERTIFICATE, false, label, &entry.id);
    let check_value = Sha1::digest(&entry.der)[..3].to_vec();
    attributes.extend([
        (CKA_CERTIFICATE_TYPE, AttrValue::Bytes(ulong(CKC_X_509))),
        (CKA_TRUSTED, AttrValue::Bytes(bool_attr(false))),
        (CKA_CERTIFICATE_CATEGORY, AttrValue::Bytes(ulong(category))),
        (CKA_CHECK_VALUE, AttrValue::Bytes(check_value)),
        (CKA_VALUE, AttrValue::Bytes(entry.der.clone())),
        (CKA_URL, AttrValue::Bytes(Vec::new())),
        (CKA_HASH_OF_SUBJECT_PUBLIC_KEY, AttrValue::Bytes(Vec::new())),
        (CKA_HASH_OF_ISSUER_PUBLIC_KEY, AttrValue::Bytes(Vec::new())),
        (CKA_JAVA_MIDP_SECURITY_DOMAIN, AttrValue::Bytes(ulong(0))),
    ]);
    // A certificate the parser rejects still shows its value; the parsed fields are
    // then absent (CKR_ATTRIBUTE_TYPE_INVALID) rather than wrong.
    if let Some(facts) = cert_facts(&entry.der) {
        attributes.extend([
            (CKA_SUBJECT, AttrValue::Bytes(facts.subject)),
            (CKA_ISSUER, AttrValue::Bytes(facts.issuer)),
            (CKA_SERIAL_NUMBER, AttrValue::Bytes(facts.serial)),
            (CKA_START_DATE, AttrValue::Bytes(facts.start)),
            (CKA_END_DATE, AttrValue::Bytes(facts.end)),
        ]);
    }
    Object {
        handle,
        class: CKO_CERTIFICATE,
        private: false,
        signing: None,
        attributes,
    }
}

fn key_type(public: &PublicKey) -> CK_KEY_TYPE {
    match public {
        PublicKey::Rsa { .. } => CKK_RSA,
        PublicKey::Ec { .. } => CKK_EC,
    }
}

fn key_common(key: &KeyEntry, subject: Option<&[u8]>) -> Vec<(CK_ATTRIBUTE_TYPE, AttrValue)> {
    let mut attributes = vec![
        (CKA_KEY_TYPE, AttrValue::Bytes(ulong(key_type(&key.public)))),
        (CKA_LOCAL, AttrValue::Bytes(bool_attr(true))),
        (
            CKA_KEY_GEN_MECHANISM,
            AttrValue::Bytes(ulong(CK_UNAVAILABLE_INFORMATION)),
        ),
        (CKA_DERIVE, AttrValue::Bytes(bool_attr(false))),
        (CKA_START_DATE, AttrValue::Bytes(Vec::new())),
        (CKA_END_DATE, AttrValue::Bytes(Vec::new())),
        (
            CKA_SUBJECT,
            AttrValue::Bytes(subject.map(<[u8]>::to_vec).unwrap_or_default()),
        ),
    ];
    match &key.public {
        PublicKey::Rsa { modulus, exponent } => attributes.extend([
            (CKA_MODULUS, AttrValue::Bytes(modulus.clone())),
            (
                CKA_MODULUS_BITS,
                AttrValue::Bytes(ulong(key.bits as CK_ULONG)),
            ),
            (CKA_PUBLIC_EXPONENT, AttrValue::Bytes(exponent.clone())),
        ]),
        PublicKey::Ec {
            ec_params, point, ..
        } => attributes.extend([
            (CKA_EC_PARAMS, AttrValue::Bytes(ec_params.clone())),
            (CKA_EC_POINT, AttrValue::Bytes(der_octet_string(point))),
        ]),
    }
    attributes
}

fn signing_facts(key: &KeyEntry) -> SigningKey {
    let (kind, curve, signature_len) = match &key.public {
        PublicKey::Rsa { modulus, .. } => {
            // k from the modulus itself: `bits` comes from the PrKDF and could disagree.
            let k = modulus.len().max(key.bits.div_ceil(8));
            (KeyKind::Rsa, None, k)
        }
        PublicKey::Ec { curve, .. } => {
            let field = match curve {
                Curve::P256 => 32,
                Curve::P384 => 48,
                Curve::P521 => 66,
            };
            (KeyKind::Ec, Some(*curve), 2 * field)
        }
    };
    SigningKey {
        key_ref: key.key_ref,
        kind,
        bits: key.bits,
        signature_len,
        always_authenticate: key.user_consent,
        curve,
    }
}

fn public_key_object(
    handle: CK_OBJECT_HANDLE,
    key: &KeyEntry,
    subject: Option<&[u8]>,
    spki: Option<Vec<u8>>,
) -> Object {
    let mut attributes = common(CKO_PUBLIC_KEY, false, &key.label, &key.id);
    attributes.extend(key_common(key, subject));
    attributes.extend([
        (CKA_ENCRYPT, AttrValue::Bytes(bool_attr(false))),
        (CKA_VERIFY, AttrValue::Bytes(bool_attr(true))),
        (CKA_VERIFY_RECOVER, AttrValue::Bytes(bool_attr(false))),
        (CKA_WRAP, AttrValue::Bytes(bool_attr(false))),
        (CKA_TRUSTED, AttrValue::Bytes(bool_attr(false))),
    ]);
    if let Some(spki) = spki {
        attributes.push((CKA_PUBLIC_KEY_INFO, AttrValue::Bytes(spki)));
    }
    Object {
        handle,
        class: CKO_PUBLIC_KEY,
        private: false,
        signing: None,
        attributes,
    }
}

fn private_key_object(
    handle: CK_OBJECT_HANDLE,
    key: &KeyEntry,
    subject: Option<&[u8]>,
    spki: Option<Vec<u8>>,
) -> Object {
    let mut attributes = common(CKO_PRIVATE_KEY, true, &key.label, &key.id);
    attributes.extend(key_common(key, subject));
    attributes.extend([
        (CKA_SENSITIVE, AttrValue::Bytes(bool_attr(true))),
        (CKA_DECRYPT, AttrValue::Bytes(bool_attr(false))),
        (CKA_SIGN, AttrValue::Bytes(bool_attr(true))),
        (CKA_SIGN_RECOVER, AttrValue::Bytes(bool_attr(false))),
        (CKA_UNWRAP, AttrValue::Bytes(bool_attr(false))),
        (CKA_EXTRACTABLE, AttrValue::Bytes(bool_attr(false))),
        (CKA_ALWAYS_SENSITIVE, AttrValue::Bytes(bool_attr(true))),
        (CKA_NEVER_EXTRACTABLE, AttrValue::Bytes(bool_attr(true))),
        (CKA_WRAP_WITH_TRUSTED, AttrValue::Bytes(bool_attr(false))),
        (
            CKA_ALWAYS_AUTHENTICATE,
            AttrValue::Bytes(bool_attr(key.user_consent)),
        ),
    ]);
    match key.public {
        PublicKey::Rsa { .. } => attributes.extend(
            [
                CKA_PRIVATE_EXPONENT,
                CKA_PRIME_1,
                CKA_PRIME_2,
                CKA_EXPONENT_1,
                CKA_EXPONENT_2,
                CKA_COEFFICIENT,
            ]
            .map(|t| (t, AttrValue::Sensitive)),
        ),
        PublicKey::Ec { .. } => attributes.push((CKA_VALUE, AttrValue::Sensitive)),
    }
    // EC_POINT is not a private-key attribute in the spec.
    attributes.retain(|(t, _)| *t != CKA_EC_POINT);
    if let Some(spki) = spki {
        attributes.push((CKA_PUBLIC_KEY_INFO, AttrValue::Bytes(spki)));
    }
    Object {
        handle,
        class: CKO_PRIVATE_KEY,
        private: true,
        signing: Some(signing_facts(key)),
        attributes,
    }
}

/// Build every object of a token. `next_handle` hands out module-wide unique handles.
pub fn build_objects(
    data: &TokenData,
    mut next_handle: impl FnMut() -> CK_OBJECT_HANDLE,
) -> Vec<Object> {
    let mut objects = Vec::new();
    let mut used_certs = vec![false; data.certificates.len()];
    for key in &data.keys {
        let cert_index = data
            .certificates
            .iter()
            .position(|c| !c.authority && c.id == key.id);
        let cert = cert_index.map(|i| &data.certificates[i]);
        let parsed = cert.and_then(|c| Certificate::from_der(&c.der).ok());
        let subject = parsed
            .as_ref()
            .and_then(|c| c.tbs_certificate().subject().to_der().ok());
        let spki = parsed
            .as_ref()
            .and_then(|c| c.tbs_certificate().subject_public_key_info().to_der().ok());
        if let (Some(i), Some(cert)) = (cert_index, cert) {
            used_certs[i] = true;
            objects.push(certificate_object(
                next_handle(),
                cert,
                &key.label,
                CK_CERTIFICATE_CATEGORY_TOKEN_USER,
            ));
        }
        objects.push(public_key_object(
            next_handle(),
            key,
            subject.as_deref(),
            spki.clone(),
        ));
        objects.push(private_key_object(
            next_handle(),
            key,
            subject.as_deref(),
            spki,
        ));
    }
    for (i, cert) in data.certificates.iter().enumerate() {
        if used_certs[i] {
            continue;
        }
        let category = if cert.authority {
            CK_CERTIFICATE_CATEGORY_AUTHORITY
        } else {
            CK_CERTIFICATE_CATEGORY_TOKEN_USER
        };
        objects.push(certificate_object(
            next_handle(),
            cert,
            &cert.label,
            category,
        ));
    }
    objects
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::card::{PinEncoding, PinInfo, PinStatus};

    /// Kamu SM's public v6 CA certificates (DER), copied from shared/fixtures.
    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).expect("fixture certificate")
    }

    pub(crate) fn sample_token() -> TokenData {
        let pin = PinInfo {
            label: "PIN".into(),
            auth_id: vec![1],
            reference: 0x81,
            encoding: PinEncoding::AsciiNumeric,
            min_len: 6,
            max_len: 6,
            stored_len: 6,
            pad_char: None,
            max_tries: 3,
            status: PinStatus::TriesLeft(3),
        };
        let root = fixture("kamusm-root-v6.der");
        let nes = fixture("kamusm-nes-v6.der");
        TokenData {
            family: crate::card::profile::family_profile(crate::card::atr::Family::AkisV2x),
            max_command_data: crate::apdu::EXTENDED_MAX_NC,
            label: "AKIS_0102".into(),
            serial: "0102".into(),
            manufacturer: "TUBITAK BILGEM".into(),
            model: "AKIS".into(),
            puk: Some(PinInfo {
                label: "PUK".into(),
                auth_id: vec![2],
                reference: 0x82,
                min_len: 8,
                max_len: 8,
                stored_len: 8,
                max_tries: 10,
                ..pin.clone()
            }),
            user_pin: pin,
            keys: vec![
                KeyEntry {
                    label: "12345678950NES0".into(),
                    id: vec![0xAA; 20],
                    key_ref: 1,
                    public: PublicKey::Rsa {
                        modulus: vec![0xC1; 256],
                        exponent: vec![1, 0, 1],
                    },
                    bits: 2048,
                    user_consent: false,
                    usage_sign: true,
                    usage_non_repudiation: true,
                    auth_id: vec![1],
                },
                KeyEntry {
                    label: "12345678950NES1".into(),
                    id: vec![0xBB; 20],
                    key_ref: 2,
                    public: PublicKey::Ec {
                        curve: Curve::P384,
                        ec_params: vec![0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22],
                        point: vec![0x04; 97],
                    },
                    bits: 384,
                    user_consent: true,
                    usage_sign: true,
                    usage_non_repudiation: true,
                    auth_id: vec![1],
                },
            ],
            certificates: vec![
                // The NES CA certificate stands in for the end-user certificate of key 1.
                CertificateEntry {
                    label: "cert".into(),
                    id: vec![0xAA; 20],
                    der: nes,
                    authority: false,
                },
                CertificateEntry {
                    label: "root".into(),
                    id: vec![0x01],
                    der: root,
                    authority: true,
                },
            ],
            last_update: None,
        }
    }

    fn objects() -> Vec<Object> {
        let mut h = 0;
        build_objects(&sample_token(), || {
            h += 1;
            h
        })
    }

    fn value(o: &Object, t: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
        match o.lookup(t) {
            AttrLookup::Value(v) => v.to_vec(),
            other => panic!("attribute {t:#x}: {other:?}"),
        }
    }

    #[test]
    fn key_triples_share_id_and_label() {
        let objs = objects();
        // key 1: cert + pub + priv; key 2: pub + priv; root: cert.
        assert_eq!(objs.len(), 6);
        for o in &objs[..3] {
            assert_eq!(value(o, CKA_ID), vec![0xAA; 20]);
            assert_eq!(value(o, CKA_LABEL), b"12345678950NES0");
            assert_eq!(value(o, CKA_TOKEN), vec![CK_TRUE]);
            assert_eq!(value(o, CKA_MODIFIABLE), vec![CK_FALSE]);
        }
        assert_eq!(value(&objs[0], CKA_CLASS), ulong(CKO_CERTIFICATE));
        assert_eq!(value(&objs[1], CKA_CLASS), ulong(CKO_PUBLIC_KEY));
        assert_eq!(value(&objs[2], CKA_CLASS), ulong(CKO_PRIVATE_KEY));
        let handles: std::collections::HashSet<_> = objs.iter().map(|o| o.handle).collect();
        assert_eq!(handles.len(), objs.len());
    }

    #[test]
    fn certificate_attributes_come_from_the_der() {
        let objs = objects();
        let nes = Certificate::from_der(&fixture("kamusm-nes-v6.der")).unwrap();
        let cert = &objs[0];
        assert_eq!(
            value(cert, CKA_SUBJECT),
            nes.tbs_certificate().subject().to_der().unwrap()
        );
        assert_eq!(
            value(cert, CKA_ISSUER),
            nes.tbs_certificate().issuer().to_der().unwrap()
        );
        let serial = value(cert, CKA_SERIAL_NUMBER);
        assert_eq!(serial[0], 0x02, "DER INTEGER");
        assert_eq!(
            value(cert, CKA_CERTIFICATE_CATEGORY),
            ulong(CK_CERTIFICATE_CATEGORY_TOKEN_USER)
        );
        assert_eq!(value(cert, CKA_START_DATE).len(), 8);
        let root = &objs[5];
        assert_eq!(
            value(root, CKA_CERTIFICATE_CATEGORY),
            ulong(CK_CERTIFICATE_CATEGORY_AUTHORITY)
        );
        assert_eq!(value(root, CKA_LABEL), b"root");
        assert_eq!(value(root, CKA_TRUSTED), vec![CK_FALSE]);
    }

    #[test]
    fn private_key_hides_secrets_and_reports_flags() {
        let objs = objects();
        let rsa = &objs[2];
        assert!(rsa.private);
        assert_eq!(rsa.lookup(CKA_PRIVATE_EXPONENT), AttrLookup::Sensitive);
        assert_eq!(rsa.lookup(CKA_PRIME_1), AttrLookup::Sensitive);
        assert_eq!(value(rsa, CKA_SIGN), vec![CK_TRUE]);
        assert_eq!(value(rsa, CKA_DECRYPT), vec![CK_FALSE]);
        assert_eq!(value(rsa, CKA_EXTRACTABLE), vec![CK_FALSE]);
        assert_eq!(value(rsa, CKA_ALWAYS_AUTHENTICATE), vec![CK_FALSE]);
        assert_eq!(value(rsa, CKA_MODULUS), vec![0xC1; 256]);
        assert_eq!(value(rsa, CKA_PUBLIC_EXPONENT), vec![1, 0, 1]);
        assert_eq!(rsa.signing.as_ref().unwrap().signature_len, 256);
        let ec = &objs[4];
        assert_eq!(ec.lookup(CKA_VALUE), AttrLookup::Sensitive);
        assert_eq!(value(ec, CKA_ALWAYS_AUTHENTICATE), vec![CK_TRUE]);
        assert_eq!(value(ec, CKA_KEY_TYPE), ulong(CKK_EC));
        assert_eq!(ec.lookup(CKA_EC_POINT), AttrLookup::Invalid);
        assert_eq!(ec.signing.as_ref().unwrap().signature_len, 96);
        assert_eq!(rsa.lookup(CKA_VENDOR_DEFINED), AttrLookup::Invalid);
    }

    #[test]
    fn public_key_carries_ec_point_as_octet_string() {
        let objs = objects();
        let ec_pub = &objs[3];
        let point = value(ec_pub, CKA_EC_POINT);
        assert_eq!(&point[..2], &[0x04, 97]);
        assert_eq!(point.len(), 99);
        assert_eq!(value(ec_pub, CKA_VERIFY), vec![CK_TRUE]);
        assert!(!ec_pub.private);
        assert_eq!(der_octet_string(&[0u8; 133])[..3], [0x04, 0x81, 133]);
    }

    #[test]
    fn matching_is_exact() {
        let objs = objects();
        let by_class = [(CKA_CLASS, ulong(CKO_CERTIFICATE))];
        assert_eq!(objs.iter().filter(|o| o.matches(&by_class)).count(), 2);
        let by_id = [(CKA_ID, vec![0xBB; 20])];
        assert_eq!(objs.iter().filter(|o| o.matches(&by_id)).count(), 2);
        let prefix = [(CKA_ID, vec![0xBB; 19])];
        assert_eq!(objs.iter().filter(|o| o.matches(&prefix)).count(), 0);
        let unknown = [(CKA_VENDOR_DEFINED + 7, vec![1])];
        assert_eq!(objs.iter().filter(|o| o.matches(&unknown)).count(), 0);
        let sensitive = [(CKA_PRIVATE_EXPONENT, vec![1])];
        assert_eq!(objs.iter().filter(|o| o.matches(&sensitive)).count(), 0);
        assert!(objs.iter().all(|o| o.matches(&[])));
    }
}
