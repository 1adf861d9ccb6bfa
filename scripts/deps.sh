#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need (idempotent; quick when
# everything is there). Needs root or sudo. Used by scripts/demo.sh, scripts/test.sh, CI.
set -euo pipefail

packages=(
  pkg-config libpcsclite-dev pcscd pcsc-tools vsmartcard-vpcd  # PC/SC stack + virtual reader
  opensc                                                       # pkcs11-tool, opensc-tool
  libnss3-tools gnutls-bin p11-kit                             # NSS (Firefox) tools, p11tool, p11-kit
  openssl gcc g++                                              # verifying signatures, C ABI test, libFuzzer (scripts/fuzz.sh)
  iproute2 procps                                              # ss, pgrep/pkill in the test harness
  softhsm2 hyperfine                                           # a second PKCS#11 module (CLI tests, benchmarks); bench cold start
  dpkg-dev binutils lintian                                    # packaging/build-deb.sh: dpkg-architecture, dpkg-shlibdeps, strip; lintian (debian-package.sh)
  man-db                                                       # debian-package.sh reads the installed man page
  libengine-pkcs11-openssl                                     # OpenSSL engine (libp11)
  openjdk-17-jdk-headless                                      # SunPKCS11: keytool, jarsigner, javac
  python3-venv                                                 # pyHanko and python-pkcs11 from PyPI in venvs
  firefox-esr                                                  # the real browser (tests/clients/firefox.sh), headless
  libreoffice-writer-nogui python3-uno libreoffice-script-provider-python  # LibreOffice headless, UNO, Python macros
  xmlsec1 poppler-utils unzip                                  # ODF (XML-DSig) and PDF (pdfsig) signature checks
  gcc-mingw-w64-x86-64-win32 wine wine64                       # Windows: cross-linker, Wine 8 to run the tests (scripts/test-windows.sh)
  wixl msitools                                                # Windows: the MSI (wixl) and its checks (msiinfo, msiextract)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Rust standard library for the Windows cross-build (scripts/test-windows.sh).
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
  echo "deps: rustup target add x86_64-pc-windows-gnu"
  rustup target add x86_64-pc-windows-gnu
fi
