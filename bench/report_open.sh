#!/usr/bin/env bash
# Times the main job's report in headless Chromium (bench/report_open.mjs): the page opening on
# its summary, and each document opening with all its figures. Run the main job first.
#
#   bench/report_open.sh [REPORT_INDEX_HTML] [ROUNDS]    (default out/report/index.html, 5)
set -euo pipefail
cd "$(dirname "$0")/.."
report=${1:-out/report/index.html}
[ -f "$report" ] || { echo "report_open.sh: $report: no report (run scripts/main.sh first)" >&2; exit 1; }
BERTSCOPE_NODE_MODULES=$PWD/build/release/web/node_modules node bench/report_open.mjs "$report" "${2:-5}"
