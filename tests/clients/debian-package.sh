#!/usr/bin/env bash
# The Debian package like a user gets it: packaging/build-deb.sh builds it, apt-get
# installs it on this machine (reinstalls when run again), and the INSTALLED files are
# used with a software card served through a real pcscd + vpcd (the packaged module has
# no software card of its own: it is built without the `software-card` feature, which
# is checked here too — no virtual_card code in it, EIMZA_VIRTUAL_CARD ignored, no
# `eimza demo`): the module through p11-kit (list-modules, p11-kit-proxy.so with
# pkcs11-tool, signatures verified with openssl) and directly from
# /usr/lib/<multiarch>/pkcs11, and /usr/bin/eimza finding the module by itself.
# Then apt-get removes the package and the machine is as before. Starts pcscd (run it
# inside /work/tools/isolated on a shared machine). Needs root or password-less sudo
# (CI runs as root on a throwaway machine); without, it says SKIP and exits 77, which
# scripts/test.sh counts as a skip and fails on.
source "$(dirname "$0")/lib.sh"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo"; else
    skip_scenario "needs root or password-less sudo to install a package"
  fi
fi
apt_get() {
  # Wait for another apt/dpkg run (scripts/deps.sh) instead of failing on its lock.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q "$@"
}

PACKAGE=eimza-pkcs11
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
INSTALLED_MODULE=/usr/lib/$MULTIARCH/pkcs11/libeimza_pkcs11.so
PROXY=/usr/lib/$MULTIARCH/p11-kit-proxy.so
P11KIT_FILE=/usr/share/p11-kit/modules/eimza.module
POLICY=/usr/share/$PACKAGE/firefox-policies.json
SERIAL=0DEB0DEB0DEB0DEB
TOKEN=AKIS_$SERIAL
NES=12345678950NES
CARD=$WORK/deb.card
make_card "$CARD" "$SERIAL" rsa2048 p256
# A second card, only named in EIMZA_VIRTUAL_CARD: the packaged module must not see it.
IGNORED_SERIAL=0DEB1DEB1DEB1DEB
IGNORED_CARD=$WORK/ignored.card
make_card "$IGNORED_CARD" "$IGNORED_SERIAL" p256
head -c 2000 /dev/urandom > "$WORK/data"
openssl dgst -sha256 -binary "$WORK/data" > "$WORK/data.sha256"

# Whatever happens, do not leave the package installed.
trap 'dpkg-query -W -f="\${Status}" $PACKAGE 2>/dev/null | grep -q "ok installed" && apt_get remove $PACKAGE >/dev/null 2>&1' EXIT

build() {
  local out
  out=$("$ROOT/packaging/build-deb.sh") || return 1
  DEB=$(tail -1 <<<"$out")
  echo "$DEB"
  [ -f "$DEB" ]
}

contents() {
  local listing
  listing=$(dpkg-deb -c "$DEB") || return 1
  echo "$listing"
  grep -q " root/root .* \./usr/lib/$MULTIARCH/pkcs11/libeimza_pkcs11\.so$" <<<"$listing" &&
    grep -q '^-rw-r--r-- .* \./usr/lib/.*/libeimza_pkcs11\.so$' <<<"$listing" &&
    grep -q '^-rwxr-xr-x .* \./usr/bin/eimza$' <<<"$listing" &&
    grep -q " \./usr/share/p11-kit/modules/eimza\.module$" <<<"$listing" &&
    grep -q " \.$POLICY$" <<<"$listing" &&
    grep -q " \./usr/share/doc/$PACKAGE/copyright$" <<<"$listing" &&
    grep -q " \./usr/share/doc/$PACKAGE/changelog\.gz$" <<<"$listing" &&
    grep -q " \./usr/share/man/man1/eimza\.1\.gz$" <<<"$listing" &&
    grep -q " \./usr/share/man/man1/eimza-sign\.1\.gz$" <<<"$listing" &&
    grep -q " \./usr/share/bash-completion/completions/eimza$" <<<"$listing" &&
    grep -q " \./usr/share/zsh/vendor-completions/_eimza$" <<<"$listing" &&
    grep -q " \./usr/share/fish/vendor_completions.d/eimza\.fish$" <<<"$listing" &&
    ! grep -q ' \./etc/' <<<"$listing"   # no configuration of other programs is touched
}

