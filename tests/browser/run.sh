#!/usr/bin/env bash
# The browser tests: static/maintenance.html and the admin stats page in headless Chromium
# (/usr/bin/chromium), driven by Node's test runner and playwright-core against the haven binary
# given as $1.
#
#   tests/browser/run.sh path/to/haven
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 path/to/haven" >&2
  exit 2
fi
haven_bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
cd "$(dirname "$0")"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "browser: $tool is missing (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "browser: ${CHROMIUM:-/usr/bin/chromium} is missing (Debian: apt-get install chromium)" >&2
  exit 1
fi

# playwright-core only drives the system Chromium: never let it download a browser.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [[ ! -d node_modules/playwright-core ]]; then
  npm ci --no-audit --no-fund
fi

HAVEN_BIN="$haven_bin" exec node --test maintenance.test.mjs stats.test.mjs
