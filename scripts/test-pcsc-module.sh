#!/bin/bash
# Runs tests/pcsc_module.rs: the built module, loaded by the cryptoki crate, against a
# real pcscd with the vpcd virtual reader (software and hand-made cards served into it
# from the test process). Starts its own pcscd (refuses if one is already running: one
# per machine) and stops it by PID on exit.
set -eu
cd "$(dirname "$0")/.."
if pgrep -x pcscd >/dev/null; then
  echo "another pcscd is running (pid $(pgrep -x pcscd | tr '\n' ' ')); stop it first" >&2
  exit 1
fi
tmp=$(mktemp -d /tmp/eimza-pcsc-module.XXXXXX)
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
# Build first (the test binary, the module and the card tool) so pcscd does not sit idle
# during compilation.
cargo build -p eimza-pkcs11 --lib
cargo build -p virtual-card --bin eimza-vcard
cargo test -p eimza-pkcs11 --test pcsc_module --no-run
pcscd -f -c "$tmp/conf" ${PCSCD_DEBUG:+-d -a} >"$tmp/pcscd.log" 2>&1 &
pcscd_pid=$!
for _ in $(seq 100); do
  [ -S /run/pcscd/pcscd.comm ] && ss -ltn "sport = :35963" | grep -q LISTEN && break
  sleep 0.1
done
status=0
cargo test -p eimza-pkcs11 --test pcsc_module -- --ignored --test-threads=1 --nocapture "$@" || status=$?
if [ "$status" -ne 0 ] && [ -n "${PCSCD_DEBUG:-}" ]; then tail -100 "$tmp/pcscd.log" >&2; fi
exit "$status"
