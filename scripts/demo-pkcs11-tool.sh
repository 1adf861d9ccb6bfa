#!/usr/bin/env bash
# The mission with a standard PKCS#11 client instead of the eimza tool: on a software card,
# (OpenSC pkcs11-tool): token info, sign and verify, change the PIN, block it with
# wrong PINs, unblock it with the PUK. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo build --release --workspace --locked -q

MODULE=$PWD/target/release/libeimza_pkcs11.so
VCARD=$PWD/target/release/eimza-vcard
DIR=$(mktemp -d /tmp/eimza-demo.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
export EIMZA_VIRTUAL_CARD=$DIR/card
p11() { pkcs11-tool --module "$MODULE" "$@"; }
# CKA_ID of the certificate labelled $1 (pkcs11-tool 0.23 picks signing keys by --id only)
id_of() { p11 -O --type cert | awk -v l="$1" '$1 == "label:" { hit = ($2 == l) } hit && $1 == "ID:" { print $2; exit }'; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Personalise a software card: RSA-2048 and ECDSA P-384 keys (PIN 123456, PUK 12345678)"
"$VCARD" create "$DIR/card" --key rsa2048 --key p384
"$VCARD" show "$DIR/card"

step "The token as applications see it"
p11 -T
p11 -O

step "Sign a document with the RSA key (SHA256-RSA-PKCS) and verify it with openssl"
echo "Bu belge e-imza ile imzalandı." > "$DIR/doc.txt"
p11 --login --pin 123456 --sign -m SHA256-RSA-PKCS --id "$(id_of 12345678950NES0)" -i "$DIR/doc.txt" -o "$DIR/doc.sig"
p11 --read-object --type cert --label 12345678950NES0 -o "$DIR/rsa.der"
openssl x509 -inform der -in "$DIR/rsa.der" -pubkey -noout > "$DIR/rsa.pub"
openssl dgst -sha256 -verify "$DIR/rsa.pub" -signature "$DIR/doc.sig" "$DIR/doc.txt"

step "Sign with the P-384 key (ECDSA-SHA384) and verify"
p11 --login --pin 123456 --sign -m ECDSA-SHA384 -f openssl --id "$(id_of 12345678950NES1)" -i "$DIR/doc.txt" -o "$DIR/doc.ec.sig"
p11 --read-object --type cert --label 12345678950NES1 -o "$DIR/ec.der"
openssl x509 -inform der -in "$DIR/ec.der" -pubkey -noout > "$DIR/ec.pub"
openssl dgst -sha384 -verify "$DIR/ec.pub" -signature "$DIR/doc.ec.sig" "$DIR/doc.txt"

step "Change the PIN: 123456 -> 654321 (C_SetPIN)"
p11 --login --pin 123456 --change-pin --new-pin 654321

step "Three wrong PINs block it (C_Login -> CKR_PIN_INCORRECT, then CKR_PIN_LOCKED)"
for i in 1 2 3; do p11 --login --pin 000000 -O 2>&1 | grep -E 'CKR_|error' | head -1 || true; done
p11 --login --pin 654321 -O 2>&1 | grep -E 'CKR_' | head -1 || true
"$VCARD" show "$DIR/card"

step "Unblock with the PUK and set a new PIN 111111 (C_Login(CKU_SO) + C_InitPIN)"
p11 --init-pin --login --login-type so --so-pin 12345678 --new-pin 111111
"$VCARD" show "$DIR/card"

step "Sign again with the new PIN"
p11 --login --pin 111111 --sign -m SHA256-RSA-PKCS --id "$(id_of 12345678950NES0)" -i "$DIR/doc.txt" -o "$DIR/doc2.sig"
openssl dgst -sha256 -verify "$DIR/rsa.pub" -signature "$DIR/doc2.sig" "$DIR/doc.txt"
printf '\nDemo finished: signed, changed the PIN, blocked it and unblocked it with the PUK.\n'
