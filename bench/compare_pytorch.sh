#!/usr/bin/env bash
# Speed of bertscope against a well-configured PyTorch on the same machine, same model, same
# inputs, alternating runs so both see the same conditions. Prints tokens/s of each, the ratio,
# and bertscope's share of its GEMM ceiling.
#
#   bench/compare_pytorch.sh [MODEL_DIR] [ROUNDS]
# MODEL_DIR defaults to a random bert-base made with `bertscope make-model` under build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BERTSCOPE:-build/release/bertscope}
model=${1:-build/bench-bert-base}
rounds=${2:-3}
threads=${THREADS:-2}
source bench/common.sh
ensure_bert_base "$model"

for shape in "1 128" "8 128"; do
  set -- $shape
  batch=$1 seq=$2
  : > /tmp/bertscope_bench_ours.$$; : > /tmp/bertscope_bench_torch.$$
  : > /tmp/bertscope_bench_ceiling.$$; : > /tmp/bertscope_bench_fraction.$$; : > /tmp/bertscope_bench_hot.$$
  for r in $(seq "$rounds"); do
    torch_run --model "$model" --batch "$batch" --seq "$seq" | field tokens_per_s >> /tmp/bertscope_bench_torch.$$
    "$bin" bench --model "$model" --batch "$batch" --seq "$seq" --threads "$threads" --json --gemm-ceiling \
      > /tmp/bertscope_bench_last.$$
    field tokens_per_s < /tmp/bertscope_bench_last.$$ >> /tmp/bertscope_bench_ours.$$
    field gemm_ceiling_gflops < /tmp/bertscope_bench_last.$$ >> /tmp/bertscope_bench_ceiling.$$
    field gemm_hot_weight_gflops < /tmp/bertscope_bench_last.$$ >> /tmp/bertscope_bench_hot.$$
    field ceiling_fraction < /tmp/bertscope_bench_last.$$ >> /tmp/bertscope_bench_fraction.$$
  done
  ours=$(median < /tmp/bertscope_bench_ours.$$)
  torch=$(median < /tmp/bertscope_bench_torch.$$)
  # The ceiling and the share are each run's own (forward and ceiling timed in the same process),
  # medians over the rounds like the speeds.
  ceiling=$(median < /tmp/bertscope_bench_ceiling.$$)
  hot=$(median < /tmp/bertscope_bench_hot.$$)
  fraction=$(median < /tmp/bertscope_bench_fraction.$$)
  printf "%sx%s: bertscope %.0f tokens/s, PyTorch %.0f tokens/s, ratio %.2fx; " \
    "$batch" "$seq" "$ours" "$torch" "$(echo "$ours / $torch" | bc -l)"
  printf "GEMM ceiling (the forward's own products alone) %.0f GFLOP/s, forward at %.0f%% of it " \
    "$ceiling" "$(echo "100 * $fraction" | bc -l)"
  printf "(shares %s; one cache-resident weight per shape: %.0f GFLOP/s)\n" \
    "$(sort -g /tmp/bertscope_bench_fraction.$$ | awk '{printf "%s%.0f%%", (NR > 1 ? ", " : ""), 100 * $1}')" "$hot"
done
rm -f /tmp/bertscope_bench_*.$$
