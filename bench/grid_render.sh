#!/usr/bin/env bash
# The viewer's all-heads grid of a 512-token input on a bert-base-sized model (144 maps of
# 512 x 512) must render in headless Chromium in under 2 s: runs the browser test
# tests/browser/grid_perf.test.mjs with its time limits enforced and prints the timings.
#
#   bench/grid_render.sh [BUILD_DIR]     (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build/release}")
[ -x "$build/bertscope" ] || scripts/build.sh release
BERTSCOPE_PERF_LIMITS=1 BERTSCOPE_CLI=$build/bertscope BERTSCOPE_NODE_MODULES=$build/web/node_modules \
  BERTSCOPE_TEST_DATA=$PWD/tests/data BERTSCOPE_SCREENSHOTS=$build/browser-screenshots \
  node tests/browser/grid_perf.test.mjs
