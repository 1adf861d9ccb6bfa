#!/usr/bin/env bash
# Firefox ESR (Debian firefox-esr), the real browser: headless, with a fresh profile for
# every run, driven through its own remote protocol, Marionette
# (tests/clients/firefox/ff.py). In process and through pcscd + vpcd:
# - Loading: by the enterprise policy the Debian package ships (taken from the .deb that
#   packaging/build-deb.sh makes, installed at /etc/firefox/policies/policies.json for the
#   run and removed afterwards; a policy file that was there is put back), and by modutil
#   into the profile. The token is listed by nsIPKCS11ModuleDB.
# - Login through Firefox's own PIN dialog ("Please authenticate to the security device
#   (TOKEN)."), answered as a person would: the PIN typed into its password field, OK.
# - A wrong PIN in the dialog costs exactly one try and nothing else; Firefox asks again
#   with the same dialog (Firefox 153 shows no tries count anywhere: not in the dialog,
#   not in Security Devices; the module's token flags carry CKF_USER_PIN_COUNT_LOW).
# - PIN change as Security Devices -> Change Password does it (token.changePassword):
#   C_SetPIN reaches the card; afterwards pkcs11-tool logs in with the new PIN only.
# - TLS 1.3 client authentication with security.default_personal_cert = "Select
#   Automatically" against openssl s_server -Verify 1 -www on 127.0.0.1: an RSA card
#   (RSA-PSS) and a P-384 card (ECDSA); the page the server returns holds exactly the
#   card's certificate.
# - pcscd + vpcd only: the card pulled and re-inserted while Firefox runs: the token
#   leaves the list, comes back logged out, and a new TLS connection asks for the PIN
#   again and succeeds.
#
# `firefox.sh --bench [RUNS]` measures instead (BENCHMARKS.md): Firefox's cold start to
# the token and TLS handshakes through pcscd + vpcd with card delays; prints the figures,
# asserts nothing about time. Needs root (or password-less sudo) for the policy file.
source "$(dirname "$0")/lib.sh"

FFPY=$ROOT/tests/clients/firefox/ff.py
# The module's persistent bind cache stays in the run's folder (Firefox's HOME is, too).
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$WORK/cache}
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
PACKAGED_MODULE=/usr/lib/$MULTIARCH/pkcs11/libeimza_pkcs11.so
POLICY_DIR=/etc/firefox/policies
NEWPIN=654321
RSA_SERIAL=0F1F0F1F0F1F0A01
EC_SERIAL=0F1F0F1F0F1F0A02
RSA_TOKEN=AKIS_$RSA_SERIAL
EC_TOKEN=AKIS_$EC_SERIAL
FF_PID=""
SRV_PID=""
POLICY_INSTALLED=0
POLICY_BACKUP=""
# The module's debug log of the current Firefox run (calls and their results, no PINs).
MODLOG=/dev/null

SUDO=""
if [ "$(id -u)" -ne 0 ] && sudo -n true 2>/dev/null; then SUDO="sudo"; fi
can_write_etc() { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }

# ---------------------------------------------------------------- clean-up
ff_cleanup() {
  ff_kill
  [ -z "$SRV_PID" ] || kill "$SRV_PID" 2>/dev/null
  policy_restore >/dev/null 2>&1
  if declare -F harness_cleanup >/dev/null; then harness_cleanup; fi
}
trap ff_cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# jtest FILE PYTHON-EXPRESSION: true when the expression holds for d = the JSON in FILE.
jtest() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

free_port() {
  local p
  for p in $(seq $((20000 + $$ % 20000)) $((20200 + $$ % 20000))); do
    ss -ltn "sport = :$p" | grep -q LISTEN || { echo "$p"; return 0; }
  done
  return 1
}

