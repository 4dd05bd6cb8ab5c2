#!/usr/bin/env bash
# Builds the real-GHC baseline library: the project's ghc/Fun.hs + ghc/Export.hs (export
# c_function, foo x = return (x + 1)) with the ghc on PATH, through the harness's one builder
# (src/ghc/build.rs: linked against GHC's shared threaded RTS, RtsConfig layout checked against
# the installed header, cached by a content hash under ${CARGO_TARGET_DIR:-target}/ghc-libs/),
# and prints the library's path. `callin-bench run` builds on demand too; this makes the build
# a step of its own (scripts/bench.sh) and a command to run by hand.
#
# Usage: scripts/build-ghc-baseline.sh [--ghc PATH]...   (extra arguments go to `run --build-only`,
#        e.g. --ghc target/ghc-roots/trixie for the Debian 13 GHC)
#
# Missing ghc: installs it with apt-get when running as root, otherwise prints
# "ghc-baseline: SKIP: <reason>" and exits 77. A failing build exits non-zero with ghc's output.
# The harness binary is $CALLIN_BENCH, else target/release/callin-bench (built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ghc >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "ghc-baseline: ghc missing, installing with apt-get"
        apt-get install -y ghc || { apt-get update && apt-get install -y ghc; } || {
            echo "ghc-baseline: SKIP: ghc is not installed and 'apt-get install -y ghc' failed"
            exit 77
        }
    else
        echo "ghc-baseline: SKIP: ghc is not installed and cannot be installed here (needs root and apt-get)"
        exit 77
    fi
fi

bin=${CALLIN_BENCH:-${CARGO_TARGET_DIR:-target}/release/callin-bench}
if [ ! -x "$bin" ]; then
    echo "ghc-baseline: building the harness ($bin)"
    cargo build -q --release --bin callin-bench
fi
echo "ghc-baseline: ghc $(ghc --numeric-version)"
set +e
"$bin" run --systems real-ghc --build-only "$@"
rc=$?
set -e
[ $rc = 77 ] && echo "ghc-baseline: SKIP: see the line above"
exit $rc
