#!/usr/bin/env bash
# LibreOffice 7.4 (Debian: libreoffice-writer-nogui, python3-uno,
# libreoffice-script-provider-python), headless, signs with the card through its own NSS
# (MOZILLA_CERTIFICATE_FOLDER=sql:DB, the module added with modutil):
#   - ODF: DocumentDigitalSignatures.signDocumentWithCertificate signs a Writer document
#     with the RSA key and with the P-384 key (XAdES, as sfx2's DocumentSigner does);
#   - PDF: writer_pdf_Export with FilterData SignPDF + SignatureCertificate.
# Headless LibreOffice has no PIN dialog. The scenario shows what happens without one
# (listing certificates raises NoPasswordException; signDocumentWithCertificate returns
# true and writes an empty SignatureValue, which the signature check rejects), then
# stands in for the dialog only: a Python macro inside soffice (tests/clients/libreoffice/
# eimza_login.py, run by the python script provider over the UNO pipe) logs the token in
# through the NSS soffice loaded. Everything after that is LibreOffice's own signing.
# Verified independently of the signer: a second soffice whose NSS database holds only
# the CA certificates (verifyDocumentContentSignatures), xmlsec1 (ODF), pyHanko and
# pdfsig (PDF); a tampered copy must be rejected by each of them.
# In process and through pcscd + vpcd; one signing and one verifying soffice per transport.
# On an AKIS v2.x card (RSA-2048 + P-384), then an AKIS v1.0 card (RSA-2048 only, PKCS#1
# v1.5, which is what LibreOffice signs with: pkcs11-spec.md §1.4.1) with the RSA key.
# soffice runs with TZ=Europe/Istanbul: with TZ=UTC LibreOffice 7.4 writes a PDF signing
# date ("...Z'") that pyHanko rejects.
#
# `libreoffice.sh --bench [N]`: through pcscd + vpcd with card delays
# (EIMZA_VCARD_DELAYS, default rsa=60ms,ecdsa=30ms,apdu=5ms), times N (default 5) ODF and
# PDF signatures of each key and prints the table of BENCHMARKS.md (run it in
# /work/tools/isolated or wherever pcscd may be started).
source "$(dirname "$0")/lib.sh"

LO=$ROOT/tests/clients/libreoffice
SOFFICE=${SOFFICE:-/usr/lib/libreoffice/program/soffice.bin}
UNO_PYTHON=/usr/bin/python3   # Debian's python3-uno belongs to the system Python
MODE=test
BENCH_RUNS=5
if [ "${1:-}" = --bench ]; then
  MODE=bench; BENCH_RUNS=${2:-5}
  export XDG_CACHE_HOME=$WORK/cache   # the module's bind cache: emptied before soffice starts
fi

pyhanko_venv || { echo "  FAIL pyHanko could not be installed"; rm -rf "$WORK"; exit 1; }

# The card's keys are the software card's default: keyUsage nonRepudiation and no
# extended key usage, like real NES certificates (NSS refuses clientAuth-only
# certificates for document signing).
CARD=$WORK/lo.card
TOKEN=AKIS_0E1E0E1E0E1E0E1E
NES=12345678950NES
RSA_LABEL=${NES}0
EC_LABEL=${NES}1
make_card "$CARD" 0E1E0E1E0E1E0E1E rsa2048 p384
export EIMZA_TEST_PIN=$PIN   # read by lo_client.py's login command only
TEXT="e-imza test belgesi: LibreOffice ile imzalandi"

# The signer's NSS database: only the module, as a user adds it (README); signing needs
# no trust setting. The verifier's: the CA certificates only (the root as an ordinary CA,
# C,C,C), no module. LibreOffice 7.4's verifier needs the NES CA there: it does not build
# the chain from the certificates the signature carries (the certificate status is then
# INVALID, 1).
SIGN_DB=$WORK/sign-nssdb
VERIFY_DB=$WORK/verify-nssdb
mkdir -p "$SIGN_DB" "$VERIFY_DB"
certutil -N -d "sql:$SIGN_DB" --empty-password &&
  modutil -dbdir "sql:$SIGN_DB" -add eimza -libfile "$MODULE" -force >/dev/null &&
  certutil -N -d "sql:$VERIFY_DB" --empty-password &&
  certutil -A -d "sql:$VERIFY_DB" -n "test root" -t "C,C,C" -a -i "$WORK/ca/root-ca.pem" &&
  certutil -A -d "sql:$VERIFY_DB" -n "test NES CA" -t ",," -a -i "$WORK/ca/nes-ca.pem" || {
    echo "  FAIL NSS databases could not be made"; rm -rf "$WORK"; exit 1; }
