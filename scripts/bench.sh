#!/usr/bin/env bash
# Benchmarks, side by side (BENCHMARKS.md explains every figure):
#   1. our module, software card in process (EIMZA_VIRTUAL_CARD)
#   2. our module through pcscd + vpcd (eimza-vcard serve)
#   3. the raw replay of the module's signing APDUs through pcscd (the transport floor)
#   4. SoftHSM2 (RSA-2048 and EC P-256 keys made by pkcs11-tool)
# plus APDU counts per phase (from the module's debug log), the persistent bind cache
# cold and warm, module memory with a 4-key card, and `pkcs11-tool -O` cold start.
#
# Usage: scripts/bench.sh [--quick] [--no-build] [--out DIR]
#   --quick     CI: small counts, checks only that the tool runs and that the APDU
#               counts meet the goals (no timing assertions); exit 1 if a count misses.
#   --no-build  use target/release as it is.
# Environment: DELAYS (card delays for the timed runs, default
#   "rsa=60ms,ecdsa=30ms,apdu=5ms", i.e. EIMZA_VCARD_DELAYS), ITERATIONS (50),
#   PER_THREAD (100).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

QUICK=0; BUILD=1; OUT=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --out) OUT=$2; shift ;;
    *) echo "usage: $0 [--quick] [--no-build] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
DELAYS=${DELAYS:-rsa=60ms,ecdsa=30ms,apdu=5ms}
ITERATIONS=${ITERATIONS:-50}
PER_THREAD=${PER_THREAD:-100}
AUTO_OUT=0
[ -n "$OUT" ] || { OUT=$(mktemp -d /tmp/eimza-bench.XXXXXX); AUTO_OUT=1; }
mkdir -p "$OUT"
REL=$ROOT/target/release
MODULE=$REL/libeimza_pkcs11.so
BENCH=$REL/eimza-bench
VCARD=$REL/eimza-vcard
SOFTHSM=${SOFTHSM:-/usr/lib/softhsm/libsofthsm2.so}

if [ "$BUILD" -eq 1 ]; then
  cargo build --release --locked -p eimza-pkcs11 -p eimza-bench -p virtual-card
fi

# Nothing from the caller's environment may change what is measured.
unset EIMZA_VIRTUAL_CARD EIMZA_PKCS11_LOG EIMZA_PKCS11_LOG_LEVEL EIMZA_VCARD_DELAYS EIMZA_PKCS11_CACHE
export XDG_CACHE_HOME=$OUT/cache

