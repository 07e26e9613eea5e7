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
if [ ! -f "$model/model.safetensors" ]; then
  "$bin" make-model --layers 12 --hidden 768 --heads 12 --intermediate 3072 --seed 1 \
    --vocab tests/data/bert-base-uncased/vocab.txt --out "$model" >/dev/null
fi

# PyTorch as a careful user runs it: passive OpenMP waiting (else its OpenMP and OpenBLAS
# threads fight), and glibc malloc that keeps freed memory instead of re-faulting it each call.
torch_env=(env OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads
           GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824)

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

for shape in "1 128" "8 128"; do
  set -- $shape
  batch=$1 seq=$2
  : > /tmp/bertscope_bench_ours.$$; : > /tmp/bertscope_bench_torch.$$
  : > /tmp/bertscope_bench_ceiling.$$; : > /tmp/bertscope_bench_fraction.$$; : > /tmp/bertscope_bench_hot.$$
  for r in $(seq "$rounds"); do
    "${torch_env[@]}" /usr/bin/python3 bench/pytorch_bert.py --model "$model" --batch "$batch" --seq "$seq" \
      --threads "$threads" | field tokens_per_s >> /tmp/bertscope_bench_torch.$$
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
