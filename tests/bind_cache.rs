//! The persistent bind cache (pkcs11-spec.md §3.2.1) against software cards made by
//! `personalise::create`: APDU counts cold (11) and cached (4), the stale-certificate scenario
//! (a card re-personalised under the same serial), and the card layer's I/O counters
//! agreeing with what the software card itself counted.

use eimza_pkcs11::card::{thread_io, BindCache, Card, TokenData};
use eimza_pkcs11::reader::software::{SoftCard, SoftwareReader, VirtualSoftCard};
use eimza_pkcs11::reader::Reader;
use std::path::PathBuf;
use std::sync::Arc;
use virtual_card::personalise::{create, CreateOptions};
use virtual_card::{KeyAlgorithm, VirtualCard};

/// Values found nowhere else on the card, so the cache file can be searched for them.
const PIN: &str = "918273";
const PUK: &str = "56473829";
const SERIAL: [u8; 8] = [0x5E, 0x5E, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05];

fn temp_cache(name: &str) -> (PathBuf, BindCache) {
    let dir =
        std::env::temp_dir().join(format!("eimza-bind-cache-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = BindCache::new(dir.join("eimza-pkcs11"), eimza_pkcs11::ffi::effective_uid());
    (dir, cache)
}

fn software_card(keys: &[KeyAlgorithm]) -> Arc<VirtualSoftCard> {
    let image = create(&CreateOptions {
        keys: keys.to_vec(),
        serial: Some(SERIAL.to_vec()),
        pin: zeroize::Zeroizing::new(PIN.into()),
        puk: zeroize::Zeroizing::new(PUK.into()),
        ..CreateOptions::default()
    })
    .expect("personalise");
    Arc::new(VirtualSoftCard::new(
        VirtualCard::from_image(image, None).expect("card"),
    ))
}

struct Bound {
    token: TokenData,
    apdus: u64,
    transactions: u64,
}

/// Bind over a new connection; counts from the software card and checks that the
/// card layer's per-thread counters saw exactly the same I/O.
fn bind(soft: &Arc<VirtualSoftCard>, cache: &BindCache) -> Bound {
    let reader = SoftwareReader::new(
        "eimza software card 0".into(),
        Some(soft.clone() as Arc<dyn SoftCard>),
    );
    let mut card = Card::new(reader.connect().expect("connect"));
    let before = soft.card().stats();
    let io_before = thread_io();
    let token = card.bind_with_cache(Some(cache)).expect("bind");
    let io = thread_io().since(io_before);
    let after = soft.card().stats();
    let apdus = after.apdus - before.apdus;
    assert_eq!(io.apdus, apdus, "card-layer APDU count");
    assert_eq!(
        io.bytes,
        (after.bytes_in - before.bytes_in) + (after.bytes_out - before.bytes_out),
        "card-layer byte count"
    );
    let transactions = after.transactions - before.transactions;
    assert_eq!(
        io.transactions, transactions,
        "card-layer transaction count"
    );
    Bound {
        token,
        apdus,
        transactions,
    }
}

#[test]
fn one_key_card_binds_in_11_apdus_cold_and_4_from_the_cache() {
    let (dir, cache) = temp_cache("one-key");
    let soft = software_card(&[KeyAlgorithm::Rsa2048]);
    let cold = bind(&soft, &cache);
    println!("cold bind: {} APDUs", cold.apdus);
    assert!(cold.apdus <= 12, "cold bind {} APDUs", cold.apdus);
    assert_eq!(cold.apdus, 11);
    assert_eq!(cold.transactions, 1);
    let entry = cache.entry_path(&SERIAL).expect("entry path");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&entry)
            .expect("entry written")
            .permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
    }

    let warm = bind(&soft, &cache);
    println!("cached bind: {} APDUs", warm.apdus);
    // SELECT, TokenInfo, PIN counter, PUK counter.
    assert_eq!(warm.apdus, 4);
    assert_eq!(warm.transactions, 1);
    assert_eq!(warm.token, cold.token);
    // Only public data is stored: no PIN or PUK value.
    let stored = std::fs::read(&entry).expect("entry");
    for secret in [PIN.as_bytes(), PUK.as_bytes()] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret),
            "secret in the cache"
        );
    }
    // (Private keys never leave the card: the entry holds only READ BINARY answers.)
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_re_personalised_card_with_the_same_serial_never_gets_the_old_certificate() {
    let (dir, cache) = temp_cache("stale");
    let old = software_card(&[KeyAlgorithm::Rsa2048]);
    let first = bind(&old, &cache);
    assert_eq!(bind(&old, &cache).apdus, 4, "served from the cache");

    // Same serial, new key and certificate, new lastUpdate.
    let new = software_card(&[KeyAlgorithm::P256]);
    let second = bind(&new, &cache);
    assert_ne!(second.token.last_update, first.token.last_update);
    assert!(second.apdus > 4, "the new card must be read, not served");
    let user_cert = |t: &TokenData| {
        t.certificates
            .iter()
            .find(|c| !c.authority)
            .map(|c| c.der.clone())
            .expect("end-user certificate")
    };
    assert_ne!(user_cert(&second.token), user_cert(&first.token));
    let image_cert = new.card().image().files.iter().find_map(|f| {
        if f.path.last() == Some(&0x4305) {
            f.body.clone()
        } else {
            None
        }
    });
    let image_cert = image_cert.expect("certificate file in the image");
    let cert = user_cert(&second.token);
    assert_eq!(&image_cert[..cert.len()], &cert[..]);
    assert!(matches!(
        second.token.keys[0].public,
        eimza_pkcs11::card::PublicKey::Ec { .. }
    ));

    // And the old card, if it comes back, is read again too (its entry was replaced).
    let again = bind(&old, &cache);
    assert!(again.apdus > 4);
    assert_eq!(user_cert(&again.token), user_cert(&first.token));
    let _ = std::fs::remove_dir_all(dir);
}
