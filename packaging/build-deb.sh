#!/usr/bin/env bash
# Builds the Debian package target/debian/eimza-pkcs11_<version>_<arch>.deb with plain
# dpkg-deb from a staged tree (no cargo-deb, nothing downloaded; why: the commit that
# wrote this line, and below in short: the multiarch path also goes into generated file
# contents, generated man pages come first, and CI would have to build cargo-deb):
#   /usr/lib/<multiarch>/pkcs11/libeimza_pkcs11.so   the module (stripped)
#   /usr/share/p11-kit/modules/eimza.module           its p11-kit registration
#   /usr/bin/eimza                                    the card holder's tool (stripped)
#   /usr/share/eimza-pkcs11/firefox-policies.json     Firefox/Thunderbird policy snippet
#   /usr/share/doc/eimza-pkcs11/, /usr/share/man/man1/eimza*.1.gz
#   /usr/share/{bash-completion/completions,zsh/vendor-completions,fish/vendor_completions.d}/
#                                                     eimza's shell completions
# The man pages and completions are generated from eimza's clap command line by
# cli/assets (target/release/eimza-assets), so they always match the tool.
# The version comes from Cargo.toml ([workspace.package]) and must have an entry in
# packaging/changelog; the architecture from dpkg. The path of the .deb is printed on
# the last line of standard output.
#
# The module and the tool are built with --no-default-features: no software card in
# the module (no EIMZA_VIRTUAL_CARD, no test hooks), no `eimza demo` in the tool. They
# go to their own target folder (target/package/), so the development build in
# target/release/ (with the software card the tests use) is left as it is.
#
# EIMZA_DEB_NO_BUILD=1 packages what is in target/package/release without running cargo.
# DEBFULLNAME / DEBEMAIL override the Maintainer field.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
ROOT=$PWD
PACKAGE=eimza-pkcs11

die() { echo "build-deb: $*" >&2; exit 1; }

