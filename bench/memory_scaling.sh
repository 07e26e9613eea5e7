#!/usr/bin/env bash
# Peak memory of a streamed corpus run does not grow with the corpus: runs `bertscope run
# --input` on 1,000 and on 10,000 sentences (UD English EWT dev repeated) and prints both peaks.
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
for n in 1000 10000; do
  for _ in $(seq 5); do cat tests/data/ud_ewt_dev_sentences.txt; done | head -n "$n" > "$work/in.txt"
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" run --model "$model" --input "$work/in.txt" --out "$work/out" \
    --truncate --no-logits >/dev/null 2>&1
  printf "%6d sentences: peak RSS %.1f MB\n" "$n" "$(echo "$(cat "$work/rss") / 1024" | bc -l)"
  rm -rf "$work/out"
done
