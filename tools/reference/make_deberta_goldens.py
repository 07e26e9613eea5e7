#!/usr/bin/python3
"""Regenerates tests/golden/deberta.json and tests/golden/deberta_*.npz: random DeBERTa-v2/v3
models made by `bertscope make-model --family deberta-v2`, run through the independent reference
(deberta_reference.py, written from transformers' modeling_deberta_v2.py).

    /usr/bin/python3 tools/reference/make_deberta_goldens.py --bertscope build/release/bertscope

The same cases as make_roberta_goldens.py (forward with and without a head mask, autograd
gradients and a JVP in float64) on a padded batch of singles and a pair, for:
  deberta_v3_mlm         v3-style: share_att_key, log buckets (8 buckets up to distance 24, so the
                         short inputs reach the logarithmic range), p2c|c2p, no absolute positions,
                         no token types, rel_embeddings LayerNorm, legacy MLM head;
  deberta_v2_classifier  v2-style: absolute positions, token types, no buckets (distances clamped
                         at 6), own pos_key_proj / pos_query_proj, no rel LayerNorm, ContextPooler.
The npz also holds `padded.attentions` for the padded batch run as is, padded query rows included
(transformers gives them 1/T).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deberta_reference import DebertaV2  # noqa: E402
from make_roberta_goldens import LENGTHS, segment_batch, forward_cases as roberta_forward_cases, write_family_goldens  # noqa: E402

SHARP = ["--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
MODELS = [
    {"name": "deberta_v3_mlm", "args": ["--family", "deberta-v2", "--vocab-size", "120", "--layers", "2",
                                         "--hidden", "96", "--heads", "3", "--intermediate", "200",
                                         "--position-buckets", "8", "--max-relative-positions", "24",
                                         "--seed", "51"] + SHARP},
    {"name": "deberta_v2_classifier", "args": ["--family", "deberta-v2", "--vocab-size", "130", "--layers", "2",
                                                "--hidden", "96", "--heads", "3", "--intermediate", "200",
                                                "--labels", "3", "--type-vocab", "2", "--position-biased-input",
                                                "--position-buckets", "0", "--max-relative-positions", "6",
                                                "--share-att-key", "false", "--pos-att-type", "c2p|p2c",
                                                "--norm-rel-ebd", "none", "--seed", "52"] + SHARP},
]
PAIR = {1: (8, 9)}  # input 1: [CLS] a(6) [SEP] b(7) [SEP], segment 1 from position 8
CLS, SEP, PAD = 1, 2, 0


def make_batch(vocab, rng):
    return segment_batch(vocab, rng, CLS, SEP, PAD, 3, PAIR)


def load(folder):
    model = DebertaV2(folder)
    model.word_table = "deberta.embeddings.word_embeddings.weight"
    model.cfg["num_labels"] = len(model.cfg.get("id2label", {})) or 3
    return model, {}


def forward_cases(model, tids, ttypes, tmask, arrays):
    """make_roberta_goldens' cases, plus the padded batch's attentions over every row."""
    cases = roberta_forward_cases(model, tids, ttypes, tmask, arrays)
    a64, _, _ = model.forward(tids, ttypes, tmask, torch.float64)
    a32, _, _ = model.forward(tids, ttypes, tmask, torch.float32)
    arrays["padded.attentions"] = a64.numpy()
    cases["base"]["padded_attentions_f32_error"] = float((a32.double() - a64).abs().max())
    return cases


def main():
    write_family_goldens(MODELS, 5100, load, make_batch, "deberta.json", forward=forward_cases)


if __name__ == "__main__":
    main()
