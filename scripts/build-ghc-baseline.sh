#!/usr/bin/env bash
# Builds the real-GHC baseline: ghc/Fun.hs + ghc/Export.hs into a shared library linked against
# GHC's threaded RTS, for src/ghc to load with dlopen. Also checks GHC's RtsConfig layout.
#
# Output (all under ${CARGO_TARGET_DIR:-target}/ghc-baseline/):
#   libcallin_ghc.so   the library (exports c_function; needs libHSrts_thr-ghc<ver>.so via rpath)
#   STATUS             key=value lines the harness reads: status=ok|skip, reason= (skip only),
#                      library=, ghc_version=, rts_library=, rtsconfig_size=, rtsconfig_offset_*=
#   build/             ghc's object and interface files
#
# Missing ghc: installs it with apt-get when running as root, otherwise writes status=skip with
# the reason, prints "ghc-baseline: SKIP: <reason>" and exits 0. A failing build exits non-zero.
#
# RTS options are not baked in: `-rtsopts` has no effect with -shared (ghc says so), so the
# harness starts the RTS with hs_init_ghc and rts_opts_enabled = RtsOptsAll instead.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${CARGO_TARGET_DIR:-target}/ghc-baseline
mkdir -p "$out/build"
out=$(cd "$out" && pwd)
status="$out/STATUS"
lib="$out/libcallin_ghc.so"

# One build at a time (tests may call this from several processes).
exec 9>"$out/.lock"
command -v flock >/dev/null && flock 9

skip() {
    printf 'status=skip\nreason=%s\n' "$1" >"$status.tmp"
    mv "$status.tmp" "$status"
    echo "ghc-baseline: SKIP: $1"
    exit 0
}

if ! command -v ghc >/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "ghc-baseline: ghc missing, installing with apt-get"
        apt-get install -y ghc || { apt-get update && apt-get install -y ghc; } ||
            skip "ghc is not installed and 'apt-get install -y ghc' failed"
    else
        skip "ghc is not installed and cannot be installed here (needs root and apt-get)"
    fi
fi

ver="$(ghc --numeric-version)"
libdir="$(ghc --print-libdir)"
rts_so="$(find "$libdir" -maxdepth 3 -name "libHSrts_thr-ghc${ver}.so" -print -quit)"
[[ -n "$rts_so" ]] || skip "ghc $ver has no shared threaded RTS (libHSrts_thr-ghc${ver}.so) under $libdir"
rts_dir="$(dirname "$rts_so")"
rtsapi_h="$(find "$libdir" -maxdepth 3 -name RtsAPI.h -print -quit)"
[[ -n "$rtsapi_h" ]] || skip "ghc $ver installs no RtsAPI.h under $libdir"
cc="${CC:-cc}"
command -v "$cc" >/dev/null || skip "no C compiler ($cc) to check GHC's RtsConfig layout"

echo "ghc-baseline: ghc $ver, RTS $rts_so"
ghc -O2 -dynamic -shared -fPIC -threaded \
    -outputdir "$out/build" -o "$out/build/libcallin_ghc.so" \
    ghc/Fun.hs ghc/Export.hs \
    -L"$rts_dir" -lHSrts_thr-ghc"$ver" -optl-Wl,-rpath,"$rts_dir"
mv "$out/build/libcallin_ghc.so" "$lib"
nm -D --defined-only "$lib" | grep -qw c_function || {
    echo "ghc-baseline: error: $lib does not export c_function" >&2
    exit 1
}

"$cc" -I"$(dirname "$rtsapi_h")" ghc/rtsconfig_layout.c -o "$out/rtsconfig_layout"
{
    echo "status=ok"
    echo "library=$lib"
    echo "ghc_version=$ver"
    echo "rts_library=$rts_so"
    "$out/rtsconfig_layout"
} >"$status.tmp"
mv "$status.tmp" "$status"
echo "ghc-baseline: OK: $lib"