# The card's certificates as DER, read with another client (pkcs11-tool).
read_certificates() { # LABEL...
  local label
  for label in "$@"; do
    EIMZA_VIRTUAL_CARD=$CARD pkcs11-tool --module "$MODULE" --token-label "$TOKEN" --read-object \
      --type cert --label "$label" -o "$WORK/$label.der" >/dev/null 2>&1 || {
        echo "  FAIL could not read $label from the card"; rm -rf "$WORK"; exit 1; }
  done
}
read_certificates "$RSA_LABEL" "$EC_LABEL"

# ---- soffice processes: started here, stopped by PID --------------------------------
declare -A SOFFICE_PIDS=()

alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }

# The UNO pipe is a socket in /tmp, shared with other runs (also ones in other PID
# namespaces, where $$ repeats): named after this run's unique WORK folder.
pipe_name() { echo "eimza-lo-$1-$(basename "$WORK")"; }

# lo NAME COMMAND ARGS...: lo_client.py against soffice NAME, bounded in time.
lo() { local name=$1; shift; timeout 300 "$UNO_PYTHON" "$LO/lo_client.py" "$(pipe_name "$name")" "$@"; }

# soffice_start NAME [NSSDB]: a fresh profile with the login macro, soffice listening on
# its pipe (pipe_name), with MOZILLA_CERTIFICATE_FOLDER=sql:NSSDB when given (else
# unset). soffice_wait returns when it answers over UNO (at most 180 s).
soffice_start() {
  local name=$1 db=${2:-} profile=$WORK/$1-profile
  local nss_env=(-u MOZILLA_CERTIFICATE_FOLDER)
  [ -n "$db" ] && nss_env+=("MOZILLA_CERTIFICATE_FOLDER=sql:$db")
  rm -rf "$profile"
  # A new profile's first start ends with "restart required" (exit 81): make it here.
  timeout 120 "$SOFFICE" --headless --terminate_after_init "-env:UserInstallation=file://$profile" \
    >"$WORK/$name-init.log" 2>&1
  mkdir -p "$profile/user/Scripts/python" && cp "$LO/eimza_login.py" "$profile/user/Scripts/python/" || return 1
  env "${nss_env[@]}" TZ=Europe/Istanbul "$SOFFICE" --headless --invisible --nologo \
    --norestore --nodefault --nolockcheck "-env:UserInstallation=file://$profile" \
    "--accept=pipe,name=$(pipe_name "$name");urp;" >"$WORK/$name-soffice.log" 2>&1 &
  SOFFICE_PIDS[$name]=$!
}

soffice_wait() { lo "$1" wait 180 >/dev/null && alive "${SOFFICE_PIDS[$1]}"; }

soffice_stop() {
  local name=$1 pid=${SOFFICE_PIDS[$1]:-} i
  [ -n "$pid" ] || return 0
  alive "$pid" && lo "$name" terminate >/dev/null 2>&1
  for i in $(seq 300); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    echo "soffice $name did not terminate; killing it" >&2
    kill "$pid"
    for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid"
  fi
  wait "$pid" 2>/dev/null
  unset "SOFFICE_PIDS[$name]"
}

soffice_cleanup() { local name; for name in "${!SOFFICE_PIDS[@]}"; do soffice_stop "$name"; done; }
trap soffice_cleanup EXIT

# ---- checks -------------------------------------------------------------------------
facts() { "$PYHANKO_PYTHON" "$LO/signature_facts.py" "$@"; }

