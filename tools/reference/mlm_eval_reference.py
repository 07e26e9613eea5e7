#!/usr/bin/python3
"""Independent check of `bertscope evaluate mlm`: recomputes its held-out masked-LM loss and
accuracy from the model folder alone, with transformers' BertForMaskedLM semantics in float64.

    bertscope evaluate mlm --model M --corpus BOOKS... --dump-instances inst.npz --out eval.json
    /usr/bin/python3 tools/reference/mlm_eval_reference.py M inst.npz eval.json [--accuracy-points 1]

The sequences and positions are bertscope's (inst.npz: input_ids, token_type_ids, lengths and,
per evaluated position, sequence, position, label); everything else is this script's own:
  - the mask token's id from the folder's vocab.txt and tokenizer_config.json ("mask_token"),
    and checks that every evaluated position holds it, that no [CLS]/[SEP] is evaluated, and
    that each sequence has round(mask_prob * non-special tokens) positions (at least one);
  - the forward pass (bert_reference.py: BertModel on the folder's safetensors, float64) and
    BertLMPredictionHead (transform dense -> activation -> LayerNorm -> decoder tied to the word
    embeddings + cls.predictions.bias) at those positions;
  - loss = cross_entropy over the evaluated positions (BertForMaskedLM's loss with labels -100
    elsewhere), accuracy = share of positions whose argmax is the label.
It prints both figures beside bertscope's and exits 1 when they differ by more than the
tolerances: loss --loss-tol (1e-3 nats); accuracy exactly, up to the positions whose top two
float64 logits are within --tie-margin (a float32 run may order those either way), or within
--accuracy-points percentage points when given. Exits 77 when NumPy or PyTorch is missing.
It never imports bertscope code.
"""
import argparse
import json
import math
import os
import sys

try:
    import numpy as np
    import torch
except ImportError:
    print("mlm_eval_reference: numpy and torch are needed (Debian: python3-numpy python3-torch)", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_reference import Bert  # noqa: E402


def special_ids(folder):
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        vocab = {tok: i for i, tok in enumerate(f.read().split("\n"))}
    names = {"mask_token": "[MASK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    path = os.path.join(folder, "tokenizer_config.json")
    if os.path.exists(path):
        with open(path) as f:
            cfg = json.load(f)
        for key in names:
            value = cfg.get(key)
            if isinstance(value, dict):  # AddedToken serialisation
                value = value.get("content")
            if value:
                names[key] = value
    return {key: vocab[tok] for key, tok in names.items()}


def round_half_away(x):
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("instances", help=".npz written by bertscope evaluate mlm --dump-instances")
    ap.add_argument("report", help="JSON written by bertscope evaluate mlm --out")
    ap.add_argument("--loss-tol", type=float, default=1e-3)
    ap.add_argument("--tie-margin", type=float, default=1e-3)
    ap.add_argument("--accuracy-points", type=float, default=None)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()

    with open(args.report) as f:
        doc = json.load(f)
    res = doc["results"] if "results" in doc else doc
    mask_prob = res["settings"]["mask_prob"]
    ids_of = special_ids(args.folder)
    z = np.load(args.instances)
    input_ids, types, lengths = z["input_ids"].astype(np.int64), z["token_type_ids"].astype(np.int64), z["lengths"]
    seq, pos, label = z["sequence"].astype(np.int64), z["position"].astype(np.int64), z["label"].astype(np.int64)
    failures = []

    # The protocol, checked on bertscope's instances.
    if not np.all(input_ids[seq, pos] == ids_of["mask_token"]):
        failures.append("an evaluated position does not hold the mask token")
    if np.any(label == ids_of["cls_token"]) or np.any(label == ids_of["sep_token"]):
        failures.append("a [CLS] or [SEP] position is evaluated")
    for i in range(len(lengths)):
        row = input_ids[i, :lengths[i]]
        n = int(np.sum((row != ids_of["cls_token"]) & (row != ids_of["sep_token"])))
        want = max(1, round_half_away(mask_prob * n))
        got = int(np.sum(seq == i))
        if got != want:
            failures.append(f"sequence {i}: {got} evaluated positions, expected {want} of {n}")
            break
        if int(np.sum(row == ids_of["mask_token"])) != got:
            failures.append(f"sequence {i}: masked tokens outside the evaluated positions")
            break

    ref = Bert(args.folder)
    w = ref.w
    dec = w.get("cls.predictions.decoder.weight", w["bert.embeddings.word_embeddings.weight"])
    loss_sum, correct, ties = 0.0, 0, 0
    for start in range(0, len(lengths), args.batch):
        end = min(len(lengths), start + args.batch)
        width = int(lengths[start:end].max())
        ids = torch.tensor(input_ids[start:end, :width])
        tt = torch.tensor(types[start:end, :width])
        am = (torch.arange(width)[None, :] < torch.tensor(lengths[start:end])[:, None]).long()
        # Only the encoder is needed here; the MLM head runs below at the evaluated positions.
        _, hidden, _ = forward_encoder(ref, ids, tt, am)
        sel = (seq >= start) & (seq < end)
        h = hidden[:, -1][torch.tensor(seq[sel] - start), torch.tensor(pos[sel])]
        t = ref.act(ref.linear(h, "cls.predictions.transform.dense", torch.float64))
        t = ref.ln(t, "cls.predictions.transform.LayerNorm", torch.float64)
        logits = torch.nn.functional.linear(t, dec, w["cls.predictions.bias"])
        lab = torch.tensor(label[sel])
        loss_sum += float(torch.nn.functional.cross_entropy(logits, lab, reduction="sum"))
        correct += int((logits.argmax(dim=1) == lab).sum())
        top2 = torch.topk(logits, 2, dim=1).values
        ties += int(((top2[:, 0] - top2[:, 1]) < args.tie_margin).sum())
    count = len(label)
    loss, acc = loss_sum / count, correct / count
    bs_loss, bs_acc, bs_correct = res["mlm_loss"], res["mlm_accuracy"], res.get("mlm_correct")
    print(f"{count} positions in {len(lengths)} sequences")
    print(f"reference (float64, transformers semantics): loss {loss:.4f}, accuracy {100 * acc:.2f}%")
    print(f"bertscope:                                   loss {bs_loss:.4f}, accuracy {100 * bs_acc:.2f}%")
    if res["positions"] != count:
        failures.append(f"the report counts {res['positions']} positions, the instances {count}")
    if abs(loss - bs_loss) > args.loss_tol:
        failures.append(f"loss differs by {abs(loss - bs_loss):.2e} (tolerance {args.loss_tol})")
    if args.accuracy_points is not None:
        if abs(100 * (acc - bs_acc)) > args.accuracy_points:
            failures.append(f"accuracy differs by {100 * abs(acc - bs_acc):.2f} points (tolerance {args.accuracy_points})")
    elif bs_correct is not None and abs(correct - bs_correct) > ties:
        failures.append(f"{abs(correct - bs_correct)} predictions differ, only {ties} near-ties")
    for f in failures:
        print(f"mlm_eval_reference: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


def forward_encoder(ref, ids, types, mask):
    """bert_reference's forward without its whole-sequence MLM logits (vocab x tokens each)."""
    head = {k: ref.w.pop(k) for k in list(ref.w) if k.startswith("cls.")}
    try:
        return ref.forward(ids, types, mask, torch.float64)
    finally:
        ref.w.update(head)


if __name__ == "__main__":
    main()
