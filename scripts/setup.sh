#!/usr/bin/env bash
# Install what callin-bench needs on a fresh Debian/Ubuntu machine, only what is missing.
# Idempotent; prints what it installs or skips. Used by scripts/bench.sh and scripts/test.sh.
#   build-essential  cc for the C stub (rts-core/build.rs) and the C tests
#   pkg-config libhwloc-dev libudev-dev  the hwloc topology support
#   binutils         objdump for the stub's call-order test
#   valgrind         instruction counts per phase (callgrind)
#   ghc              GHC's own generated stub in the tests, and the GHC baseline
#   chromium         headless screenshot of the HTML report (reports/tests/screenshot.rs)
# As root it also mounts tracefs at /sys/kernel/tracing when it is not mounted: the profile's
# futex-calls-per-call counter opens the syscalls:sys_enter_futex tracepoint by its id there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential pkg-config libhwloc-dev libudev-dev binutils valgrind ghc chromium)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

install_missing_packages() {
    if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
        echo "setup: no apt-get/dpkg here; install by hand: ${packages[*]} (tests that need a missing tool fail or skip naming it)" >&2
        return
    fi
    local need=() pkg
    for pkg in "${packages[@]}"; do
        if installed "$pkg"; then
            echo "setup: $pkg already installed, skipping"
        else
            need+=("$pkg")
        fi
    done
    if [ ${#need[@]} -eq 0 ]; then
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing ${need[*]} and not root: install them with apt-get (tests that need them fail or skip naming them)" >&2
        return
    fi
    echo "setup: installing ${need[*]} (apt-get update, then apt-get install)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    echo "setup: installed ${need[*]}"
}

check_rust() {
    if ! command -v cargo >/dev/null; then
        echo "setup: cargo not found: install Rust 1.95 with rustup (https://rustup.rs)" >&2
        exit 1
    fi
    echo "setup: $(cargo --version)"
    local comp
    for comp in rustfmt clippy; do
        if cargo "${comp/rustfmt/fmt}" --version >/dev/null 2>&1; then
            echo "setup: $comp present, skipping"
        elif command -v rustup >/dev/null; then
            echo "setup: installing the $comp component (rustup component add $comp)"
            rustup component add "$comp"
        else
            echo "setup: $comp missing and no rustup to add it" >&2
            exit 1
        fi
    done
}

mount_tracefs() {
    if [ -e /sys/kernel/tracing/events ]; then
        echo "setup: tracefs mounted, skipping"
    elif [ "$(id -u)" -ne 0 ]; then
        echo "setup: tracefs not mounted and not root: futex calls per call will say unavailable" >&2
    elif mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
        echo "setup: mounted tracefs at /sys/kernel/tracing"
    else
        echo "setup: could not mount tracefs: futex calls per call will say unavailable" >&2
    fi
}

install_missing_packages
mount_tracefs
check_rust
