#!/usr/bin/env bash
# `bertscope evaluate mlm` against the independent reference (tools/reference/mlm_eval_reference.py,
# float64 BertForMaskedLM semantics) on a small random model: loss within 1e-3 nats, accuracy
# exact up to float64 near-ties. Exits 77 (skipped) when NumPy or PyTorch is missing.
#
#   tests/mlm_eval_reference.sh BERTSCOPE_BINARY WORK_DIR [PYTHON]   (PYTHON: /usr/bin/python3, Debian's)
set -euo pipefail
bin=$1 work=$2 python=${3:-/usr/bin/python3}
repo=$(cd "$(dirname "$0")/.." && pwd)
"$python" -c "import numpy, torch" 2>/dev/null || exit 77
rm -rf "$work"
mkdir -p "$work"
# A few training steps make the random model's predictions worth counting; train's own held-out
# figures must then be what `evaluate mlm` measures on the saved (float32) folder.
prose=$repo/data/prose/a_tale_of_two_cities.sentences.txt held=$repo/tests/data/ud_ewt_dev_sentences.txt
"$bin" make-model --vocab "$repo/tests/data/bert-base-uncased/vocab.txt" --layers 2 --hidden 48 --heads 3 \
  --intermediate 64 --seed 21 --out "$work/init" >/dev/null
"$bin" train mlm --model "$work/init" --corpus "$prose" --eval-corpus "$held" --eval-instances 64 --out "$work/model" \
  --steps 100 --batch 8 --seq-len 48 --lr 3e-3 --warmup 10 --seed 2 >/dev/null 2>&1
"$bin" evaluate mlm --model "$work/model" --corpus "$held" --unigram-corpus "$prose" --instances 64 --seq-len 48 \
  --dump-instances "$work/instances.npz" --out "$work/eval.json" >/dev/null
"$python" - "$work/model/train_report.json" "$work/eval.json" <<'PY'
import json, sys
train, ev = json.load(open(sys.argv[1]))["held_out"], json.load(open(sys.argv[2]))["results"]
for key in ("positions", "mlm_correct", "mlm_loss", "unigram_loss", "unigram_accuracy"):
    a, b = train[key], ev[key]
    assert abs(a - b) <= 1e-9 * max(1.0, abs(a)), f"train's held_out {key} {a} != evaluate's {b}"
assert ev["mlm_accuracy"] > 0, "the trained model predicts nothing right"
PY
"$python" "$repo/tools/reference/mlm_eval_reference.py" "$work/model" "$work/instances.npz" "$work/eval.json"
