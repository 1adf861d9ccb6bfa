#!/usr/bin/env bash
# Builds OpenSC's test harness p11test from Debian's opensc source package (it is not
# packaged as a binary). Output: $1 (default target/p11test/p11test). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$PWD/target/p11test/p11test}
[ -x "$out" ] && exit 0
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ! -f /etc/apt/sources.list.d/eimza-src.sources ]; then
  $sudo tee /etc/apt/sources.list.d/eimza-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $sudo apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends dpkg-dev gcc libssl-dev libcmocka-dev >/dev/null
build=$(dirname "$out")/src
rm -rf "$build"; mkdir -p "$build"
( cd "$build" && apt-get source -qq --download-only opensc >/dev/null && dpkg-source -x --no-check opensc_*.dsc opensc >/dev/null )
: > "$build/config.h"
gcc -O2 -w -DHAVE_CONFIG_H -DENABLE_OPENSSL -I"$build" -I"$build/opensc/src" \
  "$build"/opensc/src/tests/p11test/p11test*.c -o "$out" -lcrypto -lcmocka -ldl
echo "built $out"
