#!/usr/bin/env bash
# The main job: benches + report. Installs prerequisites, builds the real-GHC baseline, runs the
# call-in matrix (rts-core default, rts-core ghc mode, real GHC), the phase profiler, the topology
# and NUMA experiments and criterion's bench groups, then renders the HTML report and prints its
# path. `--quick` (about 2 minutes of measuring on a 2-core machine, after the build) measures
# fewer repetitions and runs criterion in its quick mode.
#
# Usage: scripts/bench.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
criterion_args=(--warm-up-time 1 --measurement-time 3)
case "${1:-}" in
    "") ;;
    --quick) quick=(--quick); criterion_args=(--quick --warm-up-time 0.5 --measurement-time 1) ;;
    *) echo "usage: scripts/bench.sh [--quick]  (unknown argument: $1)" >&2; exit 64 ;;
esac

tgt=${CARGO_TARGET_DIR:-target}
results=target/callin-bench
mkdir -p "$results"

step() { echo; echo "== bench: $*"; }

step "prerequisites (scripts/setup.sh)"
bash scripts/setup.sh

step "real GHC baseline library (scripts/build-ghc-baseline.sh)"
if command -v ghc >/dev/null; then
    bash scripts/build-ghc-baseline.sh
else
    echo "skipped: ghc is not installed and could not be installed; real-GHC cells will say so"
fi

step "building callin-bench (release) and its probes build (release, --features probes)"
cargo build -q --release --bin callin-bench
CARGO_TARGET_DIR="$tgt/probes" cargo build -q --release --features probes --bin callin-bench
bin="$tgt/release/callin-bench"
probes_bin="$tgt/probes/release/callin-bench"

step "call-in matrix: callin-bench run ${quick[*]} (rts-core default, rts-core ghc mode, real GHC)"
"$bin" run "${quick[@]}" --out "$results/run.json"

step "phase profile: callin-bench profile (in-situ probes, isolated phases + counters, callgrind)"
profile_args=(--threads 1,2 --caps 1,2 --json "$results/profile.json")
if command -v valgrind >/dev/null; then
    profile_args+=(--callgrind)
else
    echo "callgrind instruction counts skipped: valgrind is not installed"
fi
[ ${#quick[@]} -eq 0 ] || profile_args+=(--calls 20000 --iters 10000 --callgrind-ops 2000)
"$probes_bin" profile "${profile_args[@]}"

step "topology and NUMA placement: callin-bench topology / numa"
"$bin" topology --json "$results/topology.json"
numa_args=(--json "$results/numa.json")
[ ${#quick[@]} -eq 0 ] || numa_args+=(--calls 20000 --reps 3)
"$bin" numa "${numa_args[@]}"

step "criterion bench groups (cargo bench ${criterion_args[*]})"
if [ ${#quick[@]} -eq 0 ]; then
    cargo bench -q -- "${criterion_args[@]}" | tee target/callin-bench-criterion.txt
else
    echo "quick mode: only the callin and floor groups (the full run adds phases, ablation, selection, numa)"
    cargo bench -q --bench callin --bench floor -- "${criterion_args[@]}" | tee target/callin-bench-criterion.txt
fi

step "HTML report: callin-bench report"
report=$("$bin" report --results "$results" --criterion "$tgt/criterion" --out target/reports)
echo
echo "report: $report"
