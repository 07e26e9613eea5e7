#!/usr/bin/env bash
# Every performance target of the project in one run, on a random bert-base (12 x 768) made by
# `bertscope make-model`, 2 threads, side by side with a well-configured PyTorch where there is
# one to compare with. Run it on a quiet machine; it takes about 15 minutes.
#
#   bench/all.sh [ROUNDS]
#
# Prints, with the command behind each figure:
#   the machine's fp32 FMA and bf16 dot-product peak (a probe with independent accumulators), at
#     the start; `bench --json` objects carry the peak measured before and after their own timing
#     and the run's share of it (peak_fraction), flagged unsteady when it moved by over 10%
#   forward float32 vs PyTorch at 1x128 and 8x128 (attention + hidden states recorded), and the
#     share of the GEMM ceiling measured in the same run        (bench/compare_pytorch.sh)
#   forward float32 vs ONNX Runtime and PyTorch, last hidden only and with every map recorded
#     (bench/compare_onnx.sh; skipped with a note when onnxruntime-node is not installed)
#   prepacked weights vs the stored layout at 8x128 (bench --no-prepack)
#   backward (taped forward + all parameter gradients) vs PyTorch autograd at 8x128
#   bf16 fast path vs float32 at 8x128
#   the cost of recording every attention map vs recording nothing
#   peak RSS at 8x128 against weights + 1.5 x recorded arrays + 100 MB
#   peak RSS of a streamed 10,000-sentence corpus run vs a 1,000-sentence one (bench/memory_scaling.sh)
#   the head-disabling sweep vs PyTorch with head masks (bench/head_sweep.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BERTSCOPE:-build/release/bertscope}
model=build/bench-bert-base
rounds=${1:-3}
[ -x "$bin" ] || scripts/build.sh release
source bench/common.sh
ensure_bert_base "$model"
export OMP_WAIT_POLICY=PASSIVE
ours() { "$bin" bench --model "$model" --threads 2 --json "$@"; }

echo "== the machine's peak now (every bench --json object also carries the peak measured around its own timing)"
ours --batch 1 --seq 16 --iterations 1 | peak_line

echo "== forward, float32, vs PyTorch (bench/compare_pytorch.sh $model $rounds)"
BERTSCOPE=$bin bench/compare_pytorch.sh "$model" "$rounds"

echo "== forward, float32, vs ONNX Runtime and PyTorch (bench/compare_onnx.sh $model $rounds)"
if [ -f bench/onnx/node_modules/onnxruntime-node/package.json ]; then
  BERTSCOPE=$bin bench/compare_onnx.sh "$model" "$rounds"
else
  echo "skipped: onnxruntime-node is not installed (cd bench/onnx && npm install --ignore-scripts)"
fi

echo "== prepacked weights vs the stored layout, 8x128, attention + hidden states recorded (alternating, medians)"
: > /tmp/bench_pack_on.$$; : > /tmp/bench_pack_off.$$
for r in $(seq "$rounds"); do
  ours --batch 8 --seq 128 | field tokens_per_s >> /tmp/bench_pack_on.$$
  ours --batch 8 --seq 128 --no-prepack | field tokens_per_s >> /tmp/bench_pack_off.$$
done
on=$(median < /tmp/bench_pack_on.$$) off=$(median < /tmp/bench_pack_off.$$)
printf "packed %.0f tokens/s, stored layout %.0f: %.2fx\n" "$on" "$off" "$(echo "$on / $off" | bc -l)"
rm -f /tmp/bench_pack_*.$$

echo "== backward: taped forward + every parameter gradient, 8x128"
: > /tmp/bench_bwd_ours.$$; : > /tmp/bench_bwd_torch.$$
for _ in $(seq "$rounds"); do
  torch_run --model "$model" --batch 8 --seq 128 --backward | field tokens_per_s >> /tmp/bench_bwd_torch.$$
  ours --batch 8 --seq 128 --backward | field tokens_per_s >> /tmp/bench_bwd_ours.$$
done
o=$(median < /tmp/bench_bwd_ours.$$); t=$(median < /tmp/bench_bwd_torch.$$)
printf "bertscope %.0f tokens/s, PyTorch autograd %.0f tokens/s, ratio %.2fx\n" "$o" "$t" "$(echo "$o / $t" | bc -l)"
rm -f /tmp/bench_bwd_*.$$

echo "== bf16 fast path vs float32, 8x128 (bertscope bench --precision bf16; medians of alternating runs)"
: > /tmp/bench_f32.$$; : > /tmp/bench_bf16.$$
for _ in $(seq "$rounds"); do
  ours --batch 8 --seq 128 | field tokens_per_s >> /tmp/bench_f32.$$
  bf16_json=$(ours --batch 8 --seq 128 --precision bf16)
  echo "$bf16_json" | field tokens_per_s >> /tmp/bench_bf16.$$
done
f32=$(median < /tmp/bench_f32.$$); bf16=$(median < /tmp/bench_bf16.$$)
printf "float32 %.0f tokens/s, bf16 %.0f tokens/s, ratio %.2fx; bf16 error vs float32: %s\n" "$f32" "$bf16" \
  "$(echo "$bf16 / $f32" | bc -l)" "$(echo "$bf16_json" | field bf16_vs_f32)"
rm -f /tmp/bench_f32.$$ /tmp/bench_bf16.$$

echo "== recording every attention map vs recording nothing, 8x128"
none=$(ours --batch 8 --seq 128 --record none | field tokens_per_s)
attn_json=$(ours --batch 8 --seq 128 --record attn.probs,hidden)
attn=$(echo "$attn_json" | field tokens_per_s)
printf "nothing %.0f tokens/s, attention + hidden states %.0f tokens/s: recording costs %.1f%%\n" "$none" "$attn" \
  "$(echo "100 * ($none / $attn - 1)" | bc -l)"

echo "== peak RSS at 8x128 with attention and hidden states recorded"
rss=$(echo "$attn_json" | field peak_rss_mb)
weights=$(du -m --apparent-size "$model/model.safetensors" | cut -f1)
# Recorded per forward: attention [12 layers, 12 heads, 128, 128] and hidden states [13, 128, 768] per input, float32.
recorded=$(echo "8 * (12 * 12 * 128 * 128 + 13 * 128 * 768) * 4 / 1048576" | bc -l)
bound=$(echo "$weights + 1.5 * $recorded + 100" | bc -l)
printf "peak RSS %.0f MB; bound = weights %d MB + 1.5 x recorded %.0f MB + 100 MB = %.0f MB\n" "$rss" "$weights" "$recorded" "$bound"

echo "== streamed corpus: peak RSS does not grow with the corpus (bench/memory_scaling.sh)"
BERTSCOPE=$bin bench/memory_scaling.sh

echo "== head-disabling sweep vs PyTorch head masks (bench/head_sweep.sh)"
BERTSCOPE=$bin bench/head_sweep.sh
