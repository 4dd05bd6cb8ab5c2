#!/usr/bin/env bash
# The main job: install prerequisites, run the c_function benchmark, print ns per call.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== cargo bench --bench callin (criterion; data under target/criterion)"
cargo bench --bench callin -- --warm-up-time 1 --measurement-time 3 "$@" | tee target/callin-bench.txt
echo
echo "== ns per call (criterion median of aggregate wall time / calls)"
for est in target/criterion/callin_c_function_*/threads/*/new/estimates.json; do
    [ -f "$est" ] || continue
    id=${est#target/criterion/}; id=${id%/new/estimates.json}
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); print(f"{sys.argv[2]:45s} {e[\"median\"][\"point_estimate\"]:8.1f} ns/call")' "$est" "$id"
done
echo "report pages: target/criterion/report/index.html"
