//! `EIMZA_VIRTUAL_CARD=FILE[:FILE...]` (Windows: `;`): one software reader per file after the PC/SC
//! readers, the same card object for the same file, an empty slot for a bad file.

mod common;

use eimza_pkcs11::card::Card;
use eimza_pkcs11::config::Config;
use eimza_pkcs11::reader::software::software_card;
use eimza_pkcs11::reader::{system_reader_set, ReaderError};
use virtual_card::VirtualCard;

#[test]
fn software_readers_from_the_environment() {
    let dir = std::env::temp_dir().join(format!("eimza-software-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("card.vc");
    let bad = dir.join("missing.vc");
    VirtualCard::from_image(common::image(&common::ec_keys()), Some(good.clone()))
        .expect("card file");
    // Only this test in this binary touches the environment.
    // ':'-separated, ';' on Windows (like PATH).
    std::env::set_var(
        "EIMZA_VIRTUAL_CARD",
        std::env::join_paths([&good, &bad]).expect("card paths"),
    );

    let set = system_reader_set(&Config::from_env(true, None));
    let readers = set.readers();
    let software: Vec<_> = readers.iter().filter(|r| !r.is_hardware()).collect();
    assert_eq!(software.len(), 2);
    assert!(
        readers.iter().rev().take(2).all(|r| !r.is_hardware()),
        "software readers come after the PC/SC readers"
    );
    assert_eq!(software[0].name(), "eimza software card 0");
    assert!(software[0].state().present);
    assert!(!software[1].state().present);
    assert_eq!(software[1].connect().err(), Some(ReaderError::NoCard));

    let mut card = Card::new(software[0].connect().expect("connect"));
    let token = card.bind().expect("bind");
    assert_eq!(token.keys.len(), 2);

    // The registry hands out the card behind the reader: pulling it shows in the slot.
    let handle = software_card(&good.to_string_lossy()).expect("opened card");
    let before = software[0].state();
    handle.card().remove();
    let after = software[0].state();
    assert!(!after.present);
    assert_ne!(after.insertions, before.insertions);
    handle.card().insert();
    assert!(software[0].state().present);

    // A second set (module initialised again) finds the same card object.
    let again = system_reader_set(&Config::from_env(true, None));
    let soft_again: Vec<_> = again
        .readers()
        .into_iter()
        .filter(|r| !r.is_hardware())
        .collect();
    handle.card().remove();
    assert!(!soft_again[0].state().present);
    handle.card().insert();

    // Once nobody holds the card, the file is opened afresh: a re-created file counts.
    drop((software, card, soft_again, again, handle));
    drop((readers, set));
    VirtualCard::from_image(common::image(&common::ec_keys()[..1]), Some(good.clone()))
        .expect("re-created card file");
    let fresh = system_reader_set(&Config::from_env(true, None));
    let reader = fresh
        .readers()
        .into_iter()
        .find(|r| !r.is_hardware())
        .expect("software reader");
    let token = Card::new(reader.connect().expect("connect"))
        .bind()
        .expect("bind");
    assert_eq!(
        token.keys.len(),
        1,
        "the re-created card, not the cached one"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
