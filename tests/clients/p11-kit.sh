#!/usr/bin/env bash
# p11-kit: the module registered by a user's .module file (nothing global changed),
# `p11-kit list-modules` shows the token, p11-kit-proxy.so (what GnuTLS, NSS-with-p11-kit
# and many desktop programs load) lists and signs, and remote use through
# `p11-kit server` + p11-kit-client.so signs. RSA-2048 + P-384 card (AKIS v2.x), then an
# AKIS v1.0 card (RSA-2048 only: pkcs11-spec.md §1.4.1) with the RSA parts; each in
# process and through pcscd + vpcd. Signatures are verified with openssl and the card's
# certificate.
source "$(dirname "$0")/lib.sh"

CARD=$WORK/p11kit.card
SERIAL=0E0E0E0E0E0E0E0E
TOKEN=AKIS_$SERIAL
NES=12345678950NES
make_card "$CARD" 0E0E0E0E0E0E0E0E rsa2048 p384
PROXY=/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
head -c 2000 /dev/urandom > "$WORK/data"
openssl dgst -sha256 -binary "$WORK/data" > "$WORK/data.sha256"

# The user's module file: ~/.config/pkcs11/modules/eimza.module, in a private HOME.
mkdir -p "$WORK/home/.config/pkcs11/modules"
echo "module: $MODULE" > "$WORK/home/.config/pkcs11/modules/eimza.module"

# p11-kit reads no user configuration in a program running as root; CI runs as root,
# so such commands run as an unprivileged uid in a user namespace (same files).
as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config unshare -U --map-user=1000 --map-group=1000 "$@"
  else
    HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config "$@"
  fi
}

# id_of MODULE LABEL: CKA_ID (hex) of the certificate with that label
# (pkcs11-tool 0.23 ignores --label when it picks the signing key).
id_of() {
  pkcs11-tool --module "$1" --token-label "$TOKEN" -O --type cert |
    awk -v l="$2" '$1 == "label:" { hit = ($2 == l) } hit && $1 == "ID:" { print $2; exit }'
}