# Without the dialog's stand-in: NoPasswordException, and an empty signature that
# signDocumentWithCertificate reports as success; the signature check must reject it.
no_login_no_signature() {
  local out
  lo signer logged-in "$TOKEN" | grep -qx no || { echo "the token is already logged in"; return 1; }
  lo signer list-without-login || return 1
  cp "$WORK/doc.odt" "$WORK/nologin.odt"
  lo signer sign-odf-raw "$WORK/$RSA_LABEL.der" "$WORK/nologin.odt" | tee /dev/stderr | grep -q 'returned=True' || return 1
  out=$(facts odf "$WORK/nologin.odt" "$WORK/$RSA_LABEL.der" rsa); local rc=$?
  echo "$out"
  [ $rc -ne 0 ] && grep -q 'MISMATCH: SignatureValue is empty' <<<"$out"
}

login() { lo signer login "$TOKEN" && lo signer logged-in "$TOKEN"; }

sign_odf() { # LABEL KIND
  local doc=$WORK/$TRANSPORT-$1.odt
  cp "$WORK/doc.odt" "$doc" &&
    lo signer sign-odf "$WORK/$1.der" "$doc" | tee /dev/stderr | grep -q 'returned=True' &&
    facts odf "$doc" "$WORK/$1.der" "$2"
}

sign_pdf() { # LABEL KIND
  local pdf=$WORK/$TRANSPORT-$1.pdf
  rm -f "$pdf"
  lo signer export-pdf "$WORK/doc.odt" "$pdf" "$WORK/$1.der" && facts pdf "$pdf" "$WORK/$1.der" "$2"
}

# verifyDocumentContentSignatures in the second soffice: one signature, valid, its
# certificate valid (CertificateValidity.VALID = 0) and the card's.
lo_verify_valid() { # DOC LABEL
  local out sha
  sha=$(sha256sum "$WORK/$2.der" | cut -d' ' -f1)
  out=$(lo verifier verify-odf "$1") || { echo "$out"; return 1; }
  echo "$out"
  grep -qx 'signatures=1' <<<"$out" &&
    grep -q "^valid=True certificate_status=0 partial=False .*sha256=$sha\$" <<<"$out"
}

lo_verify_tampered() { # DOC
  local out
  out=$(lo verifier verify-odf "$1") || { echo "$out"; return 1; }
  echo "$out"
  grep -qx 'signatures=1' <<<"$out" && grep -q '^valid=False ' <<<"$out"
}

# xmlsec1 on the ODF signature: the signature file at the root of the unpacked document
# (its references are relative to it), Id attributes declared, the chain checked up to
# TRUSTED. Prints xmlsec1's output; returns its verdict.
xmlsec_verify() { # DOC TRUSTED.pem
  local dir
  dir=$(mktemp -d "$WORK/xmlsec.XXXXXX")
  (cd "$dir" && unzip -q "$1" && cp META-INF/documentsignatures.xml ./documentsignatures.xml) || return 1
  (cd "$dir" && xmlsec1 --verify --enabled-reference-uris empty,same-doc,local,remote \
    --id-attr:Id SignatureProperty --id-attr:Id "http://uri.etsi.org/01903/v1.3.2#:SignedProperties" \
    --trusted-pem "$2" --untrusted-pem "$WORK/ca/nes-ca.pem" documentsignatures.xml 2>&1)
}

xmlsec_valid() { # DOC
  local out
  out=$(xmlsec_verify "$1" "$WORK/ca/root-ca.pem"); local rc=$?
  echo "$out"
  [ $rc -eq 0 ] && grep -qx OK <<<"$out" && grep -Eq '^SignedInfo References \(ok/all\): ([0-9]+)/\1$' <<<"$out"
}

xmlsec_tampered() { # DOC: a reference's digest no longer matches
  local out
  out=$(xmlsec_verify "$1" "$WORK/ca/root-ca.pem"); local rc=$?
  echo "$out"
  [ $rc -ne 0 ] && grep -qx FAIL <<<"$out" && grep -q 'invalid size for .Digest.\|data and digest do not match' <<<"$out"
}

