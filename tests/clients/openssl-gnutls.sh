#!/usr/bin/env bash
# OpenSSL through libp11's engine (libengine-pkcs11-openssl, RFC 7512 URIs): dgst
# signatures (PKCS#1 v1.5, PSS, ECDSA) and CMS, verified by plain openssl with the
# certificate and the test root; GnuTLS p11tool: tokens, certificates, --test-sign.
# RSA-2048 + P-384 card (AKIS v2.x), then an AKIS v1.0 card (RSA-2048, PKCS#1 v1.5 only:
# pkcs11-spec.md §1.4.1) with the RSA parts, where an RSA-PSS signature must fail
# cleanly (no APDU, no try). Each in process and through pcscd + vpcd.
source "$(dirname "$0")/lib.sh"

CARD=$WORK/ossl.card
TOKEN=AKIS_0F0F0F0F0F0F0F0F
NES=12345678950NES
make_card "$CARD" 0F0F0F0F0F0F0F0F rsa2048 p384
echo "imzalanacak veri $(date)" > "$WORK/data"

# The engine is loaded from a configuration file, the way users set it up.
cat > "$WORK/openssl.cnf" <<CNF
openssl_conf = conf
[conf]
engines = engines
[engines]
pkcs11 = pkcs11
[pkcs11]
engine_id = pkcs11
MODULE_PATH = $MODULE
init = 0
CNF
engine() { OPENSSL_CONF=$WORK/openssl.cnf openssl "$@"; }
key_uri() { echo "pkcs11:token=$TOKEN;object=$1;type=private;pin-value=$PIN"; }

# cert LABEL: the card's certificate as PEM and its public key (read with p11tool).
cert() {
  p11tool --provider "$MODULE" --export "pkcs11:token=$TOKEN;object=$1;type=cert" > "$WORK/$1.pem" &&
    openssl x509 -in "$WORK/$1.pem" -pubkey -noout > "$WORK/$1.pub"
}

both_certs() { cert "${NES}0" && cert "${NES}1"; }

dgst_sign_verify() { # LABEL HASH [openssl -sigopt...]
  local label=$1 hash=$2 sig=$WORK/$1-$2.sig; shift 2
  rm -f "$sig"
  engine dgst "-$hash" -engine pkcs11 -keyform engine -sign "$(key_uri "$label")" "$@" -out "$sig" "$WORK/data" &&
    openssl dgst "-$hash" -verify "$WORK/$label.pub" "$@" -signature "$sig" "$WORK/data" &&
    ! openssl dgst "-$hash" -verify "$WORK/$label.pub" "$@" -signature "$sig" "$WORK/ossl.card" >/dev/null 2>&1
}

cms_sign_verify() { # LABEL
  local label=$1 p7=$WORK/$1.p7s
  rm -f "$p7"
  engine cms -sign -nodetach -binary -md sha256 -engine pkcs11 -keyform engine -inkey "$(key_uri "$label")" \
    -signer "$WORK/$label.pem" -certfile "$WORK/ca/nes-ca.pem" -in "$WORK/data" -outform DER -out "$p7" &&
    openssl cms -verify -inform DER -in "$p7" -binary -CAfile "$WORK/ca/root-ca.pem" -purpose any \
      -out "$WORK/$label.content" && cmp "$WORK/data" "$WORK/$label.content"
}

test_sign() { # LABEL ALGORITHM
  local out
  out=$(GNUTLS_PIN=$PIN p11tool --provider "$MODULE" --login --test-sign "pkcs11:token=$TOKEN;object=$1;type=private" 2>&1)
  local rc=$?
  echo "$out"
  [ $rc -eq 0 ] && grep -q "Signing using $2\.\.\. ok" <<<"$out" &&
    grep -q 'Verifying against public key in the token... ok' <<<"$out"
}

