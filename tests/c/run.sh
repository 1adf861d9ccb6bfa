#!/usr/bin/env bash
# Builds tests/c/load_test.c against include/eimza_pkcs11.h and runs it on the module.
# Usage: tests/c/run.sh [MODULE [CARD]]   (default: target/debug/libeimza_pkcs11.so, built
# first; CARD: a software card file with one P-256 key and PIN 123456, for the token part)
# `cargo test --test abi` runs the same program (c_program_loads_the_module).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
module=${1:-}
if [ -z "$module" ]; then
  cargo build --quiet --lib -p eimza-pkcs11 --manifest-path "$root/Cargo.toml"
  module=$root/target/debug/libeimza_pkcs11.so
fi
exe=$(mktemp /tmp/eimza-load-test.XXXXXX)
trap 'rm -f "$exe"' EXIT
gcc -Wall -Wextra -Werror -std=gnu99 -I"$root/include" "$root/tests/c/load_test.c" -o "$exe" -ldl
"$exe" "$module" "${@:2}"
