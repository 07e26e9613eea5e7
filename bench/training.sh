#!/usr/bin/env bash
# Training speed: one masked-LM optimizer step (15% masked, dropout, taped forward, MLM head at
# the masked positions, cross-entropy, every gradient, AdamW) in bertscope float32 and bf16 and
# in PyTorch eager float32 and bf16 autocast, on the same random model and batch, runs
# alternating, medians of ROUNDS; with the GEMM ceiling of the model's shapes measured in the
# same run. The default shape is bertscope-mini's recipe (tools/train): 6 x 256 with 8 heads, its
# 16,000-word vocabulary, 128 x 128 tokens.
#
#   bench/training.sh [ROUNDS] [BATCH] [SEQ] [make-model options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BERTSCOPE:-build/release/bertscope}
rounds=${1:-3} batch=${2:-128} seq=${3:-128}
shift $(( $# < 3 ? $# : 3 ))
[ -x "$bin" ] || scripts/build.sh release
source bench/common.sh
shape=("$@")
[ ${#shape[@]} -gt 0 ] || shape=(--layers 6 --hidden 256 --heads 8 --intermediate 1024 --vocab models/bertscope-mini/vocab.txt)
model=build/bench-train-$(echo "${shape[*]}" | tr -c 'a-z0-9' '-')
vocab=(); [[ " ${shape[*]} " == *" --vocab "* ]] || vocab=(--vocab tests/data/bert-base-uncased/vocab.txt)
[ -f "$model/model.safetensors" ] || "$bin" make-model "${shape[@]}" "${vocab[@]}" --seed 1 --out "$model" >/dev/null
export OMP_WAIT_POLICY=PASSIVE
ours() { "$bin" bench --model "$model" --threads 2 --json --batch "$batch" --seq "$seq" --record none --train "$@"; }
theirs() { torch_run --model "$model" --batch "$batch" --seq "$seq" --train "$@"; }

grep -m1 "model name" /proc/cpuinfo || true
printf "model %s (%s), batch %s x %s tokens, 2 threads\n" "$model" "${shape[*]}" "$batch" "$seq"
printf "GEMM ceiling of the forward's products: f32 %.0f GFLOP/s, bf16 %.0f GFLOP/s\n" \
  "$("$bin" bench --model "$model" --threads 2 --json --batch "$batch" --seq "$seq" --gemm-ceiling | field gemm_ceiling_gflops)" \
  "$("$bin" bench --model "$model" --threads 2 --json --batch "$batch" --seq "$seq" --precision bf16 --gemm-ceiling | field gemm_ceiling_gflops)"
tmp=$(mktemp -d)
ours --precision f32 | tee "$tmp/first.json" | field tokens_per_s >> "$tmp/ours_f32"
printf "before: %s\n" "$(peak_line < "$tmp/first.json")"
for _ in $(seq "$rounds"); do
  ours --precision f32 | field tokens_per_s >> "$tmp/ours_f32"
  theirs | field tokens_per_s >> "$tmp/torch_f32"
  ours --precision bf16 | field tokens_per_s >> "$tmp/ours_bf16"
  theirs --autocast-bf16 | field tokens_per_s >> "$tmp/torch_bf16"
done
ours --precision bf16 | tee "$tmp/last.json" | field tokens_per_s >> "$tmp/ours_bf16"
printf "after:  %s\n" "$(peak_line < "$tmp/last.json")"
of=$(median < "$tmp/ours_f32"); ob=$(median < "$tmp/ours_bf16"); tf=$(median < "$tmp/torch_f32"); tb=$(median < "$tmp/torch_bf16")
printf "bertscope f32  %7.0f tokens/s\nbertscope bf16 %7.0f tokens/s\nPyTorch f32    %7.0f tokens/s\nPyTorch bf16 autocast %7.0f tokens/s\n" "$of" "$ob" "$tf" "$tb"
printf "bertscope bf16 / PyTorch f32 eager %.2fx; bertscope bf16 / PyTorch bf16 autocast %.2fx; bertscope f32 / PyTorch f32 %.2fx; bf16 / f32 %.2fx\n" \
  "$(echo "$ob / $tf" | bc -l)" "$(echo "$ob / $tb" | bc -l)" "$(echo "$of / $tf" | bc -l)" "$(echo "$ob / $of" | bc -l)"
rm -rf "$tmp"
