#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (in-process software cards), then
# the real-client scenarios (pkcs11-tool, OpenSC, ... through the in-process card and
# through a real pcscd + vpcd). Installs what it needs first (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

scripts/deps.sh
# The module's persistent bind cache goes to a throw-away folder, not the user's ~/.cache.
export XDG_CACHE_HOME=$(mktemp -d /tmp/eimza-test-cache.XXXXXX)
trap 'rm -rf "$XDG_CACHE_HOME"' EXIT
cargo build --release --workspace --locked
# Lints: every crate and target, and the module and tool as shipped (no default features).
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p eimza-pkcs11 -p eimza --no-default-features --locked -- -D warnings
cargo test --workspace --locked

passed=0; failed=0; failures=()
# scripts/fuzz.sh: 20 s of fuzzing per target (installs cargo-fuzz if missing).
for t in virtual-card/tests/vpcd-roundtrip.sh scripts/test-pcsc-reader.sh scripts/test-pcsc-module.sh tests/clients/*.sh scripts/fuzz.sh; do
  [ -e "$t" ] || continue
  [ "$(basename "$t")" = lib.sh ] && continue   # sourced by the scenarios, not one itself
  echo "=== $t"
  if bash "$t"; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$t"); fi
done
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "scenarios: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
