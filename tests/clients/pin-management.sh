#!/usr/bin/env bash
# PIN management from real clients (issue 4): pkcs11-tool --change-pin, --init-pin as
# SO (PUK), --unlock-pin; the token flags at each step; malformed PINs cost nothing.
# On an AKIS v2.x and an AKIS v1.0 card (its own CHANGE, SELECT and MSE forms), each in
# process and through pcscd + vpcd. Card state is read back with `eimza-vcard show`.
source "$(dirname "$0")/lib.sh"

p11() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN" "$@"; }
flags() { p11 -T | grep 'token flags'; }
# expect_rv CKR_X COMMAND... : the command fails and prints that return value
expect_rv() {
  local rv=$1 out status; shift
  out=$("$@" 2>&1); status=$?
  echo "$out"
  [ "$status" -ne 0 ] && grep -q "rv = $rv " <<<"$out"
}
card_says() { "$VCARD_BIN" show "$CARD" | tee /dev/stderr | grep -q "^$1"; }
has_flag() { flags | tee /dev/stderr | grep -q "$1"; }
lacks_flag() { ! flags | grep -q "$1"; }
# A counter flag in a fresh pkcs11-tool process: shown where the module reads the
# counters at bind; on AKIS v1.0 (no counter query) never.
shows_counter() {
  if [ -n "$(counter_flag "$1")" ]; then has_flag "$1"; else lacks_flag "$1"; fi
}
v10_note() { [ "$CARD_FAMILY" != v1.0 ] || echo " — none on AKIS v1.0"; }

# Each step names the card state it leaves: PIN tries left (of 3), PUK tries left (of 10).
suite() {
  check "change PIN with the right old PIN" p11 --login --pin 123456 --change-pin --new-pin 654321
  check "the new PIN logs in" p11 --login --pin 654321 -O
  check "change PIN with a wrong old PIN (not logged in): CKR_PIN_INCORRECT (PIN 2/3)" \
    expect_rv CKR_PIN_INCORRECT p11 --change-pin --pin 111111 --new-pin 222222
  check "  flags: user PIN count low$(v10_note)" shows_counter "user PIN count low"
  check "  card: PIN 2 of 3" card_says "PIN: 2 of 3"
  check "wrong login: CKR_PIN_INCORRECT (PIN 1/3)" expect_rv CKR_PIN_INCORRECT p11 --login --pin 000000 -O
  check "  flags: final user PIN try$(v10_note)" shows_counter "final user PIN try"
  check "too short PIN: CKR_PIN_LEN_RANGE and no try spent" expect_rv CKR_PIN_LEN_RANGE p11 --login --pin 12345 -O
  check "letters in the PIN: CKR_PIN_INVALID and no try spent" expect_rv CKR_PIN_INVALID p11 --login --pin 12a456 -O
  check "  card: still PIN 1 of 3" card_says "PIN: 1 of 3"
  check "third wrong try blocks the PIN (PIN 0/3): CKR_PIN_INCORRECT" expect_rv CKR_PIN_INCORRECT p11 --login --pin 000000 -O
  check "  flags: user PIN locked$(v10_note)" shows_counter "user PIN locked"
  check "the right PIN is now refused: CKR_PIN_LOCKED" expect_rv CKR_PIN_LOCKED p11 --login --pin 654321 -O
  check "wrong PUK: CKR_PIN_INCORRECT (PUK 9/10)" expect_rv CKR_PIN_INCORRECT p11 --init-pin --login --login-type so --so-pin 00000000 --new-pin 111111
  check "  flags: SO PIN count low$(v10_note)" shows_counter "SO PIN count low"
  check "  card: PUK 9 of 10" card_says "PUK: 9 of 10"
  check "malformed PUK: CKR_PIN_LEN_RANGE and no try spent" expect_rv CKR_PIN_LEN_RANGE p11 --init-pin --login --login-type so --so-pin 1234 --new-pin 111111
  check "  card: still PUK 9 of 10" card_says "PUK: 9 of 10"
  check "unblock with the PUK (C_Login SO + C_InitPIN)" p11 --init-pin --login --login-type so --so-pin 12345678 --new-pin 111111
  check "  flags: no longer locked" lacks_flag "user PIN locked"
  check "  card: PIN 3 of 3, PUK 10 of 10" bash -c "$(declare -f card_says); VCARD_BIN='$VCARD_BIN' CARD='$CARD'; card_says 'PIN: 3 of 3' && card_says 'PUK: 10 of 10'"
  check "the new PIN signs" p11 --login --pin 111111 --sign -m SHA256-RSA-PKCS -i "$WORK/in" -o "$WORK/sig"
  check "--unlock-pin with the PUK sets a new PIN" p11 --unlock-pin --puk 12345678 --new-pin 222222
  check "  and that PIN works" p11 --login --pin 222222 -O
  check "change the PUK (SO login + C_SetPIN)" p11 --login --login-type so --so-pin 12345678 --change-pin --new-pin 87654321
  check "  the new PUK unblocks" p11 --init-pin --login --login-type so --so-pin 87654321 --new-pin 123456
  check "  and the old one is refused" expect_rv CKR_PIN_INCORRECT p11 --init-pin --login --login-type so --so-pin 12345678 --new-pin 123456
  check "back to the default PIN" p11 --login --pin 123456 -O
}

echo "data to sign" > "$WORK/in"
TOKEN=AKIS_0C0C0C0C0C0C0C0C
CARD=$WORK/pin.card
# A fresh card (full PIN and PUK counters) for each transport.
fresh_card() { make_card "$CARD" 0C0C0C0C0C0C0C0C rsa2048; }
on_families v2 v1.0 -- on_both_transports --fresh fresh_card suite "$CARD"
finish