# wait_until SECONDS COMMAND...: polls every 0.1 s.
wait_until() {
  local limit=$(( $1 * 10 )); shift
  for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

card_says() { "$VCARD_BIN" show "$1" | tee /dev/stderr | grep -q "^$2"; }
counters_are() { card_says "$1" "PIN: $2 of 3" && card_says "$1" "PUK: $3 of 10"; }
first_cert() { "$VCARD_BIN" certs "$1" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q'; }

# Lines the module logged since the last log_mark.
log_mark() { LOG_MARK=$(wc -l < "$MODLOG" 2>/dev/null || echo 0); }
log_since() { tail -n +$((LOG_MARK + 1)) "$MODLOG"; }

ff() { python3 "$FFPY" --profile "$PROFILE" "$@"; }

# A throwaway server CA and a server certificate for 127.0.0.1 (the card's CA, made by
# make_card in $WORK/ca, is what the server asks client certificates to chain to).
make_server_cert() {
  mkdir -p "$WORK/srv"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=throwaway server CA" \
    -keyout "$WORK/srv/ca.key" -out "$WORK/srv/ca.pem" 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$WORK/srv/server.key" -out "$WORK/srv/server.csr" 2>/dev/null &&
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$WORK/srv/ext" &&
    openssl x509 -req -in "$WORK/srv/server.csr" -CA "$WORK/srv/ca.pem" -CAkey "$WORK/srv/ca.key" \
      -CAcreateserial -days 2 -extfile "$WORK/srv/ext" -out "$WORK/srv/server.pem" 2>/dev/null
}

# new_profile NAME: a fresh profile whose NSS database trusts the throwaway server CA
# (as a user would after importing it) and that picks client certificates by itself.
# No site icons: s_server -www closes every connection (HTTP/1.0), so /favicon.ico
# would be one more client-authenticated handshake, and one more card signature, per page.
new_profile() {
  PROFILE=$WORK/profile-$1
  MODLOG=$WORK/module-$1.log
  rm -rf "$PROFILE" && mkdir -p "$PROFILE" "$WORK/home" || return 1
  certutil -N -d "sql:$PROFILE" --empty-password &&
    certutil -A -d "sql:$PROFILE" -n "throwaway server CA" -t "C,," -a -i "$WORK/srv/ca.pem" || return 1
  cat > "$PROFILE/user.js" <<'PREFS'
user_pref("marionette.port", 0);
user_pref("security.default_personal_cert", "Select Automatically");
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("browser.chrome.site_icons", false);
PREFS
}

# ff_start TOKEN: starts Firefox on $PROFILE and waits (at most 120 s) for Marionette
# and for TOKEN in nsIPKCS11ModuleDB; $WORK/start.json has the times from the launch.
ff_start() {
  local t0
  : > "$MODLOG"
  t0=$(date +%s%N)
  env HOME="$WORK/home" MOZ_CRASHREPORTER_DISABLE=1 EIMZA_PKCS11_LOG="$MODLOG" EIMZA_PKCS11_LOG_LEVEL=debug \
    firefox-esr --headless --marionette --remote-allow-system-access --no-remote -profile "$PROFILE" \
    >"$PROFILE.out" 2>&1 &
  FF_PID=$!
  ff wait-start --since "$t0" --token "$1" --timeout 120 > "$WORK/start.json" || { tail -20 "$PROFILE.out"; return 1; }
  cat "$WORK/start.json"
}

# Quits Firefox through Marionette and waits for it; kills it by PID when it hangs.
ff_stop() {
  [ -n "$FF_PID" ] || return 0
  ff quit >/dev/null 2>&1
  if ! wait_until 60 bash -c "! kill -0 $FF_PID"; then
    echo "Firefox did not quit within 60 s"; ff_kill; return 1
  fi
  wait "$FF_PID" 2>/dev/null
  FF_PID=""
}

ff_kill() {
  [ -n "$FF_PID" ] || return 0
  kill "$FF_PID" 2>/dev/null
  wait_until 10 bash -c "! kill -0 $FF_PID" || kill -9 "$FF_PID" 2>/dev/null
  wait "$FF_PID" 2>/dev/null
  FF_PID=""
}

# listed TOKEN MODULE-NAME LIBRARY: the token was listed under that module.
listed() {
  jtest "$WORK/start.json" "d['token']['token'] == '$1' and d['token']['module'] == '$2' and d['token']['lib'] == '$3' and d['token']['loggedIn'] is False"
}

dialog_text() { echo "Please authenticate to the security device ($1)."; }

# dialogs_were FILE TOKEN ANSWERS: the dialogs Firefox showed, in order, each with the
# PIN prompt for TOKEN and a password field, answered as ANSWERS says ("ok cancel").
dialogs_were() {
  python3 - "$1" "$(dialog_text "$2")" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
want = sys.argv[3].split()
dialogs = d["dialogs"]
print("dialogs:", json.dumps(dialogs))
ok = len(dialogs) == len(want) and all(
    x["text"] == sys.argv[2] and x["passwordField"] and x.get("answer") == a
    for x, a in zip(dialogs, want))
sys.exit(0 if ok else 1)
PY
}

# ---------------------------------------------------------------- the package's policy
policy_from_package() {
  local out deb
  out=$(EIMZA_DEB_NO_BUILD=1 "$ROOT/packaging/build-deb.sh") || return 1
  deb=$(tail -1 <<<"$out")
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/eimza-pkcs11/firefox-policies.json > "$WORK/package-policy.json" ||
    return 1
  cat "$WORK/package-policy.json"
  # The package's policy names the module where the package puts it. This run uses the
  # module under test: only that path is replaced, the rest is the shipped file.
  python3 - "$WORK/package-policy.json" "$PACKAGED_MODULE" "$MODULE" "$WORK/policies.json" <<'PY'
import json, sys
policy = json.load(open(sys.argv[1]))
add = policy["policies"]["SecurityDevices"]["Add"]
assert add == {"eimza-pkcs11": sys.argv[2]}, add
add["eimza-pkcs11"] = sys.argv[3]
json.dump(policy, open(sys.argv[4], "w"), indent=2)
PY
}

# Installs $WORK/policies.json where Debian's Firefox reads it; keeps what was there.
policy_install() {
  POLICY_BACKUP=$(mktemp -d /tmp/eimza-ffpolicy.XXXXXX)
  local d
  for d in /etc/firefox "$POLICY_DIR"; do
    if [ ! -d "$d" ]; then $SUDO mkdir "$d" && echo "$d" >> "$POLICY_BACKUP/made-dirs" || return 1; fi
  done
  if [ -e "$POLICY_DIR/policies.json" ]; then
    $SUDO cp -a "$POLICY_DIR/policies.json" "$POLICY_BACKUP/policies.json" || return 1
    sha256sum < "$POLICY_DIR/policies.json" > "$POLICY_BACKUP/sha256"
  fi
  POLICY_INSTALLED=1
  $SUDO install -m 0644 "$WORK/policies.json" "$POLICY_DIR/policies.json" && cat "$POLICY_DIR/policies.json"
}

# Puts back what was there before policy_install (a file, or nothing at all).
policy_restore() {
  [ "$POLICY_INSTALLED" = 1 ] || return 0
  if [ -e "$POLICY_BACKUP/policies.json" ]; then
    $SUDO cp -a "$POLICY_BACKUP/policies.json" "$POLICY_DIR/policies.json" || return 1
    [ "$(sha256sum < "$POLICY_DIR/policies.json")" = "$(cat "$POLICY_BACKUP/sha256")" ] || return 1
  else
    $SUDO rm -f "$POLICY_DIR/policies.json" || return 1
    if [ -f "$POLICY_BACKUP/made-dirs" ]; then
      tac "$POLICY_BACKUP/made-dirs" | while read -r d; do $SUDO rmdir "$d"; done
    fi
  fi
  rm -rf "$POLICY_BACKUP"
  POLICY_INSTALLED=0
}

# ---------------------------------------------------------------- the checks
login_with_dialog() { # TOKEN
  ff login "$1" --pins "$PIN" > "$WORK/login.json" || return 1
  cat "$WORK/login.json"
  dialogs_were "$WORK/login.json" "$1" "ok" &&
    jtest "$WORK/login.json" "d['result'] == {'thrown': None, 'loggedIn': True}"
}

logout() { # TOKEN
  ff logout "$1" > "$WORK/logout.json" && cat "$WORK/logout.json" && jtest "$WORK/logout.json" "d['loggedIn'] is False"
}

# The wrong PIN typed into the dialog; Firefox asks again, that dialog is cancelled.
wrong_pin() { # TOKEN
  log_mark
  ff login "$1" --pins 000000 > "$WORK/wrong.json" || return 1
  cat "$WORK/wrong.json"
  dialogs_were "$WORK/wrong.json" "$1" "ok cancel" &&
    jtest "$WORK/wrong.json" "d['result']['thrown'] is not None and d['result']['loggedIn'] is False"
}

# What reached the module during the wrong-PIN login: one C_Login, CKR_PIN_INCORRECT.
one_login_refused() {
  local calls
  calls=$(log_since | grep -E 'C_(Login|SetPIN|InitPIN|InitToken)\(')
  echo "$calls"
  [ "$(grep -c . <<<"$calls")" -eq 1 ] && grep -q 'C_Login(.*userType=1.*) = CKR_PIN_INCORRECT' <<<"$calls"
}

# Where an application can see the lower count: the token flags (C_GetTokenInfo), read
# by pkcs11-tool from outside (Firefox's UI shows none of them).
count_low_flag() { # TOKEN
  local out
  out=$(env -u EIMZA_PKCS11_LOG pkcs11-tool --module "$MODULE" -L 2>&1) || return 1
  echo "$out"
  awk -v t="$1" '/token label/ { hit = ($0 ~ t) } hit && /token flags/' <<<"$out" | grep -q 'user PIN count low'
}

# tls_client_auth TOKEN CARD SIGTYPE ANSWERS: Firefox loads https://127.0.0.1:PORT/ from
# a fresh s_server (TLS 1.3 only, client certificate required, no session tickets, so
# every connection authenticates with the card); PIN dialogs answered as ANSWERS says
# ("" when logged in). The page must be the server's report of this very connection:
# TLS 1.3, the client chain verified, a SIGTYPE signature, the card's certificate.
tls_client_auth() {
  local token=$1 card=$2 sigtype=$3 answers=$4 port rc=0
  port=$(free_port) || return 1
  openssl s_server -accept "127.0.0.1:$port" -tls1_3 -Verify 1 -CAfile "$WORK/ca/root-ca.pem" \
    -cert "$WORK/srv/server.pem" -key "$WORK/srv/server.key" -www -num_tickets 0 \
    </dev/null >"$WORK/server.log" 2>&1 &
  SRV_PID=$!
  wait_until 10 bash -c "ss -ltn 'sport = :$port' | grep -q LISTEN" || { cat "$WORK/server.log"; return 1; }
  log_mark
  ff fetch "https://127.0.0.1:$port/" --pins "$PIN" --timeout 120 > "$WORK/fetch.json" || rc=1
  kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; SRV_PID=""
  [ $rc -eq 0 ] || return 1
  python3 - "$WORK/fetch.json" "$WORK/seen.pem" <<'PY' || return 1
import json, re, sys
d = json.load(open(sys.argv[1]))
page = d["page"] or {}
text = page.get("text", "")
print("url:", page.get("url"), "complete:", d["complete"], "seconds:", d["seconds"])
print("\n".join(l for l in text.splitlines() if re.search(r"Protocol|Peer signature|Verify return|Subject:", l)))
pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
open(sys.argv[2], "w").write(pem.group(0) + "\n" if pem else "")
sys.exit(0 if d["complete"] and pem else 1)
PY
  local text
  text=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["page"]["text"])' "$WORK/fetch.json")
  grep -q '^ *Protocol *: TLSv1.3$' <<<"$text" &&
    grep -q '^ *Verify return code: 0 (ok)$' <<<"$text" &&
    grep -q "^Peer signature type: $sigtype\$" <<<"$text" || { echo "not TLS 1.3 / verified / $sigtype"; return 1; }
  first_cert "$card" > "$WORK/card.pem"
  local want seen
  want=$(openssl x509 -in "$WORK/card.pem" -noout -fingerprint -sha256 -subject) || return 1
  seen=$(openssl x509 -in "$WORK/seen.pem" -noout -fingerprint -sha256 -subject) || return 1
  echo "card:   $want"; echo "server: $seen"
  [ "$want" = "$seen" ] || return 1
  dialogs_were "$WORK/fetch.json" "$token" "$answers"
}

# What Security Devices -> Change Password calls; it must reach C_SetPIN.
change_password() { # TOKEN OLD NEW
  log_mark
  ff change-password "$1" "$2" "$3" > "$WORK/chpw.json" || return 1
  cat "$WORK/chpw.json"
  jtest "$WORK/chpw.json" "d['result']['thrown'] is None and d['dialogs'] == []" &&
    log_since | grep 'C_SetPIN(' | tee /dev/stderr | grep -q '= CKR_OK'
}

# pkcs11-tool, outside Firefox: does PIN log in (and show the private key)?
logs_in_with() { # TOKEN PIN
  env -u EIMZA_PKCS11_LOG pkcs11-tool --module "$MODULE" --token-label "$1" --login --pin "$2" -O --type privkey 2>&1 |
    tee /dev/stderr | grep -q 'Private Key Object'
}
refused() { # TOKEN PIN
  local out
  out=$(env -u EIMZA_PKCS11_LOG pkcs11-tool --module "$MODULE" --token-label "$1" --login --pin "$2" -O --type privkey 2>&1)
  echo "$out"
  grep -q 'CKR_PIN_INCORRECT' <<<"$out" && ! grep -q 'Private Key Object' <<<"$out"
}

token_state() { # TOKEN present|absent [loggedIn]
  ff wait-token "$1" --state "$2" --timeout 30 > "$WORK/token.json" || return 1
  cat "$WORK/token.json"
  [ "$2" = absent ] || [ -z "${3:-}" ] || jtest "$WORK/token.json" "d['token']['loggedIn'] is $3"
}

info_start_times() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  info Firefox start: Marionette after %d ms, token listed after %d ms" % (d["marionette_ms"], d["token_ms"]))' \
    "$WORK/start.json" 2>/dev/null
}

