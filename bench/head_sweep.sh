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
source bench/common.sh
ensure_bert_base "$model" --labels 2
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
seconds_of() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

torch_json=$(torch_run --model "$model" --seq "$t" --batch "$n" --head-sweep "$n")
torch=$(echo "$torch_json" | field seconds)
ours=$(seconds_of "$bin" ablate --model "$model" --data "$work/data.tsv" --mode zero --no-layers --batch-size "$n" --threads 2)
full=$(seconds_of "$bin" ablate --model "$model" --data "$work/data.tsv" --mode zero --no-layers --batch-size "$n" --threads 2 \
  --full-passes)
printf "%d inputs x %d tokens, %d evaluations: PyTorch (head mask, full passes) %.1f s; bertscope %.1f s (%.2fx), " \
  "$n" "$t" "$(echo "$torch_json" | field configurations)" "$torch" "$ours" "$(echo "$torch / $ours" | bc -l)"
printf "with --full-passes %.1f s (%.2fx)\n" "$full" "$(echo "$torch / $full" | bc -l)"