xmlsec_untrusted() { # DOC: with another root trusted, the signer's chain is refused
  local out
  out=$(xmlsec_verify "$1" "$WORK/other-root.pem"); local rc=$?
  echo "$out"
  [ $rc -ne 0 ] && grep -q 'unable to get local issuer certificate' <<<"$out" && ! grep -qx OK <<<"$out"
}

pyhanko_validate() { "$PYHANKO" sign validate --pretty-print --trust-replace --trust "$WORK/ca/root-ca.pem" "$1"; }

pyhanko_valid() { # PDF MECHANISM
  local out
  out=$(pyhanko_validate "$1") || { echo "$out"; return 1; }
  echo "$out"
  grep -q 'The signature is judged VALID' <<<"$out" && grep -q "The signer's certificate is trusted" <<<"$out" &&
    grep -q "The signature mechanism used was '$2'" <<<"$out" && grep -q 'The signature covers the entire file' <<<"$out"
}

pyhanko_invalid() { # PDF
  local out
  out=$(pyhanko_validate "$1"); local rc=$?
  echo "$out"
  [ $rc -ne 0 ] && grep -q 'The signature is judged INVALID' <<<"$out"
}

# pdfsig (poppler) with the verifier's NSS database (the CA certificates).
pdfsig_valid() { # PDF
  local out
  out=$(pdfsig -nssdir "sql:$VERIFY_DB" "$1") || { echo "$out"; return 1; }
  echo "$out"
  [ "$(grep -c '^Signature #' <<<"$out")" -eq 1 ] && grep -q 'Signature Validation: Signature is Valid.' <<<"$out" &&
    grep -q 'Certificate Validation: Certificate is Trusted.' <<<"$out" && grep -q 'Total document signed' <<<"$out"
}

pdfsig_rejects() { # PDF
  local out
  out=$(pdfsig -nssdir "sql:$VERIFY_DB" "$1"); echo "$out"
  grep -q 'Signature Validation: Digest Mismatch.' <<<"$out" && ! grep -q 'Signature is Valid' <<<"$out"
}

# Tampered copies: a word of the text changed in content.xml (the zip rewritten with the
# same entries); the PDF's /Producer changed by one character (same length, inside the
# signed byte range).
tamper_odf() { # IN OUT
  python3 - "$1" "$2" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w") as dst:
    for info in src.infolist():
        data = src.read(info)
        if info.filename == "content.xml":
            assert data.count(b"e-imza test belgesi") == 1, "text not found once"
            data = data.replace(b"e-imza test belgesi", b"E-imza test belgesi")
        dst.writestr(info, data)
PY
}

tamper_pdf() { # IN OUT
  python3 - "$1" "$2" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
old = b"/Producer<FEFF004C"   # "L" of "LibreOffice", UTF-16BE
assert data.count(old) == 1, "/Producer not found once"
open(sys.argv[2], "wb").write(data.replace(old, b"/Producer<FEFF006C"))
PY
}

other_root() {
  [ -f "$WORK/other-root.pem" ] ||
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=other root" \
      -keyout "$WORK/other-root.key" -out "$WORK/other-root.pem" 2>/dev/null
}

# The signer finds its NSS database either through MOZILLA_CERTIFICATE_FOLDER ("env") or
# through the setting Tools > Options > LibreOffice > Security > Certificate Path writes
# ("certdir", set over UNO before NSS starts, as the dialog's OK does).
start_both() { # env|certdir
  local signer_db=$SIGN_DB
  [ "$1" = certdir ] && signer_db=
  soffice_start verifier "$VERIFY_DB" && soffice_start signer $signer_db &&
    soffice_wait verifier && soffice_wait signer || return 1
  [ "$1" = env ] || lo signer set-cert-dir "$SIGN_DB"
}

