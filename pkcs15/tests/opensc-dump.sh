#!/usr/bin/env bash
# Does OpenSC read the PKCS#15 structure our software card is personalised with?
# Serves a card file through a private pcscd + vpcd and runs `pkcs15-tool --dump`,
# `--read-certificate` and `--read-public-key` with OpenSC's generic ("default")
# driver, then checks that every object the spec (§1.5) puts on the card is listed.
#
# Usage: pkcs15/tests/opensc-dump.sh CARD_FILE
#   CARD_FILE  made by `eimza-vcard create CARD_FILE --key rsa2048 --key p384` (copied,
#              never changed).
#   VCARD_BIN  eimza-vcard to use (default: target/debug/eimza-vcard, built if missing).
# Needs pcscd, vsmartcard-vpcd and opensc; refuses to run next to another pcscd; stops
# what it started by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=35963
ATR_COLONS=3b:9f:96:81:31:fe:45:80:65:54:43:56:43:31:73:b4:00:40:83:05:90:00:45
[ $# -eq 1 ] || { echo "usage: $0 CARD_FILE" >&2; exit 2; }

WORK=$(mktemp -d /tmp/opensc-dump.XXXXXX)
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
fail() { echo "opensc-dump: FAIL: $*" >&2; tail -20 "$WORK"/*.log "$HARNESS_TMP"/*.log >&2 2>/dev/null || true; exit 1; }

for tool in pcscd pkcs15-tool opensc-tool openssl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
VCARD_BIN=$REQUESTED_VCARD_BIN
if [ -z "$VCARD_BIN" ]; then
  VCARD_BIN=$ROOT/target/debug/eimza-vcard
  [ -x "$VCARD_BIN" ] || (cd "$ROOT" && cargo build -q -p virtual-card --bin eimza-vcard)
fi
cp "$1" "$WORK/card.vc" || fail "cannot read $1"

# The profile ATR is unknown to OpenSC: use its generic ISO 7816 driver.
cat >"$WORK/opensc.conf" <<CONF
app default {
  enable_default_driver = true;
  card_atr $ATR_COLONS { driver = "default"; }
  framework pkcs15 { use_file_caching = no; }
}
CONF
export OPENSC_CONF=$WORK/opensc.conf

pcsc_start || fail "pcscd with vpcd did not come up"
vcard_serve "$WORK/card.vc" "$PORT" || fail "no card in reader 0"

pkcs15-tool -r 0 --dump >"$WORK/dump.txt" 2>"$WORK/dump.log" || fail "pkcs15-tool --dump"
cat "$WORK/dump.txt"
for needle in "PKCS#15 Card [AKIS_" "Manufacturer ID: eimza software card" "PIN [PIN]" \
    "PIN [PUK]" "unblockingPin, soPin" "Reference      : 129 (0x81)" \
    "Private RSA Key [12345678950NES0]" "Private EC Key [12345678950NES1]" \
    "FieldLength    : 384" "Public EC Key [12345678950NES1]" \
    "X.509 Certificate [12345678950NES0]" "Authority      : yes"; do
  grep -qF "$needle" "$WORK/dump.txt" || fail "dump lacks '$needle'"
done
CERT_ID=$(awk '/^X.509 Certificate \[12345678950NES0\]/ {f=1} f && /ID/ {print $3; exit}' "$WORK/dump.txt")
pkcs15-tool -r 0 --read-certificate "$CERT_ID" 2>>"$WORK/dump.log" \
  | openssl x509 -noout -subject | grep -q "CN = TEST KULLANICI" || fail "reading the certificate"
KEY_ID=$(awk '/^Public EC Key/ {f=1} f && /ID/ {print $3; exit}' "$WORK/dump.txt")
pkcs15-tool -r 0 --read-public-key "$KEY_ID" 2>>"$WORK/dump.log" \
  | openssl pkey -pubin -noout -text | grep -q "384 bit" || fail "reading the public key"
echo "opensc-dump: OpenSC reads every object"
