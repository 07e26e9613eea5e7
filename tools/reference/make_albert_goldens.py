#!/usr/bin/python3
"""Regenerates tests/golden/albert.json and tests/golden/albert_*.npz: random ALBERT models made by
`bertscope make-model --family albert`, run through the independent reference
(albert_reference.py, written from transformers' modeling_albert.py).

    /usr/bin/python3 tools/reference/make_albert_goldens.py --bertscope build/release/bertscope

Per model, on a padded batch of singles and a pair ([CLS] A [SEP] B [SEP] with token types 0 and
1), the same cases as make_roberta_goldens.py: forward (attentions, hidden states, logits in
float64 and PyTorch's own float32 error, with and without a head mask), gradients of the summed
cross-entropy by autograd in float64 (every parameter, so each shared tensor's gradient sums over
every layer that runs it; head mask; input word embeddings; attention probabilities) and a JVP of
the logits along a word-embedding tangent. The MLM model has two groups of two config layers each
(4 run layers, embedding_size 40 < hidden 96); the classifier one group with inner_group_num 2 over
two config layers (4 run layers, embedding_size 120 > hidden 96).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from albert_reference import Albert  # noqa: E402
from make_roberta_goldens import LENGTHS, segment_batch, write_family_goldens  # noqa: E402

SHARP = ["--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
MODELS = [
    {"name": "albert_mlm", "args": ["--family", "albert", "--vocab-size", "120", "--layers", "4", "--hidden", "96",
                                     "--heads", "3", "--intermediate", "200", "--hidden-act", "gelu_new",
                                     "--embedding-size", "40", "--hidden-groups", "2", "--seed", "51"] + SHARP},
    {"name": "albert_classifier", "args": ["--family", "albert", "--vocab-size", "130", "--layers", "2",
                                            "--hidden", "96", "--heads", "3", "--intermediate", "200",
                                            "--hidden-act", "gelu_new", "--embedding-size", "120",
                                            "--hidden-groups", "1", "--inner-group-num", "2", "--labels", "3",
                                            "--seed", "52"] + SHARP},
]
PAIR = {1: (8, 9)}  # input 1: [CLS] a(6) [SEP] b(7) [SEP]
PAD, CLS, SEP = 0, 2, 3


def make_batch(vocab, rng):
    return segment_batch(vocab, rng, CLS, SEP, PAD, 5, PAIR)


def load(folder):
    model = Albert(folder)
    model.word_table = "albert.embeddings.word_embeddings.weight"
    model.cfg["num_labels"] = len(model.cfg.get("id2label", {})) or 3
    return model, {"run_layers": model.layers}


def main():
    write_family_goldens(MODELS, 5100, load, make_batch, "albert.json")


if __name__ == "__main__":
    main()
