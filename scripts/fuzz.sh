#!/usr/bin/env bash
# Coverage-guided fuzzing of everything that parses outside input (fuzz/, cargo-fuzz +
# libFuzzer): a hostile card (card_answers), PKCS#15 files (pkcs15), APDU/ATR bytes
# (apdu_response), certificates → objects (certificate), random PKCS#11 call
# sequences through the C entry points (pkcs11_api), the bind cache's files
# (bind_cache) and the software card's files (card_file).
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]   fuzz each target SECONDS (default 20; CI)
#   FUZZ_REPLAY=1 scripts/fuzz.sh           only build and replay the committed seeds
#
# Starts from fuzz/seeds/TARGET (committed; regenerate with
# `cargo run --release --manifest-path fuzz/Cargo.toml --bin make_seeds`) and keeps
# what it finds in fuzz/corpus/TARGET (not committed). A crash or panic fails the
# script; the input is in fuzz/artifacts/TARGET/. Prints executions and libFuzzer's
# coverage (cov: edges, ft: features) per target.
#
# cargo-fuzz needs nightly-only compiler flags; with a stable toolchain
# RUSTC_BOOTSTRAP=1 unlocks them (the same compiler, no nightly download).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(card_answers pkcs15 apdu_response certificate pkcs11_api bind_cache card_file)
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (about 40 s)"
  cargo install cargo-fuzz --locked --quiet
fi
cargo fuzz build -O >/dev/null

status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if [ "${FUZZ_REPLAY:-0}" = 1 ]; then
    args=(-runs=0)
  else
    args=(-max_total_time="$seconds" -print_final_stats=1)
  fi
  if cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- "${args[@]}" >"$log" 2>&1; then
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
    last=$(grep -E '^#[0-9]+.*(DONE|INITED|cov:)' "$log" | tail -1 || true)
    cov=$(echo "$last" | grep -Eo 'cov: [0-9]+' || true)
    ft=$(echo "$last" | grep -Eo 'ft: [0-9]+' || true)
    corp=$(echo "$last" | grep -Eo 'corp: [0-9]+' || true)
    echo "fuzz $t: ok, ${execs:-?} executions, $cov $ft $corp"
  else
    status=1
    echo "fuzz $t: FAILED"
    grep -E 'panicked|assert|ERROR|SUMMARY|artifact' "$log" | head -20
  fi
  rm -f "$log"
done
[ "$status" -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit "$status"
