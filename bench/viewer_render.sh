#!/usr/bin/env bash
# The live viewer's limits on a 512-token input to a bert-base-sized model (12 x 12 heads): the
# all-heads grid renders in headless Chromium in under 1 s, the line view of all 12 heads in
# under 0.5 s. Runs the browser test tests/browser/grid_perf.test.mjs with these limits enforced
# and prints the timings (the neuron view's and the end-to-end run's too).
#
#   bench/viewer_render.sh [BUILD_DIR]     (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build/release}")
[ -x "$build/bertscope" ] || scripts/build.sh release
BERTSCOPE_PERF_LIMITS=1 BERTSCOPE_CLI=$build/bertscope BERTSCOPE_NODE_MODULES=$build/web/node_modules \
  BERTSCOPE_TEST_DATA=$PWD/tests/data BERTSCOPE_SCREENSHOTS=$build/browser-screenshots \
  node tests/browser/grid_perf.test.mjs