cleanup() {
  if declare -F harness_cleanup >/dev/null; then harness_cleanup; fi
  # CI runs leave nothing behind; a full run keeps its results.
  if [ "$QUICK" -eq 1 ] && [ "$AUTO_OUT" -eq 1 ]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT

echo "bench: results in $OUT"
{ date -u '+%Y-%m-%d %H:%M:%S UTC'; uptime; nproc; } > "$OUT/machine.txt"

# ---- cards (one shared test CA)
CA=$OUT/ca
"$VCARD" create "$OUT/one.card" --serial 0E1B0000000000A1 --key rsa2048 --ca-dir "$CA" >/dev/null
"$VCARD" create "$OUT/two.card" --serial 0E1B0000000000A2 --key rsa2048 --key p256 --ca-dir "$CA" >/dev/null
"$VCARD" create "$OUT/four.card" --serial 0E1B0000000000A4 \
  --key rsa2048 --key rsa3072 --key p256 --key p384 --ca-dir "$CA" >/dev/null
# Four identical one-key cards for the parallel-cards runs (each signed from its own
# thread): 7 rounds of the first card alone, then all together, 30 signatures per card.
PARALLEL=()
PARALLEL_ARGS=(--iterations 7 --per-thread 30)
for i in 1 2 3 4; do
  "$VCARD" create "$OUT/parallel$i.card" --serial 0E1B00000000C00$i --key rsa2048 --ca-dir "$CA" >/dev/null
  PARALLEL+=("AKIS_0E1B00000000C00$i")
done

# Every run names its card: with a PC/SC reader holding some other card (another
# pcscd user), the first slot would not be ours.
ONE=AKIS_0E1B0000000000A1 TWO=AKIS_0E1B0000000000A2 FOUR=AKIS_0E1B0000000000A4

# run NAME ARGS... : one eimza-bench run, output in $OUT/NAME.txt, shown as it goes.
# A failed run fails the quick (CI) mode; the full mode reports it and goes on.
run() {
  local name=$1; shift
  echo "--- $name"
  local status=0 env=""
  for v in EIMZA_VIRTUAL_CARD EIMZA_VCARD_DELAYS EIMZA_PKCS11_CACHE; do
    [ -z "${!v:-}" ] || env+="$v=${!v} "
  done
  # The exact command of each figure, for BENCHMARKS.md.
  echo "$name: ${env}eimza-bench --name $name $*" >> "$OUT/commands.txt"
  "$BENCH" --name "$name" "$@" > "$OUT/$name.txt" 2>&1 || status=$?
  grep -v '^BENCH ' "$OUT/$name.txt" || true
  if [ "$status" -ne 0 ]; then
    echo "bench: run $name failed (exit $status)" >&2
    FAILED_RUNS=$((FAILED_RUNS + 1))
    [ "$QUICK" -eq 0 ] || return 1
  fi
  return 0
}
FAILED_RUNS=0
COUNT_ARGS=(--iterations 5 --threads 1,8 --per-thread 5)

# ---- 1. in process: APDU counts (cache off = cold, then cache on: cold, cached)
EIMZA_VIRTUAL_CARD=$OUT/one.card EIMZA_PKCS11_CACHE=0 \
  run count-inproc-nocache --module "$MODULE" --token-label "$ONE" --apdu-log "$OUT/count-inproc-nocache.log" "${COUNT_ARGS[@]}"
rm -rf "$XDG_CACHE_HOME"
EIMZA_VIRTUAL_CARD=$OUT/one.card run count-inproc-cold --module "$MODULE" --token-label "$ONE" --no-sign \
  --apdu-log "$OUT/count-inproc-cold.log"
EIMZA_VIRTUAL_CARD=$OUT/one.card run count-inproc-cached --module "$MODULE" --token-label "$ONE" \
  --apdu-log "$OUT/count-inproc-cached.log" "${COUNT_ARGS[@]}"

# ---- SoftHSM2 token: RSA-2048 + EC P-256, as pkcs11-tool makes them
softhsm_setup() {
  local dir=$OUT/softhsm
  mkdir -p "$dir/tokens"
  printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$dir/tokens" > "$dir/softhsm2.conf"
  export SOFTHSM2_CONF=$dir/softhsm2.conf
  softhsm2-util --init-token --free --label bench --pin 123456 --so-pin 12345678 >/dev/null
  pkcs11-tool --module "$SOFTHSM" --token-label bench --login --pin 123456 \
    --keypairgen --key-type rsa:2048 --id 01 --label rsa2048 >/dev/null
  pkcs11-tool --module "$SOFTHSM" --token-label bench --login --pin 123456 \
    --keypairgen --key-type EC:prime256v1 --id 02 --label p256 >/dev/null
}
HAVE_SOFTHSM=0
if [ -e "$SOFTHSM" ] && command -v softhsm2-util >/dev/null; then
  softhsm_setup && HAVE_SOFTHSM=1
fi

# ---- pcscd + vpcd (one pcscd per machine: wait for another user's to go away)
HAVE_PCSCD=0
pcscd_up() {
  # shellcheck source=../tests/pcsc/harness.sh
  source "$ROOT/tests/pcsc/harness.sh"
  trap cleanup EXIT  # the harness set its own; ours calls it
  local waited=0
  while pgrep -x pcscd >/dev/null; do
    if [ "$waited" -ge "${PCSCD_WAIT:-300}" ]; then echo "bench: pcscd busy, skipping" >&2; return 1; fi
    sleep 5; waited=$((waited + 5))
  done
  pcsc_start
}
serve() { # serve CARD [DELAYS]
  vcard_stop 35963
  EIMZA_VCARD_DELAYS=${2:-} vcard_serve "$1" 35963
}

if [ "$QUICK" -eq 1 ]; then
  if PCSCD_WAIT=120 pcscd_up; then
    HAVE_PCSCD=1
    serve "$OUT/one.card"
    EIMZA_PKCS11_CACHE=0 run count-pcscd-nocache --module "$MODULE" --token-label "$ONE" \
      --apdu-log "$OUT/count-pcscd-nocache.log" "${COUNT_ARGS[@]}"
    run raw-pcscd-quick --raw-pcsc "Virtual PCD 00 00" --iterations 5
  fi
  if [ "$HAVE_SOFTHSM" -eq 1 ]; then
    run softhsm-quick --module "$SOFTHSM" --token-label bench --quick
  fi
else
  # ---- 1. in process, timed (cache off: every bind is cold)
  EIMZA_VIRTUAL_CARD=$OUT/two.card EIMZA_VCARD_DELAYS=$DELAYS EIMZA_PKCS11_CACHE=0 \
    run inproc --module "$MODULE" --token-label "$TWO" --iterations "$ITERATIONS" --per-thread "$PER_THREAD"
  # Module overhead: no card delays, C_Sign against the raw exchange, alternately.
  cp "$OUT/two.card" "$OUT/two-raw.card"
  EIMZA_VIRTUAL_CARD=$OUT/two.card EIMZA_PKCS11_CACHE=0 \
    run inproc-overhead --module "$MODULE" --token-label "$TWO" --iterations 100 --threads 1 --per-thread 20 \
    --overhead-vcard "$OUT/two-raw.card"
  # Memory: a 4-key card, bind only.
  EIMZA_VIRTUAL_CARD=$OUT/four.card EIMZA_PKCS11_CACHE=0 run memory-4key --module "$MODULE" --token-label "$FOUR" --no-sign
  EIMZA_VIRTUAL_CARD=$OUT/four.card EIMZA_PKCS11_CACHE=0 run count-4key --module "$MODULE" --token-label "$FOUR" --no-sign \
    --apdu-log "$OUT/count-4key.log"
  # Two and four cards at once, each from its own thread (card delays on).
  EIMZA_VIRTUAL_CARD=$OUT/parallel1.card:$OUT/parallel2.card EIMZA_VCARD_DELAYS=$DELAYS EIMZA_PKCS11_CACHE=0 \
    run parallel2-inproc --module "$MODULE" --parallel-cards "${PARALLEL[0]},${PARALLEL[1]}" "${PARALLEL_ARGS[@]}"
  EIMZA_VIRTUAL_CARD=$OUT/parallel1.card:$OUT/parallel2.card:$OUT/parallel3.card:$OUT/parallel4.card \
    EIMZA_VCARD_DELAYS=$DELAYS EIMZA_PKCS11_CACHE=0 \
    run parallel4-inproc --module "$MODULE" --parallel-cards "$(IFS=,; echo "${PARALLEL[*]}")" "${PARALLEL_ARGS[@]}"

  # ---- 4. SoftHSM2
  if [ "$HAVE_SOFTHSM" -eq 1 ]; then
    run softhsm --module "$SOFTHSM" --token-label bench --iterations "$ITERATIONS" --per-thread "$PER_THREAD"
  fi

  # ---- cold start as a user sees it: pkcs11-tool -O, cache off and on
  if command -v hyperfine >/dev/null; then
    for cache in 0 1; do
      EIMZA_VIRTUAL_CARD=$OUT/one.card EIMZA_VCARD_DELAYS=$DELAYS EIMZA_PKCS11_CACHE=$cache \
        hyperfine -N --warmup 2 --runs 20 --export-csv "$OUT/coldstart-cache$cache.csv" \
        "pkcs11-tool --module $MODULE --token-label $ONE -O" > "$OUT/coldstart-cache$cache.txt" 2>&1 || true
      EIMZA_VIRTUAL_CARD=$OUT/one.card EIMZA_PKCS11_CACHE=$cache \
        hyperfine -N --warmup 2 --runs 20 --export-csv "$OUT/coldstart-nodelay-cache$cache.csv" \
        "pkcs11-tool --module $MODULE --token-label $ONE -O" > "$OUT/coldstart-nodelay-cache$cache.txt" 2>&1 || true
    done
  fi

  # ---- 2. + 3. through pcscd + vpcd: module, raw replay; with card delays and without
  if pcscd_up; then
    HAVE_PCSCD=1
    serve "$OUT/one.card"
    EIMZA_PKCS11_CACHE=0 run count-pcscd-nocache --module "$MODULE" --token-label "$ONE" \
      --apdu-log "$OUT/count-pcscd-nocache.log" "${COUNT_ARGS[@]}"
    rm -rf "$XDG_CACHE_HOME"
    run count-pcscd-cold --module "$MODULE" --token-label "$ONE" --no-sign --apdu-log "$OUT/count-pcscd-cold.log"
    run count-pcscd-cached --module "$MODULE" --token-label "$ONE" --no-sign --apdu-log "$OUT/count-pcscd-cached.log"
    serve "$OUT/two.card" "$DELAYS"
    EIMZA_PKCS11_CACHE=0 run pcscd --module "$MODULE" --token-label "$TWO" --iterations "$ITERATIONS" --per-thread "$PER_THREAD" \
      --overhead-pcsc "Virtual PCD 00 00"
    run raw-pcscd --raw-pcsc "Virtual PCD 00 00" --iterations "$ITERATIONS"
    serve "$OUT/two.card"
    EIMZA_PKCS11_CACHE=0 run pcscd-nodelay --module "$MODULE" --token-label "$TWO" --iterations 200 --threads 1,8 --per-thread 50 \
      --overhead-pcsc "Virtual PCD 00 00"
    run raw-pcscd-nodelay --raw-pcsc "Virtual PCD 00 00" --iterations 200
    # Two vpcd readers, a card in each, each signed from its own thread.
    serve "$OUT/parallel1.card" "$DELAYS"
    EIMZA_VCARD_DELAYS=$DELAYS vcard_serve "$OUT/parallel2.card" 35964
    EIMZA_PKCS11_CACHE=0 run parallel2-pcscd --module "$MODULE" --parallel-cards "${PARALLEL[0]},${PARALLEL[1]}" \
      "${PARALLEL_ARGS[@]}"
    vcard_stop 35964
    harness_cleanup
    unset -f harness_cleanup
  fi
fi

{ date -u '+%Y-%m-%d %H:%M:%S UTC'; uptime; } > "$OUT/machine-end.txt"

# ---- summary: goal, target, measured
cat "$OUT"/*.txt 2>/dev/null | grep '^BENCH ' > "$OUT/all.bench" || true
# val RUN METRIC: the value of one exact metric of one run ("" when absent)
val() {
  awk -v run="$1" -v metric="$2" '$2 == run {
      m = $3; for (i = 4; i <= NF - 2; i++) m = m " " $i
      if (m == metric) { print $(NF - 1); exit } }' "$OUT/all.bench"
}
# valre RUN REGEX: first metric of the run matching REGEX
valre() {
  awk -v run="$1" -v re="$2" '$2 == run {
      m = $3; for (i = 4; i <= NF - 2; i++) m = m " " $i
      if (m ~ re) { print $(NF - 1); exit } }' "$OUT/all.bench"
}
MISSED=0
SUMMARY=$OUT/summary.md
printf '| goal | target | measured | |\n|---|---|---|---|\n' > "$SUMMARY"
# goal TEXT TARGET-TEXT VALUE OP LIMIT [count]: OP is le/ge; "count" goals fail the run
goal() {
  local text=$1 target=$2 value=$3 op=$4 limit=$5 kind=${6:-timing} verdict
  if [ -z "$value" ]; then verdict="not measured"
  elif awk -v v="$value" -v l="$limit" -v op="$op" 'BEGIN { exit !((op == "le") ? (v + 0 <= l + 0) : (v + 0 >= l + 0)) }'; then
    verdict="met"
  else
    verdict="MISSED"; [ "$kind" = count ] && MISSED=$((MISSED + 1))
  fi
  printf '| %s | %s | %s | %s |\n' "$text" "$target" "${value:-—}" "$verdict" >> "$SUMMARY"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print ""; else printf "%.3f", a / b }'; }

for t in inproc pcscd; do
  c=count-$t-nocache
  [ -n "$(val "$c" "load + C_Initialize: APDUs")" ] || continue
  goal "$t: C_Initialize APDUs" "0" "$(val "$c" "load + C_Initialize: APDUs")" le 0 count
  goal "$t: C_GetSlotList ×200 APDUs" "0" "$(val "$c" "C_GetSlotList x200: APDUs")" le 0 count
  goal "$t: C_GetSlotInfo ×500 APDUs" "0" "$(val "$c" "C_GetSlotInfo x500: APDUs")" le 0 count
  goal "$t: C_GetTokenInfo ×500 APDUs" "0" "$(val "$c" "C_GetTokenInfo x500: APDUs")" le 0 count
  goal "$t: C_GetSessionInfo ×500 APDUs" "0" "$(val "$c" "C_GetSessionInfo x500: APDUs")" le 0 count
  goal "$t: token bind, one-key card, cold (APDUs)" "≤ 12" "$(val "$c" "token bind: APDUs")" le 12 count
  goal "$t: token bind, transactions" "1" "$(val "$c" "token bind: transactions")" le 1 count
  goal "$t: C_Login APDUs" "≤ 2" "$(val "$c" "C_Login: APDUs")" le 2 count
  goal "$t: C_Sign APDUs per signature (logged in)" "≤ 2" "$(valre "$c" "CKM_SHA256_RSA_PKCS: APDUs per signature$")" le 2 count
  goal "$t: C_Digest (SHA-256, 1 MiB) and C_Verify, every key and mechanism: APDUs" "0" "$(val "$c" "C_Digest + C_Verify: APDUs")" le 0 count
  goal "$t: polled calls during C_Sign, APDUs" "0" "$(valre "$c" "^polled calls during C_Sign: C_GetTokenInfo APDUs$")" le 0 count
  goal "$t: 8 threads, APDUs per signature" "≤ 2" "$(val "$c" "8 threads: APDUs per signature")" le 2 count
  goal "$t: 8 threads, errors" "0" "$(valre "$c" "^8 threads x .*: errors$")" le 0 count
done
goal "inproc: token bind cold, cache on (writes the entry)" "≤ 12" "$(val count-inproc-cold "token bind: APDUs")" le 12 count
# The issue's goal is 3; the module keeps both counter queries (4) so the PIN/PUK
# flags are live (BENCHMARKS.md): 3 is reported, 4 is what the quick mode enforces.
for t in inproc pcscd; do
  v=$(val "count-$t-cached" "token bind: APDUs")
  [ -n "$v" ] || continue
  goal "$t: token bind from the persistent cache (issue goal)" "≤ 3" "$v" le 3
  goal "$t: token bind from the persistent cache (SELECT, TokenInfo, 2 counters)" "≤ 4" "$v" le 4 count
  goal "$t: token bind from the persistent cache, transactions" "1" "$(val "count-$t-cached" "token bind: transactions")" le 1 count
done
if [ "$QUICK" -eq 0 ]; then
  for mech in CKM_RSA_PKCS CKM_ECDSA; do
    goal "inproc: module overhead per C_Sign $mech (median of paired differences, µs)" "≤ 50" \
      "$(val inproc-overhead "in-process $mech: module overhead per C_Sign (median of paired differences)")" le 50
  done
  for t in pcscd pcscd-nodelay; do
    for mech in CKM_RSA_PKCS CKM_ECDSA; do
      m=$(val "$t" "PC/SC $mech: C_Sign (paired) median"); r=$(val "$t" "PC/SC $mech: raw MSE+PSO (paired) median")
      goal "$t: $mech C_Sign / raw replay through pcscd, paired medians ($m ms / $r ms)" "≤ 1.10" \
        "$(val "$t" "PC/SC $mech: C_Sign / raw exchange (paired medians)")" le 1.10
    done
    m=$(valre "$t" "CKM_RSA_PKCS median$"); r=$(valre "raw-${t}" "median$")
    goal "$t: CKM_RSA_PKCS, the same from separate runs ($m ms / $r ms)" "≤ 1.10" "$(ratio "$m" "$r")" le 1.10
  done
  for t in inproc pcscd softhsm; do
    [ -n "$(val "$t" "C_Login")" ] || continue
    for f in C_GetSlotInfo C_GetTokenInfo C_GetSessionInfo; do
      goal "$t: $f p99 while C_Sign runs (ms)" "≤ 1" "$(val "$t" "$f during C_Sign p99")" le 1
    done
    goal "$t: 8 threads × $PER_THREAD signatures, errors" "0" "$(valre "$t" "^8 threads x .*: errors$")" le 0
    goal "$t: 8 threads throughput / 1 thread" "≥ 0.9" "$(val "$t" "8 threads throughput / 1 thread")" ge 0.9
  done
  for t in parallel2-inproc parallel4-inproc parallel2-pcscd; do
    n=${t#parallel}; n=${n%%-*}
    goal "$t: $n cards, each from its own thread: throughput / ($n × 1 card)" "≥ 0.9" \
      "$(val "$t" "$n cards throughput / ($n x 1 card)")" ge 0.9
  done
  goal "module RSS growth, bind of a 4-key card (MiB)" "≤ 5" "$(val memory-4key "RSS growth: bind only")" le 5
  goal "module RSS growth, load + bind of a 4-key card (MiB)" "≤ 5" "$(val memory-4key "RSS growth: load + bind")" le 5
  for cache in 0 1; do
    for kind in "" nodelay-; do
      f=$OUT/coldstart-${kind}cache$cache.csv
      [ -e "$f" ] || continue
      median=$(awk -F, 'NR == 2 { printf "%.1f", $4 * 1000 }' "$f")
      printf '| pkcs11-tool -O wall time, median (ms), cache %s%s | report | %s | |\n' \
        "$([ "$cache" = 1 ] && echo on || echo off)" "$([ -n "$kind" ] && echo ", no card delays" || echo ", card delays")" \
        "$median" >> "$SUMMARY"
    done
  done
fi
echo
echo "== summary"
{ [ "$QUICK" -eq 1 ] && [ "$AUTO_OUT" -eq 1 ]; } || echo "($SUMMARY)"
cat "$SUMMARY"
SKIPPED=0
[ "$HAVE_PCSCD" -eq 1 ] || { echo "SKIP bench: pcscd part (pcscd busy or did not start)"; SKIPPED=1; }
[ "$HAVE_SOFTHSM" -eq 1 ] || { echo "SKIP bench: SoftHSM2 part (softhsm2 missing or its setup failed)"; SKIPPED=1; }
[ "$FAILED_RUNS" -eq 0 ] || { echo "bench: $FAILED_RUNS run(s) failed"; exit 1; }
if [ "$MISSED" -gt 0 ]; then
  echo "bench: $MISSED APDU-count goal(s) missed"
  exit 1
fi
# As a test (--quick, tests/clients/bench-quick.sh) a skipped part is a skip, which
# scripts/test.sh counts and fails on (exit 77, as tests/clients/lib.sh skip_scenario).
if [ "$QUICK" -eq 1 ] && [ "$SKIPPED" -eq 1 ]; then exit 77; fi
