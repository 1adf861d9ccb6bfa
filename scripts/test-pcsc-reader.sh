#!/bin/bash
# Runs tests/pcsc_reader.rs against a real pcscd with the vpcd virtual reader.
# Starts its own pcscd (refuses if one is already running: one per machine) and stops
# it by PID on exit.
set -eu
cd "$(dirname "$0")/.."
if pgrep -x pcscd >/dev/null; then
  echo "another pcscd is running (pid $(pgrep -x pcscd | tr '\n' ' ')); stop it first" >&2
  exit 1
fi
tmp=$(mktemp -d /tmp/eimza-pcsc-reader.XXXXXX)
pcscd_pid=""
cleanup() {
  if [ -n "$pcscd_pid" ]; then
    kill "$pcscd_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pcscd_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/conf"
cat > "$tmp/conf/vpcd" <<CONF
FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:0x8C7B
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    0x8C7B
CONF
# Build first so pcscd does not sit idle during compilation.
cargo test -p eimza-pkcs11 --test pcsc_reader --no-run
pcscd -f -c "$tmp/conf" >"$tmp/pcscd.log" 2>&1 &
pcscd_pid=$!
for _ in $(seq 100); do
  [ -S /run/pcscd/pcscd.comm ] && ss -ltn "sport = :35963" | grep -q LISTEN && break
  sleep 0.1
done
cargo test -p eimza-pkcs11 --test pcsc_reader -- --ignored --nocapture --test-threads=1 "$@"
