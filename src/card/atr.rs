//! ATR parsing: which AKIS family a card belongs to and what its card-capabilities
//! object offers (pkcs11-spec.md §1.1). The code is shared with `eimza diagnose`
//! (crate `akis/`), so the module and the holder's tool always agree on a card's
//! family; its tests are there.

pub use eimza_akis::atr::{parse, Atr, Capabilities, Family};
