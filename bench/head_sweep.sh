#!/usr/bin/env bash
# The head-disabling sweep (Kovaleva et al.; Michel et al.'s head mask) against PyTorch on the
# same machine: a random bert-base sequence classifier evaluated on N inputs of T tokens, then
# again with each of its 144 heads disabled in turn. PyTorch runs it as a transformers user
# would, one full forward pass per head with a head mask (bench/pytorch_bert.py --head-sweep);
# bertscope runs `ablate --mode zero --no-layers`, which computes the layers below the disabled
# head once, and again with --full-passes. Prints the seconds of each and the ratios; bertscope's
# are the whole command's (loading and tokenising included), PyTorch's the sweep's alone.
#
#   bench/head_sweep.sh [N] [T]      (defaults 8 inputs of 64 tokens; about 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BERTSCOPE:-build/release/bertscope}
model=build/bench-bert-base-clf
n=${1:-8}
t=${2:-64}
if [ ! -f "$model/model.safetensors" ]; then
  "$bin" make-model --layers 12 --hidden 768 --heads 12 --intermediate 3072 --seed 1 --labels 2 \
    --vocab tests/data/bert-base-uncased/vocab.txt --out "$model" >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Every input is [CLS] "the" x (T-2) [SEP], so both sides run exactly T tokens per input.
{
  printf 'sentence\tlabel\n'
  for i in $(seq "$n"); do
    printf '%s\t%d\n' "$(yes the | head -n $((t - 2)) | tr '\n' ' ')" $((i % 2))
  done
} > "$work/data.tsv"
export OMP_WAIT_POLICY=PASSIVE
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
seconds_of() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

torch=$(env OMP_NUM_THREADS=2 GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824 \
  /usr/bin/python3 bench/pytorch_bert.py --model "$model" --seq "$t" --batch "$n" --threads 2 --head-sweep "$n" \
  | field seconds)
ours=$(seconds_of "$bin" ablate --model "$model" --data "$work/data.tsv" --mode zero --no-layers --batch-size "$n" --threads 2)
full=$(seconds_of "$bin" ablate --model "$model" --data "$work/data.tsv" --mode zero --no-layers --batch-size "$n" --threads 2 \
  --full-passes)
printf "%d inputs x %d tokens, 145 evaluations: PyTorch (head mask, full passes) %.1f s; bertscope %.1f s (%.2fx), " \
  "$n" "$t" "$torch" "$ours" "$(echo "$torch / $ours" | bc -l)"
printf "with --full-passes %.1f s (%.2fx)\n" "$full" "$(echo "$torch / $full" | bc -l)"
