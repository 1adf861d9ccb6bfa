#!/usr/bin/env bash
# An independent reader of our PKCS#15 structure: OpenSC's pkcs15-tool (generic
# driver) dumps a freshly personalised RSA-2048 + P-384 software card through pcscd +
# vpcd and finds every object (pkcs15/tests/opensc-dump.sh does the checking).
source "$(dirname "$0")/lib.sh"
make_card "$WORK/dump.card" 1111111111111111 rsa2048 p384
check "OpenSC pkcs15-tool reads the card's PKCS#15 objects" env VCARD_BIN="$VCARD_BIN" "$ROOT/pkcs15/tests/opensc-dump.sh" "$WORK/dump.card"
finish
