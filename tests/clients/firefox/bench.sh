# Sourced by tests/clients/firefox.sh --bench [RUNS]: Firefox's cold start to the token
# and TLS 1.3 client-authentication handshakes, through pcscd + vpcd with card delays
# like a real card (EIMZA_VCARD_DELAYS, default "rsa=60ms,ecdsa=30ms,apdu=5ms").
# Prints the figures (BENCHMARKS.md "Firefox"); asserts nothing about time. Every run
# is a fresh profile with the module added by modutil and a one-key card in reader 0.
#
# Per run, from Firefox's launch (date +%s%N just before the exec):
#   C_Initialize   the module's C_Initialize returned (module debug log timestamp, ms)
#   token bound    the first C_GetTokenInfo that read the card returned (ditto)
#   Marionette     Firefox's remote protocol answered (ff.py)
#   token listed   nsIPKCS11ModuleDB lists the token (ff.py; polled every 50 ms after
#                  Marionette is up, so never earlier than Marionette)
# then, on a fresh s_server each: one handshake that asks for the PIN (dialog answered at
# once by the observer: C_Login + signature) and one while logged in (signature only);
# time from navigation to the server's page in the tab. Firefox without the module gives
# the baseline for the start.
RUNS=${2:-5}
export EIMZA_VCARD_DELAYS=${EIMZA_VCARD_DELAYS:-rsa=60ms,ecdsa=30ms,apdu=5ms}
BENCH_RSA=$WORK/bench-rsa.card
BENCH_EC=$WORK/bench-ec.card
make_card "$BENCH_RSA" "$RSA_SERIAL" rsa2048:tls
make_card "$BENCH_EC" "$EC_SERIAL" p384:tls
make_server_cert || exit 1
export XDG_CACHE_HOME=$WORK/cache
use_pcscd "$BENCH_RSA"
trap ff_cleanup EXIT
# "cache on" runs find the module's persistent bind cache entry of the RSA card.
EIMZA_PKCS11_CACHE=1 pkcs11-tool --module "$MODULE" -L >/dev/null
RESULTS=$WORK/bench.jsonl
: > "$RESULTS"

# module_times: ms from $T0 to C_Initialize and to the first card-reading C_GetTokenInfo.
module_times() {
  python3 - "$MODLOG" "$T0" <<'PY'
import re, sys
t0 = int(sys.argv[2]) / 1e9
init = bound = None
for line in open(sys.argv[1]):
    m = re.match(r"(\d+\.\d+) ", line)
    if not m:
        continue
    t = (float(m.group(1)) - t0) * 1000
    if init is None and "C_Initialize(" in line and "= CKR_OK" in line:
        init = t
    if bound is None and "C_GetTokenInfo(" in line and "= CKR_OK" in line and " apdus=0 " not in line:
        bound = t
print(f'"init_ms": {init:.0f}, "bound_ms": {bound:.0f}' if init is not None and bound is not None else '"init_ms": null, "bound_ms": null')
PY
}

# handshake TOKEN CARD ANSWERS: one fetch from a fresh s_server; prints seconds and the
# number of signatures the module made for it.
handshake() {
  local port
  port=$(free_port) || return 1
  openssl s_server -accept "127.0.0.1:$port" -tls1_3 -Verify 1 -CAfile "$WORK/ca/root-ca.pem" \
    -cert "$WORK/srv/server.pem" -key "$WORK/srv/server.key" -www -num_tickets 0 </dev/null >/dev/null 2>&1 &
  SRV_PID=$!
  wait_until 10 bash -c "ss -ltn 'sport = :$port' | grep -q LISTEN" || return 1
  log_mark
  ff fetch "https://127.0.0.1:$port/" --pins "$PIN" > "$WORK/fetch.json"
  kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; SRV_PID=""
  jtest "$WORK/fetch.json" "d['complete']" || return 1
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"] * 1000)' "$WORK/fetch.json"
  log_since | grep -c 'C_SignFinal(.*= CKR_OK\|C_Sign(.*= CKR_OK' >&2
}

