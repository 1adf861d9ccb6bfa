#!/usr/bin/env bash
# The persistent bind cache (pkcs11-spec.md §3.2.1) from real processes: each
# `pkcs11-tool -O` is a new process binding the card. Cold: 11 APDUs and an entry
# written (0600); next process: 4 APDUs and the same objects; a card re-personalised
# under the same serial is read, never served; a corrupt entry is ignored;
# EIMZA_PKCS11_CACHE=0 writes nothing. In process and through pcscd + vpcd.
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

suite() {
  local t=$1
  rm -rf "$XDG_CACHE_HOME"
  check "$t: cache off (EIMZA_PKCS11_CACHE=0): card read" env EIMZA_PKCS11_CACHE=0 bash -c "$(declare -f objects); WORK='$WORK' MODULE='$MODULE' objects $t-off"
  check "$t:   nothing written" test ! -e "$ENTRY"
  check "$t: first process reads the card" objects "$t-cold"
  check "$t:   11 APDUs" apdus_are "$t-cold" 11
  check "$t:   entry written, mode 0600" mode_is "$ENTRY" 600
  check "$t:   cache folder mode 0700" mode_is "$(dirname "$ENTRY")" 700
  check "$t: next process binds from the cache" objects "$t-warm"
  check "$t:   4 APDUs (SELECT, TokenInfo, PIN and PUK counters)" apdus_are "$t-warm" 4
  check "$t:   the same objects" diff "$WORK/$t-cold.txt" "$WORK/$t-warm.txt"
  check "$t: corrupt entry" bash -c "echo garbage > '$ENTRY'"
  check "$t:   ignored: the card is read" objects "$t-corrupt"
  check "$t:   the same objects" diff "$WORK/$t-cold.txt" "$WORK/$t-corrupt.txt"
  check "$t:   and the entry rewritten" objects "$t-rewritten"
  check "$t:   4 APDUs again" apdus_are "$t-rewritten" 4

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

on_both_transports suite "$CARD"
finish
