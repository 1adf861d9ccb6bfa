#!/usr/bin/env bash
# Benchmark (not a test): JSSE TLS 1.3 client authentication with the card, set up as
# tests/clients/java-tls.sh does (SunPKCS11 through java.security, the key store through
# javax.net.ssl.*), against `openssl s_server -Verify 1 -tls1_3 -www -num_tickets 0` on
# 127.0.0.1, in process and through pcscd + vpcd, with a real card's delays.
#
#   scripts/bench-java-tls.sh [HANDSHAKES]     (default 20; run inside /work/tools/isolated
#                                               or on a machine without another pcscd)
#   DELAYS=rsa=60ms,ecdsa=30ms,apdu=5ms        (the default; EIMZA_VCARD_DELAYS)
#
# Prints, per transport and key: one whole `java HttpsGet` run (JVM start to page), and
# in one JVM (bench/java/TlsBench.java) the default SSLContext (SunPKCS11 start, login,
# key store), the first handshake and the median of the following full handshakes.
set -u
source "$(dirname "$0")/../tests/clients/lib.sh"
N=${1:-20}
export EIMZA_VCARD_DELAYS=${DELAYS:-rsa=60ms,ecdsa=30ms,apdu=5ms}
export EIMZA_PKCS11_CACHE=0

CARD=$WORK/tls.card
make_card "$CARD" 7B7B7B7B7B7B7B7B rsa2048:tls p384:tls
java_tls_client || exit 1
mkdir -p "$WORK/classes"
javac -d "$WORK/classes" "$ROOT/tests/clients/java/HttpsGet.java" "$ROOT/bench/java/TlsBench.java" || exit 1

SERVER_PID=""
serve() { # serve SIGALGS CONNECTIONS -> port on stdout
  local port _
  port=$(( 20000 + RANDOM % 20000 ))
  openssl s_server -accept "127.0.0.1:$port" -cert "$WORK/server.pem" -key "$WORK/server.key" \
    -CAfile "$WORK/ca/root-ca.pem" -Verify 1 -tls1_3 -www -num_tickets 0 -client_sigalgs "$1" \
    -naccept "$2" > "$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 50); do ss -ltn "sport = :$port" | grep -q LISTEN && { echo "$port"; return 0; }; sleep 0.1; done
  return 1
}
stop() { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""; }

measure() { # measure TRANSPORT KEY SIGALGS
  local port start end
  port=$(serve "$3" 1) || { echo "s_server did not start"; return 1; }
  start=$(date +%s%N)
  java "${JAVA_TLS[@]}" -cp "$WORK/classes" HttpsGet "https://127.0.0.1:$port/" | grep -q '^Client certificate' ||
    { echo "$1 $2: HttpsGet failed"; stop; return 1; }
  end=$(date +%s%N)
  stop
  printf '%-8s %-8s java HttpsGet, JVM start to page: %.0f ms\n' "$1" "$2" "$(( (end - start) / 1000 ))e-3"
  port=$(serve "$3" "$N") || { echo "s_server did not start"; return 1; }
  java "${JAVA_TLS[@]}" -cp "$WORK/classes" TlsBench 127.0.0.1 "$port" "$N" | sed "s/^/$1 $2 in one JVM: /" ||
    echo "$1 $2: TlsBench failed"
  stop
}

echo "card delays: $EIMZA_VCARD_DELAYS; $N handshakes per run; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
use_inprocess "$CARD"
measure inproc RSA-2048 rsa_pss_rsae_sha256
measure inproc P-384 ecdsa_secp384r1_sha384
use_pcscd "$CARD"
measure pcscd RSA-2048 rsa_pss_rsae_sha256
measure pcscd P-384 ecdsa_secp384r1_sha384
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
finish >/dev/null
