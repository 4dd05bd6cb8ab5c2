#!/usr/bin/env bash
# The test command: install prerequisites, then formatting, lints, every test, the stats and
# probes builds' tests, one pass over the benches, the loom models and a sized-down stress.
# Stops at the first failure. Tests that need a missing tool (ghc, objdump, cc, valgrind,
# chromium) print "SKIP: ..." (or "skip: ...") with the reason and pass.
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
echo "== test: cargo bench -- --test (every criterion bench in every group runs once, no timing)"
cargo bench -- --test
bash scripts/loom.sh   # loom models, LOOM_MAX_PREEMPTIONS=2 (own target dir; ~15 s + first build)
bash scripts/stress.sh --ci   # stress sized down (full size: scripts/stress.sh)
echo "== test: all passed"
