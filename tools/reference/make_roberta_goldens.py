#!/usr/bin/python3
"""Regenerates tests/golden/roberta.json and tests/golden/roberta_*.npz: random RoBERTa and
XLM-RoBERTa models made by `bertscope make-model --family ...`, run through the independent
reference (roberta_reference.py, written from transformers' modeling_roberta.py).

    /usr/bin/python3 tools/reference/make_roberta_goldens.py --bertscope build/release/bertscope

Per model, on a padded batch of singles and a pair (<s> A </s></s> B </s>), one real token
equal to padding_idx (transformers gives it position padding_idx):
  forward   attentions, hidden states and logits in float64, and PyTorch's own float32 error
            (cases: no intervention, a head mask);
  gradients autograd in float64 of the summed per-input cross-entropy (MLM at 3 positions, or
            the class label) at a non-trivial head mask: every parameter, the head mask, the
            input word embeddings and the attention probabilities; and a forward-mode
            derivative (JVP) of the logits along a random word-embedding tangent.
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
from bert_reference import fnv1a64  # noqa: E402
from make_goldens import masked_max_error  # noqa: E402
from roberta_reference import Roberta  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARP = ["--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
# gelu_new in the layers while the LM head keeps exact gelu: a head that used hidden_act shows.
MODELS = [
    {"name": "roberta_mlm", "args": ["--family", "roberta", "--vocab-size", "120", "--layers", "2", "--hidden", "96",
                                      "--heads", "3", "--intermediate", "200", "--hidden-act", "gelu_new",
                                      "--seed", "31"] + SHARP},
    {"name": "xlmr_classifier", "args": ["--family", "xlm-roberta", "--vocab-size", "130", "--layers", "2",
                                          "--hidden", "96", "--heads", "3", "--intermediate", "200", "--labels", "3",
                                          "--seed", "32"] + SHARP},
]
LENGTHS = [13, 17, 7, 19, 12]
PAIR = {1: (8, 9)}          # input 1: <s> a(6) </s></s> b(6) </s>: separators at 7 and 8
PAD_INSIDE = {3: 5}         # input 3 has a real token equal to padding_idx at position 5
BOS, PAD, EOS = 0, 1, 2


def make_batch(vocab, rng):
    t = max(LENGTHS)
    ids = np.full((len(LENGTHS), t), PAD, dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(LENGTHS):
        seq = rng.integers(3, vocab, size=n)
        seq[0], seq[n - 1] = BOS, EOS
        if i in PAIR:
            seq[PAIR[i][0] - 1], seq[PAIR[i][0]] = EOS, EOS
        if i in PAD_INSIDE:
            seq[PAD_INSIDE[i]] = PAD
        ids[i, :n] = seq
        mask[i, :n] = 1
    return ids, np.zeros_like(ids), mask


def segment_batch(vocab, rng, cls, sep, pad, first_ordinary, pair):
    """A padded batch of LENGTHS in BERT's layout: [CLS] random ids (from first_ordinary up) [SEP],
    pad after; the inputs in `pair` ({input: (segment b start, ...)}) get a [SEP] before segment b
    and token type 1 from it on (ALBERT, DeBERTa, ELECTRA)."""
    t = max(LENGTHS)
    ids = np.full((len(LENGTHS), t), pad, dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for i, n in enumerate(LENGTHS):
        seq = rng.integers(first_ordinary, vocab, size=n)
        seq[0], seq[n - 1] = cls, sep
        if i in pair:
            seq[pair[i][0] - 1] = sep
            types[i, pair[i][0]:n] = 1
        ids[i, :n] = seq
        mask[i, :n] = 1
    return ids, types, mask


def forward_cases(model, tids, ttypes, tmask, arrays):
    head_mask = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 2.0]], dtype=torch.float64)
    if model.layers > 2:  # e.g. ALBERT's shared layers, one row per run layer
        head_mask = torch.cat([head_mask, torch.ones(model.layers - 2, 3, dtype=torch.float64)])
        head_mask[model.layers - 1, 1] = 0.25
    cases = {}
    for case, hm in (("base", None), ("head_mask", head_mask)):
        a64, h64, e64 = model.forward(tids, ttypes, tmask, torch.float64, head_mask=hm)
        a32, h32, e32 = model.forward(tids, ttypes, tmask, torch.float32, head_mask=hm)
        errors = {"attentions": masked_max_error(a32.double(), a64, tmask, "attentions"),
                  "hidden_states": masked_max_error(h32.double(), h64, tmask, "hidden")}
        arrays[f"{case}.attentions"] = a64.numpy()
        arrays[f"{case}.hidden_states"] = h64.numpy()
        if case == "base":
            if getattr(model, "token_logits", False):  # [B, T] (ELECTRA's discriminator): real tokens only
                diff = (e32["logits"].double() - e64["logits"]).abs()
                errors["logits"] = float(diff.masked_select(tmask.bool()).max())
            else:
                kind = "mlm_logits" if e64["logits"].dim() == 3 else "logits"
                errors["logits"] = masked_max_error(e32["logits"].double(), e64["logits"], tmask, kind)
            arrays["base.logits"] = e64["logits"].numpy()
        cases[case] = {"interventions": {"head_mask": head_mask.tolist()} if hm is not None else {},
                       "torch_f32_max_error": errors}
    return cases


def gradients(model, ids, tids, ttypes, tmask, rng, arrays):
    for v in model.w.values():
        v.requires_grad_(True)
    head_mask = torch.ones(model.layers, model.heads, dtype=torch.float64)
    head_mask[0, 1] = 0.5
    head_mask[1, model.heads - 1] = 1.5
    head_mask.requires_grad_(True)
    table = model.w[getattr(model, "word_table", "roberta.embeddings.word_embeddings.weight")].detach()
    word_emb = table[tids].clone().requires_grad_(True)
    extras = model.forward(tids, ttypes, tmask, torch.float64, head_mask=head_mask, inputs_embeds=word_emb,
                           keep_probs=True)
    logits, probs = extras["logits"], extras["probs"]
    # [B, labels] or per-token replaced-token logits [B, T] (token_logits); MLM logits are [B, T, vocab]
    token_logits = getattr(model, "token_logits", False)
    classifier = logits.dim() == 2
    t = ids.shape[1]
    vocab = model.cfg["vocab_size"]
    labels = np.full((len(LENGTHS), t), -100, dtype=np.int64)
    class_labels = rng.integers(0, model.cfg.get("num_labels", 3) if classifier else 2, size=len(LENGTHS))
    loss = 0
    rtd_labels = np.zeros((len(LENGTHS), t), dtype=np.int64)
    for i, n in enumerate(LENGTHS):
        if token_logits:  # ElectraForPreTraining's loss: BCE with logits over the real tokens
            rtd_labels[i, :n] = rng.integers(0, 2, size=n)
            loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(
                logits[i, :n], torch.from_numpy(rtd_labels[i, :n]).double())
        elif classifier:
            loss = loss + torch.nn.functional.cross_entropy(logits[i:i + 1], torch.tensor([int(class_labels[i])]))
        else:
            positions = rng.choice(np.arange(1, n - 1), size=3, replace=False)
            labels[i, positions] = rng.integers(3, vocab, size=3)
            loss = loss + torch.nn.functional.cross_entropy(logits[i, :n], torch.from_numpy(labels[i, :n]),
                                                            ignore_index=-100)
    loss.backward()
    if token_logits:
        arrays["rtd_labels"] = rtd_labels
    arrays.update({"mlm_labels": labels, "class_labels": class_labels, "head_mask": head_mask.detach().numpy(),
                   "loss": np.array(float(loss)), "grad.head_mask": head_mask.grad.numpy().astype(np.float32),
                   "grad.word_embeddings": word_emb.grad.numpy().astype(np.float32)})
    for l, p in enumerate(probs):
        arrays[f"grad.layer.{l}.attn.probs"] = p.grad.numpy().astype(np.float32)
    for name, v in model.w.items():
        if v.grad is not None:
            arrays["param." + name] = v.grad.numpy().astype(np.float32)
    tangent = torch.from_numpy(rng.normal(size=word_emb.shape)) * tmask[..., None]
    arrays["jvp.tangent"] = tangent.numpy().astype(np.float32)

    def f(we):
        return model.forward(tids, ttypes, tmask, torch.float64, head_mask=head_mask.detach(), inputs_embeds=we,
                             keep_probs=True)["logits"]

    _, jv = torch.autograd.functional.jvp(f, (word_emb.detach(),), (tangent,))
    arrays["jvp.logits"] = jv.detach().numpy().astype(np.float32)
    return classifier, float(loss)


def write_family_goldens(models, seed_base, load, make_batch, summary_name, forward=forward_cases):
    """The goldens of one family: for each model spec, `bertscope make-model`, the reference loaded
    by load(folder) -> (model, extra summary fields), a padded batch from make_batch, the forward
    cases (`forward`, a family may add its own) and the gradients; one .npz per model and
    `summary_name` with every model's entry."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--bertscope", required=True, help="path to the bertscope binary")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    summary = {"lengths": LENGTHS, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k, spec in enumerate(models):
            rng = np.random.default_rng(seed_base + k)
            folder = os.path.join(tmp, spec["name"])
            subprocess.run([args.bertscope, "make-model", "--out", folder] + spec["args"], check=True,
                           stdout=subprocess.DEVNULL)
            model, extra = load(folder)
            ids, types, mask = make_batch(model.cfg["vocab_size"], rng)
            tids, ttypes, tmask = map(torch.from_numpy, (ids, types, mask))
            arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
            with torch.no_grad():
                cases = forward(model, tids, ttypes, tmask, arrays)
            classifier, loss = gradients(model, ids, tids, ttypes, tmask, rng, arrays)
            np.savez(os.path.join(args.out, spec["name"] + ".npz"), **arrays)
            summary["models"].append({"name": spec["name"], "args": spec["args"], "classifier": classifier,
                                      "fnv1a64": fnv1a64(os.path.join(folder, "model.safetensors")),
                                      "default_init": False, "cases": cases, **extra})
            print(spec["name"], "loss", loss, {c: {k: f"{v:.2e}" for k, v in e["torch_f32_max_error"].items()}
                                               for c, e in cases.items()}, file=sys.stderr)
    with open(os.path.join(args.out, summary_name), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")


def main():
    write_family_goldens(MODELS, 3100, lambda folder: (Roberta(folder), {}), make_batch, "roberta.json")


if __name__ == "__main__":
    main()
