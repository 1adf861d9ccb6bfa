#!/bin/bash
# Runs tests/pcsc_reader.rs against a real pcscd with the vpcd virtual reader.
# Starts its own pcscd through tests/pcsc/harness.sh (refuses if one is already running:
# one per machine) and stops it by PID on exit.
set -eu
cd "$(dirname "$0")/.."
# Build first so pcscd does not sit idle during compilation.
cargo test -p eimza-pkcs11 --test pcsc_reader --no-run
source tests/pcsc/harness.sh
pcsc_start
cargo test -p eimza-pkcs11 --test pcsc_reader -- --ignored --nocapture --test-threads=1 "$@"