# In process the signer's NSS database comes from MOZILLA_CERTIFICATE_FOLDER, through
# pcscd + vpcd from the Certificate Path setting: each way a user can name it is tested.
suite() { # inprocess|pcscd
  local t0=$SECONDS kind label route=env how="MOZILLA_CERTIFICATE_FOLDER=sql:DB"
  # An AKIS v1.0 card has its RSA-2048 key only.
  local kinds="rsa ecdsa" labels=("$RSA_LABEL" "$EC_LABEL")
  if [ "$CARD_FAMILY" = v1.0 ]; then kinds=rsa labels=("$RSA_LABEL"); fi
  if [ "$1" = pcscd ]; then
    route=certdir how="Certificate Path setting (CertDir) = DB"
    trap 'soffice_cleanup; harness_cleanup' EXIT   # use_pcscd's harness replaced ours
  fi
  check "soffice answers over UNO (signer: NSS database with the module, by $how; verifier: CA certificates only)" \
    start_both $route
  if [ ! -f "$WORK/doc.odt" ]; then
    check "the verifier writes the Writer document to sign (ODF)" lo verifier new-odt "$WORK/doc.odt" "$TEXT"
  fi
  check "without a PIN dialog: NoPasswordException, and signDocumentWithCertificate's empty SignatureValue is caught" \
    no_login_no_signature
  check "the login macro inside soffice logs the token in through soffice's NSS" login
  for kind in $kinds; do
    label=$RSA_LABEL; [ $kind = ecdsa ] && label=$EC_LABEL
    check "ODF: signDocumentWithCertificate with the $kind key: one signature, card's certificate, non-empty value" \
      sign_odf "$label" $kind
    check "PDF: writer_pdf_Export SignPDF with the $kind key: one CMS signature, card's certificate, non-empty value" \
      sign_pdf "$label" $kind
  done
  check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
    "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
  soffice_stop signer

  for label in "${labels[@]}"; do
    local odt=$WORK/$TRANSPORT-$label.odt pdf=$WORK/$TRANSPORT-$label.pdf
    check "verifier soffice: $label ODF signature valid, certificate valid, signed by the card's certificate" \
      lo_verify_valid "$odt" "$label"
    check "xmlsec1: $label ODF signature OK, every reference, chain to the test root" xmlsec_valid "$odt"
    check "pyHanko: $label PDF signature VALID, trusted, whole file" pyhanko_valid "$pdf" \
      "$([ "$label" = "$RSA_LABEL" ] && echo rsassa_pkcs1v15 || echo sha256_ecdsa)"
    check "pdfsig: $label PDF signature valid, certificate trusted, whole document" pdfsig_valid "$pdf"
    tamper_odf "$odt" "$WORK/$TRANSPORT-$label-tampered.odt"
    tamper_pdf "$pdf" "$WORK/$TRANSPORT-$label-tampered.pdf"
    check "verifier soffice: the changed $label ODF is reported invalid" lo_verify_tampered "$WORK/$TRANSPORT-$label-tampered.odt"
    check "xmlsec1: the changed $label ODF fails" xmlsec_tampered "$WORK/$TRANSPORT-$label-tampered.odt"
    check "pyHanko: the changed $label PDF is INVALID" pyhanko_invalid "$WORK/$TRANSPORT-$label-tampered.pdf"
    check "pdfsig: the changed $label PDF has a digest mismatch" pdfsig_rejects "$WORK/$TRANSPORT-$label-tampered.pdf"
  done
  other_root
  check "xmlsec1 with another root trusted rejects the (unchanged) signature" \
    xmlsec_untrusted "$WORK/$TRANSPORT-$RSA_LABEL.odt"
  soffice_stop verifier
  echo "   ($TRANSPORT: $((SECONDS - t0)) s)"
}

# ---- benchmark ----------------------------------------------------------------------
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

