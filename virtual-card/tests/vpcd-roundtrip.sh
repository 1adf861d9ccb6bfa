#!/usr/bin/env bash
# vpcd round trip: a real pcscd (foreground, vpcd reader), `eimza-vcard serve`, and
# opensc-tool through libpcsclite. Checks the ATR, SELECT of the PKCS#15 application,
# a VERIFY whose retry counter lands in the card file, and GET RESPONSE chaining.
#
# Usage: virtual-card/tests/vpcd-roundtrip.sh [CARD_FILE]
#   CARD_FILE  a card to serve (it is copied, never changed). Without it a hand-made
#              test card is written by `cargo run --example make-test-card`.
#   VCARD_BIN  eimza-vcard to use (default: build target/debug/eimza-vcard).
# Needs pcscd, vsmartcard-vpcd, opensc (opensc-tool) and ss; stops everything it
# started by PID on exit; exits non-zero with the logs on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=35963
# TS T0 TA1 TD1 TD2 TA3 TB3 | 80 65 "TCVC1" | 73 B4 00 40 | 83 05 90 00 | TCK
EXPECTED_ATR=3B9F968131FE458065544356433173B400408305900045
AID=A000000063504B43532D3135

WORK=$(mktemp -d /tmp/vpcd-roundtrip.XXXXXX)
PASSED=0
REQUESTED_VCARD_BIN=${VCARD_BIN:-}
# pcscd + vpcd start-up, card serving and PID-based clean-up are shared with every
# other PC/SC test.
# shellcheck source=../../tests/pcsc/harness.sh
source "$ROOT/tests/pcsc/harness.sh"
cleanup() {
  harness_cleanup
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "vpcd-roundtrip: FAIL: $*" >&2
  for log in "$WORK"/*.log "$HARNESS_TMP"/*.log; do
    [ -e "$log" ] || continue
    echo "---- $(basename "$log")" >&2
    tail -40 "$log" >&2
  done
  echo "vpcd-roundtrip: $PASSED passed, 1 failed"
  exit 1
}
pass() { PASSED=$((PASSED + 1)); echo "  ok   $*"; }
hex_of() { tr -d ' :\n' | tr 'a-f' 'A-F'; }

for tool in pcscd opensc-tool ss; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/deps.sh installs it)"
done
VCARD_BIN=$REQUESTED_VCARD_BIN
if [ -z "$VCARD_BIN" ]; then
  (cd "$ROOT" && cargo build -q -p virtual-card --bin eimza-vcard) || fail "building eimza-vcard"
  VCARD_BIN=$ROOT/target/debug/eimza-vcard
fi
[ -x "$VCARD_BIN" ] || fail "$VCARD_BIN is not executable"

CARD=$WORK/card.vc
if [ $# -ge 1 ]; then
  cp "$1" "$CARD" || fail "cannot read card file $1"
else
  (cd "$ROOT" && cargo run -q -p virtual-card --example make-test-card -- "$CARD") \
    >"$WORK/make-card.log" 2>&1 || fail "making a test card"
fi
"$VCARD_BIN" show "$CARD" >"$WORK/show-before.log" 2>&1 || fail "eimza-vcard show"
PIN_BEFORE=$(sed -n 's/^PIN: \([0-9]*\) of.*/\1/p' "$WORK/show-before.log")

pcsc_start || fail "pcscd with vpcd did not come up"
pass "pcscd with vpcd listening on $PORT"

vcard_serve "$CARD" "$PORT" || fail "no card in reader 0"
ATR=$(opensc-tool -r 0 -a 2>"$WORK/opensc-atr.log" | hex_of)
[ "$ATR" = "$EXPECTED_ATR" ] || fail "ATR is $ATR, expected $EXPECTED_ATR"
pass "opensc-tool -a shows the profile ATR"

OUT=$(opensc-tool -r 0 -s "00A404000C$AID" 2>&1) || fail "opensc-tool -s SELECT: $OUT"
echo "$OUT" >>"$WORK/apdus.log"
grep -q 'SW1=0x90, SW2=0x00' <<<"$OUT" || fail "SELECT by AID did not answer 9000: $OUT"
pass "SELECT PKCS#15 by AID answers 9000"

OUT=$(opensc-tool -r 0 -s "00A4040C0C$AID" -s "0020008106303030303030" 2>&1) || fail "opensc-tool: $OUT"
echo "$OUT" >>"$WORK/apdus.log"
grep -q 'SW1=0x63, SW2=0xC[0-9A-F]' <<<"$OUT" || fail "wrong PIN did not answer 63Cx: $OUT"
"$VCARD_BIN" show "$CARD" >"$WORK/show-after.log" 2>&1 || fail "eimza-vcard show after VERIFY"
PIN_AFTER=$(sed -n 's/^PIN: \([0-9]*\) of.*/\1/p' "$WORK/show-after.log")
[ -n "$PIN_BEFORE" ] && [ "$PIN_AFTER" = $((PIN_BEFORE - 1)) ] \
  || fail "PIN tries $PIN_BEFORE -> $PIN_AFTER after a wrong VERIFY"
pass "a wrong VERIFY is counted in the card file ($PIN_BEFORE -> $PIN_AFTER)"

# Short Le = 00 means 256 bytes.
OUT=$(opensc-tool -r 0 -s 0084000000 2>&1) || fail "opensc-tool GET CHALLENGE: $OUT"
echo "$OUT" >>"$WORK/apdus.log"
grep -q 'SW1=0x90, SW2=0x00' <<<"$OUT" || fail "GET CHALLENGE did not answer 9000: $OUT"
BYTES=$(sed -n '/^Received/,$p' <<<"$OUT" | tail -n +2 | cut -c1-48 | wc -w)
[ "$BYTES" -eq 256 ] || fail "GET CHALLENGE with Le 00 returned $BYTES bytes, expected 256"
pass "GET CHALLENGE returns 256 bytes for Le 00"

vcard_stop "$PORT"
reader_has_card 0 && fail "card still present after serve stopped"
pass "stopping serve removes the card"

echo "vpcd-roundtrip: $PASSED passed, 0 failed"
