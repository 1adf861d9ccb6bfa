#!/usr/bin/env bash
# NSS, the library of Firefox, Thunderbird and LibreOffice, through its command-line
# tools: modutil adds the module, certutil lists the certificates as TOKEN:LABEL and
# the keys after login, cmsutil signs CMS (RSA and P-384) and verifies it, modutil
# changes the PIN the way Firefox does, and tstclnt authenticates with the card in
# TLS 1.3 against openssl s_server on 127.0.0.1 (RSA-PSS with the RSA key, ECDSA with
# the P-384 key). On an AKIS v1.0 card (RSA-2048, PKCS#1 v1.5 only: pkcs11-spec.md
# §1.4.1) the same with its RSA keys, TLS 1.2 client authentication with PKCS#1 v1.5, and
# TLS 1.3, which needs RSA-PSS, failing cleanly: NSS sees no PSS mechanism on the token,
# sends no certificate, the server refuses, tstclnt reports it in time, no signature is
# asked of the card and no PIN try spent. In process and through pcscd + vpcd.
#
# The card holds rsa2048:tls, p384:tls, rsa2048, p384: NES0/NES1 are asked for as TLS
# keys (digitalSignature + clientAuth), NES2/NES3 are like real NES certificates
# (nonRepudiation, no extended key usage), which NSS accepts for S/MIME signing.
source "$(dirname "$0")/lib.sh"

CARD=$WORK/nss.card
TOKEN=AKIS_0D0D0D0D0D0D0D0D
make_card "$CARD" 0D0D0D0D0D0D0D0D rsa2048:tls p384:tls rsa2048 p384
NES=12345678950NES
DB=$WORK/nssdb
echo "$PIN" > "$WORK/pinfile"
echo "654321" > "$WORK/newpinfile"
echo "belge: imzalanacak metin" > "$WORK/doc"

# A throwaway server CA and a server certificate for 127.0.0.1.
mkdir -p "$WORK/srv"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=throwaway server CA" \
  -keyout "$WORK/srv/ca.key" -out "$WORK/srv/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$WORK/srv/server.key" -out "$WORK/srv/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$WORK/srv/ext"
openssl x509 -req -in "$WORK/srv/server.csr" -CA "$WORK/srv/ca.pem" -CAkey "$WORK/srv/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/srv/ext" -out "$WORK/srv/server.pem" 2>/dev/null

nss_setup() {
  rm -rf "$DB" && mkdir -p "$DB" &&
    certutil -N -d "sql:$DB" --empty-password &&
    modutil -dbdir "sql:$DB" -add eimza -libfile "$MODULE" -force &&
    certutil -A -d "sql:$DB" -n "test root" -t "C,C,C" -a -i "$WORK/ca/root-ca.pem" &&
    certutil -A -d "sql:$DB" -n "server ca" -t "C,," -a -i "$WORK/srv/ca.pem"
}

setup_and_list() { nss_setup && modutil -dbdir "sql:$DB" -list eimza | tee /dev/stderr | grep -q "Token Name: $TOKEN"; }

lists_certs() { # [KEYS]: NES0… of that many keys (default 4)
  local out n
  out=$(certutil -L -h all -d "sql:$DB" -f "$WORK/pinfile") || return 1
  echo "$out"
  # "u,u,u": NSS found the private key that belongs to the certificate.
  for n in $(seq 0 $((${1:-4} - 1))); do grep -Eq "^$TOKEN:${NES}$n +u,u,u" <<<"$out" || return 1; done
}

