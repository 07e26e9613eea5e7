#!/usr/bin/env bash
# The main job: installs what is missing, builds bertscope, and runs every analysis on the
# shipped models (models/bertscope-mini, models/bertscope-mini-sst2) and data samples (data/),
# writing the result documents to out/results/, the report to out/report/index.html, and
# printing a summary of the findings. scripts/run_suite.sh --help-style options pass through
# (e.g. --model DIR --classifier DIR for your own checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
exec scripts/run_suite.sh "$@"
