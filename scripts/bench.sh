#!/usr/bin/env bash
# The main job: install prerequisites, build, run the c_function benchmark (1 and 2 threads,
# lock-free and ghc policy sets) and print ns per call. Extra arguments go to criterion
# (e.g. a filter: scripts/bench.sh lockfree).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== bench: checking prerequisites (scripts/setup.sh)"
bash scripts/setup.sh
mkdir -p target
stamp=target/.callin-bench-start
touch "$stamp"

echo "== bench: building and running cargo bench --bench callin (criterion, a minute or two)"
cargo bench --bench callin -- --warm-up-time 1 --measurement-time 3 "$@" | tee target/callin-bench.txt

# criterion's estimates.json is one line; take the median's point estimate and its 95 % interval.
median() {
    sed -E 's/.*"median":\{"confidence_interval":\{[^}]*"lower_bound":([^,}]+),"upper_bound":([^,}]+)\},"point_estimate":([^,}]+).*/\3 \1 \2/' "$1"
}

echo
echo "== ns per call: all threads' calls / wall time, median over criterion's samples [95 % CI]"
echo "   machine: $(nproc) CPUs, $(uname -m); rts-core with 2 capabilities"
found=0
for est in target/criterion/callin_c_function_*/threads/*/new/estimates.json; do
    [ -f "$est" ] && [ "$est" -nt "$stamp" ] || continue
    id=${est#target/criterion/callin_c_function_}
    id=${id%/new/estimates.json}
    read -r mid lo hi <<<"$(median "$est")"
    LC_ALL=C printf '   c_function %-22s %8.1f ns/call  [%.1f, %.1f]\n' "${id/\/threads\// threads=}" "$mid" "$lo" "$hi"
    found=1
done
if [ "$found" -eq 0 ]; then
    echo "   no callin results written by this run (did the filter match nothing?)" >&2
    exit 1
fi
echo "full criterion output: target/callin-bench.txt; HTML: target/criterion/report/index.html"
