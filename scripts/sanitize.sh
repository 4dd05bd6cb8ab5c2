#!/usr/bin/env bash
# Memory checking of the C-facing paths: the C driver (rts-core/tests/c/callin_driver.c, 2
# threads calling the compiled c_function stub) and the C API surface program
# (rts-core/tests/c/api.c: every header function, nested call-ins to depth 64,
# setNumCapabilities, hs_thread_done), both linked against librts_core.a, run
#   1. under valgrind memcheck (checks the Rust code too: every load/store, every free), and
#   2. built with -fsanitize=address (stable Rust: only the C side is instrumented, but ASan's
#      allocator also checks every malloc/free the Rust side makes).
# A definite leak or any memory error fails the run. The RTS instance and the task registry
# segments are deliberately never freed (rts.rs, task.rs), so they show as "still reachable".
# Either tool missing: that step prints SKIP with the reason.
# Output: target/sanitize/ (logs, binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

tgt="${CARGO_TARGET_DIR:-target}"
out=target/sanitize
mkdir -p "$out"

echo "== sanitize: cargo build --release -p rts-core --lib (librts_core.a)"
cargo build --release -q -p rts-core --lib
lib="$tgt/release/librts_core.a"
native=$(rustc --crate-type staticlib --crate-name probe --print native-static-libs \
    -o "$out/libprobe.a" - </dev/null 2>&1 | sed -n 's/.*native-static-libs: //p')

build() { # build NAME SOURCE [extra cc flags...]
    local name=$1 src=$2
    shift 2
    cc -std=gnu11 -g -O1 -Wall -Wextra -Werror -pthread "$@" -I rts-core/include \
        "$src" "$lib" $native -o "$out/$name"
}

status=0
run_valgrind() { # run_valgrind NAME ARGS...
    local name=$1
    shift
    echo "== sanitize: valgrind memcheck $name $*"
    if valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite --log-file="$out/$name.valgrind.log" \
        "$out/$name" "$@" >"$out/$name.valgrind.out" 2>&1; then
        grep -E "ERROR SUMMARY|definitely lost|still reachable" "$out/$name.valgrind.log" | sed 's/^==[0-9]*== /   /'
    else
        echo "FAILED ($out/$name.valgrind.log):"
        grep -E "Invalid|uninitialised|definitely|ERROR SUMMARY" "$out/$name.valgrind.log" | head -20
        status=1
    fi
}

run_asan() { # run_asan NAME ARGS...
    local name=$1
    shift
    echo "== sanitize: AddressSanitizer $name $*"
    if ASAN_OPTIONS=detect_leaks=1 "$out/$name" "$@" >"$out/$name.asan.out" 2>&1; then
        echo "   no AddressSanitizer report; output: $(head -c 200 "$out/$name.asan.out" | tr '\n' ' ')"
    else
        echo "FAILED ($out/$name.asan.out):"
        head -30 "$out/$name.asan.out"
        status=1
    fi
}

build callin_driver rts-core/tests/c/callin_driver.c
build api rts-core/tests/c/api.c
if command -v valgrind >/dev/null; then
    run_valgrind callin_driver 2 2000 +RTS -N2 -RTS
    run_valgrind api surface +RTS -N2 -A64k -RTS
else
    echo "SKIP: valgrind not installed (apt-get install -y valgrind)"
fi

if build callin_driver_asan rts-core/tests/c/callin_driver.c -fsanitize=address 2>"$out/asan-build.log" \
    && build api_asan rts-core/tests/c/api.c -fsanitize=address 2>>"$out/asan-build.log"; then
    run_asan callin_driver_asan 2 20000 +RTS -N2 -RTS
    run_asan api_asan surface +RTS -N2 -A64k -RTS
else
    echo "SKIP: cc -fsanitize=address failed to build ($out/asan-build.log)"
fi

if [[ $status -eq 0 ]]; then echo "== sanitize: clean"; else echo "== sanitize: FAILED"; fi
exit $status