# pin_try_checks: a wrong pin-value through the OpenSSL engine costs exactly one try,
# and a GnuTLS login with the right PIN fills the counter again.
pin_try_checks() {
  check "openssl: a wrong pin-value is refused after exactly one try" bash -c \
    "! OPENSSL_CONF='$WORK/openssl.cnf' openssl dgst -sha256 -engine pkcs11 -keyform engine \
       -sign 'pkcs11:token=$TOKEN;object=${NES}0;type=private;pin-value=000000' -out '$WORK/bad.sig' '$WORK/data' &&
     '$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 2 of 3 tries left'"
  check "a correct login restores the PIN counter" bash -c \
    "GNUTLS_PIN=$PIN p11tool --provider '$MODULE' --login --list-privkeys 'pkcs11:token=$TOKEN' >/dev/null &&
     '$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

suite() {
  check "p11tool --export reads both certificates" both_certs
  check "openssl dgst -engine pkcs11: SHA256 RSA PKCS#1 v1.5, verified" dgst_sign_verify "${NES}0" sha256
  check "openssl dgst -engine pkcs11: SHA384 RSA-PSS, verified" dgst_sign_verify "${NES}0" sha384 \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1
  check "openssl dgst -engine pkcs11: SHA384 ECDSA P-384, verified" dgst_sign_verify "${NES}1" sha384
  check "openssl cms -sign with the RSA engine key, cms -verify against the test root" cms_sign_verify "${NES}0"
  check "openssl cms -sign with the P-384 engine key, cms -verify against the test root" cms_sign_verify "${NES}1"
  pin_try_checks
  check "p11tool --list-tokens shows the token with its serial" bash -c \
    "p11tool --provider '$MODULE' --list-tokens | tee /dev/stderr | grep -q 'URL: pkcs11:.*serial=0F0F0F0F0F0F0F0F;token=$TOKEN'"
  check "p11tool --list-all-certs: 2 user certificates, 2 CA certificates" bash -c \
    "out=\$(p11tool --provider '$MODULE' --list-all-certs 'pkcs11:token=$TOKEN'); echo \"\$out\";
     [ \$(grep -c 'Type: X.509 Certificate' <<<\"\$out\") -eq 4 ] && [ \$(grep -c 'CKA_CERTIFICATE_CATEGORY=CA' <<<\"\$out\") -eq 2 ] &&
     grep -q 'Label: ${NES}0' <<<\"\$out\" && grep -q 'Label: ${NES}1' <<<\"\$out\""
  check "p11tool --list-privkeys after login: 2 keys" bash -c \
    "[ \$(GNUTLS_PIN=$PIN p11tool --provider '$MODULE' --login --list-privkeys 'pkcs11:token=$TOKEN' | grep -c 'Type: Private key') -eq 2 ]"
  check "p11tool --test-sign with the RSA key" test_sign "${NES}0" RSA-SHA256
  check "p11tool --test-sign with the P-384 key" test_sign "${NES}1" ECDSA-SHA256
}

# pss_refused: openssl dgst -sigopt rsa_padding_mode:pss with the v1.0 key fails; the
# module refused every signing mechanism asked for before any APDU (the log shows the
# C_SignInit calls, none accepted, none with card I/O), and no PIN try was spent.
pss_refused() {
  local sig=$WORK/pss-refused.sig inits
  rm -f "$sig" "$WORK/pss.p11log"
  EIMZA_PKCS11_LOG=$WORK/pss.p11log engine dgst -sha384 -engine pkcs11 -keyform engine -sign "$(key_uri "${NES}0")" \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -out "$sig" "$WORK/data" && { echo "openssl signed"; return 1; }
  inits=$(grep 'C_SignInit(' "$WORK/pss.p11log")
  echo "$inits"
  [ -n "$inits" ] && ! grep -v ' = CKR_MECHANISM_INVALID apdus=0 bytes=0 tx=0$' <<<"$inits" &&
    ! grep -q 'C_Sign(' "$WORK/pss.p11log" &&
    "$VCARD_BIN" show "$CARD" | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'
}

# AKIS v1.0: one RSA-2048 key.
v10_suite() {
  check "p11tool --export reads the certificate" cert "${NES}0"
  check "openssl dgst -engine pkcs11: SHA256 RSA PKCS#1 v1.5, verified" dgst_sign_verify "${NES}0" sha256
  check "openssl dgst -engine pkcs11: SHA384 RSA-PSS fails: C_SignInit CKR_MECHANISM_INVALID, no APDU, no try" pss_refused
  check "openssl cms -sign with the RSA engine key, cms -verify against the test root" cms_sign_verify "${NES}0"
  pin_try_checks
  check "p11tool --list-tokens shows the token with its serial" bash -c \
    "p11tool --provider '$MODULE' --list-tokens | tee /dev/stderr | grep -q 'URL: pkcs11:.*serial=0F0F0F0F0F0F0F10;token=$TOKEN'"
  check "p11tool --list-all-certs: 1 user certificate, 2 CA certificates" bash -c \
    "out=\$(p11tool --provider '$MODULE' --list-all-certs 'pkcs11:token=$TOKEN'); echo \"\$out\";
     [ \$(grep -c 'Type: X.509 Certificate' <<<\"\$out\") -eq 3 ] && [ \$(grep -c 'CKA_CERTIFICATE_CATEGORY=CA' <<<\"\$out\") -eq 2 ] &&
     grep -q 'Label: ${NES}0' <<<\"\$out\""
  check "p11tool --list-privkeys after login: 1 key" bash -c \
    "[ \$(GNUTLS_PIN=$PIN p11tool --provider '$MODULE' --login --list-privkeys 'pkcs11:token=$TOKEN' | grep -c 'Type: Private key') -eq 1 ]"
  check "p11tool --test-sign with the RSA key" test_sign "${NES}0" RSA-SHA256
}

on_families v2 -- on_both_transports suite "$CARD"
CARD=$WORK/ossl-v10.card
TOKEN=AKIS_0F0F0F0F0F0F0F10
make_card --family v1.0 "$CARD" 0F0F0F0F0F0F0F10 rsa2048
on_families v1.0 -- on_both_transports v10_suite "$CARD"
finish
