#!/usr/bin/env bash
# pkcs11-tool's own self tests against the module: --test (sessions, random, digests
# compared with OpenSSL, RSA signatures, RSA verification by the module), --test-fork (C_Initialize in a forked child, the parent keeps working),
# --test-threads (C_Initialize racing from several threads, with and without
# CKF_OS_LOCKING_OK), on an RSA-2048 + P-384 card (AKIS v2.x) and on an AKIS v1.0 card
# (RSA-2048 only; --test then signs with the PKCS#1 v1.5 mechanisms it lists), each in
# process and through pcscd + vpcd.
# pkcs11-tool exits 0 even when --test finds errors: the output is what is checked.
source "$(dirname "$0")/lib.sh"

CARD=$WORK/self.card
TOKEN=AKIS_05E1F7E575E1F7E5
# AKIS v1.0 cards hold RSA-2048 keys only (pkcs11-spec.md §1.4.1).
make_cards() {
  if [ "$CARD_FAMILY" = v1.0 ]; then
    KEYS=1; make_card "$CARD" 05E1F7E575E1F7E5 rsa2048
  else
    KEYS=2; make_card "$CARD" 05E1F7E575E1F7E5 rsa2048 p384
  fi
}

p11() { pkcs11-tool --module "$MODULE" --token-label "$TOKEN" "$@"; }

# expect_output PATTERN COMMAND...: the command succeeds and prints PATTERN
# (stdout and stderr together).
expect_output() {
  local pattern=$1 out; shift
  out=$("$@" 2>&1); local rc=$?
  echo "$out"
  [ $rc -eq 0 ] && grep -q -- "$pattern" <<<"$out"
}

# threads_ok OUT: every test thread ended with CKR_OK and none reported an error.
threads_ok() {
  grep -q 'test_threads all threads have ended with CKR_OK' "$1" &&
    ! grep -q 'Unknown test\|slot not available' "$1"
}

suite() {
  check "--test --login: 'No errors'" expect_output '^No errors' p11 --test --login --pin "$PIN"
  check "--test --login signed with the RSA key" expect_output 'SHA256-RSA-PKCS: OK' p11 --test --login --pin "$PIN"
  check "--test: the module's digests equal OpenSSL's, its C_Verify accepts RSA-PKCS and SHA1-RSA-PKCS" bash -c \
    "out=\$(pkcs11-tool --module '$MODULE' --token-label $TOKEN --test --login --pin $PIN 2>&1); echo \"\$out\";
     grep -q '^  all 4 digest functions seem to work' <<<\"\$out\" && grep -q '^  SHA-1: OK' <<<\"\$out\" &&
     grep -q '^  SHA256: OK' <<<\"\$out\" &&
     [ \"\$(sed -n '/^Verify/,/^Decrypt/p' <<<\"\$out\" | grep -cE '^    (RSA-PKCS|SHA1-RSA-PKCS): OK\$')\" -eq 2 ] &&
     grep -q '^No errors' <<<\"\$out\""
  check "--test with CKF_OS_LOCKING_OK: 'No errors'" expect_output '^No errors' p11 --use-locking --test --login --pin "$PIN"
  check "--test without login: 'No errors'" expect_output '^No errors' p11 --test
  check "--test-fork: child's C_Initialize is CKR_OK, the parent still lists its private keys" bash -c \
    "out=\$(pkcs11-tool --module '$MODULE' --token-label $TOKEN --test-fork --login --pin $PIN -O 2>&1); rc=\$?; echo \"\$out\";
     [ \$rc -eq 0 ] && grep -q 'Calling C_Initialize in forked child' <<<\"\$out\" &&
     [ \$(grep -c '^Private Key Object' <<<\"\$out\") -eq $KEYS ]"
  # The main thread runs --test meanwhile, so the threads end before pkcs11-tool's
  # cleanup looks at them (otherwise it waits 30 s before looking again).
  check "--test-threads: C_Initialize(NULL) and CKF_OS_LOCKING_OK racing in 3 threads" bash -c \
    "$(declare -f threads_ok); pkcs11-tool --module '$MODULE' --test-threads INGISLT0 --test-threads ILGISLT0 \
       --test-threads INSLT0GI --token-label $TOKEN --login --pin $PIN --test >'$WORK/threads.out' 2>&1; rc=\$?;
     cat '$WORK/threads.out'; [ \$rc -eq 0 ] && threads_ok '$WORK/threads.out' && grep -q '^No errors' '$WORK/threads.out'"
  check "the card's PIN counter is untouched (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

on_families v2 v1.0 -- on_both_transports --fresh make_cards suite "$CARD"
finish
