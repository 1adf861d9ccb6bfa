#!/usr/bin/env bash
# Builds the Windows release (x86_64-pc-windows-gnu, mingw-w64) and packs it:
#   target/windows/eimza-pkcs11-<version>-windows-x64.zip   folder eimza-pkcs11-<version>-windows-x64/
#     (target = $CARGO_TARGET_DIR when set)
#   target/windows/eimza-pkcs11-<version>-x64.msi            installs to C:\Program Files\eimza-pkcs11\
# Both hold eimza_pkcs11.dll and eimza.exe (stripped) and README-Windows.txt (CRLF).
# The version comes from Cargo.toml ([workspace.package]); file dates from
# packaging/changelog's newest entry (SOURCE_DATE_EPOCH), so the zip is reproducible.
# Needs: rustup target x86_64-pc-windows-gnu, gcc-mingw-w64-x86-64-win32, wixl (scripts/deps.sh).
# EIMZA_WIN_NO_BUILD=1 packs what is in target/x86_64-pc-windows-gnu/release.
# The last two lines of standard output are the zip's and the MSI's paths.
set -euo pipefail
umask 022
cd "$(dirname "$0")/../.."
TARGET=x86_64-pc-windows-gnu
die() { echo "build-windows: $*" >&2; exit 1; }

VERSION=$(awk '
  /^\[/ { section = $0 }
  section == "[workspace.package]" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
' Cargo.toml)
[ -n "$VERSION" ] || die "no version in [workspace.package] of Cargo.toml"
changelog_date=$(sed -n 's/^ -- .*>  \(.*\)$/\1/p' packaging/changelog | head -1)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$changelog_date" +%s)}
export SOURCE_DATE_EPOCH

# Shipped artifacts carry no test code: no software card in the module, no demo in the
# tool (--no-default-features, as packaging/build-deb.sh). The same target folder as
# the tests' Windows build, so the dependencies are compiled once; only the module and
# the tool are built again (and replace the tests' copies).
if [ "${EIMZA_WIN_NO_BUILD:-0}" != 1 ]; then
  cargo build --release --locked --no-default-features --target "$TARGET" -p eimza-pkcs11 -p eimza >&2
fi
BUILT=${CARGO_TARGET_DIR:-target}/$TARGET/release
for f in eimza_pkcs11.dll eimza.exe; do [ -f "$BUILT/$f" ] || die "$BUILT/$f is missing"; done

OUT=${CARGO_TARGET_DIR:-target}/windows
NAME=eimza-pkcs11-$VERSION-windows-x64
STAGE=$OUT/$NAME
rm -rf "$STAGE"
mkdir -p "$STAGE"
# No debug information and no symbol table in what users download (the DLL keeps its
# export table, which is all an application needs).
x86_64-w64-mingw32-strip --strip-unneeded -o "$STAGE/eimza_pkcs11.dll" "$BUILT/eimza_pkcs11.dll"
x86_64-w64-mingw32-strip -o "$STAGE/eimza.exe" "$BUILT/eimza.exe"
sed 's/$/\r/' packaging/windows/README-Windows.txt > "$STAGE/README-Windows.txt"
touch -d "@$SOURCE_DATE_EPOCH" "$STAGE"/*

ZIP=$OUT/$NAME.zip
rm -f "$ZIP"
python3 - "$OUT" "$NAME" "$ZIP" <<'PY'
import os, sys, time, zipfile
out, name, zip_path = sys.argv[1:]
stamp = time.gmtime(int(os.environ["SOURCE_DATE_EPOCH"]))[:6]
with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for f in sorted(os.listdir(os.path.join(out, name))):
        info = zipfile.ZipInfo(f"{name}/{f}", date_time=stamp)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(os.path.join(out, name, f), "rb") as src:
            z.writestr(info, src.read())
PY

MSI=$OUT/eimza-pkcs11-$VERSION-x64.msi
rm -f "$MSI"
# wixl takes File sources relative to the current folder only (not absolute paths).
wxs=$PWD/packaging/windows/eimza.wxs
msi_abs=$(realpath "$OUT")/$(basename "$MSI")
(cd "$STAGE" && wixl --arch x64 -D Version="$VERSION" -D Dist=. -o "$msi_abs" "$wxs") >&2
realpath "$ZIP" "$MSI"
