#!/usr/bin/env bash
# Model.run from Python against the C++ API (issue 18: within 3% of its tokens/s), 8 x 128 tokens
# with attention recorded, on a random bert-base (or MODEL): bench/python_run.sh [MODEL] [rounds]
# Alternates the two, ROUNDS times 5 runs each, and prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bertscope
source bench/common.sh
scripts/build.sh release bertscope api_run_bench bertscope_python >/dev/null
model=${1:-build/bench-bert-base}
rounds=${2:-3}
[ -n "${1:-}" ] || ensure_bert_base "$model"
export OMP_WAIT_POLICY=PASSIVE
cpp=() py=()
for _ in $(seq "$rounds"); do
  cpp+=($(build/release/bench/api_run_bench "$model" 8 128 5 attn.probs | sed 's/.*"tokens_per_second": \([0-9.]*\).*/\1/'))
  py+=($(PYTHONPATH=build/release/python /usr/bin/python3 bench/python_run.py "$model" 8 128 5 attn.probs |
         sed 's/.*"tokens_per_second": \([0-9.]*\).*/\1/'))
done
c=$(printf '%s\n' "${cpp[@]}" | median)
p=$(printf '%s\n' "${py[@]}" | median)
awk -v c="$c" -v p="$p" 'BEGIN { printf "C++ API %.1f tokens/s, Python %.1f tokens/s (%+.1f%%)\n", c, p, 100 * (p - c) / c }'
# Reading a whole 512-token attention trace as NumPy: views (no copy) against copies.
PYTHONPATH=build/release/python /usr/bin/python3 bench/python_views.py "$model" 512
# The machine in the same run: its FMA peak and the forward's GEMM ceiling at this shape.
build/release/bertscope bench --model "$model" --batch 8 --seq 128 --json --gemm-ceiling > /tmp/python_run_bench.$$
printf "C++ bench in the same run: %.1f tokens/s, GEMM ceiling %.0f GFLOP/s; " \
  "$(field tokens_per_s < /tmp/python_run_bench.$$)" "$(field gemm_ceiling_gflops < /tmp/python_run_bench.$$)"
peak_line < /tmp/python_run_bench.$$
rm -f /tmp/python_run_bench.$$
