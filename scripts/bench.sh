#!/usr/bin/env bash
# The main job: benches + report. Installs prerequisites, builds the real-GHC baseline, runs the
# call-in matrix (rts-core default, rts-core ghc mode, real GHC), the phase profiler, the topology
# and NUMA experiments and every criterion bench group, then renders the HTML report and prints
# its path.
#
# Usage: scripts/bench.sh [--quick | --smoke]
#   (none)    the full job: about 12 minutes of measuring on a 2-core machine after the build
#   --quick   the same steps with fewer repetitions and criterion's quick mode (about 4 minutes)
#   --smoke   the same steps at the smallest sizes that still run every code path (each criterion
#             bench sampled once at its minimum); scripts/test.sh runs it so a broken main job
#             cannot land. Its figures mean nothing; it writes under <target>/smoke/ only.
#
# Every step prints `[k/N] name` when it starts and its time when it ends; a failed step is named
# with its command, its output is kept in <results>/logs/<step>.log, and the job goes on: the
# report is rendered from what exists (a missing part says "not measured: <step> failed: <error>",
# read from <results>/steps.tsv) and the job exits 1. A step whose tool is missing (ghc, valgrind)
# is skipped with the reason. Everything is written under ${CARGO_TARGET_DIR:-target}.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/bench.sh [--quick | --smoke]" >&2; }
mode=full
case "${1:-}" in
    "") ;;
    --quick) mode=quick ;;
    --smoke) mode=smoke ;;
    -h | --help) usage; exit 0 ;;
    *) usage; echo "scripts/bench.sh: unknown argument: $1" >&2; exit 64 ;;