# ---------------------------------------------------------------- the sessions
# The PIN dialog checks, on a running Firefox with TOKEN (on CARD) not logged in.
pin_checks() {
  local token=$1 card=$2
  check "login: Firefox's PIN dialog '$(dialog_text "$token")' shows once; the PIN typed into it logs the token in" \
    login_with_dialog "$token"
  check "  card: PIN 3 of 3 tries left" card_says "$card" "PIN: 3 of 3"
  check "logout" logout "$token"
  check "wrong PIN typed into the dialog: login refused, Firefox asks again with the same dialog (cancelled)" wrong_pin "$token"
  check "  exactly one try spent: PIN 2 of 3, PUK 10 of 10" counters_are "$card" 2 10
  check "  nothing else reached the module: one C_Login, CKR_PIN_INCORRECT" one_login_refused
  check "  the lower count is in the token flags (user PIN count low); Firefox's retry dialog had the same text, no count" \
    count_low_flag "$token"
}

# start_and_list TOKEN MODULE-NAME: Firefox starts on $PROFILE and lists TOKEN under the
# module of that name, from the module under test, logged out.
start_and_list() {
  ff_start "$1" && listed "$1" "$2" "$MODULE"
}

# One Firefox run with the RSA card on $PROFILE: loading, login, wrong PIN, TLS, (pcscd:
# pull and re-insert), PIN change; pkcs11-tool outside Firefox afterwards.
rsa_session() {
  local card=$1 transport=$2 module_name=$3
  check "Firefox starts; nsIPKCS11ModuleDB lists $RSA_TOKEN (module '$module_name', $MODULE), logged out" \
    start_and_list "$RSA_TOKEN" "$module_name"
  info_start_times
  pin_checks "$RSA_TOKEN" "$card"
  check "TLS 1.3 client auth, RSA card: the handshake asks for the PIN (one dialog), RSA-PSS, the page shows the card's certificate" \
    tls_client_auth "$RSA_TOKEN" "$card" RSA-PSS "ok"
  check "  card: PIN 3 of 3 after the right PIN" counters_are "$card" 3 10
  check "a second connection while logged in: no dialog, the card signs again" \
    tls_client_auth "$RSA_TOKEN" "$card" RSA-PSS ""
  if [ "$transport" = pcscd ]; then
    check "card pulled while Firefox runs: the token leaves nsIPKCS11ModuleDB" pull 35963 "$RSA_TOKEN"
    check "card re-inserted: the token is back, logged out" reinsert "$card" 35963 "$RSA_TOKEN"
    check "a new TLS connection asks for the PIN again (one dialog) and authenticates with the card" \
      tls_client_auth "$RSA_TOKEN" "$card" RSA-PSS "ok"
    local waits
    waits=$(grep -c 'C_WaitForSlotEvent(' "$MODLOG")
    echo "  info C_WaitForSlotEvent calls from Firefox: $waits (Firefox 153 has no smart-card thread; it sees removal when it asks C_GetSlotInfo)"
  fi
  check "Change Password (token.changePassword $PIN -> $NEWPIN) reaches C_SetPIN = CKR_OK" \
    change_password "$RSA_TOKEN" "$PIN" "$NEWPIN"
  check "Firefox quits" ff_stop
  check "outside Firefox (pkcs11-tool): the old PIN is refused (CKR_PIN_INCORRECT)" refused "$RSA_TOKEN" "$PIN"
  check "outside Firefox (pkcs11-tool): the new PIN logs in" logs_in_with "$RSA_TOKEN" "$NEWPIN"
  check "  card: PIN 3 of 3, PUK 10 of 10" counters_are "$card" 3 10
}

