#!/usr/bin/env bash
# Loom models of the call-in path's concurrent parts (rts-core/tests/loom_*.rs): capability
# acquire/release/hand-off (spin-park and ghc policies), a committed waiter moving to another
# capability that frees up (two capabilities), InCall push/pop/spare reuse with a nested
# call-in, the Task registry at thread exit, a nursery reclaim racing a nested call.
#
# LOOM_MAX_PREEMPTIONS=2 is the bound CI runs (default here); LOOM_MAX_PREEMPTIONS=1 is the
# quick smoke setting; 3 and above explore more but grow fast. Built in release mode with debug
# assertions kept (the models need them; loom runs ~10x faster optimised), in its own target
# directory so the `--cfg rts_loom` build never invalidates the normal one.
# Usage: scripts/loom.sh [extra cargo test args, e.g. a test name filter]
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="--cfg rts_loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/loom}"

tests=()
for f in rts-core/tests/loom_*.rs; do
    tests+=(--test "$(basename "$f" .rs)")
done
echo "== loom: $(ls rts-core/tests/loom_*.rs | xargs -n1 basename | tr "\n" " ")(LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, target $CARGO_TARGET_DIR)"
start=$(date +%s)
cargo test --release -p rts-core "${tests[@]}" -- --test-threads=1 "$@"
echo "== loom: all models passed in $(( $(date +%s) - start )) s (including the build)"