lists_keys() { # [KEYS KINDS]: that many keys (default 4), of these kinds (default "rsa ec")
  local out keys=${1:-4} kinds=${2:-rsa ec} kind
  out=$(certutil -K -h "$TOKEN" -d "sql:$DB" -f "$WORK/pinfile") || return 1
  echo "$out"
  [ "$(grep -c "> .*$NES" <<<"$out")" -eq "$keys" ] || return 1
  for kind in $kinds; do grep -Eq "> +$kind +" <<<"$out" || return 1; done
  # every key is of one of these kinds
  [ "$(grep -Ec "> +(${kinds// /|}) +.*$NES" <<<"$out")" -eq "$keys" ]
}

# cms_sign_verify LABEL: cmsutil signs (with signed attributes, -G; without them NSS
# 3.87 stores ECDSA signatures raw instead of DER, also with its own software keys),
# cmsutil -D reports GoodSignature for the trusted chain, openssl agrees.
cms_sign_verify() {
  local label=$1 p7=$WORK/$1.p7 out
  cmsutil -S -G -N "$TOKEN:$label" -H SHA256 -Y NONE -d "sql:$DB" -f "$WORK/pinfile" \
    -i "$WORK/doc" -o "$p7" || return 1
  out=$(cmsutil -D -d "sql:$DB" -i "$p7" -h 2 -n) || return 1
  echo "$out"
  cmsutil -D -d "sql:$DB" -i "$p7" -o "$WORK/$label.content" || return 1
  grep -q 'signer0.status=GoodSignature' <<<"$out" && cmp "$WORK/doc" "$WORK/$label.content" &&
    openssl cms -verify -inform DER -in "$p7" -CAfile "$WORK/ca/root-ca.pem" -purpose any -out /dev/null
}

# A changed byte in the signed content must be reported. [LABEL]: the signer (default NES2).
cms_tamper_detected() {
  local out
  sed 's/belge: imzalanacak/belge: IMZALANACAK/' "$WORK/doc" > "$WORK/doc.changed"
  cmsutil -S -G -N "$TOKEN:${1:-${NES}2}" -H SHA256 -Y NONE -T -d "sql:$DB" -f "$WORK/pinfile" \
    -i "$WORK/doc" -o "$WORK/detached.p7" || return 1
  out=$(cmsutil -D -d "sql:$DB" -i "$WORK/detached.p7" -c "$WORK/doc" -h 2 -n) && echo "$out" &&
    grep -q 'status=GoodSignature' <<<"$out" || return 1
  out=$(cmsutil -D -d "sql:$DB" -i "$WORK/detached.p7" -c "$WORK/doc.changed" -h 2 -n); echo "$out"
  grep -q 'status=DigestMismatch' <<<"$out"
}

# Firefox's "Change Password": C_Login, then C_SetPIN in a new RW session.
change_pin_and_back() {
  modutil -dbdir "sql:$DB" -changepw "$TOKEN" -pwfile "$WORK/pinfile" -newpwfile "$WORK/newpinfile" -force &&
    certutil -K -h "$TOKEN" -d "sql:$DB" -f "$WORK/newpinfile" >/dev/null &&
    ! certutil -K -h "$TOKEN" -d "sql:$DB" -f "$WORK/pinfile" >/dev/null 2>&1 &&
    modutil -dbdir "sql:$DB" -changepw "$TOKEN" -pwfile "$WORK/newpinfile" -newpwfile "$WORK/pinfile" -force &&
    certutil -K -h "$TOKEN" -d "sql:$DB" -f "$WORK/pinfile" >/dev/null
}

free_port() {
  local p
  for p in $(seq $((20000 + $$ % 20000)) $((20100 + $$ % 20000))); do
    ss -ltn "sport = :$p" | grep -q LISTEN || { echo "$p"; return 0; }
  done
  return 1
}

# tls_handshake LABEL VERSION: tstclnt (at most 60 s) against s_server (127.0.0.1 only,
# stopped by PID, asking for a client certificate) with the card's key, TLS VERSION (1.2
# or 1.3) only. tstclnt's status in TSTCLNT_STATUS, its output in $WORK/client.log, the
# server's in $WORK/server.log.
tls_handshake() {
  local label=$1 version=$2 port srv_pid hold i
  port=$(free_port) || return 1
  rm -f "$WORK/srv.in"; mkfifo "$WORK/srv.in"
  exec {hold}<>"$WORK/srv.in"   # keeps s_server's stdin open until we are done
  openssl s_server -accept "127.0.0.1:$port" -naccept 1 "-tls${version/./_}" -Verify 1 -CAfile "$WORK/ca/root-ca.pem" \
    -cert "$WORK/srv/server.pem" -key "$WORK/srv/server.key" <"$WORK/srv.in" >"$WORK/server.log" 2>&1 &
  srv_pid=$!
  for i in $(seq 50); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
  TSTCLNT_STATUS=0
  timeout 60 tstclnt -Q -h 127.0.0.1 -p "$port" -d "sql:$DB" -n "$TOKEN:$label" -V "tls$version:tls$version" \
    -w "$PIN" </dev/null >"$WORK/client.log" 2>&1 || TSTCLNT_STATUS=$?
  for i in $(seq 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done
  kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null
  exec {hold}>&-
  cat "$WORK/client.log" "$WORK/server.log"
}

# tls_client_auth LABEL SIGTYPE [VERSION]: tstclnt completes a TLS VERSION (default 1.3)
# handshake with the card's key; s_server must have verified the chain up to the test
# root, received exactly the card's certificate and seen a SIGTYPE signature.
tls_client_auth() {
  local label=$1 sigtype=$2
  tls_handshake "$label" "${3:-1.3}" || return 1
  [ "$TSTCLNT_STATUS" -eq 0 ] || return 1
  pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --read-object --type cert --label "$label" -o "$WORK/$label.der" &&
    openssl x509 -inform der -in "$WORK/$label.der" -out "$WORK/$label.pem" &&
    sed -n '/^Client certificate/,/END CERTIFICATE/p' "$WORK/server.log" | sed 1d > "$WORK/$label.seen.pem" &&
    [ "$(openssl x509 -in "$WORK/$label.pem" -noout -fingerprint -sha256)" = \
      "$(openssl x509 -in "$WORK/$label.seen.pem" -noout -fingerprint -sha256)" ] &&
    grep -q "^Peer signature type: $sigtype\$" "$WORK/server.log" &&
    grep -q '^ *1 server accepts that finished' "$WORK/server.log" &&
    ! grep -q 'verify error' "$WORK/server.log"
}

# tls13_refused LABEL: TLS 1.3 needs RSA-PSS, which an AKIS v1.0 token does not list.
# NSS must see that (the token's C_GetMechanismList) and send no certificate rather than
# ask the card for a signature: tstclnt finds no suitable client certificate and reports
# the server's certificate_required alert within its 60 s (no hang), the server saw no
# client certificate and completed no handshake, and the module's log shows no
# C_SignInit at all (so no PSO, nothing spent).
tls13_refused() {
  rm -f "$WORK/tls13.p11log"
  EIMZA_PKCS11_LOG=$WORK/tls13.p11log tls_handshake "$1" 1.3 || return 1
  echo "tstclnt exit status: $TSTCLNT_STATUS; module calls:"
  grep -Eo 'C_[A-Za-z]+\(' "$WORK/tls13.p11log" | sort | uniq -c | tr '\n' ' '; echo
  [ "$TSTCLNT_STATUS" -ne 0 ] && [ "$TSTCLNT_STATUS" -ne 124 ] &&
    grep -q '^Failed to load a suitable client certificate' "$WORK/client.log" &&
    grep -q 'SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT' "$WORK/client.log" &&
    grep -q 'peer did not return a certificate' "$WORK/server.log" &&
    ! grep -q '^Client certificate' "$WORK/server.log" &&
    grep -q '^ *0 server accepts that finished' "$WORK/server.log" &&
    grep -q 'C_GetMechanismList(' "$WORK/tls13.p11log" &&
    ! grep -q 'C_SignInit(' "$WORK/tls13.p11log"
}

suite() {
  check "modutil -add, -list shows the token" setup_and_list
  check "certutil -L lists the 4 user certificates as TOKEN:LABEL with their keys" lists_certs
  check "certutil -K after login lists the 4 private keys (rsa and ec)" lists_keys
  check "cmsutil signs with the RSA key (NES2), cmsutil and openssl verify the chain" cms_sign_verify "${NES}2"
  check "cmsutil signs with the P-384 key (NES3), cmsutil and openssl verify the chain" cms_sign_verify "${NES}3"
  check "cmsutil -D reports a changed document (DigestMismatch)" cms_tamper_detected
  check "TLS 1.3 client auth with the RSA key: RSA-PSS, server saw the card's certificate" tls_client_auth "${NES}0" RSA-PSS
  check "TLS 1.3 client auth with the P-384 key: ECDSA, server saw the card's certificate" tls_client_auth "${NES}1" ECDSA
  check "modutil -changepw (Firefox's Change Password) and back" change_pin_and_back
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

# AKIS v1.0: two RSA-2048 keys, NES0 a TLS client key, NES1 like a real NES one.
v10_suite() {
  check "modutil -add, -list shows the token" setup_and_list
  check "certutil -L lists the 2 user certificates as TOKEN:LABEL with their keys" lists_certs 2
  check "certutil -K after login lists the 2 private keys (rsa)" lists_keys 2 rsa
  check "cmsutil signs with the RSA key (NES1), cmsutil and openssl verify the chain" cms_sign_verify "${NES}1"
  check "cmsutil -D reports a changed document (DigestMismatch)" cms_tamper_detected "${NES}1"
  check "TLS 1.2 client auth with the RSA key: PKCS#1 v1.5, server saw the card's certificate" \
    tls_client_auth "${NES}0" RSA 1.2
  check "TLS 1.3 with the RSA key (needs PSS): no certificate sent, server refuses, tstclnt fails in time, no C_SignInit" \
    tls13_refused "${NES}0"
  check "modutil -changepw (Firefox's Change Password) and back" change_pin_and_back
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

on_families v2 -- on_both_transports suite "$CARD"
CARD=$WORK/nss-v10.card
TOKEN=AKIS_0D0D0D0D0D0D0D10
make_card --family v1.0 "$CARD" 0D0D0D0D0D0D0D10 rsa2048:tls rsa2048
on_families v1.0 -- on_both_transports v10_suite "$CARD"
finish
