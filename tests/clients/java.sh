#!/usr/bin/env bash
# Java (OpenJDK 17) through SunPKCS11: keytool lists the key entries with their chains,
# jarsigner signs a jar with the RSA and the P-384 key and jarsigner -verify accepts it;
# a small program (tests/clients/java/EimzaJava.java) signs through the JCA provider and,
# like the Turkish ESYA/MA3 signing API, through the raw PKCS#11 wrapper after
# C_Initialize(NULL). Every signature is verified with the certificate by the JDK's own
# providers. RSASSA-PSS (Signature "RSASSA-PSS" with PSS parameters, as JSSE signs in TLS
# 1.3; needs the module's digest mechanisms) is also verified by openssl, and the token's
# MessageDigest (C_Digest*) must equal the JDK's. RSA-2048 + P-384 card (AKIS v2.x), then
# an AKIS v1.0 card (RSA-2048, PKCS#1 v1.5 only: pkcs11-spec.md §1.4.1): keytool,
# jarsigner, SHA256/512withRSA and the raw wrapper with its RSA key, and SunPKCS11 must
# offer no RSASSA-PSS for that token (so JSSE cannot pick it for TLS 1.3) while its
# digests still work. Each in process and through pcscd + vpcd. TLS 1.3 client
# authentication: java-tls.sh.
source "$(dirname "$0")/lib.sh"

CARD=$WORK/java.card
TOKEN=AKIS_1A1A1A1A1A1A1A1A
NES=12345678950NES
make_card "$CARD" 1A1A1A1A1A1A1A1A rsa2048 p384
JAVA_OPTS=(--add-modules jdk.crypto.cryptoki --add-exports jdk.crypto.cryptoki/sun.security.pkcs11.wrapper=ALL-UNNAMED)

# The SunPKCS11 configuration a user writes (one card: slot list index 0).
cat > "$WORK/eimza.cfg" <<CFG
name = eimza
library = $MODULE
slotListIndex = 0
CFG
KS=(-keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11
    -providerArg "$WORK/eimza.cfg" -storepass "$PIN")

mkdir -p "$WORK/classes" "$WORK/jar-content"
javac "${JAVA_OPTS[@]}" -d "$WORK/classes" "$ROOT/tests/clients/java/EimzaJava.java" || exit 1
echo "Merhaba, e-imza" > "$WORK/jar-content/hello.txt"
jar cf "$WORK/unsigned.jar" -C "$WORK/jar-content" .

keytool_lists() { # [KEYS]: that many key entries (default 2)
  local out keys=${1:-2} n
  out=$(keytool -list -v "${KS[@]}") || return 1
  echo "$out"
  # the key entries, each with the chain end-user -> NES CA -> root read from the card
  [ "$(grep -c '^Entry type: PrivateKeyEntry' <<<"$out")" -eq "$keys" ] &&
    [ "$(grep -c '^Certificate chain length: 3' <<<"$out")" -eq "$keys" ] || return 1
  for n in $(seq 0 $((keys - 1))); do grep -q "^Alias name: ${NES}$n" <<<"$out" || return 1; done
}

