//! `eimza demo`: the card's life on a software card, through the real eimza module.

use crate::commands::Out;
use crate::i18n::Msg;
use crate::{Exit, Failure, Options};

pub fn run(_opts: &Options, _out: &Out) -> Result<(), Failure> {
    Err(Failure::new(
        Exit::Other,
        Msg::DemoNeeds("virtual_card::personalise and virtual_card::store".into()),
    ))
}
