//! A hostile card: every answer to every APDU comes from the fuzz input, through the
//! module's card layer (bind, PIN operations, signing, random, logout).
#![no_main]

use eimza_fuzz::{card_session, choose_atr, Input, ScriptedChannel};
use eimza_pkcs11::card::Card;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let atr_selector = input.u8();
    let options = input.u8();
    let resets = input.u8();
    let challenge_len = usize::from(input.u16() % 1024);
    let atr = choose_atr(atr_selector, &mut input);
    let rest = input.bytes(usize::MAX);
    let mut card = Card::new(Box::new(ScriptedChannel::new(atr, resets, rest)));
    card_session(&mut card, options, challenge_len);
});
