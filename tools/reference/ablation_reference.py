#!/usr/bin/python3
"""Golden logits for bertscope's head and layer disabling (`bertscope ablate`), from the
independent PyTorch reference (bert_reference.py): a random sequence classifier made by
`bertscope make-model`, a padded batch of mixed lengths (one sentence pair), and the classifier
logits in float64 with

  - nothing disabled;
  - each single head disabled by uniform attention over the input's real tokens (Kovaleva et
    al.; bert_reference applies 1/n on the n real keys of every row) and by a head mask of 0
    (Michel et al.);
  - each whole layer disabled both ways (every head of the layer);

and the intact model's attention over the whole padded batch, padding rows included (padding
queries attend to the real tokens; padding keys get nothing), which `bertscope compare
--pad-to` reproduces through the model's attention mask.

    /usr/bin/python3 tools/reference/ablation_reference.py --bertscope build/release/bertscope

Writes tests/golden/ablation.json (model recipe, weight checksum, PyTorch's own float32 error)
and tests/golden/ablation.npz. It never imports bertscope code; bertscope only makes the model.
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

# Sharp weights so that a head's attention matters: disabling any head moves the logits by far
# more than the 1e-4 tolerance of the test.
ARGS = ["--layers", "3", "--hidden", "48", "--heads", "4", "--intermediate", "80", "--labels", "3", "--seed", "21",
        "--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
LENGTHS = [9, 14, 6, 11]
PAIR_SPLIT = {1: 7}  # input 1 is "[CLS] a(5) [SEP] b(6) [SEP]", segment B from position 7


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


def logits(bert, ids, types, mask, dtype, uniform=(), zero=()):
    head_mask = None
    if zero:
        head_mask = torch.ones(bert.layers, bert.heads, dtype=torch.float64)
        for (l, h) in zero:
            head_mask[l, h] = 0.0
    _, _, extras = bert.forward(ids, types, mask, dtype, head_mask=head_mask, uniform_heads=list(uniform))
    return extras["logits"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bertscope", required=True, help="path to the bertscope binary")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(606)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "ablation_classifier")
        subprocess.run([args.bertscope, "make-model", "--vocab", VOCAB, "--out", folder] + ARGS, check=True,
                       stdout=subprocess.DEVNULL)
        bert = Bert(folder)
        ids, types, mask = make_batch(bert.cfg["vocab_size"], rng)
        t_ids, t_types, t_mask = map(torch.from_numpy, (ids, types, mask))
        L, H = bert.layers, bert.heads
        arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        worst_f32 = 0.0

        def both(**kw):
            nonlocal worst_f32
            l64 = logits(bert, t_ids, t_types, t_mask, torch.float64, **kw)
            l32 = logits(bert, t_ids, t_types, t_mask, torch.float32, **kw)
            worst_f32 = max(worst_f32, float((l32.double() - l64).abs().max()))
            return l64.numpy()

        arrays["baseline"] = both()
        for mode in ("uniform", "zero"):
            heads = np.stack([np.stack([both(**{mode: [(l, h)]}) for h in range(H)]) for l in range(L)])
            layers = np.stack([both(**{mode: [(l, h) for h in range(H)]}) for l in range(L)])
            arrays[f"{mode}_heads"] = heads      # [L, H, B, labels]
            arrays[f"{mode}_layers"] = layers    # [L, B, labels]
        a64, _, _ = bert.forward(t_ids, t_types, t_mask, torch.float64)
        a32, _, _ = bert.forward(t_ids, t_types, t_mask, torch.float32)
        arrays["padded_attentions"] = a64.numpy()  # [B, L, H, T, T]
        padded_f32 = float((a32.double() - a64).abs().max())
        np.savez(os.path.join(args.out, "ablation.npz"), **arrays)
        summary = {"vocab": "tests/data/tiny-vocab.txt", "args": ARGS, "lengths": LENGTHS,
                   "fnv1a64": fnv1a64(os.path.join(folder, "model.safetensors")),
                   "torch_f32_max_logit_error": worst_f32, "torch_f32_max_padded_attention_error": padded_f32}
        with open(os.path.join(args.out, "ablation.json"), "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
        print(f"torch float32 max logit error {worst_f32:.2e}", file=sys.stderr)


if __name__ == "__main__":
    main()
