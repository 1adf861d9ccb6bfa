#!/usr/bin/env bash
# The persistent bind cache (pkcs11-spec.md §3.2.1) from real processes: each
# `pkcs11-tool -O` is a new process binding the card. Cold: 11 APDUs and an entry
# written (0600); next process: 4 APDUs and the same objects; a card re-personalised
# under the same serial is read, never served; a corrupt entry is ignored;
# EIMZA_PKCS11_CACHE=0 writes nothing. On an AKIS v2.x card, then an AKIS v1.0 card
# (pkcs11-spec.md §3.2, §3.2.1: cold 27 APDUs in its own SELECT forms, warm 3 — no
# counter query on v1.0 — and re-personalised with a new RSA-2048 key under the same
# serial and ATR, so only TokenInfo tells the versions apart). Each in process and
# through pcscd + vpcd.
source "$(dirname "$0")/lib.sh"

export XDG_CACHE_HOME=$WORK/cache
unset EIMZA_PKCS11_CACHE
SERIAL=0CAC4E0000000001
CARD=$WORK/c.card
ENTRY=$XDG_CACHE_HOME/eimza-pkcs11/card-$SERIAL.bin
make_card "$CARD" "$SERIAL" rsa2048

# objects NAME: pkcs11-tool -O with the debug log; objects in $WORK/NAME.txt, the
# APDUs of the whole run (all of them bind: nothing else touches the card) in $WORK/NAME.apdus
objects() {
  rm -f "$WORK/p11.log"
  EIMZA_PKCS11_LOG=$WORK/p11.log EIMZA_PKCS11_LOG_LEVEL=debug \
    pkcs11-tool --module "$MODULE" -O > "$WORK/$1.txt" 2>&1 || return 1
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^apdus=/) { sub("apdus=", "", $i); s += $i } } END { print s + 0 }' \
    "$WORK/p11.log" > "$WORK/$1.apdus"
  echo "$1: $(cat "$WORK/$1.apdus") APDUs"
}
apdus_are() { [ "$(cat "$WORK/$1.apdus")" -eq "$2" ]; }
apdus_above() { [ "$(cat "$WORK/$1.apdus")" -gt "$2" ]; }
mode_is() { [ "$(stat -c %a "$1")" = "$2" ]; }

# public_key_ids NAME: the IDs of the public key objects in $WORK/NAME.txt
public_key_ids() {
  awk '/^[A-Z][a-z]+ (Key )?Object/ { p = /^Public Key Object/ } p && $1 == "ID:" { print $2 }' "$WORK/$1.txt"
}

# v10_repersonalise TRANSPORT: the v1.0 card gets a new RSA-2048 key (the only kind a
# v1.0 card holds) under the same serial, so the same ATR: its old public key ID must
# be gone. A served card is unplugged first and plugged in again afterwards.
v10_repersonalise() {
  local t=$1
  public_key_ids "$t-cold" > "$WORK/$t-old.ids"
  if [ "$t" = pcscd ]; then vcard_stop 35963; fi
  check "$t: re-personalise $SERIAL with a new RSA-2048 key (AKIS v1.0)" \
    "$VCARD_BIN" create "$CARD" --force --serial "$SERIAL" --ca-dir "$WORK/ca" --family v1.0 --key rsa2048
  if [ "$t" = pcscd ]; then vcard_serve "$CARD" 35963; fi
  check "$t: the re-personalised card is read, not served" objects "$t-new"
  check "$t:   more than 3 APDUs" apdus_above "$t-new" 3
  check "$t:   one public key, with an ID the old card did not have" bash -c \
    "$(declare -f public_key_ids); WORK='$WORK'; ids=\$(public_key_ids $t-new); echo \"old: \$(cat '$WORK/$t-old.ids'); new: \$ids\";
     [ \$(grep -c . <<<\"\$ids\") -eq 1 ] && [ \$(grep -c . '$WORK/$t-old.ids') -eq 1 ] && ! grep -qxF \"\$ids\" '$WORK/$t-old.ids'"
}

suite() {
  local t=$1 cold=11 warm=4 warm_what="SELECT, TokenInfo, PIN and PUK counters"
  if [ "$CARD_FAMILY" = v1.0 ]; then
    cold=27 warm=3 warm_what="SELECT of the DF, SELECT and READ of TokenInfo; no counter query on v1.0"
  fi
  rm -rf "$XDG_CACHE_HOME"
  check "$t: cache off (EIMZA_PKCS11_CACHE=0): card read" env EIMZA_PKCS11_CACHE=0 bash -c "$(declare -f objects); WORK='$WORK' MODULE='$MODULE' objects $t-off"
  check "$t:   nothing written" test ! -e "$ENTRY"
  check "$t: first process reads the card" objects "$t-cold"
  check "$t:   $cold APDUs" apdus_are "$t-cold" $cold
  check "$t:   entry written, mode 0600" mode_is "$ENTRY" 600
  check "$t:   cache folder mode 0700" mode_is "$(dirname "$ENTRY")" 700
  check "$t: next process binds from the cache" objects "$t-warm"
  check "$t:   $warm APDUs ($warm_what)" apdus_are "$t-warm" $warm
  check "$t:   the same objects" diff "$WORK/$t-cold.txt" "$WORK/$t-warm.txt"
  check "$t: corrupt entry" bash -c "echo garbage > '$ENTRY'"
  check "$t:   ignored: the card is read" objects "$t-corrupt"
  check "$t:   the same objects" diff "$WORK/$t-cold.txt" "$WORK/$t-corrupt.txt"
  check "$t:   and the entry rewritten" objects "$t-rewritten"
  check "$t:   $warm APDUs again" apdus_are "$t-rewritten" $warm
  if [ "$CARD_FAMILY" = v1.0 ]; then v10_repersonalise "$t"; return; fi

  # The card changes under the same serial: re-personalised with the other key type (the
  # in-process part leaves a P-256 card, the pcscd part an RSA one). A served card is
  # unplugged first and plugged in again afterwards.
  local ec="EC_POINT\|EC Public Key\|; EC" to=p256 new old=RSA
  new=$ec
  if [ "$t" = pcscd ]; then to=rsa2048 new=RSA old=$ec; vcard_stop 35963; fi
  check "$t: re-personalise $SERIAL with a $to key" \
    "$VCARD_BIN" create "$CARD" --force --serial "$SERIAL" --ca-dir "$WORK/ca" --key "$to"
  if [ "$t" = pcscd ]; then vcard_serve "$CARD" 35963; fi
  check "$t: the re-personalised card is read, not served" objects "$t-new"
  check "$t:   more than 4 APDUs" apdus_above "$t-new" 4
  check "$t:   its $to key is listed" grep -q "$new" "$WORK/$t-new.txt"
  check "$t:   the old key is not" bash -c "! grep -q '$old' '$WORK/$t-new.txt'"
}

on_families v2 -- on_both_transports suite "$CARD"
SERIAL=0CAC4E0000000010
CARD=$WORK/c-v10.card
ENTRY=$XDG_CACHE_HOME/eimza-pkcs11/card-$SERIAL.bin
make_card --family v1.0 "$CARD" "$SERIAL" rsa2048
on_families v1.0 -- on_both_transports suite "$CARD"
finish
