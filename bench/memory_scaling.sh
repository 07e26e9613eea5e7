#!/usr/bin/env bash
# Peak memory of a streamed corpus run does not grow with the corpus: runs `bertscope run
# --input` on 1,024 and on 10,240 sentences (UD English EWT dev) and prints both peaks.
#
#   bench/memory_scaling.sh [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BERTSCOPE:-build/release/bertscope}
model=${1:-build/bench-mini}
if [ ! -f "$model/model.safetensors" ]; then
  "$bin" make-model --layers 4 --hidden 256 --heads 4 --intermediate 1024 --seed 1 \
    --vocab tests/data/bert-base-uncased/vocab.txt --out "$model" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The large corpus is the small one ten times, and 1,024 sentences are exactly four of run's
# length-bucketing windows (32 batches of 8), so both runs see the same batches and only the
# number of inputs differs.
head -n 1024 tests/data/ud_ewt_dev_sentences.txt > "$work/1024.txt"
for _ in $(seq 10); do cat "$work/1024.txt"; done > "$work/10240.txt"
for n in 1024 10240; do
  cp "$work/$n.txt" "$work/in.txt"
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" run --model "$model" --input "$work/in.txt" --out "$work/out" \
    --truncate --no-logits >/dev/null 2>&1
  printf "%6d sentences: peak RSS %.1f MB\n" "$n" "$(echo "$(cat "$work/rss") / 1024" | bc -l)"
  rm -rf "$work/out"
done
