#!/usr/bin/env bash
# Regenerates the figures the README and docs/viewer.md show (docs/figures/*.svg) from the main
# job's results: the papers' figures on the shipped models, drawn by `bertscope figure` exactly as
# the report draws them. Run the main job first (scripts/main.sh, or scripts/run_suite.sh).
#
#   scripts/readme_figures.sh [RESULTS_DIR] [OUT_DIR]
# RESULTS_DIR defaults to out/results, OUT_DIR to docs/figures.
set -euo pipefail
cd "$(dirname "$0")/.."
results=${1:-out/results}
dest=${2:-docs/figures}
bin=${BERTSCOPE:-build/release/bertscope}
[ -d "$results" ] || { echo "readme_figures.sh: $results: no results (run scripts/main.sh first)" >&2; exit 1; }
mkdir -p "$dest"
# document view [settings...]: one SVG named after the view.
draw() {
  local doc=$1 view=$2; shift 2
  [ -f "$results/$doc" ] || { echo "readme_figures.sh: $results/$doc missing, $view skipped" >&2; return 0; }
  local sets=()
  for s in "$@"; do sets+=(--set "$s"); done
  "$bin" figure --results "$results/$doc" --view "$view" "${sets[@]}" --format svg --out "$dest/$view.svg" > /dev/null
  echo "$dest/$view.svg"
}
# All heads on one sentence (the viewer's grid; its thumbnails are the attention maps themselves)
draw trace_keys.npz grid
# Clark et al. (2019): Fig. 2 (special tokens per layer), Fig. 4 (entropy), Fig. 3 (gradients), Fig. 6 (MDS)
draw surface.json surface.special_tokens width=640
draw surface.json surface.entropy width=640
draw gradsep.json gradsep.layers width=640
draw cluster.json cluster.mds width=560
# Kovaleva et al. (2019): pattern types (Fig. 2), head disabling (Fig. 8)
draw patterns.json patterns.share width=640
draw ablate.json ablate.heads width=560
# Lu et al. (2021): one example's influence patterns
draw influence.json influence.patterns width=720
# Token attributions, rollout beside raw attention
draw saliency.json saliency.tokens width=720
draw rollout.json rollout.tokens width=720
# Training dynamics of bertscope-mini
draw track.json track.positional width=560
draw track.json track.sep width=560
draw track.json track.agreement width=560
