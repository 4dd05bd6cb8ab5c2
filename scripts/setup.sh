#!/usr/bin/env bash
# Install what callin-bench needs on a fresh Debian machine (idempotent; prints what it does).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in build-essential pkg-config binutils libhwloc-dev libudev-dev valgrind ghc; do
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        echo "setup: $pkg already installed"
    else
        need+=("$pkg")
    fi
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing ${need[*]} and not root: install them with apt-get, or tests that need them print SKIP" >&2
    else
        echo "setup: installing ${need[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi
command -v cargo >/dev/null || { echo "setup: cargo is required (rustup, Rust 1.95)" >&2; exit 1; }
