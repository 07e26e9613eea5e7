#!/usr/bin/python3
"""Regenerates tests/golden/electra.json and tests/golden/electra_*.npz: random ELECTRA models made
by `bertscope make-model --family electra`, run through the independent reference
(electra_reference.py, written from transformers' modeling_electra.py).

    /usr/bin/python3 tools/reference/make_electra_goldens.py --bertscope build/release/bertscope

Per model, on a padded batch of singles and a pair ([CLS] A [SEP] B [SEP], B with token type 1),
the same cases as make_roberta_goldens.py: forward (attentions, hidden states, logits in float64
and PyTorch's own float32 error, with and without a head mask), gradients by autograd in float64
(every parameter, head mask, input word embeddings, attention probabilities) and a JVP of the
logits along a word-embedding tangent. The models:
  electra_generator      ElectraForMaskedLM, embedding_size 40 != hidden 96 (embeddings_project),
                         gelu_new layers under the generator head's exact gelu;
  electra_discriminator  ElectraForPreTraining, embedding_size 56, gelu_new as hidden_act (the
                         discriminator head uses it); loss: BCE with logits per real token;
  electra_classifier     ElectraForSequenceClassification, embedding_size = hidden (no
                         projection), the head's hard-coded gelu.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from electra_reference import Electra  # noqa: E402
from make_roberta_goldens import LENGTHS, segment_batch, write_family_goldens  # noqa: E402

SHARP = ["--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
SHAPE = ["--layers", "2", "--hidden", "96", "--heads", "3", "--intermediate", "200"]
MODELS = [
    {"name": "electra_generator", "args": ["--family", "electra", "--vocab-size", "120"] + SHAPE +
        ["--embedding-size", "40", "--hidden-act", "gelu_new", "--seed", "51"] + SHARP},
    {"name": "electra_discriminator", "args": ["--family", "electra", "--vocab-size", "110"] + SHAPE +
        ["--embedding-size", "56", "--hidden-act", "gelu_new", "--discriminator", "--seed", "52"] + SHARP},
    {"name": "electra_classifier", "args": ["--family", "electra", "--vocab-size", "130"] + SHAPE +
        ["--embedding-size", "96", "--labels", "3", "--seed", "53"] + SHARP},
]
PAIR = {1: (8, 9)}  # input 1: [CLS] a(6) [SEP] b(7) [SEP], b and its [SEP] of token type 1
CLS, SEP, PAD = 1, 2, 0


def make_batch(vocab, rng):
    return segment_batch(vocab, rng, CLS, SEP, PAD, 3, PAIR)


def load(folder):
    model = Electra(folder)
    model.cfg["num_labels"] = len(model.cfg.get("id2label", {})) or 3
    return model, {"replaced_token_detection": model.token_logits, "embedding_size": model.embedding_size}


def main():
    write_family_goldens(MODELS, 5100, load, make_batch, "electra.json")


if __name__ == "__main__":
    main()
