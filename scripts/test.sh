#!/usr/bin/env bash
# The test command: install prerequisites, then formatting, lints, every test, the stats and
# probes builds' tests, the main job at its smallest (scripts/bench.sh --smoke: every step and
# every criterion bench, with its report checked), the loom models and a sized-down stress.
# Stops at the first failure. The harness's tests require the tools setup.sh installs (ghc,
# binutils, valgrind, chromium) and fail naming a missing one; a test named `*_or_skip` checks
# what setup cannot change (perf events usable here) and prints "SKIP: <test>: <reason>" on
# stderr, which cargo test shows even for a passing test.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test: checking prerequisites (scripts/setup.sh)"
bash scripts/setup.sh
echo "== test: cargo fmt --check (formatting)"
cargo fmt --all -- --check
echo "== test: cargo clippy --workspace --all-targets -- -D warnings (lints, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
echo "== test: cargo test --workspace (unit, integration, C stub and GHC-stub tests, doctests)"
cargo test --workspace
echo "== test: cargo test -p rts-core --features stats (counters; the ghc policy set against GHC's figures)"
cargo test -p rts-core --features stats
echo "== test: cargo clippy --workspace --all-targets --features callin-bench/probes -- -D warnings (the probes build)"
cargo clippy --workspace --all-targets --features callin-bench/probes -- -D warnings
echo "== test: cargo test -p rts-core -p callin-bench --features callin-bench/probes (phase probes + the profiler on them)"
cargo test -p rts-core -p callin-bench --features callin-bench/probes
echo "== test: scripts/bench.sh --smoke (every step of the main job at its smallest size; its report must have every section and every bench group)"
smoke_log="${CARGO_TARGET_DIR:-target}/smoke/bench.log"
mkdir -p "$(dirname "$smoke_log")"
bash scripts/bench.sh --smoke >"$smoke_log" 2>&1 || { tail -n 40 "$smoke_log"; echo "== test: scripts/bench.sh --smoke failed (full log: $smoke_log)" >&2; exit 1; }
sed -n '/^== bench.sh: step times/,$p' "$smoke_log"
smoke_report=$(grep -E '^report: .*index\.html$' "$smoke_log" | tail -n 1 | sed 's/^report: //')
CALLIN_SMOKE_REPORT="$smoke_report" CALLIN_SMOKE_RESULTS="${CARGO_TARGET_DIR:-target}/smoke/callin-bench" \
    cargo test -q --test main_job -- --ignored
bash scripts/loom.sh   # loom models, LOOM_MAX_PREEMPTIONS=2 (own target dir; ~15 s + first build)
bash scripts/stress.sh --ci   # stress sized down (full size: scripts/stress.sh)
echo "== test: all passed"
