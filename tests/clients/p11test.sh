#!/usr/bin/env bash
# OpenSC p11test (built from Debian's opensc source by scripts/build-p11test.sh) on an
# RSA card, a P-384 and a P-256 card, in process and through pcscd + vpcd. The JSON
# output, minus timing and key IDs, must equal the reference in
# tests/clients/p11test-reference/. p11test verifies each signature with C_Verify* when
# the module offers it and silently falls back to OpenSSL after the first failure, so
# the module's debug log must show exactly the expected number of successful
# C_Verify/C_VerifyFinal calls, no refused C_Verify* call, and no card I/O in any of
# them. (p11test 0.23 signs nothing with P-384 keys: its buffer for the certificate's
# EC point holds 80 bytes, a P-384 point needs 97 — "Can not get EC_POINT from EVP_PKEY";
# the P-256 card runs its EC sign and verify tests.)
# Then an AKIS v1.0 card (RSA-2048, PKCS#1 v1.5 only; pkcs11-spec.md §1.4.1), in process
# and through pcscd + vpcd, against its own reference: the token lists no PSS and no EC
# mechanism, so p11test must report its PSS and EC tests as skipped for that reason, and
# pass every other test. (p11test's pss_oaep_test skips with cmocka's skip() instead of
# its own P11TEST_SKIP, so its JSON says "unknown" rather than "skip": the log is what
# says why.)
source "$(dirname "$0")/lib.sh"
P11TEST=$ROOT/target/p11test/p11test
if ! "$ROOT/scripts/build-p11test.sh" "$P11TEST" >"$WORK/build.log" 2>&1; then
  tail -5 "$WORK/build.log"; check "p11test is built (scripts/build-p11test.sh)" false; finish; exit 1
fi
REF=$ROOT/tests/clients/p11test-reference

slot_of() { # slot id (decimal) of the token with label $1
  local hex
  hex=$(pkcs11-tool --module "$MODULE" -L | awk -v l="$1" '/^Slot [0-9]+ \(0x/{s=$3} $0 ~ "token label *: *"l"$"{gsub(/[():]/,"",s); print s; exit}')
  [ -n "$hex" ] && echo $((hex))
}

run_p11test() { # run_p11test TOKEN NAME VERIFICATIONS [p11test options]
  local slot out=$WORK/$2.json token=$1 name=$2 verifications=$3
  shift 3
  slot=$(slot_of "$token") || return 1
  rm -f "$WORK/$name.p11log"
  EIMZA_PKCS11_LOG=$WORK/$name.p11log EIMZA_PKCS11_LOG_LEVEL=debug \
    timeout 120 "$P11TEST" -m "$MODULE" -s "$slot" -p "$PIN" -o "$out" "$@" > "$WORK/$name.log" 2>&1
  compare_p11test "$name" && verified_by_module "$name" "$verifications"
}

# verified_by_module NAME N: p11test's signatures were checked by the module's C_Verify*
# (N successful C_Verify/C_VerifyFinal), none refused, none touched the card.
verified_by_module() {
  local log=$WORK/$1.p11log ok refused io
  ok=$(grep -cE ': C_Verify(Final)?\(.*\) = CKR_OK apdus=' "$log")
  refused=$(grep -E ': C_(Verify|Digest)[A-Za-z]*\(' "$log" | grep -vc ') = CKR_OK apdus=')
  io=$(grep -E ': C_(Verify|Digest)[A-Za-z]*\(' "$log" | grep -vc ' apdus=0 bytes=0 tx=0$')
  echo "module log: $ok signatures verified by C_Verify/C_VerifyFinal (expected $2), $refused C_Verify*/C_Digest* calls refused, $io with card I/O"
  [ "$ok" -eq "$2" ] && [ "$refused" -eq 0 ] && [ "$io" -eq 0 ]
}

compare_p11test() { # compare_p11test NAME: the run's log and JSON against the reference
  local out=$WORK/$1.json
  set -- "$1" "$1"
  cat "$WORK/$2.log" | tail -15
  grep -q 'FAILED\|ERROR' "$WORK/$2.log" && return 1
  # Key IDs are hashes of freshly generated keys: compare everything else.
  grep -v '"time"' "$out" | sed -E 's/"([0-9A-F]{2}:){19}[0-9A-F]{2}"/"<key id>"/g' > "$WORK/$2.cmp"
  if [ "${UPDATE_REFERENCE:-}" = 1 ]; then mkdir -p "$REF"; cp "$WORK/$2.cmp" "$REF/$2.json"; fi
  diff -u "$REF/$2.json" "$WORK/$2.cmp"
}

