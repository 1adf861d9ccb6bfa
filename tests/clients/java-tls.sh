#!/usr/bin/env bash
# JSSE TLS 1.3 client authentication with the card, as a user sets it up: an ordinary
# Java HTTPS client (tests/clients/java/HttpsGet.java, no PKCS#11 code) gets the card
# only through java.security (SunPKCS11 with eimza.cfg) and the javax.net.ssl system
# properties, and connects to `openssl s_server -Verify 1 -tls1_3 -www` on 127.0.0.1.
# The server asks for an RSA-PSS signature (RSA key: SunPKCS11 RSASSA-PSS, which needs
# the module's digest mechanisms) or an ECDSA P-384 one; its page must show TLSv1.3,
# the card's certificate (same fingerprint as the card's), the signature type and
# digest, and a verified chain. RSA-2048 + P-384 card, in process and through pcscd + vpcd.
source "$(dirname "$0")/lib.sh"

CARD=$WORK/tls.card
NES=12345678950NES
# TLS client keys: digitalSignature + clientAuth (the server checks the purpose).
make_card "$CARD" 7A7A7A7A7A7A7A7A rsa2048:tls p384:tls

# The server: its own P-256 certificate for 127.0.0.1; it trusts the card's root CA.
# The client: what the user writes (SunPKCS11 configuration, java.security addition).
java_tls_client || exit 1

mkdir -p "$WORK/classes"
javac -d "$WORK/classes" "$ROOT/tests/clients/java/HttpsGet.java" || exit 1

SERVER_PID=""
stop_server() { if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi; SERVER_PID=""; }

# start_server SIGALGS: s_server on a free port (printed), asking the client for SIGALGS.
start_server() {
  local port tries
  for tries in 1 2 3 4 5; do
    port=$(( 20000 + RANDOM % 20000 ))
    openssl s_server -accept "127.0.0.1:$port" -cert "$WORK/server.pem" -key "$WORK/server.key" \
      -CAfile "$WORK/ca/root-ca.pem" -Verify 1 -tls1_3 -www \
      -client_sigalgs "$1" -naccept 1 > "$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    if wait_for_port "$port"; then echo "$port"; return 0; fi
    stop_server
  done
  return 1
}

wait_for_port() {
  local _
  for _ in $(seq 50); do
    ss -ltn "sport = :$1" | grep -q LISTEN && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

fingerprint() { openssl x509 -noout -fingerprint -sha256 | cut -d= -f2; }

# tls_client_auth LABEL SIGALGS SIGNATURE-TYPE DIGEST
tls_client_auth() {
  local label=$1 port page card_fp seen_fp
  port=$(start_server "$2") || { echo "s_server did not start"; cat "$WORK/server.log"; return 1; }
  page=$(timeout 120 java "${JAVA_TLS[@]}" -cp "$WORK/classes" HttpsGet "https://127.0.0.1:$port/")
  local status=$? _
  # s_server -naccept 1 exits after the page; if the client never got that far, stop it.
  for _ in $(seq 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  stop_server
  echo "$page" | grep -E 'HTTP|Protocol|Peer sign|Verify return|Subject:' 
  [ $status -eq 0 ] || { echo "client failed ($status)"; cat "$WORK/server.log"; return 1; }
  grep -q '^HTTP 200 TLS_' <<<"$page" &&
    grep -Eq '^ *Protocol *: TLSv1\.3$' <<<"$page" &&
    grep -qx "Peer signature type: $3" <<<"$page" &&
    grep -qx "Peer signing digest: $4" <<<"$page" &&
    grep -Eq '^ *Verify return code: 0 \(ok\)$' <<<"$page" || { echo "unexpected page"; return 1; }
  # The certificate the server saw is the card's certificate of that key.
  seen_fp=$(sed -n '/^Client certificate/,/END CERTIFICATE/p' <<<"$page" |
    sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' | fingerprint)
  pkcs11-tool --module "$MODULE" --read-object --type cert --label "$label" -o "$WORK/card-cert.der" >/dev/null 2>&1 || return 1
  card_fp=$(openssl x509 -inform DER -in "$WORK/card-cert.der" | fingerprint)
  echo "server saw $seen_fp; card's $label: $card_fp"
  [ -n "$card_fp" ] && [ "$seen_fp" = "$card_fp" ]
}

suite() {
  check "JSSE TLS 1.3 client auth with the RSA key: RSA-PSS/SHA256, the card's certificate, chain verified" \
    tls_client_auth "${NES}0" rsa_pss_rsae_sha256 RSA-PSS SHA256
  check "JSSE TLS 1.3 client auth with the P-384 key: ECDSA/SHA384, the card's certificate, chain verified" \
    tls_client_auth "${NES}1" ecdsa_secp384r1_sha384 ECDSA SHA384
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

on_both_transports suite "$CARD"
finish
