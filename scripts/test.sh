#!/usr/bin/env bash
# The test command: install prerequisites, check formatting and lints, run every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test --workspace"
cargo test --workspace
echo "== cargo test -p rts-core --features stats (the ghc policy set against GHC's figures)"
cargo test -p rts-core --features stats
echo "== cargo bench -- --test (every bench runs once)"
cargo bench --bench callin -- --test