# One Firefox run with the P-384 card on $PROFILE: loading, TLS with ECDSA.
ec_session() {
  local card=$1 module_name=$2
  check "Firefox starts; nsIPKCS11ModuleDB lists $EC_TOKEN (module '$module_name', $MODULE), logged out" \
    start_and_list "$EC_TOKEN" "$module_name"
  info_start_times
  check "TLS 1.3 client auth, P-384 card: the handshake asks for the PIN (one dialog), ECDSA, the page shows the card's certificate" \
    tls_client_auth "$EC_TOKEN" "$card" ECDSA "ok"
  check "  card: PIN 3 of 3" counters_are "$card" 3 10
  check "Firefox quits" ff_stop
}

pull() { # PORT TOKEN
  vcard_stop "$1" && token_state "$2" absent
}
reinsert() { # CARD PORT TOKEN
  vcard_serve "$1" "$2" && token_state "$3" present False
}

modutil_add() {
  # (modutil -list exits non-zero when a vpcd reader is empty: only its output counts)
  echo | modutil -dbdir "sql:$PROFILE" -add eimza -libfile "$MODULE" -force &&
    modutil -dbdir "sql:$PROFILE" -list eimza 2>&1 | grep -q "Library file: $MODULE"
}

policy_put_back() {
  policy_restore || return 1
  if [ -e "$POLICY_DIR/policies.json" ]; then echo "policies.json is the one that was there"; else
    echo "no policies.json"; fi
}

