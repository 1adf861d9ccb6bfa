#!/usr/bin/env bash
# python-pkcs11 (PyPI, in a venv under target/ kept between runs): login and a signature,
# a wrong PIN raises PinIncorrect and costs one try, a malformed one PinLenRange and
# nothing, C_SetPIN changes the PIN logged in or not, a blocked PIN raises PinLocked,
# C_Login(SO, PUK) + C_InitPIN unblocks it, and C_SetPIN(PUK, new) (the value fits only
# the PUK) unblocks without spending a PIN try. On an AKIS v2.x card (P-256 + RSA-2048)
# and an AKIS v1.0 card (RSA-2048 only, its own forms), each in process and through
# pcscd + vpcd.
source "$(dirname "$0")/lib.sh"

VENV=$ROOT/target/python-venv
if ! "$VENV/bin/python" -c "import pkcs11" 2>/dev/null; then
  echo "python-pkcs11: setting up $VENV"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "python-pkcs11~=0.10.1" \
    || { echo "python-pkcs11: venv setup failed"; exit 1; }
fi

card_says() { "$VCARD_BIN" show "$CARD" | tee /dev/stderr | grep -q "^$1"; }
card_is() { card_says "PIN: $1" && card_says "PUK: $2"; }
# py ACTION ARGS... -> EXPECTED: the client's first output word (OK or the exception).
py_gives() {
  local expected=$1; shift
  local out
  out=$("$VENV/bin/python" "$ROOT/tests/clients/python/pin_client.py" "$MODULE" "$TOKEN" "$@")
  echo "$out"
  [ "$(head -1 <<<"$out" | cut -d' ' -f1)" = "$expected" ]
}
# py_gives_line LINE ACTION ARGS...: the client prints exactly LINE.
py_gives_line() {
  local expected=$1; shift
  local out
  out=$("$VENV/bin/python" "$ROOT/tests/clients/python/pin_client.py" "$MODULE" "$TOKEN" "$@")
  echo "$out"
  [ "$out" = "$expected" ]
}

suite() {
  check "login with the PIN, every key signs ($KEYS)" py_gives_line "OK signed with $KEYS key(s)" login 123456
  check "wrong PIN: PinIncorrect" py_gives PinIncorrect login 000000
  check "  one try: PIN 2 of 3" card_is "2 of 3" "10 of 10"
  check "5 digits: PinLenRange" py_gives PinLenRange login 12345
  check "letters: PinInvalid" py_gives PinInvalid login 12345a
  check "  nothing spent: PIN 2 of 3" card_is "2 of 3" "10 of 10"
  check "C_SetPIN 123456 → 654321, not logged in" py_gives OK change 123456 654321
  check "  card: PIN 3 of 3" card_is "3 of 3" "10 of 10"
  check "C_SetPIN with a wrong old PIN: PinIncorrect" py_gives PinIncorrect change 000000 111111
  check "  one PIN try: PIN 2 of 3" card_is "2 of 3" "10 of 10"
  check "C_SetPIN to 5 digits: PinLenRange" py_gives PinLenRange change 654321 12345
  check "  nothing spent: PIN 2 of 3" card_is "2 of 3" "10 of 10"
  check "C_SetPIN 654321 → 123456, logged in" py_gives OK change-logged-in 654321 123456
  check "  the new PIN signs" py_gives OK login 123456
  for left in 2 1 0; do
    check "wrong PIN (PIN $left of 3): PinIncorrect" py_gives PinIncorrect login 000000
  done
  check "  card: PIN blocked" card_is "0 of 3 tries left, BLOCKED" "10 of 10"
  check "blocked: PinLocked" py_gives PinLocked login 123456
  check "SO login with a wrong PUK: PinIncorrect" py_gives PinIncorrect unblock 00000000 111111
  check "  one PUK try, no PIN try" card_is "0 of 3 tries left, BLOCKED" "9 of 10"
  check "SO login with the PUK + C_InitPIN 111111" py_gives OK unblock 12345678 111111
  check "  card: PIN 3 of 3, PUK 10 of 10" card_is "3 of 3" "10 of 10"
  check "  111111 signs" py_gives OK login 111111
  check "C_SetPIN(PUK, 222222) not logged in: unblock with the PUK" py_gives OK change 12345678 222222
  check "  card: PIN 3 of 3, PUK 10 of 10" card_is "3 of 3" "10 of 10"
  check "  222222 signs" py_gives OK login 222222
}

TOKEN=AKIS_0F0F0F0F0F0F0F04
CARD=$WORK/python.card
# A fresh card (full PIN and PUK counters) for each transport.
# AKIS v1.0 cards hold RSA-2048 keys only (pkcs11-spec.md §1.4.1).
fresh_card() {
  if [ "$CARD_FAMILY" = v1.0 ]; then
    KEYS=1; make_card "$CARD" 0F0F0F0F0F0F0F04 rsa2048
  else
    KEYS=2; make_card "$CARD" 0F0F0F0F0F0F0F04 p256 rsa2048
  fi
}
on_families v2 v1.0 -- on_both_transports --fresh fresh_card suite "$CARD"
finish
