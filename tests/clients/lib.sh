# Shared by the client scenario scripts: paths, software cards, checks, and the two
# transports (in-process software card; real pcscd + vpcd + eimza-vcard serve).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MODULE=${MODULE:-$ROOT/target/release/libeimza_pkcs11.so}
VCARD_BIN=${VCARD_BIN:-$ROOT/target/release/eimza-vcard}
WORK=$(mktemp -d /tmp/eimza-client.XXXXXX)
PIN=123456
PUK=12345678
CHECKS_PASSED=0
CHECKS_FAILED=0
CHECKS_SKIPPED=0
SKIP_STATUS=77   # a scenario's exit status when something was skipped (scripts/test.sh)

# check DESCRIPTION COMMAND... : runs the command, records pass/fail, never exits.
check() {
  local what=$1; shift
  if "$@" >"$WORK/last.log" 2>&1; then
    CHECKS_PASSED=$((CHECKS_PASSED + 1)); echo "  ok   $what"
  else
    CHECKS_FAILED=$((CHECKS_FAILED + 1)); echo "  FAIL $what"; sed 's/^/       | /' "$WORK/last.log" | tail -20
  fi
}

# A fresh software card (replaces FILE if it exists):
#   make_card [--family v1.0|v1|v2] FILE SERIAL KEY...
# The family (default $CARD_FAMILY, else v2) gives the card that AKIS family's ATR and
# command forms (pkcs11-spec.md §1.4.1); see on_families.
CARD_FAMILY=${CARD_FAMILY:-v2}
make_card() {
  local family=(--family "$CARD_FAMILY")
  if [ "${1:-}" = --family ]; then family=(--family "$2"); shift 2; fi
  local file=$1 serial=$2; shift 2
  local args=()
  for k in "$@"; do args+=(--key "$k"); done
  "$VCARD_BIN" create "$file" --force --serial "$serial" --ca-dir "$WORK/ca" "${family[@]}" "${args[@]}" >/dev/null
}

# pyHanko from PyPI (pinned) in a venv under target/, made once and reused by every
# scenario that needs it. Sets PYHANKO and PYHANKO_PYTHON; returns 1 if pip fails.
pyhanko_venv() {
  local venv=$ROOT/target/pyhanko-venv
  if [ ! -x "$venv/bin/pyhanko" ]; then
    echo "$(basename "$0"): installing pyHanko into $venv"
    python3 -m venv "$venv" &&
      "$venv/bin/pip" install -q pyhanko==0.38.0 pyhanko-cli==0.6.0 python-pkcs11==0.10.1 || {
        rm -rf "$venv"; return 1; }
  fi
  PYHANKO=$venv/bin/pyhanko
  PYHANKO_PYTHON=$venv/bin/python
}

# Use software cards in process. Cards this script served into pcscd before (an earlier
# family's round) are pulled first: the same card file must not be in two readers.
use_inprocess() {
  if declare -p VCARD_PIDS >/dev/null 2>&1; then
    local served
    for served in "${!VCARD_PIDS[@]}"; do vcard_stop "$served"; done
  fi
  export EIMZA_VIRTUAL_CARD="$*"
}

# Use the real PC/SC stack: pcscd + vpcd, cards served into readers 0, 1. A second
# call (another card family) keeps this script's pcscd and serves the new cards.
use_pcscd() {
  unset EIMZA_VIRTUAL_CARD
  if [ -n "${PCSCD_PID:-}" ] && kill -0 "$PCSCD_PID" 2>/dev/null; then
    local served port=35963 f
    for served in "${!VCARD_PIDS[@]}"; do vcard_stop "$served"; done
    for f in "$@"; do vcard_serve "$f" "$port" || pcsc_abort; port=$((port + 1)); done
    return 0
  fi
  # shellcheck source=../pcsc/harness.sh
  source "$ROOT/tests/pcsc/harness.sh"
  # One pcscd per machine: wait while another one (another test run) is up, and never
  # go on without our own, or the checks would talk to somebody else's readers.
  local waited=0
  while pgrep -x pcscd >/dev/null; do
    if [ $waited -ge 600 ]; then
      echo "use_pcscd: another pcscd is still running after ${waited} s" >&2; pcsc_abort
    fi
    sleep 2; waited=$((waited + 2))
  done
  pcsc_start || pcsc_abort
  local port=35963 f
  for f in "$@"; do vcard_serve "$f" "$port" || pcsc_abort; port=$((port + 1)); done
}

