#!/bin/bash
# Runs tests/pcsc_module.rs: the built module, loaded by the cryptoki crate, against a
# real pcscd with the vpcd virtual reader (software and hand-made cards served into it
# from the test process). Starts its own pcscd through tests/pcsc/harness.sh (refuses if
# one is already running: one per machine) and stops it by PID on exit.
set -eu
cd "$(dirname "$0")/.."
# Build first (the test binary, the module and the card tool) so pcscd does not sit idle
# during compilation.
cargo build -p eimza-pkcs11 --lib
cargo build -p virtual-card --bin eimza-vcard
cargo test -p eimza-pkcs11 --test pcsc_module --no-run
source tests/pcsc/harness.sh
pcsc_start
status=0
cargo test -p eimza-pkcs11 --test pcsc_module -- --ignored --test-threads=1 --nocapture "$@" || status=$?
if [ "$status" -ne 0 ] && [ -n "${PCSCD_DEBUG:-}" ]; then tail -100 "$HARNESS_TMP/pcscd.log" >&2; fi
exit "$status"