# wait_test (-i): p11test blocks in C_WaitForSlotEvent until a slot has a token. It is
# started on slot 0 with the card already pulled out (p11test accepts an explicitly
# chosen empty slot), and the card is inserted once it waits: one event, no race with
# a removal still in progress. Then every other test runs on the inserted card.
interactive_run() {
  local slot log=$WORK/rsa-interactive.log
  slot=$(slot_of AKIS_0E0E0E0E0E0E0E01) || return 1
  vcard_stop 35963
  # Line-buffered, so its "Waiting for slot event" can be seen while it waits.
  EIMZA_PKCS11_LOG=$WORK/rsa-interactive.p11log EIMZA_PKCS11_LOG_LEVEL=debug \
    timeout 120 stdbuf -oL "$P11TEST" -i -m "$MODULE" -s "$slot" -p "$PIN" -o "$WORK/rsa-interactive.json" \
    > "$log" 2>&1 &
  local p11test_pid=$!
  wait_for 20 grep -q 'Waiting for slot event' "$log" || { echo "p11test never waited"; return 1; }
  sleep 0.5
  if grep -q 'Status:' "$log"; then
    echo "wait_test returned with no card inserted:"; cat "$log"; return 1
  fi
  vcard_serve "$CARD_RSA" 35963
  wait "$p11test_pid" || true
  grep -A2 'wait_test' "$WORK/rsa-interactive.json" | grep -q '"pass"' || { echo "wait_test did not pass"; return 1; }
  compare_p11test rsa-interactive && verified_by_module rsa-interactive 20
}

# The P-256 card's run: in process it is the only card; through pcscd it takes the RSA
# card's place in reader 0 (vpcd has two readers), which gets the RSA card back after.
p256_run() {
  local rv
  if [ "$TRANSPORT" = inprocess ]; then
    EIMZA_VIRTUAL_CARD=$CARD_P256 run_p11test AKIS_0E0E0E0E0E0E0E03 p256 25; return
  fi
  vcard_stop 35963; vcard_serve "$CARD_P256" 35963 || return 1
  run_p11test AKIS_0E0E0E0E0E0E0E03 p256 25; rv=$?
  vcard_stop 35963; vcard_serve "$CARD_RSA" 35963 || return 1
  return $rv
}

suite() {
  local mode=$1
  # RSA: 6 single-part, 5 multi-part, 9 PSS signatures, each verified by the module.
  check "p11test on the RSA card ($mode), 20 signatures verified by C_Verify*" run_p11test AKIS_0E0E0E0E0E0E0E01 rsa 20
  check "p11test on the P-384 card ($mode) (p11test cannot sign with P-384)" run_p11test AKIS_0E0E0E0E0E0E0E02 ec 0
  # P-256: 5 read-only and 20 signature-size signatures, each verified by the module.
  check "p11test on the P-256 card ($mode), 25 signatures verified by C_Verify*" p256_run
  if [ "$mode" = pcscd ]; then
    check "p11test -i on the RSA card: wait_test sees the card pulled and re-inserted (pcscd)" interactive_run
  fi
}

CARD_RSA=$WORK/rsa.card; CARD_EC=$WORK/ec.card; CARD_P256=$WORK/p256.card
make_card "$CARD_RSA" 0E0E0E0E0E0E0E01 rsa2048
make_card "$CARD_EC" 0E0E0E0E0E0E0E02 p384
make_card "$CARD_P256" 0E0E0E0E0E0E0E03 p256
# not_applicable NAME: p11test skipped exactly wait_test (no -i), ec_sign_size_test and
# pss_oaep_test, the last two because the token has no such mechanism; 8 tests passed.
not_applicable() {
  local log=$WORK/$1.log skipped
  skipped=$(sed -n 's/^\[  SKIPPED \] \([a-z_]*\)$/\1/p' "$log" | sort -u | tr '\n' ' ')
  echo "skipped: $skipped"
  [ "$skipped" = "ec_sign_size_test pss_oaep_test wait_test " ] &&
    grep -qx 'Token does not support any RSA-PSS or OAEP mechanisms. Skipping.' "$log" &&
    grep -qx 'Token does not support any ECC signature mechanisms. Skipping.' "$log" &&
    grep -qx '\[  PASSED  \] 8 test(s).' "$log"
}

v10_suite() {
  local mode=$1
  # 6 single-part and 5 multi-part PKCS#1 v1.5 signatures, each verified by the module.
  check "p11test on the AKIS v1.0 RSA card ($mode), 11 signatures verified by C_Verify*" \
    run_p11test AKIS_0E0E0E0E0E0E0E10 rsa-v10 11
  check "  PSS and EC tests reported not applicable (the token has no such mechanism), 8 tests passed" \
    not_applicable rsa-v10
}

CARD_V10=$WORK/rsa-v10.card
make_card --family v1.0 "$CARD_V10" 0E0E0E0E0E0E0E10 rsa2048
on_families v2 -- on_both_transports suite "$CARD_RSA" "$CARD_EC"
on_families v1.0 -- on_both_transports v10_suite "$CARD_V10"
finish
