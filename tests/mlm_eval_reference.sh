#!/usr/bin/env bash
# `bertscope evaluate mlm` against the independent reference (tools/reference/mlm_eval_reference.py,
# float64 BertForMaskedLM semantics) on a small random model: loss within 1e-3 nats, accuracy
# exact up to float64 near-ties. Exits 77 (skipped) when NumPy or PyTorch is missing.
#
#   tests/mlm_eval_reference.sh BERTSCOPE_BINARY WORK_DIR
set -euo pipefail
bin=$1 work=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
python3 -c "import numpy, torch" 2>/dev/null || exit 77
rm -rf "$work"
mkdir -p "$work"
# A large init std makes the random model's predictions far from uniform, so accuracy means something.
"$bin" make-model --vocab "$repo/tests/data/tiny-vocab.txt" --layers 2 --hidden 48 --heads 3 --intermediate 64 \
  --init-std 0.2 --seed 21 --out "$work/model" >/dev/null
"$bin" evaluate mlm --model "$work/model" --corpus "$repo/data/prose/a_tale_of_two_cities.sentences.txt" \
  --instances 64 --seq-len 48 --dump-instances "$work/instances.npz" --out "$work/eval.json" >/dev/null
python3 "$repo/tools/reference/mlm_eval_reference.py" "$work/model" "$work/instances.npz" "$work/eval.json"