esac
[ $# -le 1 ] || { usage; echo "scripts/bench.sh: one argument at most, got: $*" >&2; exit 64; }

tgt=${CARGO_TARGET_DIR:-target}
results="$tgt/callin-bench"
reports="$tgt/reports"
criterion_dir="${CRITERION_HOME:-$tgt/criterion}"
if [ $mode = smoke ]; then
    # A smoke run's figures mean nothing: keep them apart, so they never replace a real run's
    # results or become the "previous run" criterion compares the next real run with.
    results="$tgt/smoke/callin-bench"
    reports="$tgt/smoke/reports"
    criterion_dir="$tgt/smoke/criterion"
fi
export CRITERION_HOME="$criterion_dir"
logs="$results/logs"
steps_file="$results/steps.tsv"
mkdir -p "$results" "$logs"

# The bench groups are the [[bench]] targets of Cargo.toml (autobenches is off, so that list is
# exactly what `cargo bench` can run); the README and the report name the same list.
mapfile -t groups < <(awk '/^\[\[bench\]\]/ { b = 1; next }
    b && /^name *=/ { gsub(/^name *= *"|".*$/, ""); print; b = 0 }' Cargo.toml)
[ ${#groups[@]} -gt 0 ] || { echo "scripts/bench.sh: no [[bench]] targets in Cargo.toml" >&2; exit 1; }
group_args=()
for g in "${groups[@]}"; do group_args+=(--bench "$g"); done

# Sizes per mode. Full: chosen so the whole job measures for at most 15 minutes after the build on
# 2 cores (the step table at the end shows where the time goes).
case $mode in
    full)
        run_args=()
        profile_args=()
        numa_args=()
        criterion_args=(--warm-up-time 0.5 --measurement-time 1.5 --sample-size 30)
        ;;
    quick)
        run_args=(--quick)
        profile_args=(--calls 20000 --iters 10000 --callgrind-ops 2000 --sample-ms 500)
        numa_args=(--calls 20000 --reps 3)
        criterion_args=(--quick --warm-up-time 0.3 --measurement-time 0.5)
        ;;
    smoke)
        # 6 rounds: the fewest that give a 95 % interval, so smoke runs every path of the
        # paired-round statistics; 10 ms per system per round.
        run_args=(--rounds 6 --round-ms 10)
        profile_args=(--calls 2000 --iters 10000 --callgrind-ops 200 --sample-ms 100)
        numa_args=(--calls 2000 --reps 1)
        criterion_args=(--warm-up-time 0.001 --measurement-time 0.001 --sample-size 10
            --nresamples 1000 --noplot)
        ;;
esac

bin="$tgt/release/callin-bench"
probes_bin="$tgt/release/callin-bench-probes"
total_steps=$((7 + ${#groups[@]} + 1))
step_no=0
failed=0
printf 'step\tstatus\tseconds\tproduces\tcommand\tdetail\n' >"$steps_file"

# record NAME STATUS SECONDS PRODUCES COMMAND DETAIL: one row of steps.tsv (tabs and newlines in
# the text fields become spaces).
record() {
    local clean=() f
    for f in "$@"; do clean+=("$(printf '%s' "$f" | tr '\t\n' '  ')"); done
    (IFS=$'\t'; printf '%s\n' "${clean[*]}") >>"$steps_file"
}

# The line of a failed step's log that says what went wrong: the last one that looks like an
# error, else its last non-empty line.
error_line() {
    local line
    line=$(grep -E -i 'error|panicked|failed|cannot|not found' "$1" | tail -n 1 || true)
    [ -n "$line" ] || line=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1 || true)
    printf '%s' "${line:-exited non-zero with no output}"
}

# step NAME PRODUCES -- COMMAND...: run one step. PRODUCES names the results it writes (removed
# first, so a failed step never leaves an old file behind to be reported as new).
step() {
    local name=$1 produces=$2
    shift 3
    step_no=$((step_no + 1))
    local log="$logs/${name//[^A-Za-z0-9_-]/_}.log" start status=ok detail="" f
    for f in $produces; do rm -rf "${results:?}/$f"; done
    echo
    echo "[$step_no/$total_steps] $name: $*"
    start=$(date +%s.%N)
    set +e
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" = 77 ]; then
        status=skipped
        detail=$(grep -E 'SKIP|skipped' "$log" | tail -n 1)
    elif [ "$rc" != 0 ]; then
        status=failed
        detail=$(error_line "$log")
        failed=$((failed + 1))
    fi
    local secs
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ $status = ok ]; then
        echo "[$step_no/$total_steps] $name: done in $secs s"
    elif [ $status = skipped ]; then
        echo "[$step_no/$total_steps] $name: skipped after $secs s: $detail"
    else
        echo "[$step_no/$total_steps] $name: FAILED after $secs s: $* (log: $log): $detail" >&2
    fi
    record "$name" "$status" "$secs" "$produces" "$*" "$detail"
}

# skip NAME PRODUCES REASON: a step that cannot run here, said so.
skip() {
    step_no=$((step_no + 1))
    local f
    for f in $2; do rm -rf "${results:?}/$f"; done
    echo
    echo "[$step_no/$total_steps] $1: skipped: $3"
    record "$1" skipped 0.0 "$2" "" "$3"
}

# Steps run with `set -e` off (step checks their status): functions chain with &&. Exit status 77
# means "skipped here" (automake's convention), with the reason on a line saying SKIP.
# The bench binaries are built here too, so each criterion step measures instead of compiling.
# The probes build is the same binary with the `probes` feature; built first and copied aside so
# both share one target directory (one build of every dependency).
build() {
    cargo build -q --release --features probes --bin callin-bench &&
        cp "$bin" "$probes_bin" &&
        cargo build -q --release --bin callin-bench &&
        cargo bench -q --no-run "${group_args[@]}"
}

# The three systems side by side at 1x1, 2x1 (oversubscribed) and 2x2; the children that sample
# rts-core run the binary built without probes, so nothing is on the sampled path. Budget (full
# job, this 2-core machine): 3.5 minutes for the whole step.
profile() {
    local args=(--systems default,ghc-mode,real-ghc --cells 1x1,2x1,2x2 --unprobed-exe "$bin"
        --json "$results/profile.json" "${profile_args[@]}")
    if command -v valgrind >/dev/null; then
        args+=(--callgrind)
    else
        echo "profile: callgrind instruction counts not measured: valgrind is not installed"
    fi
    "$probes_bin" profile "${args[@]}"
}

job_start=$(date +%s)
echo "== bench.sh: $mode job, ${#groups[@]} criterion groups (${groups[*]}), results in $results"

# The baseline script exits 77 with a SKIP line when it cannot build here (no ghc, no shared RTS).
ghc_baseline() {
    CALLIN_BENCH="$bin" bash scripts/build-ghc-baseline.sh
}

step prerequisites "" -- bash scripts/setup.sh
step build "" -- build
if command -v ghc >/dev/null || [ "$(id -u)" = 0 ]; then
    step ghc-baseline "" -- ghc_baseline
else
    skip ghc-baseline "" "ghc is not installed and cannot be installed here (not root); real-GHC cells will say so"
fi

if [ -x "$bin" ] && [ -x "$probes_bin" ]; then
    step matrix run.json -- "$bin" run "${run_args[@]}" --out "$results/run.json"
    step profile profile.json -- profile
    step topology topology.json -- "$bin" topology --json "$results/topology.json"
    step numa numa.json -- "$bin" numa "${numa_args[@]}" --json "$results/numa.json"
else
    for s in "matrix run.json" "profile profile.json" "topology topology.json" "numa numa.json"; do
        set -- $s
        skip "$1" "$2" "the build step failed"
    done
fi
for g in "${groups[@]}"; do
    step "criterion $g" "" -- cargo bench -q --bench "$g" -- "${criterion_args[@]}"
done

report=""
step_no=$((step_no + 1))
echo
echo "[$step_no/$total_steps] report: $bin report --results $results --criterion $criterion_dir --out $reports"
if [ -x "$bin" ] && report=$("$bin" report --results "$results" --criterion "$criterion_dir" --out "$reports"); then
    echo "[$step_no/$total_steps] report: done"
else
    report=""
    failed=$((failed + 1))
    echo "[$step_no/$total_steps] report: FAILED (no report written)" >&2
fi

echo
echo "== bench.sh: step times ($mode job)"
awk -F'\t' 'NR == 1 { next } { printf "  %-24s %-8s %8s s%s\n", $1, $2, $3, ($6 == "" ? "" : "  " $6) }' "$steps_file"
printf '  %-24s %-8s %8s s\n' "total" "" "$(($(date +%s) - job_start))"
echo
if [ -n "$report" ]; then
    echo "report: $report"
fi
if [ $failed -gt 0 ]; then
    echo "bench.sh: $failed step(s) failed; see the table above and $logs/" >&2
    exit 1
fi