# [workspace.package] version = "X.Y.Z": the one version every crate inherits.
cargo_version=$(awk '
  /^\[/ { section = $0 }
  section == "[workspace.package]" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
' Cargo.toml)
[ -n "$cargo_version" ] || die "no version in [workspace.package] of Cargo.toml"
# Semver pre-releases (1.0.0-rc.1) sort before the release; in Debian that is "~".
VERSION=${cargo_version//-/\~}
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
[ -n "$MULTIARCH" ] || die "cannot tell the multiarch tuple (dpkg-architecture or gcc)"

# The changelog's newest entry must be this version: bumping Cargo.toml means saying
# what changed. Its date also dates every file in the package (reproducible builds).
changelog_version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' packaging/changelog)
[ "$changelog_version" = "$VERSION" ] ||
  die "packaging/changelog starts with $changelog_version, Cargo.toml says $VERSION: add a changelog entry"
changelog_date=$(sed -n 's/^ -- .*>  \(.*\)$/\1/p' packaging/changelog | head -1)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date -d "$changelog_date" +%s)}
export SOURCE_DATE_EPOCH

BUILD=target/package
if [ "${EIMZA_DEB_NO_BUILD:-0}" != 1 ]; then
  cargo build --release --locked --no-default-features --target-dir "$BUILD" \
    -p eimza-pkcs11 -p eimza -p eimza-assets >&2
fi
LIB=$BUILD/release/libeimza_pkcs11.so
TOOL=$BUILD/release/eimza
ASSETS_TOOL=$BUILD/release/eimza-assets
for f in "$LIB" "$TOOL" "$ASSETS_TOOL"; do
  [ -f "$f" ] || die "$f is missing (cargo build --release --no-default-features --target-dir $BUILD)"
done

OUT=target/debian
STAGE=$OUT/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN"

MODULE_DIR=/usr/lib/$MULTIARCH/pkcs11
DOC=/usr/share/doc/$PACKAGE

# The module: 0644 like every shared library; a private plugin folder, so no
# ldconfig, no shlibs file, no soname-derived package name.
install -D -m 0644 "$LIB" "$STAGE$MODULE_DIR/libeimza_pkcs11.so"
install -D -m 0755 "$TOOL" "$STAGE/usr/bin/eimza"
# What dh_strip does: no debug info, no symbol table beyond the dynamic exports.
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
  "$STAGE$MODULE_DIR/libeimza_pkcs11.so"
strip --remove-section=.comment --remove-section=.note "$STAGE/usr/bin/eimza"

install -D -m 0644 packaging/eimza.module "$STAGE/usr/share/p11-kit/modules/eimza.module"

# Firefox and Thunderbird read the same policy format. Only a snippet to merge: a
# package must not own /etc/firefox/policies/policies.json, which holds all of a
# site's policies (see README.Debian).
mkdir -p "$STAGE/usr/share/$PACKAGE"
cat > "$STAGE/usr/share/$PACKAGE/firefox-policies.json" <<EOF
{
  "policies": {
    "SecurityDevices": {
      "Add": {
        "eimza-pkcs11": "$MODULE_DIR/libeimza_pkcs11.so"
      }
    }
  }
}
EOF

install -D -m 0644 packaging/copyright "$STAGE$DOC/copyright"
gzip -9n < packaging/changelog > "$STAGE$DOC/changelog.gz"
sed "s|<multiarch>|$MULTIARCH|g" packaging/README.Debian | gzip -9n > "$STAGE$DOC/README.Debian.gz"
gzip -9n < README.md > "$STAGE$DOC/README.md.gz"
# Man pages and shell completions, generated (dated SOURCE_DATE_EPOCH).
ASSETS=$OUT/assets
rm -rf "$ASSETS"
"$ASSETS_TOOL" "$ASSETS" >&2
mkdir -p "$STAGE/usr/share/man/man1"
for page in "$ASSETS"/*.1; do gzip -9n < "$page" > "$STAGE/usr/share/man/man1/$(basename "$page").gz"; done
install -D -m 0644 "$ASSETS/eimza.bash" "$STAGE/usr/share/bash-completion/completions/eimza"
install -D -m 0644 "$ASSETS/_eimza" "$STAGE/usr/share/zsh/vendor-completions/_eimza"
install -D -m 0644 "$ASSETS/eimza.fish" "$STAGE/usr/share/fish/vendor_completions.d/eimza.fish"
rm -rf "$ASSETS"
find "$STAGE/usr" -type f -exec chmod 0644 {} + -o -type d -exec chmod 0755 {} +
chmod 0755 "$STAGE/usr/bin/eimza" "$STAGE/DEBIAN"

# Depends from the libraries the ELF files link (libc6, libgcc-s1, libpcsclite1) with
# their minimum versions; dpkg-shlibdeps wants a debian/control around it.
shlibs=""
if command -v dpkg-shlibdeps >/dev/null; then
  scratch=$(mktemp -d)
  mkdir "$scratch/debian"
  printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PACKAGE" "$PACKAGE" > "$scratch/debian/control"
  shlibs=$(cd "$scratch" && dpkg-shlibdeps -O \
    "$ROOT/$STAGE$MODULE_DIR/libeimza_pkcs11.so" "$ROOT/$STAGE/usr/bin/eimza" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p') || shlibs=""
  rm -rf "$scratch"
fi
[ -n "$shlibs" ] || shlibs="libc6, libgcc-s1, libpcsclite1"

# Installed-Size in KiB, as dpkg-gencontrol counts it (each file rounded up).
installed_size=$(find "$STAGE/usr" -type f -printf '%s\n' | awk '{ k += int(($1 + 1023) / 1024) } END { print k }')
maintainer="${DEBFULLNAME:-eimza-pkcs11 maintainers} <${DEBEMAIL:-eimza-pkcs11@example.invalid}>"

cat > "$STAGE/DEBIAN/control" <<EOF
Package: $PACKAGE
Version: $VERSION
Architecture: $ARCH
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $shlibs
Recommends: pcscd
Suggests: p11-kit, opensc, openssl
Section: utils
Priority: optional
Description: PKCS#11 module and holder's tool for Turkish e-signature cards
 A PKCS#11 module for Turkish qualified electronic signature smart cards
 (Kamu SM "e-imza" cards, AKIS card operating system). Firefox, Thunderbird,
 LibreOffice, Java signing software, OpenSSL and GnuTLS load it to sign with
 the card (RSA PKCS#1 v1.5 and PSS, ECDSA), to change the PIN and to unblock
 it with the PUK. The card is reached through PC/SC (pcscd).
 .
 The module is registered with p11-kit, so applications using
 p11-kit-proxy.so find the card without configuration. The package also
 contains the "eimza" command for the card holder (card status, PIN change,
 PIN unblock, detached CMS signatures) and a Firefox/Thunderbird enterprise
 policy snippet that loads the module.
EOF
(cd "$STAGE" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/control" "$STAGE/DEBIAN/md5sums"
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

DEB=$OUT/${PACKAGE}_${VERSION}_${ARCH}.deb
rm -f "$DEB"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >&2
rm -rf "$STAGE"
echo "$ROOT/$DEB"