jar_sign_verify() { # ALIAS SIGNATURE-ALGORITHM
  local jar=$WORK/$1.jar out
  cp "$WORK/unsigned.jar" "$jar"
  jarsigner "${KS[@]}" "$jar" "$1" || return 1
  out=$(jarsigner -verify -verbose "$jar") || return 1
  echo "$out"
  grep -q '^jar verified\.' <<<"$out" && grep -q "^sm .* hello.txt" <<<"$out" &&
    grep -q "Signature algorithm: $2" <<<"$out" || return 1
  # a changed entry must be rejected
  mkdir -p "$WORK/tamper" && (cd "$WORK/tamper" && rm -rf ./* && jar xf "$jar" && echo "degisti" > hello.txt &&
    jar cfM "$WORK/tampered.jar" .) || return 1
  ! jarsigner -verify -strict "$WORK/tampered.jar"
}

java_program() { # MODE ARG: one OK line per key (provider: 2 algorithms each)
  local out
  out=$(java "${JAVA_OPTS[@]}" -cp "$WORK/classes" EimzaJava "$1" "$2" "$PIN") || { echo "$out"; return 1; }
  echo "$out"
  [ "$(grep -c '^OK ' <<<"$out")" -eq "$3" ]
}

java_pss_openssl() { # RSASSA-PSS by SunPKCS11, each signature checked by openssl
  local dir=$WORK/pss out
  rm -rf "$dir"; mkdir -p "$dir"
  out=$(java "${JAVA_OPTS[@]}" -cp "$WORK/classes" EimzaJava pss "$WORK/eimza.cfg" "$PIN" "$dir") || { echo "$out"; return 1; }
  echo "$out"
  [ "$(grep -c '^OK ' <<<"$out")" -eq 5 ] || return 1
  openssl x509 -in "$dir/cert.pem" -pubkey -noout > "$dir/pub.pem" || return 1
  printf 'changed' >> "$dir/changed.bin"; cat "$dir/data.bin" >> "$dir/changed.bin"
  local sig hash salt
  for sig in pss-sha256:sha256:32 pss-sha384:sha384:48 sha256-pss:sha256:32; do
    IFS=: read -r sig hash salt <<<"$sig"
    openssl dgst -"$hash" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:"$salt" -sigopt rsa_mgf1_md:"$hash" \
      -verify "$dir/pub.pem" -signature "$dir/$sig.sig" "$dir/data.bin" | grep -qx 'Verified OK' || { echo "openssl refused $sig"; return 1; }
    ! openssl dgst -"$hash" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:"$salt" \
      -verify "$dir/pub.pem" -signature "$dir/$sig.sig" "$dir/changed.bin" >/dev/null || { echo "openssl accepted a changed message for $sig"; return 1; }
    echo "openssl: $sig verified ($hash, salt $salt), changed message refused"
  done
}

suite() {
  check "keytool -list -v: 2 PrivateKeyEntry, chain length 3 each" keytool_lists
  check "jarsigner signs with the RSA key, jarsigner -verify accepts, a changed jar is refused" jar_sign_verify "${NES}0" "SHA256withRSA, 2048-bit key"
  check "jarsigner signs with the P-384 key, jarsigner -verify accepts, a changed jar is refused" jar_sign_verify "${NES}1" "SHA384withECDSA, 384-bit key"
  check "SunPKCS11 KeyStore + Signature: SHA256/512withRSA, SHA384/256withECDSA verify" java_program provider "$WORK/eimza.cfg" 4
  check "raw wrapper after C_Initialize(NULL) (ESYA/MA3 style): RSA, ECDSA-SHA384, ECDSA verify" java_program raw "$MODULE" 3
  check "SunPKCS11 RSASSA-PSS (SHA-256/384) and SHA256withRSASSA-PSS verified by openssl; token SHA-256/384 digests = JDK's" java_pss_openssl
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

# AKIS v1.0: one RSA-2048 key, PKCS#1 v1.5 only.
v10_suite() {
  # Once this script's pcscd runs (the v2.x round started it) the in-process card is
  # no longer slot list index 0.
  check "SunPKCS11 configuration with the v1.0 token's slotListIndex" sunpkcs11_config "$WORK/eimza.cfg"
  check "keytool -list -v: 1 PrivateKeyEntry, chain length 3" keytool_lists 1
  check "jarsigner signs with the RSA key, jarsigner -verify accepts, a changed jar is refused" jar_sign_verify "${NES}0" "SHA256withRSA, 2048-bit key"
  check "SunPKCS11 KeyStore + Signature: SHA256/512withRSA verify" java_program provider "$WORK/eimza.cfg" 2
  check "raw wrapper after C_Initialize(NULL) (ESYA/MA3 style): SHA256-RSA-PKCS verifies" java_program raw "$MODULE" 1
  check "SunPKCS11 offers no RSASSA-PSS / SHA256withRSASSA-PSS for the token, SHA256withRSA signs; token SHA-256/384 digests = JDK's" \
    java_program nopss "$WORK/eimza.cfg" 4
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

on_families v2 -- on_both_transports suite "$CARD"
CARD=$WORK/java-v10.card
TOKEN=AKIS_1A1A1A1A1A1A1A10
make_card --family v1.0 "$CARD" 1A1A1A1A1A1A1A10 rsa2048
on_families v1.0 -- on_both_transports v10_suite "$CARD"
finish