pubkeys() { # [LABEL...]: the certificates of these keys (default NES0 NES1)
  local l labels=("$@")
  [ $# -gt 0 ] || labels=("${NES}0" "${NES}1")
  for l in "${labels[@]}"; do
    pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --read-object --type cert --label "$l" -o "$WORK/$l.der" &&
      openssl x509 -inform der -in "$WORK/$l.der" -pubkey -noout > "$WORK/$l.pub" || return 1
  done
}

# sign_verify WRAPPER MODULE [rsa]: through MODULE (proxy or client), SHA256-RSA-PKCS with
# the RSA key and (unless "rsa") raw ECDSA on a SHA-256 hash with the P-384 key, verified.
sign_verify() {
  local wrap=$1 mod=$2 rsa_id ec_id
  rsa_id=$($wrap bash -c "$(declare -f id_of); TOKEN=$TOKEN; id_of '$mod' ${NES}0") && [ -n "$rsa_id" ] || return 1
  rm -f "$WORK/rsa.sig" "$WORK/ec.sig"
  $wrap pkcs11-tool --module "$mod" --token-label "$TOKEN" --login --pin "$PIN" --sign -m SHA256-RSA-PKCS \
    --id "$rsa_id" -i "$WORK/data" -o "$WORK/rsa.sig" &&
    openssl dgst -sha256 -verify "$WORK/${NES}0.pub" -signature "$WORK/rsa.sig" "$WORK/data" || return 1
  [ "${3:-}" = rsa ] && return 0
  ec_id=$($wrap bash -c "$(declare -f id_of); TOKEN=$TOKEN; id_of '$mod' ${NES}1") && [ -n "$ec_id" ] || return 1
  $wrap pkcs11-tool --module "$mod" --token-label "$TOKEN" --login --pin "$PIN" --sign -m ECDSA -f openssl \
      --id "$ec_id" -i "$WORK/data.sha256" -o "$WORK/ec.sig" &&
    openssl pkeyutl -verify -pubin -inkey "$WORK/${NES}1.pub" -in "$WORK/data.sha256" -sigfile "$WORK/ec.sig"
}

list_modules() {
  local out
  out=$(as_user p11-kit list-modules) || return 1
  echo "$out"
  # the token is listed under our module's entry
  awk -v m="eimza: $MODULE" '$0 == m { hit = 1; next } /^[^ ]/ { hit = 0 } hit' <<<"$out" |
    grep -q "token: $TOKEN"
}

proxy_lists() { # [KEYS]: that many private keys (default 2)
  local out
  out=$(as_user pkcs11-tool --module "$PROXY" -L) || return 1
  echo "$out"
  grep -q "token label *: $TOKEN" <<<"$out" &&
    [ "$(as_user pkcs11-tool --module "$PROXY" --token-label "$TOKEN" --login --pin "$PIN" -O | grep -c '^Private Key Object')" -eq "${1:-2}" ]
}

no_user_config_no_token() {
  # Without the .module file the proxy does not know the module: the check above is real.
  local out
  out=$(HOME=$WORK/empty-home XDG_CONFIG_HOME=$WORK/empty-home as_user_plain pkcs11-tool --module "$PROXY" -L) || return 1
  echo "$out"
  grep -q '^Available slots:' <<<"$out" && ! grep -q "$TOKEN" <<<"$out"
}
as_user_plain() {
  if [ "$(id -u)" -eq 0 ]; then unshare -U --map-user=1000 --map-group=1000 "$@"; else "$@"; fi
}

# Remote use: p11-kit server exports the token on a unix socket; p11-kit-client.so
# in the client process. The server runs in the foreground and is stopped by PID.
SERVER_PID=""
server_start() {
  rm -f "$WORK/p11kit.sock"
  p11-kit server -f -n "$WORK/p11kit.sock" --provider "$MODULE" "pkcs11:token=$TOKEN" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  trap 'server_stop; if declare -F harness_cleanup >/dev/null; then harness_cleanup; fi' EXIT
  local i
  for i in $(seq 50); do [ -S "$WORK/p11kit.sock" ] && return 0; sleep 0.1; done
  cat "$WORK/server.log"; return 1
}
server_stop() {
  [ -n "$SERVER_PID" ] || return 0
  kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
}
remote() { P11_KIT_SERVER_ADDRESS="unix:path=$WORK/p11kit.sock" "$@"; }

remote_lists() {
  local out
  out=$(remote pkcs11-tool --module "$CLIENT" -L) || return 1
  echo "$out"
  grep -q "token label *: $TOKEN" <<<"$out" && grep -q "serial num *: $SERIAL" <<<"$out"
}

suite() {
  check "certificates read directly" pubkeys
  check "p11-kit list-modules shows the module and its token (user .module file)" list_modules
  check "without the .module file the proxy does not list the token" no_user_config_no_token
  check "p11-kit-proxy.so: pkcs11-tool lists the token and, after login, 2 private keys" proxy_lists
  check "p11-kit-proxy.so: RSA and ECDSA signatures verify" sign_verify as_user "$PROXY"
  check "p11-kit server starts for the token" server_start
  check "p11-kit-client.so: pkcs11-tool lists the remote token" remote_lists
  check "p11-kit-client.so: RSA and ECDSA signatures verify" sign_verify remote "$CLIENT"
  server_stop
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

# AKIS v1.0: one RSA-2048 key.
v10_suite() {
  check "certificate read directly" pubkeys "${NES}0"
  check "p11-kit list-modules shows the module and its token (user .module file)" list_modules
  check "without the .module file the proxy does not list the token" no_user_config_no_token
  check "p11-kit-proxy.so: pkcs11-tool lists the token and, after login, 1 private key" proxy_lists 1
  check "p11-kit-proxy.so: an RSA signature verifies" sign_verify as_user "$PROXY" rsa
  check "p11-kit server starts for the token" server_start
  check "p11-kit-client.so: pkcs11-tool lists the remote token" remote_lists
  check "p11-kit-client.so: an RSA signature verifies" sign_verify remote "$CLIENT" rsa
  server_stop
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

on_families v2 -- on_both_transports suite "$CARD"
CARD=$WORK/p11kit-v10.card
SERIAL=0E0E0E0E0E0E0E10
TOKEN=AKIS_$SERIAL
make_card --family v1.0 "$CARD" "$SERIAL" rsa2048
on_families v1.0 -- on_both_transports v10_suite "$CARD"
finish
