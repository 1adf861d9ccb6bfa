#!/usr/bin/env bash
# The demo: the card holder's tool `eimza demo` creates a software card in a temporary
# folder and walks through the mission with the real module — token info, sign and
# verify, change the PIN, block it with wrong PINs, unblock it with the PUK.
# Turkish with LANG=tr_TR.UTF-8. Installs what it needs first.
# (scripts/demo-pkcs11-tool.sh shows the same with OpenSC's pkcs11-tool.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --workspace --locked -q
exec target/release/eimza demo "$@"