bench_run() { # NAME WITH-MODULE(0/1) CACHE(0/1)
  local name=$1 with_module=$2 out rsa_pin rsa_in ec_pin ec_in
  new_profile "bench-$name" || return 1
  [ "$with_module" = 0 ] || modutil_add >/dev/null || return 1
  T0=$(date +%s%N)
  : > "$MODLOG"
  env HOME="$WORK/home" MOZ_CRASHREPORTER_DISABLE=1 EIMZA_PKCS11_LOG="$MODLOG" EIMZA_PKCS11_LOG_LEVEL=debug \
    EIMZA_PKCS11_CACHE="$3" firefox-esr --headless --marionette --remote-allow-system-access --no-remote \
    -profile "$PROFILE" >"$PROFILE.out" 2>&1 &
  FF_PID=$!
  if [ "$with_module" = 0 ]; then
    out=$(ff wait-start --since "$T0" --timeout 120) || return 1
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps({"run": sys.argv[2], "marionette_ms": d["marionette_ms"]}))' \
      "$out" "$name" >> "$RESULTS"
    ff_stop; return
  fi
  out=$(ff wait-start --since "$T0" --token "$RSA_TOKEN" --timeout 120) || return 1
  local mt
  mt=$(module_times)
  rsa_pin=$(handshake "$RSA_TOKEN" "$BENCH_RSA" 2>"$WORK/sigs1") || return 1
  rsa_in=$(handshake "$RSA_TOKEN" "$BENCH_RSA" 2>"$WORK/sigs2") || return 1
  vcard_stop 35963 && vcard_serve "$BENCH_EC" 35963 && ff wait-token "$EC_TOKEN" >/dev/null || return 1
  ec_pin=$(handshake "$EC_TOKEN" "$BENCH_EC" 2>"$WORK/sigs3") || return 1
  ec_in=$(handshake "$EC_TOKEN" "$BENCH_EC" 2>"$WORK/sigs4") || return 1
  ff_stop
  vcard_stop 35963 && vcard_serve "$BENCH_RSA" 35963 || return 1
  python3 - "$out" "$name" "{$mt}" "$rsa_pin" "$rsa_in" "$ec_pin" "$ec_in" \
    "$(cat "$WORK/sigs1") $(cat "$WORK/sigs2") $(cat "$WORK/sigs3") $(cat "$WORK/sigs4")" >> "$RESULTS" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
r = {"run": sys.argv[2], "marionette_ms": d["marionette_ms"], "token_ms": d["token_ms"]}
r.update(json.loads(sys.argv[3]))
r.update({"rsa_pin_ms": float(sys.argv[4]), "rsa_ms": float(sys.argv[5]),
          "ec_pin_ms": float(sys.argv[6]), "ec_ms": float(sys.argv[7]),
          "signatures": sys.argv[8]})
print(json.dumps(r))
PY
}

echo "firefox bench: $RUNS runs per configuration, card delays $EIMZA_VCARD_DELAYS, pcscd + vpcd; $(nproc) cores; $(date -u '+%F %T UTC'); $(uptime)"
for i in $(seq "$RUNS"); do
  bench_run "nomodule-$i" 0 0 || echo "run nomodule-$i failed"
  bench_run "cacheoff-$i" 1 0 || echo "run cacheoff-$i failed"
  bench_run "cacheon-$i" 1 1 || echo "run cacheon-$i failed"
  tail -3 "$RESULTS"
done
echo "end: $(uptime)"
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    if r.get("bound_ms") is not None and r.get("init_ms") is not None:
        r["bind_ms"] = r["bound_ms"] - r["init_ms"]
def summary(prefix, key):
    v = [r[key] for r in rows if r["run"].startswith(prefix) and r.get(key) is not None]
    if not v:
        return "—"
    return f"{statistics.median(v):.0f} ({min(v):.0f}–{max(v):.0f})"
print()
print("| Firefox 153 ESR, pcscd + vpcd, card delays: median (min–max) ms, %d runs | no module | cache off | cache on |"
      % max(sum(r["run"].startswith("cacheoff") for r in rows), 1))
print("|---|---|---|---|")
for key, what in [("init_ms", "launch → module C_Initialize returned"),
                  ("bound_ms", "launch → token bound (first C_GetTokenInfo reading the card)"),
                  ("bind_ms", "the module's part: C_Initialize returned → token bound"),
                  ("marionette_ms", "launch → Marionette answers"),
                  ("token_ms", "launch → nsIPKCS11ModuleDB lists the token"),
                  ("rsa_pin_ms", "TLS 1.3 handshake + page, RSA-2048 (RSA-PSS), PIN dialog → C_Login + signature"),
                  ("rsa_ms", "TLS 1.3 handshake + page, RSA-2048 (RSA-PSS), logged in"),
                  ("ec_pin_ms", "TLS 1.3 handshake + page, P-384 (ECDSA), PIN dialog → C_Login + signature"),
                  ("ec_ms", "TLS 1.3 handshake + page, P-384 (ECDSA), logged in")]:
    print(f"| {what} | {summary('nomodule', key)} | {summary('cacheoff', key)} | {summary('cacheon', key)} |")
sigs = sorted({r["signatures"] for r in rows if "signatures" in r})
print()
print("signatures made by the card per handshake (RSA PIN, RSA, P-384 PIN, P-384), per run:", "; ".join(sigs))
PY
finish
