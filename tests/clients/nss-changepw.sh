#!/usr/bin/env bash
# NSS (Firefox's "Change Password"): modutil -changepw on an NSS database with the module
# added, as Firefox adds it. NSS checks the old PIN with C_Login, then calls C_SetPIN in
# an RW session: 2 PIN-carrying APDUs for a change, exactly 1 try for a wrong old PIN.
# The new PIN logs in (certutil -K), the old one no longer does; a malformed new PIN
# costs nothing. On an AKIS v2.x card (P-256) and an AKIS v1.0 card (RSA-2048, its own
# CHANGE form), each in process and through pcscd + vpcd; card counters from
# `eimza-vcard show`.
source "$(dirname "$0")/lib.sh"

card_says() { "$VCARD_BIN" show "$CARD" | tee /dev/stderr | grep -q "^$1"; }
pw() { printf '%s\n' "$1" > "$WORK/pw-$1"; echo "$WORK/pw-$1"; }
# changepw OLD NEW: the module's trace log of this run is left in $WORK/changepw.log.
changepw() {
  rm -f "$WORK/changepw.log"
  EIMZA_PKCS11_LOG=$WORK/changepw.log EIMZA_PKCS11_LOG_LEVEL=trace \
    modutil -dbdir "sql:$DB" -changepw "$TOKEN" -pwfile "$(pw "$1")" -newpwfile "$(pw "$2")" -force
}
# PIN-carrying APDUs in the last changepw run (logged with their data redacted).
pin_apdus_were() { [ "$(grep -c 'bytes of PIN data redacted' "$WORK/changepw.log")" -eq "$1" ]; }
logged() { grep -q "$1" "$WORK/changepw.log"; }
fails() { ! "$@"; }
# certutil -K lists the token's private keys after C_Login with the PIN from the file.
keys_with() {
  local out
  out=$(certutil -K -d "sql:$DB" -h "$TOKEN" -f "$(pw "$1")") || return 1
  echo "$out"; grep -q '^< *[0-9]*> \(rsa\|ec\) ' <<<"$out"
}

suite() {
  DB=$WORK/nssdb-$CARD_FAMILY-$1
  mkdir -p "$DB"
  check "certutil -N: new NSS database" certutil -N -d "sql:$DB" --empty-password
  check "modutil -add: the module in the database" \
    bash -c "echo | modutil -dbdir sql:$DB -add eimza -libfile $MODULE -force"
  # (an empty second vpcd reader makes modutil -list exit non-zero: only the output counts)
  check "modutil -list shows the token" bash -c "modutil -dbdir sql:$DB -list eimza 2>&1 | grep -q 'Token Name: $TOKEN'"
  check "-changepw 123456 → 654321" changepw 123456 654321
  check "  2 PIN-carrying APDUs: C_Login (VERIFY) + C_SetPIN (CHANGE REFERENCE DATA)" pin_apdus_were 2
  check "  C_SetPIN logged in, in an RW session" logged "C_SetPIN(.*) = CKR_OK"
  check "  card: PIN 3 of 3" card_says "PIN: 3 of 3"
  check "  the new PIN logs in (certutil -K)" keys_with 654321
  check "  the old PIN does not (one try)" fails keys_with 123456
  check "  card: PIN 2 of 3, PUK untouched" bash -c "$(declare -f card_says); VCARD_BIN='$VCARD_BIN' CARD='$CARD'; card_says 'PIN: 2 of 3' && card_says 'PUK: 10 of 10'"
  check "-changepw with a wrong old PIN fails" fails changepw 000000 111111
  check "  1 PIN-carrying APDU (the C_Login), no C_SetPIN" bash -c "$(declare -f pin_apdus_were logged); WORK='$WORK'; pin_apdus_were 1 && ! logged C_SetPIN"
  check "  exactly one try spent (PIN 1 of 3), PUK untouched" bash -c "$(declare -f card_says); VCARD_BIN='$VCARD_BIN' CARD='$CARD'; card_says 'PIN: 1 of 3' && card_says 'PUK: 10 of 10'"
  check "-changepw to a 5-digit PIN fails" fails changepw 654321 12345
  check "  C_SetPIN: CKR_PIN_LEN_RANGE, before any APDU (1 PIN-carrying: the C_Login)" bash -c "$(declare -f pin_apdus_were logged); WORK='$WORK'; pin_apdus_were 1 && logged 'C_SetPIN(.*) = CKR_PIN_LEN_RANGE'"
  check "  the PIN is unchanged and the login reset the counter (PIN 3 of 3)" card_says "PIN: 3 of 3"
  check "  654321 still logs in" keys_with 654321
  check "-changepw back to 123456" changepw 654321 123456
  check "  123456 logs in" keys_with 123456
  check "  card: PIN 3 of 3, PUK 10 of 10" bash -c "$(declare -f card_says); VCARD_BIN='$VCARD_BIN' CARD='$CARD'; card_says 'PIN: 3 of 3' && card_says 'PUK: 10 of 10'"
}

TOKEN=AKIS_0F0F0F0F0F0F0F01
CARD=$WORK/nss.card
# A fresh card (full PIN and PUK counters) for each transport.
# AKIS v1.0 cards hold RSA-2048 keys only (pkcs11-spec.md §1.4.1).
fresh_card() {
  if [ "$CARD_FAMILY" = v1.0 ]; then
    make_card "$CARD" 0F0F0F0F0F0F0F01 rsa2048
  else
    make_card "$CARD" 0F0F0F0F0F0F0F01 p256
  fi
}
on_families v2 v1.0 -- on_both_transports --fresh fresh_card suite "$CARD"
finish
