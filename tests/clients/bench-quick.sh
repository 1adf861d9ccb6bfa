#!/usr/bin/env bash
# scripts/bench.sh --quick: eimza-bench runs against our module (in process and through
# pcscd + vpcd), the raw PC/SC replay and SoftHSM2, and every APDU count meets its goal
# (C_Initialize and polled calls 0, bind ≤ 12 cold and ≤ 4 cached, C_Login ≤ 2,
# C_Sign ≤ 2 per signature, 8 threads without errors). No timing is asserted. A part
# that could not run (pcscd, SoftHSM2) makes it exit 77: a SKIP for scripts/test.sh.
exec "$(dirname "$0")/../../scripts/bench.sh" --quick --no-build
