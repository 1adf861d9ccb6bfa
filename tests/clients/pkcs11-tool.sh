#!/usr/bin/env bash
# OpenSC pkcs11-tool against the module: -L, -O, --sign with every mechanism (each
# signature verified with openssl against the card's certificate, and by the module
# itself through `pkcs11-tool --verify`, which must also call a changed input invalid),
# `--hash` with every digest mechanism (equal to `openssl dgst`), on an RSA-2048 +
# P-384 card and an RSA-3072 + P-256 card (AKIS v2.x), then on an AKIS v1.0 card
# (RSA-2048 only): its six PKCS#1 v1.5 mechanisms signed and verified, `--hash`, and the
# PSS mechanisms refused with CKR_MECHANISM_INVALID before any APDU (pkcs11-spec.md
# §1.4.1, §2.6), and an AKIS v1.x RSA-3072 card, whose raw input stops at one short
# APDU. Each in process and through pcscd + vpcd.
source "$(dirname "$0")/lib.sh"

CARD_A=$WORK/a.card   # serial 0A0A0A0A0A0A0A0A: NES0 rsa2048, NES1 p384
CARD_B=$WORK/b.card   # serial 0B0B0B0B0B0B0B0B: NES0 rsa3072, NES1 p256
CARD_V10=$WORK/v10.card # serial 0A0A0A0A0A0A0A10: NES0 rsa2048, AKIS v1.0
CARD_V1X=$WORK/v1x.card # serial 0A0A0A0A0A0A0A11: NES0 rsa3072, AKIS v1.x (no extended length)
make_card "$CARD_A" 0A0A0A0A0A0A0A0A rsa2048 p384
make_card "$CARD_B" 0B0B0B0B0B0B0B0B rsa3072 p256
make_card --family v1.0 "$CARD_V10" 0A0A0A0A0A0A0A10 rsa2048
make_card --family v1 "$CARD_V1X" 0A0A0A0A0A0A0A11 rsa3072
head -c 3000 /dev/urandom > "$WORK/data"
openssl dgst -sha256 -binary "$WORK/data" > "$WORK/data.sha256"
# DigestInfo(SHA-256) for raw CKM_RSA_PKCS
{ printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'; cat "$WORK/data.sha256"; } > "$WORK/data.di"

p11() { pkcs11-tool --module "$MODULE" "$@"; }

# pubkey TOKEN LABEL -> $WORK/TOKEN-LABEL.pub.pem
pubkey() {
  p11 --token-label "$1" --read-object --type cert --label "$2" -o "$WORK/$1-$2.der" >/dev/null &&
    openssl x509 -inform der -in "$WORK/$1-$2.der" -pubkey -noout > "$WORK/$1-$2.pub.pem"
}

# id_of TOKEN LABEL: CKA_ID (hex) of the certificate with that label
id_of() {
  p11 --token-label "$1" -O --type cert | awk -v l="$2" '$1 == "label:" { hit = ($2 == l) } hit && $1 == "ID:" { print $2; exit }'
}

# pkcs11-tool 0.23 ignores --label when it picks the signing key: select it by --id.
sign() { # sign TOKEN LABEL MECH INPUT OUT [extra...]
  local token=$1 label=$2 mech=$3 in=$4 out=$5 id; shift 5
  id=$(id_of "$token" "$label") && [ -n "$id" ] || { echo "no certificate labelled $label" >&2; return 1; }
  p11 --token-label "$token" --login --pin "$PIN" --sign -m "$mech" --id "$id" -i "$in" -o "$out" "$@"
}

# tamper IN OUT: IN with its first byte changed.
tamper() {
  local first
  first=$(head -c1 "$1" | od -An -tu1 | tr -d ' ')
  { printf "\\$(printf '%03o' $(( (first + 1) % 256 )))"; tail -c +2 "$1"; } > "$2"
}

# p11verify TOKEN LABEL MECH INPUT SIG [extra...]: pkcs11-tool --verify with the public
# key of that certificate; "Signature is valid" for INPUT, "Invalid signature" for a
# changed INPUT. Long inputs go through C_VerifyUpdate/C_VerifyFinal, short ones C_Verify.
p11verify() {
  local token=$1 label=$2 mech=$3 in=$4 sig=$5 id good bad; shift 5
  id=$(id_of "$token" "$label") && [ -n "$id" ] || { echo "no certificate labelled $label" >&2; return 1; }
  tamper "$in" "$in.changed"
  good=$(p11 --token-label "$token" --verify -m "$mech" --id "$id" -i "$in" --signature-file "$sig" "$@")
  bad=$(p11 --token-label "$token" --verify -m "$mech" --id "$id" -i "$in.changed" --signature-file "$sig" "$@")
  echo "input: $good; changed input: $bad"
  [ "$good" = "Signature is valid" ] && [ "$bad" = "Invalid signature" ]
}

rsa_suite() { # rsa_suite TOKEN LABEL [pkcs1]: with pkcs1, the PKCS#1 v1.5 mechanisms only
  local t=$1 l=$2 pub="$WORK/$1-$2.pub.pem" h sig pss=yes
  [ "${3:-}" = pkcs1 ] && pss=no
  check "$t $l: read certificate" pubkey "$t" "$l"
  for h in sha1 sha224 sha256 sha384 sha512; do
    local H=${h^^}
    sig=$WORK/sig-$t-$l-$h-pkcs
    check "$t $l: $H-RSA-PKCS signs, openssl verifies" bash -c \
      "$(declare -f p11 id_of sign); MODULE='$MODULE' PIN='$PIN'; sign '$t' '$l' '$H-RSA-PKCS' '$WORK/data' '$sig' &&
       openssl dgst -$h -verify '$pub' -signature '$sig' '$WORK/data'"
    check "$t $l: $H-RSA-PKCS pkcs11-tool --verify: valid, changed data invalid" p11verify "$t" "$l" "$H-RSA-PKCS" "$WORK/data" "$sig"
    [ $pss = yes ] || continue
    sig=$WORK/sig-$t-$l-$h-pss
    check "$t $l: $H-RSA-PKCS-PSS signs, openssl verifies" bash -c \
      "$(declare -f p11 id_of sign); MODULE='$MODULE' PIN='$PIN'; sign '$t' '$l' '$H-RSA-PKCS-PSS' '$WORK/data' '$sig' &&
       openssl dgst -$h -verify '$pub' -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -signature '$sig' '$WORK/data'"
    check "$t $l: $H-RSA-PKCS-PSS pkcs11-tool --verify: valid, changed data invalid" p11verify "$t" "$l" "$H-RSA-PKCS-PSS" "$WORK/data" "$sig"
  done
  sig=$WORK/sig-$t-$l-raw-pkcs
  check "$t $l: RSA-PKCS (DigestInfo input) signs, openssl verifies" bash -c \
    "$(declare -f p11 id_of sign); MODULE='$MODULE' PIN='$PIN'; sign '$t' '$l' RSA-PKCS '$WORK/data.di' '$sig' &&
     openssl pkeyutl -verify -pubin -inkey '$pub' -in '$WORK/data.sha256' -sigfile '$sig' -pkeyopt digest:sha256"
  check "$t $l: RSA-PKCS pkcs11-tool --verify: valid, changed DigestInfo invalid" p11verify "$t" "$l" RSA-PKCS "$WORK/data.di" "$sig"
  [ $pss = yes ] || return 0
  sig=$WORK/sig-$t-$l-raw-pss
  check "$t $l: RSA-PKCS-PSS (hash input) signs, openssl verifies" bash -c \
    "$(declare -f p11 id_of sign); MODULE='$MODULE' PIN='$PIN'; sign '$t' '$l' RSA-PKCS-PSS '$WORK/data.sha256' '$sig' --hash-algorithm SHA256 --mgf MGF1-SHA256 &&
     openssl pkeyutl -verify -pubin -inkey '$pub' -in '$WORK/data.sha256' -sigfile '$sig' -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest"
  check "$t $l: RSA-PKCS-PSS pkcs11-tool --verify: valid, changed hash invalid" p11verify "$t" "$l" RSA-PKCS-PSS "$WORK/data.sha256" "$sig" --hash-algorithm SHA256 --mgf MGF1-SHA256
}

ec_suite() { # ec_suite TOKEN LABEL
  local t=$1 l=$2 pub="$WORK/$1-$2.pub.pem" h sig
  check "$t $l: read certificate" pubkey "$t" "$l"
  for h in sha1 sha224 sha256 sha384 sha512; do
    local H=${h^^}
    sig=$WORK/sig-$t-$l-$h-ecdsa
    check "$t $l: ECDSA-$H signs, openssl verifies" bash -c \
      "$(declare -f p11 id_of sign); MODULE='$MODULE' PIN='$PIN'; sign '$t' '$l' 'ECDSA-$H' '$WORK/data' '$sig' -f openssl &&
       openssl dgst -$h -verify '$pub' -signature '$sig' '$WORK/data'"
    check "$t $l: ECDSA-$H pkcs11-tool --verify: valid, changed data invalid" p11verify "$t" "$l" "ECDSA-$H" "$WORK/data" "$sig" -f openssl
  done
  sig=$WORK/sig-$t-$l-raw-ecdsa
  check "$t $l: ECDSA (hash input) signs, openssl verifies" bash -c \
    "$(declare -f p11 id_of sign); MODULE='$MODULE' PIN='$PIN'; sign '$t' '$l' ECDSA '$WORK/data.sha256' '$sig' -f openssl &&
     openssl pkeyutl -verify -pubin -inkey '$pub' -in '$WORK/data.sha256' -sigfile '$sig'"
  check "$t $l: ECDSA pkcs11-tool --verify: valid, changed hash invalid" p11verify "$t" "$l" ECDSA "$WORK/data.sha256" "$sig" -f openssl
}

# --hash: every digest mechanism equals openssl dgst; without -m pkcs11-tool takes the
# first CKF_DIGEST mechanism listed (SHA-1). C_DigestUpdate in 64-byte parts.
hash_suite() { # hash_suite TOKEN
  local t=$1 h
  for h in sha1 sha224 sha256 sha384 sha512; do
    local m=${h^^}; [ "$m" = SHA1 ] && m=SHA-1
    check "$t: pkcs11-tool --hash -m $m equals openssl dgst -$h" bash -c \
      "pkcs11-tool --module '$MODULE' --token-label '$t' --hash -m '$m' -i '$WORK/data' -o '$WORK/hash-$h' &&
       cmp '$WORK/hash-$h' <(openssl dgst -$h -binary '$WORK/data') && od -An -tx1 '$WORK/hash-$h' | tr -d ' \n'"
  done
  check "$t: pkcs11-tool --hash without -m is SHA-1 (the first digest listed)" bash -c \
    "pkcs11-tool --module '$MODULE' --token-label '$t' --hash -i '$WORK/data' -o '$WORK/hash-default' 2>&1 | tee /dev/stderr | grep -q 'Using digest algorithm SHA-1' &&
     cmp '$WORK/hash-default' <(openssl dgst -sha1 -binary '$WORK/data')"
  check "$t: pkcs11-tool --hash of an empty input equals openssl dgst -sha256" bash -c \
    "pkcs11-tool --module '$MODULE' --token-label '$t' --hash -m SHA256 -i /dev/null -o '$WORK/hash-empty' &&
     cmp '$WORK/hash-empty' <(openssl dgst -sha256 -binary /dev/null)"
}

suite() {
  local A=AKIS_0A0A0A0A0A0A0A0A B=AKIS_0B0B0B0B0B0B0B0B
  check "-L lists both tokens" bash -c "pkcs11-tool --module '$MODULE' -L | tee /dev/stderr | grep -q '$A' && pkcs11-tool --module '$MODULE' -L | grep -q '$B'"
  check "-O without login shows certificates and public keys, no private keys" bash -c \
    "out=\$(pkcs11-tool --module '$MODULE' --token-label $A -O) && echo \"\$out\" &&
     [ \$(grep -c '^Certificate Object' <<<\"\$out\") -ge 2 ] && [ \$(grep -c '^Public Key Object' <<<\"\$out\") -eq 2 ] &&
     ! grep -q '^Private Key Object' <<<\"\$out\""
  check "-O with login shows the private keys" bash -c \
    "[ \$(pkcs11-tool --module '$MODULE' --token-label $A --login --pin $PIN -O | grep -c '^Private Key Object') -eq 2 ]"
  rsa_suite $A 12345678950NES0
  ec_suite $A 12345678950NES1
  rsa_suite $B 12345678950NES0
  check "$B NES0: RSA-3072 RSA-PKCS with 373 bytes (k - 11, extended length) signs; 374: CKR_DATA_LEN_RANGE, no APDU" \
    raw_input_limit $B 12345678950NES0 373
  ec_suite $B 12345678950NES1
  hash_suite $A
  check "wrong PIN is refused with CKR_PIN_INCORRECT" bash -c \
    "out=\$(pkcs11-tool --module '$MODULE' --token-label $A --login --pin 000000 -O 2>&1); echo \"\$out\"; grep -q CKR_PIN_INCORRECT <<<\"\$out\""
  check "a correct login afterwards restores the counter" bash -c \
    "pkcs11-tool --module '$MODULE' --token-label $A --login --pin $PIN -O >/dev/null"
}

# mechanisms TOKEN: the token's mechanism list, one name per line (pkcs11-tool -M).
mechanisms() {
  pkcs11-tool --module "$MODULE" --token-label "$1" -M | awk '/^ / { sub(/^ +/, ""); sub(/[ ,].*/, ""); print }'
}

# refused_without_apdu TOKEN LABEL WHAT ARGS...: pkcs11-tool (logged in) fails with
# CKR_MECHANISM_INVALID, and the module's log shows the call refused it with no APDU.
refused_without_apdu() {
  local t=$1 l=$2 what=$3 id out; shift 3
  id=$(id_of "$t" "$l") && [ -n "$id" ] || { echo "no certificate labelled $l" >&2; return 1; }
  rm -f "$WORK/refused.log"
  out=$(EIMZA_PKCS11_LOG=$WORK/refused.log p11 --token-label "$t" --login --pin "$PIN" --id "$id" "$@" 2>&1) &&
    { echo "$out"; echo "pkcs11-tool succeeded"; return 1; }
  echo "$out"; grep "C_${what}Init" "$WORK/refused.log"
  grep -q CKR_MECHANISM_INVALID <<<"$out" &&
    grep -q "C_${what}Init(.*) = CKR_MECHANISM_INVALID apdus=0 bytes=0 tx=0\$" "$WORK/refused.log"
}

# raw_input_limit TOKEN LABEL MAX: a raw RSA-PKCS input may be MAX bytes, the least of
# k - 11 and the card's largest command data (v1.0: 244; 255 without extended length):
# MAX bytes sign and openssl verifies; with MAX + 1 pkcs11-tool fails and the module's
# log shows C_Sign CKR_DATA_LEN_RANGE with no APDU (pkcs11-spec.md §1.4.1, §3.1).
raw_input_limit() {
  local t=$1 l=$2 max=$3 id pub="$WORK/$1-$2.pub.pem"
  id=$(id_of "$t" "$l") && [ -n "$id" ] || { echo "no certificate labelled $l" >&2; return 1; }
  head -c $((max + 1)) /dev/urandom | tr '\0' '\1' > "$WORK/raw-over"
  head -c "$max" "$WORK/raw-over" > "$WORK/raw-max"
  p11 --token-label "$t" --login --pin "$PIN" --sign -m RSA-PKCS --id "$id" -i "$WORK/raw-max" -o "$WORK/raw-max.sig" &&
    openssl pkeyutl -verifyrecover -pubin -inkey "$pub" -pkeyopt rsa_padding_mode:pkcs1 -in "$WORK/raw-max.sig" |
    cmp - "$WORK/raw-max" || { echo "$max bytes did not sign"; return 1; }
  rm -f "$WORK/raw.log"
  EIMZA_PKCS11_LOG=$WORK/raw.log p11 --token-label "$t" --login --pin "$PIN" --sign -m RSA-PKCS --id "$id" \
    -i "$WORK/raw-over" -o "$WORK/raw-over.sig" && { echo "$((max + 1)) bytes signed"; return 1; }
  grep 'C_Sign(' "$WORK/raw.log"
  grep -q "C_Sign(.*ulDataLen=$((max + 1)),.*) = CKR_DATA_LEN_RANGE apdus=0 bytes=0 tx=0\$" "$WORK/raw.log"
}

# AKIS v1.0: RSA-2048 with PKCS#1 v1.5 is all its cards sign (pkcs11-spec.md §1.4.1).
v10_suite() {
  local T=AKIS_0A0A0A0A0A0A0A10 l=12345678950NES0
  check "-L lists the v1.0 token" bash -c "pkcs11-tool --module '$MODULE' -L | tee /dev/stderr | grep -q '$T'"
  check "-M: RSA-PKCS, SHA{1,224,256,384,512}-RSA-PKCS, then the 5 digests; nothing else" bash -c \
    "$(declare -f mechanisms); MODULE='$MODULE'; diff <(mechanisms $T) - <<<'RSA-PKCS
SHA1-RSA-PKCS
SHA224-RSA-PKCS
SHA256-RSA-PKCS
SHA384-RSA-PKCS
SHA512-RSA-PKCS
SHA-1
SHA224
SHA256
SHA384
SHA512' && echo 'mechanisms as expected'"
  check "-O without login shows 3 certificates and 1 public key, no private key" bash -c \
    "out=\$(pkcs11-tool --module '$MODULE' --token-label $T -O) && echo \"\$out\" &&
     [ \$(grep -c '^Certificate Object' <<<\"\$out\") -eq 3 ] && [ \$(grep -c '^Public Key Object' <<<\"\$out\") -eq 1 ] &&
     ! grep -q '^Private Key Object' <<<\"\$out\""
  check "-O with login shows the private key" bash -c \
    "[ \$(pkcs11-tool --module '$MODULE' --token-label $T --login --pin $PIN -O | grep -c '^Private Key Object') -eq 1 ]"
  rsa_suite $T $l pkcs1
  check "$T $l: SHA256-RSA-PKCS-PSS --sign refused: CKR_MECHANISM_INVALID, no APDU" \
    refused_without_apdu $T $l Sign --sign -m SHA256-RSA-PKCS-PSS -i "$WORK/data" -o "$WORK/v10-pss.sig"
  check "$T $l: RSA-PKCS-PSS --sign refused: CKR_MECHANISM_INVALID, no APDU" \
    refused_without_apdu $T $l Sign --sign -m RSA-PKCS-PSS --hash-algorithm SHA256 --mgf MGF1-SHA256 \
    -i "$WORK/data.sha256" -o "$WORK/v10-pss.sig"
  check "$T $l: SHA256-RSA-PKCS-PSS --verify refused: CKR_MECHANISM_INVALID, no APDU" \
    refused_without_apdu $T $l Verify --verify -m SHA256-RSA-PKCS-PSS -i "$WORK/data" \
    --signature-file "$WORK/sig-$T-$l-sha256-pkcs"
  check "$T $l: RSA-PKCS with 244 bytes signs; 245 (k - 11, over the v1.0 command limit): CKR_DATA_LEN_RANGE, no APDU" \
    raw_input_limit $T $l 244
  check "  card: PIN 3 of 3 tries left" bash -c \
    "'$VCARD_BIN' show '$CARD_V10' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
  hash_suite $T
  check "wrong PIN is refused with CKR_PIN_INCORRECT" bash -c \
    "out=\$(pkcs11-tool --module '$MODULE' --token-label $T --login --pin 000000 -O 2>&1); echo \"\$out\"; grep -q CKR_PIN_INCORRECT <<<\"\$out\""
  check "  card: PIN 2 of 3 tries left" bash -c \
    "'$VCARD_BIN' show '$CARD_V10' | tee /dev/stderr | grep -q '^PIN: 2 of 3 tries left'"
  check "a correct login afterwards restores the counter" bash -c \
    "pkcs11-tool --module '$MODULE' --token-label $T --login --pin $PIN -O >/dev/null &&
     '$VCARD_BIN' show '$CARD_V10' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

on_families v2 -- on_both_transports suite "$CARD_A" "$CARD_B"
on_families v1.0 -- on_both_transports v10_suite "$CARD_V10"

# AKIS v1.x cards have no extended length: one command carries 255 bytes, less than the
# 373 of raw PKCS#1 input an RSA-3072 key allows.
v1x_suite() {
  local T=AKIS_0A0A0A0A0A0A0A11 l=12345678950NES0
  check "$T $l: public key read" pubkey $T $l
  check "$T $l: RSA-3072 RSA-PKCS with 255 bytes signs; 256 (over a short APDU): CKR_DATA_LEN_RANGE, no APDU" \
    raw_input_limit $T $l 255
}
on_families v1 -- on_both_transports v1x_suite "$CARD_V1X"
finish
