#!/usr/bin/env bash
# GnuTLS p11tool: --initialize-pin unblocks a blocked PIN with the PUK (C_Login as SO,
# then C_InitPIN). p11tool takes the SO PIN from --set-so-pin or GNUTLS_SO_PIN and the
# new PIN from --set-pin; --batch never prompts, and a wrong PIN given that way is not
# retried. A wrong PUK costs exactly one PUK try and no PIN try; a malformed new PIN
# costs nothing. On an AKIS v2.x card (P-256) and an AKIS v1.0 card (RSA-2048, its own
# forms; pkcs11-spec.md §1.4.1), each in process and through pcscd + vpcd; card counters
# from `eimza-vcard show`.
source "$(dirname "$0")/lib.sh"

URL() { echo "pkcs11:token=$TOKEN"; }
p11() { p11tool --provider "$MODULE" --batch "$@" </dev/null; }
card_says() { "$VCARD_BIN" show "$CARD" | tee /dev/stderr | grep -q "^$1"; }
card_is() { card_says "PIN: $1" && card_says "PUK: $2"; }
fails() { ! "$@"; }
# so_pin_env PUK ARGS...: p11tool with the SO PIN in GNUTLS_SO_PIN.
so_pin_env() { local puk=$1; shift; GNUTLS_SO_PIN=$puk p11 "$@"; }
# login_with PIN: a user login (C_Login) listing the private keys.
login_with() {
  local out
  out=$(GNUTLS_PIN=$1 p11 --login --list-privkeys "$(URL)") || return 1
  echo "$out"; grep -q 'Type: Private key' <<<"$out"
}
# p11tool prints no CKR names: the module's debug log says what C_Login/C_InitPIN returned.
logged_run() {
  rm -f "$WORK/p11tool.log"
  EIMZA_PKCS11_LOG=$WORK/p11tool.log "$@"
}
logged() { grep -q "$1" "$WORK/p11tool.log"; }

suite() {
  check "p11tool --list-tokens shows the token" bash -c "p11tool --provider $MODULE --list-tokens | grep -q 'token=$TOKEN'"
  check "login with the PIN lists the private key" login_with 123456
  for left in 2 1 0; do
    check "wrong PIN: refused, PIN $left of 3" fails login_with 000000
    check "  card: PIN $left of 3, PUK 10 of 10" card_is "$left of 3" "10 of 10"
  done
  check "  blocked: the right PIN is refused" fails logged_run login_with 123456
  check "  C_Login said CKR_PIN_LOCKED" logged "C_Login(.*) = CKR_PIN_LOCKED"
  check "--initialize-pin with a wrong PUK (GNUTLS_SO_PIN) fails" \
    fails so_pin_env 00000000 --initialize-pin --set-pin 111111 "$(URL)"
  check "  one PUK try, no PIN try (PIN blocked, PUK 9 of 10)" card_is "0 of 3 tries left, BLOCKED" "9 of 10"
  check "--initialize-pin with a 5-digit new PIN fails" \
    fails logged_run p11 --initialize-pin --set-pin 11111 --set-so-pin 12345678 "$(URL)"
  check "  C_InitPIN said CKR_PIN_LEN_RANGE" logged "C_InitPIN(.*) = CKR_PIN_LEN_RANGE"
  check "  nothing spent (the SO login reset the PUK counter: 10 of 10)" card_is "0 of 3 tries left, BLOCKED" "10 of 10"
  check "--initialize-pin --set-pin 111111 with GNUTLS_SO_PIN=PUK unblocks" \
    so_pin_env 12345678 --initialize-pin --set-pin 111111 "$(URL)"
  check "  card: PIN 3 of 3, PUK 10 of 10" card_is "3 of 3" "10 of 10"
  check "  the new PIN logs in" login_with 111111
  check "  the old PIN does not" fails login_with 123456
  check "--initialize-pin --set-so-pin PUK --set-pin 123456 (PIN not blocked)" \
    p11 --initialize-pin --set-pin 123456 --set-so-pin 12345678 "$(URL)"
  check "  card: PIN 3 of 3, PUK 10 of 10" card_is "3 of 3" "10 of 10"
  check "  123456 logs in again" login_with 123456
}

TOKEN=AKIS_0F0F0F0F0F0F0F02
CARD=$WORK/p11tool.card
# A fresh card (full PIN and PUK counters) for each transport.
# AKIS v1.0 cards hold RSA-2048 keys only.
fresh_card() {
  if [ "$CARD_FAMILY" = v1.0 ]; then
    make_card "$CARD" 0F0F0F0F0F0F0F02 rsa2048
  else
    make_card "$CARD" 0F0F0F0F0F0F0F02 p256
  fi
}
on_families v2 v1.0 -- on_both_transports --fresh fresh_card suite "$CARD"
finish