bench() {
  local runs=$BENCH_RUNS i label kind out f fo
  TRANSPORT=bench
  soffice_start verifier "$VERIFY_DB" && soffice_wait verifier &&
    lo verifier new-odt "$WORK/doc.odt" "$TEXT" >/dev/null && soffice_stop verifier || return 1
  local t0
  rm -rf "$XDG_CACHE_HOME"   # soffice binds the card cold
  t0=$(date +%s%N)
  soffice_start signer "$SIGN_DB" && soffice_wait signer || return 1
  echo "soffice start (new profile) to its first UNO answer: $((($(date +%s%N) - t0) / 1000000)) ms"
  out=$(lo signer login "$TOKEN") || { echo "$out"; return 1; }
  echo "first SEInitializer.createSecurityContext (NSS loads the module, cold bind of the 2-key card):" \
    "$(sed -n 's/.*nss_init_seconds=\([0-9.]*\).*/\1/p' <<<"$out") s"
  echo "login macro (PK11_CheckUserPassword: C_Login, NSS re-reads the token's objects):" \
    "$(sed -n 's/.* seconds=//p' <<<"$out") s"
  : > "$WORK/bench.txt"
  for i in $(seq "$runs"); do
    for kind in rsa ecdsa; do
      label=$RSA_LABEL; [ $kind = ecdsa ] && label=$EC_LABEL
      f=$WORK/bench-$i-$label
      cp "$WORK/doc.odt" "$f.odt"
      out=$(lo signer sign-odf "$WORK/$label.der" "$f.odt" 2>&1) && facts odf "$f.odt" "$WORK/$label.der" $kind >/dev/null ||
        { echo "$out"; facts odf "$f.odt" "$WORK/$label.der" $kind; return 1; }
      echo "odf $kind $(sed -n 's/.*seconds=//p' <<<"$out")" >> "$WORK/bench.txt"
      out=$(lo signer export-pdf "$WORK/doc.odt" "$f.pdf" "$WORK/$label.der" 2>&1) &&
        fo=$(facts pdf "$f.pdf" "$WORK/$label.der" $kind 2>&1) ||
        { echo "$out"; echo "$fo"; ls -l --full-time "$f.pdf"; facts pdf "$f.pdf" "$WORK/$label.der" $kind; return 1; }
      echo "pdf $kind $(sed -n 's/.*seconds=//p' <<<"$out")" >> "$WORK/bench.txt"
    done
    out=$(lo signer export-pdf "$WORK/doc.odt" "$f-plain.pdf" 2>&1) || { echo "$out"; return 1; }
    echo "pdf none $(sed -n 's/.*seconds=//p' <<<"$out")" >> "$WORK/bench.txt"
  done
  soffice_stop signer
  echo
  echo "| LibreOffice 7.4, pcscd + vpcd, card delays $EIMZA_VCARD_DELAYS ($runs runs) | median (s) | first (s) | min (s) | max (s) |"
  echo "|---|---|---|---|---|"
  local what
  for what in "odf rsa:ODF signature, RSA-2048 (signDocumentWithCertificate)" \
    "odf ecdsa:ODF signature, P-384" "pdf rsa:PDF export + signature, RSA-2048 (writer_pdf_Export SignPDF)" \
    "pdf ecdsa:PDF export + signature, P-384" "pdf none:PDF export, unsigned (for comparison)"; do
    local key=${what%%:*}
    grep "^$key " "$WORK/bench.txt" | awk '{print $3}' > "$WORK/bench.one"
    printf '| %s | %.3f | %.3f | %.3f | %.3f |\n' "${what#*:}" "$(median < "$WORK/bench.one")" \
      "$(head -1 "$WORK/bench.one")" "$(sort -n "$WORK/bench.one" | head -1)" "$(sort -n "$WORK/bench.one" | tail -1)"
  done
}

if [ "$MODE" = bench ]; then
  export EIMZA_VCARD_DELAYS=${EIMZA_VCARD_DELAYS:-rsa=60ms,ecdsa=30ms,apdu=5ms}
  use_pcscd "$CARD"
  trap 'soffice_cleanup; harness_cleanup' EXIT
  check "benchmark: ODF and PDF signatures through pcscd + vpcd with card delays" bench
  cat "$WORK/last.log"
  finish
  exit
fi

on_families v2 -- on_both_transports suite "$CARD"
CARD=$WORK/lo-v10.card
TOKEN=AKIS_0E1E0E1E0E1E0E10
make_card --family v1.0 "$CARD" 0E1E0E1E0E1E0E10 rsa2048
read_certificates "$RSA_LABEL"
on_families v1.0 -- on_both_transports suite "$CARD"
finish
