//! Every PKCS#15 decoder with arbitrary bytes. What decodes must re-encode to bytes
//! that decode back to the same encoding (the software card writes with the encoders
//! the module reads with). Compared as encodings, not values, because the encoder
//! normalises on purpose (e.g. a Path `length` without `index` gets `index 0`).
#![no_main]

use eimza_pkcs15 as p15;
use libfuzzer_sys::fuzz_target;

/// decode(encode(v)) must succeed and encode to the same bytes again.
fn stable<T>(
    name: &str,
    value: &T,
    encode: impl Fn(&T) -> Vec<u8>,
    decode: impl Fn(&[u8]) -> p15::Result<T>,
) {
    let first = encode(value);
    let again = decode(&first).unwrap_or_else(|e| panic!("{name}: own encoding rejected: {e}"));
    assert_eq!(encode(&again), first, "{name}: encoding not stable");
}

fuzz_target!(|data: &[u8]| {
    let _ = p15::der_total_length(data);
    if let Ok(records) = p15::parse_dir_records(data) {
        stable(
            "EF.DIR",
            &records,
            |r| p15::encode_dir_records(r),
            p15::parse_dir_records,
        );
    }
    if let Ok(entries) = p15::parse_odf(data) {
        for kind in [
            p15::OdfKind::PrivateKeys,
            p15::OdfKind::PublicKeys,
            p15::OdfKind::Certificates,
            p15::OdfKind::AuthObjects,
        ] {
            if let Some(path) = p15::odf_path(&entries, kind) {
                let _ = (path.fids(), path.absolute_fids(&[0x3F00, 0x3D00]));
            }
        }
        stable("ODF", &entries, |e| p15::encode_odf(e), p15::parse_odf);
    }
    if let Ok(info) = p15::parse_token_info(data) {
        if let Ok(bytes) = p15::encode_token_info(&info) {
            let again = p15::parse_token_info(&bytes).expect("TokenInfo: own encoding rejected");
            assert_eq!(
                p15::encode_token_info(&again).ok(),
                Some(bytes),
                "TokenInfo: encoding not stable"
            );
        }
    }
    if let Ok(pins) = p15::parse_aodf(data) {
        stable("AODF", &pins, |p| p15::encode_aodf(p), p15::parse_aodf);
    }
    if let Ok(keys) = p15::parse_prkdf(data) {
        stable("PrKDF", &keys, |k| p15::encode_prkdf(k), p15::parse_prkdf);
    }
    if let Ok(keys) = p15::parse_pukdf(data) {
        stable("PuKDF", &keys, |k| p15::encode_pukdf(k), p15::parse_pukdf);
    }
    if let Ok(certs) = p15::parse_cdf(data) {
        stable("CDF", &certs, |c| p15::encode_cdf(c), p15::parse_cdf);
    }
});
