#!/usr/bin/env bash
# A second GHC for `callin-bench run --ghc DIR`: a minimal Debian 13 (trixie) root with its GHC
# (9.6.6), gcc, and the shared libraries the harness binary links (libhwloc, libudev), so the
# harness can run that GHC's cells inside the root (its libraries need the root's libc).
#
# Usage: scripts/ghc-root.sh [DIR]     (default: ${CARGO_TARGET_DIR:-target}/ghc-roots/trixie)
#
# Needs root (debootstrap and chroot) and Debian's package archive; installs debootstrap with
# apt-get when it is missing. Idempotent: a finished root (DIR/.callin-bench-ghc-root) is reused
# as it is, so a second call costs nothing. On success prints the line to use:
#   callin-bench run --ghc DIR ...
# Exit 77 (with a line saying SKIP) when it cannot run here (not root, no apt-get).
set -euo pipefail
cd "$(dirname "$0")/.."

suite=trixie
dir=${1:-${CARGO_TARGET_DIR:-target}/ghc-roots/$suite}
marker="$dir/.callin-bench-ghc-root"
# What the harness binary (target/release/callin-bench) links besides libc: hwlocality's
# libhwloc and its libudev. ghc and gcc: the compiler and the C toolchain it calls.
packages=(ghc gcc libhwloc15 libudev1)

if [ -f "$marker" ] && [ -x "$dir/usr/bin/ghc" ]; then
    echo "ghc-root: cached: $dir ($(cat "$marker"))"
    echo "callin-bench run --ghc $dir"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "ghc-root: SKIP: building a $suite root needs root (debootstrap, chroot)"
    exit 77
fi
if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || { echo "ghc-root: SKIP: no debootstrap and no apt-get to install it"; exit 77; }
    echo "ghc-root: installing debootstrap"
    apt-get install -y debootstrap || { apt-get update -qq && apt-get install -y debootstrap; }
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
marker="$dir/.callin-bench-ghc-root"
start=$(date +%s)
if [ ! -x "$dir/usr/bin/apt-get" ]; then
    echo "ghc-root: debootstrap --variant=minbase $suite $dir"
    debootstrap --variant=minbase "$suite" "$dir"
fi

# apt-get inside the root, with /proc and /dev of its own mount namespace (gone when it exits).
in_root() {
    unshare --mount --fork -- sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        exec chroot "$root" "$@"' sh "$dir" "$@"
}
echo "ghc-root: apt-get install ${packages[*]} inside $dir"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
ver=$(in_root /usr/bin/ghc --numeric-version)
echo "suite=$suite ghc=$ver" >"$marker"
echo "ghc-root: GHC $ver ready in $dir after $(($(date +%s) - start)) s"
echo "callin-bench run --ghc $dir"
