#!/usr/bin/env bash
# Java (OpenJDK's SunPKCS11, config name=eimza, library=, slotListIndex=): login with the
# right PIN and a signature verified per key; a wrong PIN fails cleanly with
# CKR_PIN_INCORRECT and costs exactly one try (Java does not retry); a malformed PIN
# fails with CKR_PIN_LEN_RANGE and costs nothing; a blocked PIN gives CKR_PIN_LOCKED.
# The client is compiled once into target/java-clients. On an AKIS v2.x card (P-256 +
# RSA-2048) and an AKIS v1.0 card (RSA-2048 only, its own forms; pkcs11-spec.md §1.4.1),
# each in process and through pcscd + vpcd.
source "$(dirname "$0")/lib.sh"

JAVA_OUT=$ROOT/target/java-clients
SOURCE=$ROOT/tests/clients/java/EimzaLogin.java
if [ ! -f "$JAVA_OUT/EimzaLogin.class" ] || [ "$SOURCE" -nt "$JAVA_OUT/EimzaLogin.class" ]; then
  mkdir -p "$JAVA_OUT"
  javac -d "$JAVA_OUT" "$SOURCE" || { echo "javac failed"; exit 1; }
fi

card_says() { "$VCARD_BIN" show "$CARD" | tee /dev/stderr | grep -q "^$1"; }
java_run() { java -cp "$JAVA_OUT" EimzaLogin "$WORK/java.cfg" "$1"; }
# java_login PIN: logged in, and every key ($KEYS) signed and verified
java_login() {
  local out
  out=$(java_run "$1") || { echo "$out"; return 1; }
  echo "$out"; grep -q "LOGIN OK, $KEYS key(s)" <<<"$out"
}
# java_refused CKR_X PIN: the login fails (exit 2) and the chain names CKR_X
java_refused() {
  local out status
  out=$(java_run "$2"); status=$?
  echo "$out"
  [ "$status" -eq 2 ] && grep -q "LOGIN FAILED" <<<"$out" && grep -q "$1" <<<"$out"
}

suite() {
  check "SunPKCS11 config with the token's slotListIndex" sunpkcs11_config "$WORK/java.cfg"
  check "right PIN: login, each key signs and verifies" java_login 123456
  check "wrong PIN: clean failure naming CKR_PIN_INCORRECT" java_refused CKR_PIN_INCORRECT 000000
  check "  exactly one try spent: PIN 2 of 3" card_says "PIN: 2 of 3"
  check "5-digit PIN: CKR_PIN_LEN_RANGE" java_refused CKR_PIN_LEN_RANGE 12345
  check "letters: CKR_PIN_INVALID" java_refused CKR_PIN_INVALID 12345a
  check "  nothing spent: PIN 2 of 3" card_says "PIN: 2 of 3"
  check "right PIN again: login resets the counter" java_login 123456
  check "  card: PIN 3 of 3" card_says "PIN: 3 of 3"
  for left in 2 1 0; do
    check "wrong PIN (PIN $left of 3)" java_refused CKR_PIN_INCORRECT 000000
  done
  check "  card: PIN blocked" card_says "PIN: 0 of 3 tries left, BLOCKED"
  check "blocked: the right PIN gives CKR_PIN_LOCKED" java_refused CKR_PIN_LOCKED 123456
  check "  card: PUK untouched" card_says "PUK: 10 of 10"
}

TOKEN=AKIS_0F0F0F0F0F0F0F03
CARD=$WORK/java.card
# A fresh card (full PIN and PUK counters) for each transport.
# AKIS v1.0 cards hold RSA-2048 keys only (pkcs11-spec.md §1.4.1).
fresh_card() {
  if [ "$CARD_FAMILY" = v1.0 ]; then
    KEYS=1; make_card "$CARD" 0F0F0F0F0F0F0F03 rsa2048
  else
    KEYS=2; make_card "$CARD" 0F0F0F0F0F0F0F03 p256 rsa2048
  fi
}
on_families v2 v1.0 -- on_both_transports --fresh fresh_card suite "$CARD"
finish
