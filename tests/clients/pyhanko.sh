#!/usr/bin/env bash
# pyHanko (PAdES PDF signing, through python-pkcs11): `pyhanko sign addsig ... pkcs11`
# signs a PDF with the RSA and the P-384 key (hashing on the card, no --raw-mechanism),
# pulling the NES CA certificate from the card into the signature; `pyhanko sign
# validate` with only the test root trusted judges it VALID, and a changed page INVALID.
# RSA-2048 + P-384 card (AKIS v2.x), then an AKIS v1.0 card with its RSA-2048 key only
# (v1.0 cards have nothing else), each in process and through pcscd + vpcd.
# pyHanko comes from PyPI into a venv under target/ (made once, then reused).
source "$(dirname "$0")/lib.sh"

pyhanko_venv || { echo "  FAIL pyHanko could not be installed"; rm -rf "$WORK"; exit 1; }

CARD=$WORK/pdf.card
TOKEN=AKIS_0B1B0B1B0B1B0B1B
NES=12345678950NES
NES_CA_LABEL="TEST Kamu SM NES CA - Surum 6"
# AKIS v1.0 cards hold RSA-2048 keys only (pkcs11-spec.md §1.4.1).
make_cards() {
  if [ "$CARD_FAMILY" = v1.0 ]; then
    make_card "$CARD" 0B1B0B1B0B1B0B1B rsa2048
  else
    make_card "$CARD" 0B1B0B1B0B1B0B1B rsa2048 p384
  fi
}

# A one-page PDF written by hand (offsets in the xref table computed).
python3 - "$WORK/in.pdf" <<'PY'
import sys
text = b"BT /F1 18 Tf 72 760 Td (e-imza test belgesi) Tj ET"
objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
offsets = []
for number, body in enumerate(objs, 1):
    offsets.append(len(out))
    out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for offset in offsets:
    out += b"%010d 00000 n \n" % offset
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
open(sys.argv[1], "wb").write(out)
PY

validate() { "$PYHANKO" sign validate --pretty-print --trust-replace --trust "$WORK/ca/root-ca.pem" "$1"; }

sign_validate() { # LABEL MECHANISM
  local out_pdf=$WORK/$1.pdf out
  rm -f "$out_pdf"
  PYHANKO_PKCS11_PIN=$PIN "$PYHANKO" sign addsig --field Sig1 pkcs11 --lib "$MODULE" --token-label "$TOKEN" \
    --cert-label "$1" --key-label "$1" --other-cert "$NES_CA_LABEL" "$WORK/in.pdf" "$out_pdf" || return 1
  out=$(validate "$out_pdf") || { echo "$out"; return 1; }
  echo "$out"
  grep -q 'The signature is judged VALID' <<<"$out" && grep -q "The signer's certificate is trusted" <<<"$out" &&
    grep -q "The signature mechanism used was '$2'" <<<"$out" && grep -q 'The signature covers the entire file' <<<"$out"
}

tampered_invalid() { # LABEL: the page text changed after signing
  local out
  python3 - "$WORK/$1.pdf" "$WORK/$1-changed.pdf" <<'PY' || return 1
import sys
data = open(sys.argv[1], "rb").read()
assert data.count(b"(e-imza test belgesi)") == 1
open(sys.argv[2], "wb").write(data.replace(b"(e-imza test belgesi)", b"(E-imza test belgesi)"))
PY
  out=$(validate "$WORK/$1-changed.pdf"); local rc=$?
  echo "$out"
  [ $rc -ne 0 ] && grep -q 'The signature is judged INVALID' <<<"$out"
}

untrusted_root() { # LABEL: with another root trusted the chain is not accepted
  local out
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=other root" \
    -keyout "$WORK/other.key" -out "$WORK/other.pem" 2>/dev/null || return 1
  out=$("$PYHANKO" sign validate --trust-replace --trust "$WORK/other.pem" "$WORK/$1.pdf"); local rc=$?
  echo "$out"
  [ $rc -ne 0 ] && grep -q ':INTACT:UNTRUSTED' <<<"$out"
}

suite() {
  check "pyhanko signs a PDF with the RSA key; validate: VALID, sha256_rsa, trusted chain" sign_validate "${NES}0" sha256_rsa
  check "a changed page makes the RSA signature INVALID" tampered_invalid "${NES}0"
  if [ "$CARD_FAMILY" = v1.0 ]; then
    check "with another root trusted the signature is intact but untrusted" untrusted_root "${NES}0"
  else
    check "pyhanko signs a PDF with the P-384 key; validate: VALID, sha384_ecdsa, trusted chain" sign_validate "${NES}1" sha384_ecdsa
    check "a changed page makes the P-384 signature INVALID" tampered_invalid "${NES}1"
    check "with another root trusted the signature is intact but untrusted" untrusted_root "${NES}1"
  fi
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
}

on_families v2 v1.0 -- on_both_transports --fresh make_cards suite "$CARD"
finish
