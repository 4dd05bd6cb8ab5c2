#!/usr/bin/env bash
# Stress of the call-in path (rts-core/tests/stress.rs): threads > capabilities > 1 with every
# result and per-thread sum checked, for the default (lock-free) and ghc policy sets; 10^4
# short-lived threads leaving no Task or InCall; nested call-ins to depth 64 from several
# threads; setNumCapabilities and hs_exit while calls are in flight; a thread killed between
# calls. Figures are printed per test.
#
# Usage: scripts/stress.sh          full size, release: 10^7 calls per policy set, 10^4 threads
#        scripts/stress.sh --ci     sized down (the same as `cargo test`), for CI
# RTS_STRESS_CALLS / RTS_STRESS_THREADS override either size.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=(--release)
if [[ "${1:-}" == "--ci" ]]; then
    profile=()
    shift
else
    export RTS_STRESS_CALLS="${RTS_STRESS_CALLS:-10000000}"
    export RTS_STRESS_THREADS="${RTS_STRESS_THREADS:-10000}"
fi
echo "== stress: calls per policy set ${RTS_STRESS_CALLS:-60000 (test default)}, short-lived threads ${RTS_STRESS_THREADS:-2000 (test default)}"
start=$(date +%s)
cargo test "${profile[@]}" -p rts-core --test stress -- --test-threads=1 --nocapture "$@" 2>&1 \
    | grep -v ': c_function: interrupted$'
echo "== stress: passed in $(( $(date +%s) - start )) s (including the build)"
