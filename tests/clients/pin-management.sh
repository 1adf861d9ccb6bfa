#!/usr/bin/env bash
# PIN management from real clients (issue 4): pkcs11-tool --change-pin, --init-pin as
# SO (PUK), --unlock-pin; the token flags at each step; malformed PINs cost nothing.
# In process and through pcscd + vpcd. Card state is read back with `eimza-vcard show`.
source "$(dirname "$0")/lib.sh"

p11() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN" "$@"; }
flags() { p11 -T | grep 'token flags'; }
# expect_rv CKR_X COMMAND... : the command fails and prints that return value
expect_rv() { local rv=$1; shift; local out; out=$("$@" 2>&1); echo "$out"; grep -q "$rv" <<<"$out"; }
tries() { "$VCARD_BIN" show "$CARD" | grep -i "^ *$1" ; }
has_flag() { flags | tee /dev/stderr | grep -q "$1"; }
lacks_flag() { ! flags | grep -q "$1"; }

suite() {
  check "change PIN with the right old PIN" p11 --login --pin 123456 --change-pin --new-pin 654321
  check "the new PIN logs in" p11 --login --pin 654321 -O
  check "change PIN with a wrong old PIN: CKR_PIN_INCORRECT" expect_rv CKR_PIN_INCORRECT p11 --change-pin --pin 111111 --new-pin 222222
  check "wrong login: CKR_PIN_INCORRECT" expect_rv CKR_PIN_INCORRECT p11 --login --pin 000000 -O
  check "  flags: user PIN count low" has_flag "user PIN count low"
  check "second wrong login" expect_rv CKR_PIN_INCORRECT p11 --login --pin 000000 -O
  check "  flags: final user PIN try" has_flag "final user PIN try"
  check "third wrong login blocks the PIN" expect_rv 'CKR_PIN_INCORRECT\|CKR_PIN_LOCKED' p11 --login --pin 000000 -O
  check "  flags: user PIN locked" has_flag "user PIN locked"
  check "the right PIN is now refused: CKR_PIN_LOCKED" expect_rv CKR_PIN_LOCKED p11 --login --pin 654321 -O
  check "too short PIN: CKR_PIN_LEN_RANGE, no APDU" expect_rv CKR_PIN_LEN_RANGE p11 --login --pin 12345 -O
  check "letters in PIN: CKR_PIN_INVALID" expect_rv 'CKR_PIN_INVALID\|CKR_PIN_LEN_RANGE' p11 --login --pin 12a456 -O
  check "wrong PUK: CKR_PIN_INCORRECT" expect_rv CKR_PIN_INCORRECT p11 --init-pin --login --login-type so --so-pin 00000000 --new-pin 111111
  check "  flags: SO PIN count low" has_flag "SO PIN count low"
  check "unblock with the PUK (C_Login SO + C_InitPIN)" p11 --init-pin --login --login-type so --so-pin 12345678 --new-pin 111111
  check "  flags: no longer locked" lacks_flag "user PIN locked"
  check "the new PIN signs" bash -c "echo hello > '$WORK/in' && pkcs11-tool --module '$MODULE' --token-label '$TOKEN' --login --pin 111111 --sign -m SHA256-RSA-PKCS --label 12345678950NES0 -i '$WORK/in' -o '$WORK/sig'"
  check "--unlock-pin with the PUK sets a new PIN" p11 --unlock-pin --puk 12345678 --new-pin 222222
  check "  and that PIN works" p11 --login --pin 222222 -O
  check "malformed PUK: CKR_PIN_LEN_RANGE" expect_rv CKR_PIN_LEN_RANGE p11 --init-pin --login --login-type so --so-pin 1234 --new-pin 111111
  check "change the PUK (SO login + C_SetPIN)" p11 --login --login-type so --so-pin 12345678 --change-pin --new-pin 87654321
  check "  the new PUK unblocks" p11 --init-pin --login --login-type so --so-pin 87654321 --new-pin 123456
  check "back to the default PIN" p11 --login --pin 123456 -O
}

CARD=$WORK/pin.card
TOKEN=AKIS_0C0C0C0C0C0C0C0C
make_card "$CARD" 0C0C0C0C0C0C0C0C rsa2048
echo "-- in process"
use_inprocess "$CARD"
suite
echo "-- through pcscd + vpcd"
use_pcscd "$CARD"
suite
finish
