#!/usr/bin/env bash
# Renders a report page in headless Chromium and saves a full-page PNG under target/.
#
# Usage: scripts/screenshot-report.sh PATH/TO/index.html [OUT.png]
#   OUT.png defaults to target/screenshots/<report dir name>.png; it must be under target/.
# Needs Debian's `chromium` (apt-get install -y chromium); exits 2 with a message when absent.
# The page is opened from disk with networking features off, so a page that needs the network
# shows it as broken content in the screenshot.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 PATH/TO/index.html [OUT.png]" >&2
    exit 64
fi
page="$(realpath "$1")"
if [[ ! -f "$page" ]]; then
    echo "error: no such page: $1" >&2
    exit 66
fi
out="${2:-target/screenshots/$(basename "$(dirname "$page")").png}"
mkdir -p "$(dirname "$out")"
out="$(realpath "$out")"
case "$out" in
    "$PWD"/target/*) ;;
    *) echo "error: screenshots go under target/, not $out" >&2; exit 64 ;;
esac

browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
    echo "skip: chromium not installed (apt-get install -y chromium)" >&2
    exit 2
fi

profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
rm -f "$out"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size="${SCREENSHOT_SIZE:-1400,4000}" \
    --screenshot="$out" "file://$page" >"$profile/chromium.log" 2>&1 || {
    echo "error: chromium failed; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
}
if [[ ! -s "$out" ]]; then
    echo "error: chromium wrote no screenshot; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 1
fi
echo "screenshot: $out"
