#!/usr/bin/env bash
# The test command: install prerequisites, then formatting, lints, every test, the stats tests
# and one pass over the benches. Stops at the first failure. Tests that need a missing tool
# (ghc, objdump, cc) print "SKIP: ..." and pass.
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
echo "== test: cargo bench --bench callin -- --test (every bench runs once, no timing)"
cargo bench --bench callin -- --test
bash scripts/loom.sh   # loom models, LOOM_MAX_PREEMPTIONS=2 (own target dir; ~15 s + first build)
bash scripts/stress.sh --ci   # stress sized down (full size: scripts/stress.sh)
echo "== test: all passed"
