#!/usr/bin/env bash
# Two builds of bertscope side by side on the same machine and the same random bert-base
# (12 x 768), runs alternating, medians of ROUNDS: the check that a refactoring costs no speed.
#
#   bench/compare_builds.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Prints per shape both builds' tokens/s and new/old: forward float32 with attention and hidden
# states recorded at 1x128 and 8x128, with nothing recorded at 8x128, bf16 at 8x128, and the
# backward step (taped forward + every parameter gradient) at 8x128; and the GEMM ceiling
# (`bench --gemm-ceiling`: the forward's own matrix products alone) of each build in the run.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-5}
bin=$new
model=build/bench-bert-base
source bench/common.sh
ensure_bert_base "$model"
export OMP_WAIT_POLICY=PASSIVE
run() { "$1" bench --model "$model" --threads 2 --json "${@:2}"; }

compare() {
  local label=$1; shift
  : > /tmp/cmp_old.$$; : > /tmp/cmp_new.$$
  for _ in $(seq "$rounds"); do
    run "$old" "$@" | field tokens_per_s >> /tmp/cmp_old.$$
    run "$new" "$@" | field tokens_per_s >> /tmp/cmp_new.$$
  done
  local o n
  o=$(median < /tmp/cmp_old.$$); n=$(median < /tmp/cmp_new.$$)
  printf "%-40s old %8.0f  new %8.0f tokens/s  new/old %.3f\n" "$label" "$o" "$n" "$(echo "$n / $o" | bc -l)"
  rm -f /tmp/cmp_old.$$ /tmp/cmp_new.$$
}

grep -m1 "model name" /proc/cpuinfo || true
printf "%s\n" "$(run "$new" --batch 1 --seq 16 --iterations 1 | peak_line)"
for b in "$old" "$new"; do
  printf "GEMM ceiling (%s): %s GFLOP/s\n" "$b" "$(run "$b" --batch 8 --seq 128 --gemm-ceiling | field gemm_ceiling_gflops)"
done
compare "forward f32 1x128, attention+hidden" --batch 1 --seq 128
compare "forward f32 8x128, attention+hidden" --batch 8 --seq 128
compare "forward f32 8x128, nothing recorded" --batch 8 --seq 128 --record none
compare "forward bf16 8x128, attention+hidden" --batch 8 --seq 128 --precision bf16
compare "backward 8x128 (tape + parameter grads)" --batch 8 --seq 128 --backward
printf "%s\n" "$(run "$new" --batch 1 --seq 16 --iterations 1 | peak_line)"
for b in "$old" "$new"; do
  printf "GEMM ceiling after (%s): %s GFLOP/s\n" "$b" "$(run "$b" --batch 8 --seq 128 --gemm-ceiling | field gemm_ceiling_gflops)"
done
