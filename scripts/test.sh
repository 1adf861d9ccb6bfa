#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (in-process software cards), then
# the real-client scenarios (pkcs11-tool, OpenSC, ... through the in-process card and
# through a real pcscd + vpcd). Installs what it needs first (scripts/deps.sh).
#
# Skips are counted and fail the run (CI allows none): a scenario that cannot run here
# says SKIP and exits 77 (tests/clients/lib.sh skip_scenario); the Rust tests that
# `cargo test` ignores (they need pcscd + vpcd) must all be run by the
# scripts/test-pcsc-*.sh scenarios, or the difference counts as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
SKIP_STATUS=77

scripts/deps.sh
# The module's persistent bind cache goes to a throw-away folder, not the user's ~/.cache.
export XDG_CACHE_HOME=$(mktemp -d /tmp/eimza-test-cache.XXXXXX)
LOGS=$(mktemp -d /tmp/eimza-test-logs.XXXXXX)
trap 'rm -rf "$XDG_CACHE_HOME" "$LOGS"' EXIT
cargo build --release --workspace --locked
# Lints: every crate and target, and the module and tool as shipped (no default features).
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p eimza-pkcs11 -p eimza --no-default-features --locked -- -D warnings
cargo test --workspace --locked 2>&1 | tee "$LOGS/cargo-test.log"

# sum_field FIELD LOG...: the sum of "N FIELD;" over libtest's "test result:" lines.
sum_field() {
  local field=$1; shift
  cat "$@" | awk -v f="$field;" '/^test result:/ { for (i = 2; i <= NF; i++) if ($i == f) s += $(i - 1) } END { print s + 0 }'
}
rust_ignored=$(sum_field ignored "$LOGS/cargo-test.log")

passed=0; failed=0; skipped=0; failures=(); skips=(); pcsc_logs=()
# scripts/fuzz.sh: 20 s of fuzzing per target (installs cargo-fuzz if missing).
# scripts/test-windows.sh: the Windows build (mingw-w64) and its tests under Wine, zip, MSI.
for t in virtual-card/tests/vpcd-roundtrip.sh scripts/test-pcsc-reader.sh scripts/test-pcsc-module.sh scripts/test-windows.sh tests/clients/*.sh scripts/fuzz.sh; do
  [ "$(basename "$t")" = lib.sh ] && continue   # sourced by the scenarios, not one itself
  echo "=== $t"
  log=$LOGS/$(echo "$t" | tr / _).log
  case $t in scripts/test-pcsc-*.sh) pcsc_logs+=("$log") ;; esac
  status=0
  if [ -e "$t" ]; then bash "$t" 2>&1 | tee "$log" || status=$?; else echo "missing: $t"; status=1; fi
  if [ "$status" -eq 0 ]; then passed=$((passed + 1))
  elif [ "$status" -eq "$SKIP_STATUS" ]; then skipped=$((skipped + 1)); skips+=("$t")
  else failed=$((failed + 1)); failures+=("$t"); fi
done
rust_ignored_run=0
[ ${#pcsc_logs[@]} -eq 0 ] || rust_ignored_run=$(sum_field passed "${pcsc_logs[@]}")

for f in "${failures[@]}"; do echo "FAILED: $f"; done
for s in "${skips[@]}"; do echo "SKIPPED: $s"; done
echo "scenarios: $passed passed, $failed failed, $skipped skipped"
echo "Rust tests ignored by cargo test: $rust_ignored; run and passed by scripts/test-pcsc-*.sh: $rust_ignored_run"
rust_skipped=$((rust_ignored - rust_ignored_run))
[ "$rust_skipped" -le 0 ] || echo "SKIPPED: $rust_skipped ignored Rust test(s) never run"
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ] && [ "$rust_skipped" -le 0 ]
