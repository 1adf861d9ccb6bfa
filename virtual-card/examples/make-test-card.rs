//! Writes a hand-made test card (tests/common) to FILE, for scripts that need a card
//! before personalisation is available: `cargo run -p virtual-card --example
//! make-test-card -- FILE`.

#[path = "../tests/common/mod.rs"]
mod common;

use virtual_card::{KeyAlgorithm, VirtualCard};

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: make-test-card FILE");
        return std::process::ExitCode::from(2);
    };
    let image = common::image(&[(KeyAlgorithm::Rsa2048, false), (KeyAlgorithm::P256, false)]);
    match VirtualCard::from_image(image, Some(path.into())) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-test-card: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
