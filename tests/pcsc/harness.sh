# Sourced by client tests: starts a real pcscd with the vpcd virtual reader on
# 127.0.0.1 and plugs software cards into it. Everything started here is stopped by
# PID on exit. Usage:
#   source tests/pcsc/harness.sh
#   pcsc_start                    # pcscd in the foreground, vpcd readers 0 and 1
#   vcard_serve CARDFILE [PORT]   # 35963 = "Virtual PCD 00 00", 35964 = "... 00 01"
#   vcard_stop PORT               # pulls the card out (closes the vpcd connection)
set -u

HARNESS_ROOT=${HARNESS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VCARD_BIN=${VCARD_BIN:-$HARNESS_ROOT/target/release/eimza-vcard}
HARNESS_TMP=$(mktemp -d /tmp/eimza-pcsc.XXXXXX)
declare -gA VCARD_PIDS=()
PCSCD_PID=""

harness_cleanup() {
  local pid
  for pid in "${VCARD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$PCSCD_PID" ]; then
    kill "$PCSCD_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PCSCD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PCSCD_PID" 2>/dev/null || true
  fi
  rm -rf "$HARNESS_TMP"
}
trap harness_cleanup EXIT

wait_for() { # wait_for SECONDS COMMAND...
  local limit=$(( $1 * 10 )); shift
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

port_listens() { ss -ltn "sport = :$1" | grep -q LISTEN; }

pcsc_start() {
  if pgrep -x pcscd >/dev/null; then
    echo "harness: another pcscd is running (pid $(pgrep -x pcscd | tr '\n' ' ')); stop it first" >&2
    return 1
  fi
  mkdir -p "$HARNESS_TMP/reader.conf.d"
  cat > "$HARNESS_TMP/reader.conf.d/vpcd" <<CONF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
CONF
  pcscd -f -c "$HARNESS_TMP/reader.conf.d" ${PCSCD_DEBUG:+-d -a} >"$HARNESS_TMP/pcscd.log" 2>&1 &
  PCSCD_PID=$!
  if ! wait_for 10 test -S /run/pcscd/pcscd.comm || ! wait_for 10 port_listens 35963; then
    echo "harness: pcscd did not come up" >&2; cat "$HARNESS_TMP/pcscd.log" >&2; return 1
  fi
}

# Is a card present in vpcd reader N (0 or 1)?
reader_has_card() { opensc-tool -r "$1" -a >/dev/null 2>&1; }

vcard_serve() {
  local file=$1 port=${2:-35963}
  local reader=$(( port - 35963 ))
  "$VCARD_BIN" serve "$file" --vpcd "127.0.0.1:$port" >"$HARNESS_TMP/vcard-$port.log" 2>&1 &
  VCARD_PIDS[$port]=$!
  if ! wait_for 10 reader_has_card "$reader"; then
    echo "harness: card $file did not appear in reader $reader" >&2
    cat "$HARNESS_TMP/vcard-$port.log" >&2; return 1
  fi
}

vcard_stop() {
  local port=${1:-35963}
  local pid=${VCARD_PIDS[$port]:-}
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "VCARD_PIDS[$port]"
  wait_for 10 bash -c "! opensc-tool -r $(( port - 35963 )) -a" || true
}