# on_both_transports [--fresh MAKE_CARDS] SUITE CARD...
#   Runs the scenario's SUITE function twice with the same card files: first in process
#   (EIMZA_VIRTUAL_CARD=CARD1:CARD2:...), then served by eimza-vcard into the vpcd readers
#   0, 1, ... of a real pcscd (started here, stopped by PID when the script exits).
#   SUITE gets the transport's name as $1 (inprocess or pcscd), also in $TRANSPORT, for
#   check descriptions, per-transport file names and the few transport-specific steps.
#   --fresh MAKE_CARDS: call MAKE_CARDS before each transport to create the card files
#   again (make_card replaces them), for suites that change the card (PINs, tries).
#   Every scenario that runs on both transports uses this, so they all run alike.
on_both_transports() {
  local make_cards=""
  if [ "${1:-}" = --fresh ]; then make_cards=$2; shift 2; fi
  local suite=$1; shift
  [ $# -gt 0 ] || { echo "on_both_transports: no card given" >&2; return 2; }
  local joined
  joined=$(IFS=:; echo "$*")
  echo "-- in process"
  TRANSPORT=inprocess
  [ -z "$make_cards" ] || "$make_cards"
  use_inprocess "$joined"
  "$suite" inprocess
  echo "-- through pcscd + vpcd"
  TRANSPORT=pcscd
  [ -z "$make_cards" ] || "$make_cards"
  use_pcscd "$@"
  "$suite" pcscd
}

# on_families FAMILY... -- COMMAND...: runs COMMAND (usually on_both_transports ...)
# once per AKIS card family, with CARD_FAMILY set (make_card follows it), for the
# scenarios that apply to every family (RSA-2048 keys, PKCS#1 v1.5: what AKIS v1.0
# cards have). On v1.0 the module asks no retry counter at bind (§1.4.1), so a fresh
# process shows no counter flags: suites check `counter_flag` instead of flags.
on_families() {
  local families=()
  while [ "$1" != -- ]; do families+=("$1"); shift; done
  shift
  local started
  for CARD_FAMILY in "${families[@]}"; do
    echo "== AKIS $CARD_FAMILY card"
    started=$SECONDS
    "$@"
    echo "== AKIS $CARD_FAMILY card: $((SECONDS - started)) s"
  done
  CARD_FAMILY=v2
}

# The counter flags a fresh process shows: the flag itself on families whose counters
# the module reads at bind, none on v1.0. Prints the flag to look for, or nothing.
counter_flag() { [ "$CARD_FAMILY" = v1.0 ] || echo "$1"; }

# sunpkcs11_config FILE: a SunPKCS11 configuration for $TOKEN in FILE (printed), with
# the token's index in C_GetSlotList(FALSE), what slotListIndex means: PC/SC readers
# come first, so it differs between the transports.
sunpkcs11_config() {
  local index
  index=$(pkcs11-tool --module "$MODULE" -L | awk -v label="$TOKEN" '
    /^Slot [0-9]+/ { index_ += 1 }
    $0 ~ "token label *: *" label "$" { print index_ - 1; exit }')
  [ -n "$index" ] || { echo "token $TOKEN not found"; return 1; }
  printf 'name = eimza\nlibrary = %s\nslotListIndex = %s\n' "$MODULE" "$index" > "$1"
  cat "$1"
}

# java_tls_client: what a user sets up for JSSE TLS 1.3 client authentication with the
# card, and the server's side: $WORK/server.{key,pem} (P-256, for 127.0.0.1) and the
# client's trust store of it; $WORK/eimza.cfg (SunPKCS11, slotListIndex 0) and a
# java.security addition that puts SunPKCS11 (provider 12 in the JDK's list) on it.
# Sets JAVA_TLS, the java options that take the key store from the card.
java_tls_client() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$WORK/server.key" -out "$WORK/server.pem" 2>/dev/null || return 1
  keytool -importcert -noprompt -alias server -file "$WORK/server.pem" \
    -keystore "$WORK/trust.p12" -storetype PKCS12 -storepass changeit >/dev/null || return 1
  printf 'name = eimza\nlibrary = %s\nslotListIndex = 0\n' "$MODULE" > "$WORK/eimza.cfg"
  echo "security.provider.12=SunPKCS11 $WORK/eimza.cfg" > "$WORK/eimza.security"
  JAVA_TLS=(-Djava.security.properties="$WORK/eimza.security"
    -Djavax.net.ssl.keyStore=NONE -Djavax.net.ssl.keyStoreType=PKCS11
    -Djavax.net.ssl.keyStorePassword="$PIN"
    -Djavax.net.ssl.trustStore="$WORK/trust.p12" -Djavax.net.ssl.trustStorePassword=changeit
    -Djdk.tls.client.protocols=TLSv1.3)
}

pcsc_abort() {
  CHECKS_FAILED=$((CHECKS_FAILED + 1)); echo "  FAIL could not set up pcscd + vpcd"
  finish; exit 1
}

# skip_check DESCRIPTION REASON: one check cannot run here. It says SKIP, is counted,
# and makes finish exit 77 (when nothing failed), so scripts/test.sh counts the
# scenario as skipped instead of passed.
skip_check() {
  CHECKS_SKIPPED=$((CHECKS_SKIPPED + 1)); echo "  SKIP $1 ($2)"
}

# skip_scenario REASON: the scenario cannot run here. It says SKIP and exits 77, which
# scripts/test.sh counts as skipped (and fails on: CI allows no skip). Never exit 0
# for a scenario that did not run.
skip_scenario() {
  echo "SKIP $(basename "$0"): $*"
  [ "${KEEP_WORK:-}" = 1 ] || rm -rf "$WORK"
  exit "$SKIP_STATUS"
}

finish() {
  echo "$(basename "$0"): $CHECKS_PASSED passed, $CHECKS_FAILED failed, $CHECKS_SKIPPED skipped"
  [ "${KEEP_WORK:-}" = 1 ] || rm -rf "$WORK"
  [ "$CHECKS_FAILED" -eq 0 ] || return 1
  [ "$CHECKS_SKIPPED" -eq 0 ] || return "$SKIP_STATUS"
}
