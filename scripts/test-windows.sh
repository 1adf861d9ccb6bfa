#!/usr/bin/env bash
# The Windows build, tested from Linux: cross-builds eimza_pkcs11.dll, eimza-vcard.exe
# and eimza.exe for x86_64-pc-windows-gnu with mingw-w64 and runs under Wine 8, in a
# WINEPREFIX of its own (created here, removed at the end):
#   1. the module's C-ABI tests (tests/*.rs but the two pcscd ones and bind_cache,
#      software cards in process), its unit tests, and the software card's
#      persistence tests, as Windows executables (CARGO_TARGET_..._RUNNER=wine); the
#      module's debug log must show all 92 functions called;
#   2. tests/c/load_test.c built with mingw-w64: LoadLibrary, the tables, and a token
#      (wrong PIN, login, key search, ECDSA signature) through the packed C header;
#   3. eimza.exe's PIN prompt on a Wine console (tests/windows/console_echo.py);
#   4. packaging/windows/build.sh (the shipped build: no default features, no software
#      card, checked), then the zip and the MSI: their
#      files against the build (msiinfo, msiextract), the MSI's tables (nothing but
#      three files in Program Files), installed and removed with Wine's msiexec (the
#      installed DLL and eimza.exe work; afterwards no file and no key of the product).
# Wine 8 has no bcryptprimitives.dll (ProcessPrng, which Rust's standard library
# imports; every Windows 10 has it): tests/windows/bcryptprimitives.c, a test-only
# shim, goes into this prefix's system32. Wine 8's winscard.dll is a stub, so no
# PC/SC reader is seen (pkcs11-spec.md §3.6; TESTING.md, Windows). Needs
# scripts/deps.sh's packages and the Rust target (installed there). Prints the time
# of each step; exits non-zero if any check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-pc-windows-gnu
BUILT=${CARGO_TARGET_DIR:-target}/$TARGET/release
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