control_fields() {
  local version arch
  version=$(awk '/^\[/ { s = $0 } s == "[workspace.package]" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.toml")
  arch=$(dpkg --print-architecture)
  dpkg-deb -f "$DEB" Package Version Architecture Depends Recommends
  [ "$(dpkg-deb -f "$DEB" Version)" = "${version//-/\~}" ] &&
    [ "$(dpkg-deb -f "$DEB" Architecture)" = "$arch" ] &&
    dpkg-deb -f "$DEB" Depends | grep -q 'libpcsclite1' &&
    dpkg-deb -f "$DEB" Depends | grep -q 'libc6'
}

stripped() {
  rm -rf "$WORK/x" && dpkg-deb -x "$DEB" "$WORK/x" || return 1
  local f
  for f in "$WORK/x/usr/lib/$MULTIARCH/pkcs11/libeimza_pkcs11.so" "$WORK/x/usr/bin/eimza"; do
    readelf -S "$f" | grep -E '\.(debug_info|symtab) ' && { echo "$f is not stripped"; return 1; }
  done
  # the PKCS#11 entry point survives stripping
  nm -D --defined-only "$WORK/x/usr/lib/$MULTIARCH/pkcs11/libeimza_pkcs11.so" | grep -q ' C_GetFunctionList$'
}

# The module as built for the package (before stripping) has a symbol table: not one
# symbol of the virtual_card crate in it (the software card is a development feature).
# C_GetFunctionList must be listed, so an empty or unreadable table cannot pass.
no_software_card_symbols() {
  local unstripped="$ROOT/target/package/release/libeimza_pkcs11.so" symbols
  symbols=$(nm -C "$unstripped") || return 1
  grep -q ' T C_GetFunctionList$' <<<"$symbols" || { echo "no symbol table in $unstripped"; return 1; }
  echo "$(wc -l <<<"$symbols") symbols, $(grep -c 'virtual_card' <<<"$symbols") of virtual_card"
  ! grep -q 'virtual_card' <<<"$symbols"
}

# The stripped module of the package: neither the software card's code (its source
# paths end up in panic messages) nor its environment variable.
no_software_card_in_package() {
  rm -rf "$WORK/x" && dpkg-deb -x "$DEB" "$WORK/x" || return 1
  local so="$WORK/x/usr/lib/$MULTIARCH/pkcs11/libeimza_pkcs11.so" text
  text=$(strings "$so") || return 1
  grep -q 'C_GetFunctionList' <<<"$text" || return 1
  ! grep -E 'virtual-card/src|EIMZA_VIRTUAL_CARD' <<<"$text"
}

# EIMZA_VIRTUAL_CARD names a card file: the installed module lists the card in the
# vpcd reader and nothing else (a development build would add a slot for this card).
virtual_card_variable_ignored() {
  local out
  out=$(EIMZA_VIRTUAL_CARD="$IGNORED_CARD" pkcs11-tool --module "$INSTALLED_MODULE" -L) || return 1
  echo "$out"
  grep -q "serial num *: $SERIAL" <<<"$out" && ! grep -q "$IGNORED_SERIAL" <<<"$out"
}

# The packaged tool does not offer the demo: it needs a module with a software card.
no_demo() {
  local out status=0
  out=$(cd "$WORK" && /usr/bin/eimza demo 2>&1) || status=$?
  echo "$out (exit $status)"
  [ "$status" -eq 1 ] && grep -q 'demo' <<<"$out" && ! grep -q '==>' <<<"$out"
}

lintian_clean() {
  local out
  out=$(lintian "$DEB" 2>&1 | grep -v 'running with root privileges')
  echo "$out"
  ! grep -q '^[EW]:' <<<"$out"
}

install_deb() { apt_get install --reinstall "$DEB"; }

installed() {
  dpkg-query -W -f='${Status} ${Version}\n' "$PACKAGE" | tee /dev/stderr | grep -q '^install ok installed' &&
    [ -f "$INSTALLED_MODULE" ] && [ -x /usr/bin/eimza ] && [ -f "$P11KIT_FILE" ] && [ -f "$POLICY" ]
}

policy_points_at_module() {
  cat "$POLICY"
  if command -v jq >/dev/null; then
    [ "$(jq -r '.policies.SecurityDevices.Add["eimza-pkcs11"]' "$POLICY")" = "$INSTALLED_MODULE" ]
  else
    grep -q "\"eimza-pkcs11\": \"$INSTALLED_MODULE\"" "$POLICY"
  fi
}

list_modules() {
  local out
  out=$(p11-kit list-modules) || return 1
  echo "$out"
  # our module (relative path, resolved in p11-kit's module folder) with the card's token
  awk '$0 == "eimza: libeimza_pkcs11.so" { hit = 1; next } /^[^ ]/ { hit = 0 } hit' <<<"$out" |
    grep -q "token: $TOKEN"
}

gnutls_lists_token() {
  # GnuTLS loads the modules registered with p11-kit, no --provider given
  local out
  out=$(p11tool --list-tokens) || return 1
  echo "$out"
  grep -q "token=$TOKEN" <<<"$out"
}

# id_of MODULE LABEL: CKA_ID (hex) of the certificate with that label
# (pkcs11-tool 0.23 ignores --label when it picks the signing key).
id_of() {
  pkcs11-tool --module "$1" --token-label "$TOKEN" -O --type cert |
    awk -v l="$2" '$1 == "label:" { hit = ($2 == l) } hit && $1 == "ID:" { print $2; exit }'
}

lists_token() {
  local out
  out=$(pkcs11-tool --module "$1" -L) || return 1
  echo "$out"
  grep -q "token label *: $TOKEN" <<<"$out" && grep -q "serial num *: $SERIAL" <<<"$out"
}

pubkeys() {
  local l
  for l in "${NES}0" "${NES}1"; do
    pkcs11-tool --module "$INSTALLED_MODULE" --token-label "$TOKEN" --read-object --type cert --label "$l" \
      -o "$WORK/$l.der" &&
      openssl x509 -inform der -in "$WORK/$l.der" -pubkey -noout > "$WORK/$l.pub" || return 1
  done
}

# sign_verify MODULE: SHA256-RSA-PKCS with the RSA key, ECDSA-SHA256 with the P-256 key,
# both verified with openssl against the card's certificates.
sign_verify() {
  local mod=$1 rsa_id ec_id
  rsa_id=$(id_of "$mod" "${NES}0") && [ -n "$rsa_id" ] || return 1
  ec_id=$(id_of "$mod" "${NES}1") && [ -n "$ec_id" ] || return 1
  rm -f "$WORK/rsa.sig" "$WORK/ec.sig"
  pkcs11-tool --module "$mod" --token-label "$TOKEN" --login --pin "$PIN" --sign -m SHA256-RSA-PKCS \
    --id "$rsa_id" -i "$WORK/data" -o "$WORK/rsa.sig" &&
    openssl dgst -sha256 -verify "$WORK/${NES}0.pub" -signature "$WORK/rsa.sig" "$WORK/data" &&
    pkcs11-tool --module "$mod" --token-label "$TOKEN" --login --pin "$PIN" --sign -m ECDSA-SHA256 -f openssl \
      --id "$ec_id" -i "$WORK/data" -o "$WORK/ec.sig" &&
    openssl dgst -sha256 -verify "$WORK/${NES}1.pub" -signature "$WORK/ec.sig" "$WORK/data"
}

eimza_status() {
  local out
  # from a neutral folder, so nothing but the tool's own search finds the module
  out=$(cd "$WORK" && /usr/bin/eimza status) || return 1
  echo "$out"
  grep -q "^Module: $INSTALLED_MODULE " <<<"$out" && grep -q "$SERIAL" <<<"$out"
}

eimza_sign() {
  rm -f "$WORK/data.p7s"
  (cd "$WORK" && printf '%s\n' "$PIN" | /usr/bin/eimza sign data --label "${NES}0") &&
    openssl cms -verify -binary -inform DER -in "$WORK/data.p7s" -content "$WORK/data" \
      -CAfile "$WORK/ca/root-ca.pem" -purpose any -out /dev/null
}

# The installed man page is the generated one, and bash completes the subcommands
# (bash calls a completion function with the command, the word and the previous word).
man_page() {
  local out
  out=$(MANWIDTH=100 man -P cat eimza 2>/dev/null) || return 1
  echo "$out" | head -40
  grep -q -- '--module <PATH>' <<<"$out" && grep -q 'EXIT STATUS' <<<"$out" && grep -q 'eimza-sign(1)' <<<"$out"
}
bash_completes() {
  local words
  words=$(bash -c 'source /usr/share/bash-completion/completions/eimza &&
    COMP_WORDS=(eimza pin ""); COMP_CWORD=2; _eimza eimza "" pin; printf "%s\n" "${COMPREPLY[@]}"') || return 1
  echo "$words"
  grep -qx change <<<"$words" && grep -qx unblock <<<"$words"
}

remove_deb() { apt_get remove "$PACKAGE"; }

removed() {
  ! dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -q 'ok installed' &&
    [ ! -e "$INSTALLED_MODULE" ] && [ ! -e /usr/bin/eimza ] && [ ! -e "$P11KIT_FILE" ] &&
    [ ! -e "/usr/share/$PACKAGE" ] && [ ! -e "/usr/share/doc/$PACKAGE" ] &&
    ! p11-kit list-modules | grep -q '^eimza:'
}

use_pcscd "$CARD"
DEB=""
check "packaging/build-deb.sh builds the package" build
if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then finish; exit; fi
check "contents: module (0644), tool (0755), p11-kit file, policy snippet, docs, man pages, completions; nothing in /etc" contents
check "control: version from Cargo.toml, dpkg architecture, Depends on libc6 and libpcsclite1" control_fields
check "module and tool are stripped; C_GetFunctionList still exported" stripped
check "the module built for the package has no virtual_card symbols" no_software_card_symbols
check "the packaged module holds no software card (code or EIMZA_VIRTUAL_CARD)" no_software_card_in_package
check "lintian: no errors or warnings" lintian_clean
check "apt-get installs the package" install_deb
check "installed: dpkg status, module, /usr/bin/eimza, p11-kit file, policy snippet" installed
check "apt-get reinstalls it (the scenario can run again)" install_deb
check "Firefox policy snippet names the installed module" policy_points_at_module
check "p11-kit list-modules shows eimza with the card's token" list_modules
check "GnuTLS p11tool --list-tokens shows the token" gnutls_lists_token
check "certificates read through the installed module" pubkeys
check "p11-kit-proxy.so: pkcs11-tool -L shows the token" lists_token "$PROXY"
check "p11-kit-proxy.so: RSA and ECDSA signatures verify" sign_verify "$PROXY"
check "installed module directly: pkcs11-tool -L shows the token" lists_token "$INSTALLED_MODULE"
check "installed module directly: RSA and ECDSA signatures verify" sign_verify "$INSTALLED_MODULE"
check "/usr/bin/eimza status finds the installed module by itself" eimza_status
check "/usr/bin/eimza sign: CMS signature verifies with openssl" eimza_sign
check "the installed module ignores EIMZA_VIRTUAL_CARD (no software card in it)" virtual_card_variable_ignored
check "/usr/bin/eimza demo is not offered (exit 1, nothing run)" no_demo
check "the card's PIN counter is full (3 of 3 tries left)" bash -c \
  "'$VCARD_BIN' show '$CARD' | tee /dev/stderr | grep -q '^PIN: 3 of 3 tries left'"
check "man eimza: the generated page (options, exit status, subcommand pages)" man_page
check "bash completion: eimza pin <TAB> offers change and unblock" bash_completes
check "apt-get removes the package" remove_deb
check "removed: no files left, p11-kit no longer lists eimza" removed
finish