# policy_session CARD TRANSPORT: the RSA run with the module loaded by the policy.
policy_session() {
  new_profile "$2-policy" || { check "new profile" false; return; }
  if ! can_write_etc; then
    skip_check "loading by the enterprise policy" "$POLICY_DIR needs root or password-less sudo"
    return
  fi
  check "the package's policy installed at $POLICY_DIR/policies.json (what was there is kept aside)" policy_install
  rsa_session "$1" "$2" eimza-pkcs11
  check "the policy removed, $POLICY_DIR as before" policy_put_back
}

# modutil_session CARD TRANSPORT: the P-384 run with the module added by modutil.
modutil_session() {
  new_profile "$2-modutil" || { check "new profile" false; return; }
  check "modutil -add: the module in the fresh profile" modutil_add
  ec_session "$1" eimza
}

if [ "${1:-}" = --bench ]; then
  source "$ROOT/tests/clients/firefox/bench.sh"
  exit
fi

RSA_CARD=$WORK/rsa.card
EC_CARD=$WORK/ec.card
# TLS client keys (digitalSignature + clientAuth), one per card.
make_cards() {
  make_card "$RSA_CARD" "$RSA_SERIAL" rsa2048:tls &&
    make_card "$EC_CARD" "$EC_SERIAL" p384:tls
}

# One card at a time: with two cards present "Select Automatically" tries them in turn
# and asks for each one's PIN (the software cards' CAs have the same names, so the
# server's CA list cannot tell them apart). The P-384 card replaces the RSA card.
suite() {
  trap ff_cleanup EXIT   # harness.sh, sourced when pcscd started, set its own; ours calls it
  policy_session "$RSA_CARD" "$1"
  if [ "$1" = inprocess ]; then
    use_inprocess "$EC_CARD"
  else
    vcard_stop 35963 && vcard_serve "$EC_CARD" 35963 || pcsc_abort
  fi
  modutil_session "$EC_CARD" "$1"
}

check "server certificate for 127.0.0.1" make_server_cert
check "the package's Firefox policy (packaging/build-deb.sh), pointed at the module under test" policy_from_package
on_both_transports --fresh make_cards suite "$RSA_CARD"
finish
