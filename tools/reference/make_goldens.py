#!/usr/bin/python3
"""Regenerates tests/golden/: random models made by `bertscope make-model`, run through the
independent PyTorch reference (bert_reference.py) in float64, with PyTorch's own float32 error.

    /usr/bin/python3 tools/reference/make_goldens.py --bertscope build/release/bertscope

Writes tests/golden/encoder.json (model recipes, weight checksums, PyTorch float32 errors) and
tests/golden/<model>.npz (inputs and float64 expectations).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_reference import Bert, fnv1a64  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = os.path.join(ROOT, "tests", "data", "tiny-vocab.txt")

# Odd shapes and sharp weights: attention far from uniform, GELU inputs of order 1-2, non-trivial
# biases and LayerNorm parameters, so a wrong softmax scale, GELU form or epsilon shows.
MODELS = [
    {"name": "sharp_mlm", "args": ["--layers", "2", "--hidden", "96", "--heads", "3", "--intermediate", "200",
                                    "--seed", "11", "--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"],
     "default_init": False, "interventions": True},
    {"name": "default_mlm", "args": ["--layers", "2", "--hidden", "96", "--heads", "3", "--intermediate", "200",
                                      "--seed", "12"],
     "default_init": True, "interventions": False},
    {"name": "sharp_classifier_f16", "args": ["--layers", "3", "--hidden", "64", "--heads", "4", "--intermediate",
                                               "100", "--seed", "13", "--labels", "3", "--hidden-act", "gelu_new",
                                               "--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1",
                                               "--dtype", "f16"],
     "default_init": False, "interventions": False},
    {"name": "sharp_mlm_bf16", "args": ["--layers", "1", "--hidden", "40", "--heads", "5", "--intermediate", "72",
                                         "--seed", "14", "--init-std", "0.25", "--bias-std", "0.1",
                                         "--norm-std", "0.1", "--dtype", "bf16"],
     "default_init": False, "interventions": False},
]

# A padded batch of mixed lengths: one single sentence, one pair, three more singles.
LENGTHS = [13, 17, 7, 19, 12]
PAIR_SPLIT = {1: 9}  # input 1 is "[CLS] a(7) [SEP] b(8) [SEP]" with segment B from position 9
INTERVENTIONS = {
    "head_mask": {"head_mask": [[1.0, 0.0, 0.5], [0.0, 1.0, 2.0]]},
    "uniform": {"uniform_heads": [[0, 1], [1, 2]]},
    "skip": {"skip_layers": [0]},
}


def make_batch(vocab_size, rng):
    t = max(LENGTHS)
    ids = np.zeros((len(LENGTHS), t), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for i, n in enumerate(LENGTHS):
        seq = rng.integers(5, vocab_size, size=n)
        seq[0], seq[n - 1] = 2, 3  # [CLS] ... [SEP]
        if i in PAIR_SPLIT:
            seq[PAIR_SPLIT[i] - 1] = 3
            types[i, PAIR_SPLIT[i]:n] = 1
        ids[i, :n] = seq
        mask[i, :n] = 1
    return ids, types, mask


def masked_max_error(a, b, mask, kind):
    """Max |a - b| over real tokens only (padding rows/columns excluded)."""
    diff = (a - b).abs()
    m = mask.bool()
    if kind == "attentions":  # [B, L, H, T, T]
        sel = m[:, None, None, :, None] & m[:, None, None, None, :]
    elif kind in ("hidden", "mlm_logits"):  # [B, (L+1), T, X] or [B, T, V]
        sel = m[:, None, :, None] if diff.dim() == 4 else m[:, :, None]
    else:
        sel = torch.ones_like(diff, dtype=torch.bool)
    return float(diff.masked_select(sel.expand_as(diff)).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bertscope", required=True, help="path to the bertscope binary")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(2024)
    summary = {"vocab": "tests/data/tiny-vocab.txt", "lengths": LENGTHS, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in MODELS:
            folder = os.path.join(tmp, spec["name"])
            subprocess.run([args.bertscope, "make-model", "--vocab", VOCAB, "--out", folder] + spec["args"],
                           check=True, stdout=subprocess.DEVNULL)
            bert = Bert(folder)
            ids, types, mask = make_batch(bert.cfg["vocab_size"], rng)
            tids, ttypes, tmask = map(torch.from_numpy, (ids, types, mask))
            arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
            entry = {"name": spec["name"], "args": spec["args"], "fnv1a64": fnv1a64(os.path.join(folder, "model.safetensors")),
                     "default_init": spec["default_init"], "cases": {}}
            cases = {"base": {}}
            if spec["interventions"]:
                cases.update(INTERVENTIONS)
            for case, iv in cases.items():
                kw = {}
                if "head_mask" in iv:
                    kw["head_mask"] = torch.tensor(iv["head_mask"], dtype=torch.float64)
                if "uniform_heads" in iv:
                    kw["uniform_heads"] = [tuple(x) for x in iv["uniform_heads"]]
                if "skip_layers" in iv:
                    kw["skip_layers"] = iv["skip_layers"]
                a64, h64, e64 = bert.forward(tids, ttypes, tmask, torch.float64, **kw)
                a32, h32, e32 = bert.forward(tids, ttypes, tmask, torch.float32, **kw)
                errors = {"attentions": masked_max_error(a32.double(), a64, tmask, "attentions"),
                          "hidden_states": masked_max_error(h32.double(), h64, tmask, "hidden")}
                arrays[f"{case}.attentions"] = a64.numpy()
                arrays[f"{case}.hidden_states"] = h64.numpy()
                if case == "base" and "logits" in e64:
                    kind = "mlm_logits" if e64["logits"].dim() == 3 else "logits"
                    errors["logits"] = masked_max_error(e32["logits"].double(), e64["logits"], tmask, kind)
                    arrays[f"{case}.logits"] = e64["logits"].numpy()
                if case == "base" and "pooled" in e64:
                    errors["pooled"] = masked_max_error(e32["pooled"].double(), e64["pooled"], tmask, "pooled")
                    arrays[f"{case}.pooled"] = e64["pooled"].numpy()
                entry["cases"][case] = {"interventions": iv, "torch_f32_max_error": errors}
                print(spec["name"], case, {k: f"{v:.2e}" for k, v in errors.items()}, file=sys.stderr)
            np.savez(os.path.join(args.out, spec["name"] + ".npz"), **arrays)
            summary["models"].append(entry)
    with open(os.path.join(args.out, "encoder.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
