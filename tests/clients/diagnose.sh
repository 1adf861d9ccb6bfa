#!/usr/bin/env bash
# eimza diagnose through a real pcscd + vpcd, on a software card of each AKIS family
# (v1.0, v1.x, v2.x): the card (eimza-vcard serve --log-commands) records the header of
# every command it received, so the checks see exactly what reached the card through
# PC/SC — only SELECT, READ BINARY, GET RESPONSE, GET DATA, and VERIFY without data
# (with --counters, never on v1.0) — and that it is the same list of commands as the
# in-process run on the same card file. The card file is byte for byte unchanged.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/pcsc/harness.sh"
EIMZA_BIN=${EIMZA_BIN:-$ROOT/target/release/eimza}

# A card in vpcd reader 0, without a connection to it: opensc-tool -l only asks pcscd
# about presence (opensc-tool -a would let OpenSC's drivers probe the card).
reader0_has_card() { opensc-tool -l 2>/dev/null | grep -q '^0 *Yes'; }
reader0_is_empty() { opensc-tool -l 2>/dev/null | grep -q '^0 *No'; }

# The "Commands and answers" section of a report.
commands_of() { sed -n '/^## Commands and answers/,/^## /p' "$1" | grep -E '^ *[0-9]+  '; }

# only_reads LOG FAMILY: every logged command is a read, or (v1.x/v2.x) a counter query.
only_reads() {
  local log=$1 family=$2 line bad=0
  while read -r line; do
    case "$line" in
      "00 A4 "*|"00 B0 "*|"00 C0 "*|"00 CA "*) ;;
      "00 20 00 81 Nc=0 Ne=-"|"00 20 00 82 Nc=0 Ne=-") [ "$family" != v1.0 ] || bad=1 ;;
      *) echo "not a read: $line"; bad=1 ;;
    esac
  done <"$log"
  [ -s "$log" ] && [ $bad -eq 0 ]
}

pcsc_start || pcsc_abort
for family in v1.0 v1 v2; do
  echo "-- family $family"
  CARD=$WORK/$family.card
  make_card --family "$family" "$CARD" 0D1A60050D1A6005 rsa2048
  before=$(sha256sum <"$CARD")
  LOG=$WORK/$family.log
  "$VCARD_BIN" serve "$CARD" --log-commands "$LOG" >"$WORK/serve-$family.log" 2>&1 &
  SERVE=$!
  check "the $family card is in reader 0" wait_for 10 reader0_has_card
  REPORT=$WORK/$family-pcsc.txt
  check "eimza diagnose --counters through PC/SC exits 0" \
    "$EIMZA_BIN" diagnose --counters --reader "Virtual PCD 00 00" --out "$REPORT"
  kill "$SERVE"; wait "$SERVE" 2>/dev/null
  # The next family's card goes into the same reader: this one must be seen gone
  # first, or the next presence check (and diagnose) could still meet this card.
  check "the $family card left reader 0" wait_for 10 reader0_is_empty
  name=$(case $family in v1.0) echo "AKIS v1.0";; v1) echo "AKIS v1.x";; v2) echo "AKIS v2.x";; esac)
  check "the report names the family ($name)" grep -q "^family: $name" "$REPORT"
  check "the card received only read commands" only_reads "$LOG" "$family"
  check "it received exactly the commands the report lists" bash -c \
    "[ \$(wc -l <'$LOG') -eq \$(grep -c . < <($(declare -f commands_of); commands_of '$REPORT')) ] &&
     grep -q \"^Commands sent: \$(wc -l <'$LOG')\$\" '$REPORT'"
  counters=$([ $family = v1.0 ] && echo 0 || echo 2)
  check "counter queries: $counters" grep -q "^Retry-counter queries (VERIFY without data): $counters" "$REPORT"
  check "the national ID number is masked" bash -c "! grep -q 12345678950 '$REPORT'"
  check "the card file is unchanged" bash -c "[ \"\$(sha256sum <'$CARD')\" = '$before' ]"
  INPROC=$WORK/$family-inprocess.txt
  check "in process (--card) the same card gets the same commands, answered alike" bash -c \
    "'$EIMZA_BIN' diagnose --counters --card '$CARD' --out '$INPROC' >/dev/null &&
     $(declare -f commands_of); diff <(commands_of '$REPORT') <(commands_of '$INPROC')"
done
finish
