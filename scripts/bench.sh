#!/usr/bin/env bash
# The main job: install prerequisites, build, run the c_function benchmark (1 and 2 threads,
# lock-free and ghc policy sets) and print ns per call; then, when ghc is installed, the same C
# driver (rts-core/tests/c/callin_driver.c) on rts-core and on the real GHC 9.0.2 RTS.
# Extra arguments go to criterion (e.g. a filter: scripts/bench.sh lockfree).
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

row() {
    local label=$1
    shift
    LC_ALL=C printf '   %-22s %s\n' "$label" "$("$@")"
}

# The same C host on both runtimes: 1 and 2 threads, 2 capabilities, 2M calls per run.
ghc_baseline() {
    local out=target/callin-driver drv=rts-core/tests/c/callin_driver.c calls=2000000 t
    echo
    if ! command -v ghc >/dev/null; then
        echo "== GHC baseline: skipped, ghc is not installed (apt-get install -y ghc)"
        return
    fi
    echo "== GHC baseline: $drv on rts-core (release librts_core.a) and on GHC $(ghc --numeric-version) -threaded -O2"
    mkdir -p "$out"
    cargo build -q --release -p rts-core --lib
    # Link flags: what rustc --print native-static-libs lists for a staticlib on linux-gnu.
    cc -O2 -pthread -I rts-core/include "$drv" target/release/librts_core.a \
        -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$out/callin_rts_core"
    ghc -v0 -O2 -threaded -no-hs-main -outputdir "$out" -o "$out/callin_ghc" \
        rts-core/tests/c/ghc/Fun.hs rts-core/tests/c/ghc/Export.hs "$drv"
    for t in 1 2; do
        row "rts-core lockfree" "$out/callin_rts_core" "$t" "$calls" +RTS -N2 -RTS
        row "rts-core ghc policy" "$out/callin_rts_core" "$t" "$calls" +RTS -N2 --policy=ghc -RTS
        row "GHC $(ghc --numeric-version) RTS" "$out/callin_ghc" "$t" "$calls" +RTS -N2 -RTS
    done
    echo "   (one run each, aggregate wall time / calls; binaries in $out/)"
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

ghc_baseline