WORK=$(mktemp -d /tmp/eimza-windows.XXXXXX)
export WINEPREFIX=$WORK/prefix WINEARCH=win64 WINEDEBUG=-all
# No Mono or Gecko download prompts (nothing here needs .NET or a browser engine).
export WINEDLLOVERRIDES="mscoree,mshtml="
cleanup() {
  wineserver -k 2>/dev/null || true   # this prefix's server only
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
step_start=$(now)
step() { # step NAME: prints the time since the previous step
  local t; t=$(now)
  printf 'windows: %-34s %6.1f s\n' "$1" "$(awk "BEGIN { print $t - $step_start }")"
  step_start=$t
}
failed=()
fail() { echo "FAIL $*"; failed+=("$*"); }
windows_path() { echo "Z:$(realpath "$1" | tr / '\\')"; }

# ---- 1. Build once: the DLL and card tool the tests load, and every test binary.
# The module's integration tests, except pcsc_module and pcsc_reader (they need pcscd
# and vpcd, which Wine 8's stub winscard.dll cannot reach) and bind_cache (there is no
# bind cache on Windows, pkcs11-spec.md §3.2.1; card::cache::tests checks that).
module_tests=(--lib)
for f in tests/*.rs; do
  name=$(basename "$f" .rs)
  case $name in pcsc_* | bind_cache) continue ;; esac
  module_tests+=(--test "$name")
done
cargo build --release --locked --target "$TARGET" -p eimza-pkcs11 -p virtual-card -p eimza
cargo test --release --locked --target "$TARGET" -p eimza-pkcs11 "${module_tests[@]}" --no-run
cargo test --release --locked --target "$TARGET" -p virtual-card --test persistence --no-run
step "build (DLL, tools, tests)"

wineboot -i >/dev/null 2>&1
wineserver -w
x86_64-w64-mingw32-gcc -Wall -Wextra -Werror -O2 -shared -s \
  -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" tests/windows/bcryptprimitives.c -lbcrypt
step "Wine prefix"

# ---- 2. The Rust tests under Wine. The module's debug log (tests that set their own
# log keep it: digest_verify, log, pin_management, pin_hygiene) tells which functions ran.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
rm -f "$BUILT"/*.log
EIMZA_PKCS11_LOG="$(windows_path "$WORK")\\calls.log" EIMZA_PKCS11_LOG_LEVEL=debug \
  cargo test --release --locked --target "$TARGET" -p eimza-pkcs11 "${module_tests[@]}" --no-fail-fast ||
  fail "module tests under Wine"
calls() { cat "$WORK/calls.log" "$BUILT"/*.log 2>/dev/null | grep -o -E "C_[A-Za-z]+\($1" | sed 's/(.*//' | sort -u; }
called=$(calls "" | wc -l)
[ "$called" -eq 92 ] && echo "ok   all 92 functions called under Wine" || fail "$called of 92 functions called under Wine"
echo "windows: functions that returned CKR_OK under Wine ($(calls '[^)]*\) = CKR_OK' | wc -l)): $(calls '[^)]*\) = CKR_OK' | tr '\n' ' ')"
cargo test --release --locked --target "$TARGET" -p virtual-card --test persistence ||
  fail "software card persistence under Wine"
unset CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER
step "Rust tests under Wine"

# ---- 3. A C program, as Windows applications load the module.
x86_64-w64-mingw32-gcc -Wall -Wextra -Werror -std=gnu99 -Iinclude tests/c/load_test.c -o "$WORK/load_test.exe"
wine "$BUILT/eimza-vcard.exe" create "$(windows_path "$WORK")\\c.card" --key p256 >/dev/null
# Its output has Windows line ends.
if wine "$WORK/load_test.exe" "$BUILT/eimza_pkcs11.dll" "$(windows_path "$WORK")\\c.card" >"$WORK/load.log" 2>&1 &&
  tr -d '\r' <"$WORK/load.log" | grep -qx "0 failures"; then
  echo "ok   C program (LoadLibrary, token, login, ECDSA): $(grep -c '^ok' "$WORK/load.log") checks"
else
  cat "$WORK/load.log"; fail "C program under Wine"
fi
step "C program under Wine"

# ---- 4. eimza.exe's PIN prompt on a console.
wine "$BUILT/eimza-vcard.exe" create "$(windows_path "$WORK")\\prompt.card" --key p256 >/dev/null
python3 tests/windows/console_echo.py "$BUILT/eimza.exe" "$WORK/prompt.card" || fail "eimza.exe console prompt"
step "eimza.exe console under Wine"

# ---- 5. The shipped build: zip and MSI.
packaging/windows/build.sh >"$WORK/dist.txt"
ZIP=$(sed -n 1p "$WORK/dist.txt")
MSI=$(sed -n 2p "$WORK/dist.txt")
DIST=${ZIP%.zip}
step "release build, zip, MSI"

sha() { sha256sum "$1" | cut -d' ' -f1; }
names=(eimza_pkcs11.dll eimza.exe README-Windows.txt)
# The zip: exactly the three files, byte for byte the staged ones.
python3 - "$ZIP" "$DIST" "${names[@]}" <<'PY' || fail "zip contents"
import hashlib, os, sys, zipfile
zip_path, dist, *names = sys.argv[1:]
top = os.path.basename(dist)
with zipfile.ZipFile(zip_path) as z:
    listed = sorted(z.namelist())
    want = sorted(f"{top}/{n}" for n in names)
    assert listed == want, f"zip holds {listed}, expected {want}"
    for n in names:
        data = z.read(f"{top}/{n}")
        with open(os.path.join(dist, n), "rb") as f:
            assert data == f.read(), f"{n} differs from the build"
print(f"ok   zip: {len(names)} files, identical to the build")
PY
# Stripped, and still exporting the PKCS#11 entry points.
x86_64-w64-mingw32-objdump -h "$DIST/eimza_pkcs11.dll" | grep -q debug_info && fail "DLL not stripped"
exports=$(x86_64-w64-mingw32-objdump -p "$DIST/eimza_pkcs11.dll" | grep -c ' C_[A-Za-z]*$' || true)
[ "$exports" -eq 92 ] && echo "ok   DLL exports the 92 PKCS#11 3.0 functions" || fail "DLL exports $exports C_ functions, expected 92"
[ "$(tail -c 2 "$DIST/README-Windows.txt" | od -An -tx1 | tr -d ' ')" = 0d0a ] || fail "README-Windows.txt has no CRLF line ends"
# No test code shipped (built without default features): neither the software card's
# variable nor its tool's name in the DLL or the exe.
for f in eimza_pkcs11.dll eimza.exe; do
  if grep -q -a -e EIMZA_VIRTUAL_CARD -e eimza-vcard "$DIST/$f"; then fail "$f carries the software card"; fi
done
echo "ok   no software card in the shipped DLL and exe"

# The MSI's tables (msiinfo): three files in ProgramFiles64Folder\eimza-pkcs11, 64-bit
# components, and nothing that touches the system beyond them.
# msiinfo writes the .idt text form: CRLF lines, three header lines. A missing table
# (wixl leaves out the ones it does not use) reads as empty.
table() { { msiinfo export "$MSI" "$1" 2>/dev/null || true; } | tr -d '\r' | tail -n +4; }
msi_files=$(table File | awk -F'\t' '{ print $3 "\t" $4 }' | sort)
want_files=$(for n in "${names[@]}"; do printf '%s\t%s\n' "$n" "$(stat -c %s "$DIST/$n")"; done | sort)
[ "$msi_files" = "$want_files" ] && echo "ok   MSI File table: the three files with their sizes" ||
  fail "MSI File table: $msi_files"
[ "$(table Directory | awk -F'\t' '$1 == "INSTALLDIR" { print $2 "\t" $3 }')" = "$(printf 'ProgramFiles64Folder\teimza-pkcs11')" ] &&
  echo "ok   MSI installs to ProgramFiles64Folder\\eimza-pkcs11" || fail "MSI Directory table"
[ "$(table Component | awk -F'\t' '$3 != "INSTALLDIR" || $4 != 256' | wc -l)" -eq 0 ] &&
  echo "ok   MSI components: 64-bit, all in INSTALLDIR" || fail "MSI Component table"
for t in Registry CustomAction ServiceInstall ServiceControl Shortcut RemoveFile CreateFolder Environment IniFile Binary; do
  rows=$(table "$t" | wc -l)
  [ "$rows" -eq 0 ] || fail "MSI table $t has $rows rows"
done
echo "ok   MSI: no registry values, custom actions, services, shortcuts or environment"
[ "$(msiinfo suminfo "$MSI" | sed -n 's/^Template: //p')" = "x64;1033" ] || fail "MSI is not an x64 package"
mkdir "$WORK/extract"
msiextract -C "$WORK/extract" "$MSI" >/dev/null
for n in "${names[@]}"; do
  got=$(find "$WORK/extract" -name "$n" -type f | head -1)
  [ -n "$got" ] && [ "$(sha "$got")" = "$(sha "$DIST/$n")" ] || fail "MSI's $n differs from the build"
done
echo "ok   msiextract: the MSI's files are the build's"
step "zip and MSI contents"

# Installed with Wine's msiexec: the DLL loads from Program Files, eimza.exe finds it;
# removed: no file, no registry key of the product left.
reg_keys() { grep '^\[' "$WINEPREFIX/$1" | sed 's/\] [0-9]*$/]/' | sort; }
product=$(table Property | awk -F'\t' '$1 == "ProductCode" { print $2 }')
# Windows Installer's registry spelling of a GUID: each group reversed, and the bytes of
# the last two groups nibble-swapped ({795731F9-CDD5-...} -> 9F1375975DDC...).
packed=$(python3 -c 'import sys; g = sys.argv[1].strip("{}").split("-"); tail = "".join(g[3:]);
print(g[0][::-1] + g[1][::-1] + g[2][::-1] + "".join(tail[i + 1] + tail[i] for i in range(0, len(tail), 2)))' "$product")
# The server writes the registry files when it exits: wait for that before reading them.
wineserver -w
reg_keys system.reg >"$WORK/keys-before"
wine msiexec /i "$(windows_path "$MSI")" /qn || fail "msiexec /i"
installed="$WINEPREFIX/drive_c/Program Files/eimza-pkcs11"
for n in "${names[@]}"; do
  [ -f "$installed/$n" ] && [ "$(sha "$installed/$n")" = "$(sha "$DIST/$n")" ] || fail "installed $n"
done
wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' 2>/dev/null | grep -qF "$product" ||
  fail "no Apps entry (Uninstall key) after install"
wine reg query "HKLM\\Software\\Classes\\Installer\\Products\\$packed" >/dev/null 2>&1 ||
  fail "the product's Installer key ($packed) not found after install"
if wine "$WORK/load_test.exe" 'C:\Program Files\eimza-pkcs11\eimza_pkcs11.dll' >"$WORK/load-installed.log" 2>&1 &&
  tr -d '\r' <"$WORK/load-installed.log" | grep -qx "0 failures"; then
  echo "ok   C program loads the installed DLL"
else
  cat "$WORK/load-installed.log"; fail "installed DLL"
fi
status=0
LANG=C wine 'C:\Program Files\eimza-pkcs11\eimza.exe' status >"$WORK/status.log" 2>&1 || status=$?
# No reader under Wine: exit 2 after naming the module it found beside itself.
if [ "$status" -eq 2 ] && grep -qF 'C:\Program Files\eimza-pkcs11\eimza_pkcs11.dll' "$WORK/status.log" &&
  grep -qF 'No card reader (slot) found.' "$WORK/status.log"; then
  echo "ok   installed eimza.exe finds the installed module"
else
  cat "$WORK/status.log"; fail "installed eimza.exe status (exit $status)"
fi
wine msiexec /x "$(windows_path "$MSI")" /qn || fail "msiexec /x"
wineserver -w
[ ! -e "$installed" ] && echo "ok   uninstalled: C:\\Program Files\\eimza-pkcs11 is gone" || fail "files left after uninstall"
reg_keys system.reg >"$WORK/keys-after"
# Windows Installer keeps its own (then empty) container keys; nothing of the product.
left=$(comm -13 "$WORK/keys-before" "$WORK/keys-after" |
  grep -v -E '^\[Software\\\\(Classes\\\\Installer|Microsoft\\\\Windows\\\\CurrentVersion\\\\Installer)\\\\' || true)
ours=$(cat "$WINEPREFIX/system.reg" "$WINEPREFIX/user.reg" | grep -i -c -F -e eimza -e "$product" -e "$packed" || true)
[ -z "$left" ] && [ "$ours" -eq 0 ] && echo "ok   uninstalled: no registry key or value of the product" ||
  fail "registry after uninstall: ${left:-} ($ours lines naming the product)"
step "MSI install and removal under Wine"

echo "windows: DLL $(stat -c %s "$DIST/eimza_pkcs11.dll") bytes (stripped; unstripped build $(stat -c %s "$BUILT/eimza_pkcs11.dll")), eimza.exe $(stat -c %s "$DIST/eimza.exe"), zip $(stat -c %s "$ZIP"), MSI $(stat -c %s "$MSI")"
for f in "${failed[@]}"; do echo "FAILED: $f"; done
[ ${#failed[@]} -eq 0 ]
