#!/usr/bin/env bash
# The main job: installs what is missing, builds bertscope, and runs it end to end on the
# default model and data, writing everything under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
bin=build/release/bertscope
mkdir -p out

# Until the project ships its own trained model, the default model is a deterministic
# random-weight BERT with the real bert-base-uncased vocabulary.
model=out/demo-model
if [ ! -f "$model/model.safetensors" ]; then
  rm -rf "$model"
  "$bin" make-model --layers 4 --hidden 256 --heads 4 --intermediate 1024 --seed 1 --init-std 0.05 \
    --vocab tests/data/bert-base-uncased/vocab.txt --out "$model" >/dev/null
fi
"$bin" info --model "$model"
head -n 200 tests/data/ud_ewt_dev_sentences.txt > out/sentences.txt
"$bin" tokenize --model "$model" --text "The keys to the cabinet are on the table." --text-pair "Where are they?"
"$bin" run --model "$model" --input out/sentences.txt --out out/traces --record attn.context
echo "main job done: traces of $(wc -l < out/sentences.txt) sentences in out/traces (NumPy .npz)"
