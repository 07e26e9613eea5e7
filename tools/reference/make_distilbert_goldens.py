#!/usr/bin/python3
"""Regenerates tests/golden/distilbert.json and tests/golden/distilbert_*.npz: random DistilBERT
models made by `bertscope make-model --family distilbert`, run through the independent reference
(distilbert_reference.py, written from transformers' modeling_distilbert.py).

    /usr/bin/python3 tools/reference/make_distilbert_goldens.py --bertscope build/release/bertscope

Per model, on a padded batch of singles and a pair ([CLS] A [SEP] B [SEP], no token types), the
same cases as make_roberta_goldens.py: forward (attentions, hidden states, logits in float64 and
PyTorch's own float32 error, with and without a head mask), gradients of the summed
cross-entropy by autograd in float64 (every parameter, head mask, input word embeddings,
attention probabilities) and a JVP of the logits along a word-embedding tangent. The MLM model
uses ReLU as `activation` (its MLM head must follow it); the classifier uses the sinusoidal
position table, which is checked against transformers' create_sinusoidal_embeddings.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from distilbert_reference import DistilBert, sinusoidal_table  # noqa: E402
from make_roberta_goldens import LENGTHS, write_family_goldens  # noqa: E402

SHARP = ["--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
MODELS = [
    {"name": "distilbert_mlm", "args": ["--family", "distilbert", "--vocab-size", "120", "--layers", "2",
                                         "--hidden", "96", "--heads", "3", "--intermediate", "200",
                                         "--hidden-act", "relu", "--seed", "41"] + SHARP},
    {"name": "distilbert_classifier", "args": ["--family", "distilbert", "--vocab-size", "130", "--layers", "2",
                                                "--hidden", "96", "--heads", "3", "--intermediate", "200",
                                                "--labels", "3", "--seed", "42", "--sinusoidal-positions"] + SHARP},
]
PAIR = {1: (8, 9)}  # input 1: [CLS] a(6) [SEP] b(7) [SEP]
CLS, SEP, PAD = 1, 2, 0


def make_batch(vocab, rng):
    t = max(LENGTHS)
    ids = np.full((len(LENGTHS), t), PAD, dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(LENGTHS):
        seq = rng.integers(3, vocab, size=n)
        seq[0], seq[n - 1] = CLS, SEP
        if i in PAIR:
            seq[PAIR[i][0] - 1] = SEP
        ids[i, :n] = seq
        mask[i, :n] = 1
    return ids, np.zeros_like(ids), mask


def load(folder):
    model = DistilBert(folder)
    model.word_table = "distilbert.embeddings.word_embeddings.weight"
    model.cfg["num_labels"] = len(model.cfg.get("id2label", {})) or 3
    extra = {}
    if model.cfg.get("sinusoidal_pos_embds"):
        stored = model.w["distilbert.embeddings.position_embeddings.weight"]
        err = float((stored - sinusoidal_table(*stored.shape)).abs().max())
        assert err <= 1e-7, f"the stored sinusoid differs from transformers' by {err}"
        extra["sinusoid_max_error"] = err
    return model, extra


def main():
    write_family_goldens(MODELS, 4100, load, make_batch, "distilbert.json")


if __name__ == "__main__":
    main()
