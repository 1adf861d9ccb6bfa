//! Certificate DER from the card → PKCS#11 objects (src/object.rs): subject, issuer,
//! serial, SPKI extraction and every attribute lookup, with arbitrary DER and key data.
#![no_main]

use cryptoki_sys::*;
use eimza_fuzz::{fallback_pin, Input};
use eimza_pkcs11::card::atr::Family;
use eimza_pkcs11::card::profile::family_profile;
use eimza_pkcs11::card::{CertificateEntry, Curve, KeyEntry, PublicKey, TokenData};
use eimza_pkcs11::object::{build_objects, AttrLookup};
use libfuzzer_sys::fuzz_target;

const ATTRIBUTES: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_ID,
    CKA_VALUE,
    CKA_SUBJECT,
    CKA_ISSUER,
    CKA_SERIAL_NUMBER,
    CKA_CERTIFICATE_TYPE,
    CKA_CERTIFICATE_CATEGORY,
    CKA_TRUSTED,
    CKA_CHECK_VALUE,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_KEY_TYPE,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_PUBLIC_KEY_INFO,
    CKA_SIGN,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_PRIVATE_EXPONENT,
    CKA_URL,
    0x8000_0001,
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let id = input.chunk().unwrap_or_default().to_vec();
    let shape = input.u8();
    let bits = input.u32() as usize;
    let public = if shape & 1 == 0 {
        PublicKey::Rsa {
            modulus: input.chunk().unwrap_or_default().to_vec(),
            exponent: input.chunk().unwrap_or_default().to_vec(),
        }
    } else {
        PublicKey::Ec {
            curve: [Curve::P256, Curve::P384, Curve::P521][usize::from(shape >> 1) % 3],
            ec_params: input.chunk().unwrap_or_default().to_vec(),
            point: input.chunk().unwrap_or_default().to_vec(),
        }
    };
    let ca_der = input.chunk().unwrap_or_default().to_vec();
    // The rest is the key's certificate: where the DER parser is exercised most.
    let der = input.bytes(usize::MAX).to_vec();
    let token = TokenData {
        label: "fuzz".into(),
        serial: "00".into(),
        manufacturer: String::new(),
        model: String::new(),
        user_pin: fallback_pin(0x81, 3),
        puk: None,
        keys: vec![KeyEntry {
            label: "key".into(),
            id: id.clone(),
            key_ref: 1,
            public,
            bits,
            user_consent: shape & 0x10 != 0,
            usage_sign: true,
            usage_non_repudiation: shape & 0x20 != 0,
            auth_id: vec![1],
        }],
        certificates: vec![
            CertificateEntry {
                label: "cert".into(),
                id,
                der,
                authority: false,
            },
            CertificateEntry {
                label: "ca".into(),
                id: vec![9],
                der: ca_der,
                authority: true,
            },
        ],
        last_update: None,
        family: family_profile(Family::AkisV2x),
        max_command_data: eimza_pkcs11::apdu::EXTENDED_MAX_NC,
    };
    let mut next = 0;
    let objects = build_objects(&token, || {
        next += 1;
        next
    });
    assert!(
        objects.len() >= 3,
        "key pair and CA certificate always present"
    );
    for object in &objects {
        let _ = object.size();
        let mut template = Vec::new();
        for &attribute in ATTRIBUTES {
            if let AttrLookup::Value(v) = object.lookup(attribute) {
                template.push((attribute, v.to_vec()));
            }
        }
        // An object matches a template made of its own values.
        assert!(object.matches(&template), "object does not match itself");
    }
});
