#!/usr/bin/python3
"""Golden head-importance scores for `bertscope analyze importance`, from the independent PyTorch
reference (bert_reference.py) in float64:

  - run_bertology: transformers' examples/research_projects/bertology/run_bertology.py,
    compute_heads_importance and mask_heads, re-typed here around bert_reference.Bert: a padded
    sequential data loader of batch size B, loss = the batch's mean cross-entropy, loss.backward()
    into a head mask whose .grad is never zeroed, head_importance += |head_mask.grad| per step,
    attention entropy (0 log 0 = 0) of non-pad query rows, both divided by the number of non-pad
    tokens, per-layer L2 normalisation (+1e-20), global min-max, then the masking loop (mask the
    max(1, int(0.1 * L * H)) least important heads, masked heads +inf, re-score with the new mask,
    stop once accuracy < 0.9 * the original; the last mask above the threshold is the result).
    For B = 1 and B = 3.
  - Michel et al.: sum over examples of |dL_x / d mask| with a fresh gradient per example
    (batch size 1, zeroed each step), raw, for the classifier and for an MLM model (loss = the
    example's mean cross-entropy over its masked positions).

    /usr/bin/python3 tools/reference/importance_reference.py --bertscope build/release/bertscope

Writes tests/golden/importance.json (model recipes, weight checksums, inputs, scores). It never
imports bertscope code; bertscope only makes the random models.
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
CLASSIFIER = ["--layers", "3", "--hidden", "32", "--heads", "4", "--intermediate", "48", "--labels", "3", "--seed", "31",
              "--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
MLM = ["--layers", "2", "--hidden", "24", "--heads", "3", "--intermediate", "40", "--seed", "32",
       "--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
CLASS_LENGTHS = [7, 12, 5, 9, 14, 6, 10, 8, 11, 7, 13, 9]
MLM_LENGTHS = [9, 14, 7, 12]
MASK_ID = 4


def make_inputs(lengths, vocab, rng):
    out = []
    for n in lengths:
        ids = rng.integers(5, vocab, size=n)
        ids[0], ids[-1] = 2, 3
        types = np.zeros(n, dtype=np.int64)
        if n >= 10:  # a pair: [CLS] a [SEP] b [SEP]
            split = n // 2
            ids[split - 1] = 3
            types[split:] = 1
        out.append((ids.astype(np.int64), types))
    return out


def padded(batch):
    t = max(len(ids) for ids, _ in batch)
    ids = torch.zeros(len(batch), t, dtype=torch.int64)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, (a, b) in enumerate(batch):
        ids[i, :len(a)] = torch.from_numpy(a)
        types[i, :len(a)] = torch.from_numpy(b)
        mask[i, :len(a)] = 1
    return ids, types, mask


def entropy(p):
    plogp = p * torch.log(p)
    plogp[p == 0] = 0
    return -plogp.sum(dim=-1)


def compute_heads_importance(bert, inputs, labels, batch_size, head_mask=None):
    """run_bertology.compute_heads_importance with its default options."""
    n_layers, n_heads = bert.layers, bert.heads
    head_importance = torch.zeros(n_layers, n_heads, dtype=torch.float64)
    attn_entropy = torch.zeros(n_layers, n_heads, dtype=torch.float64)
    if head_mask is None:
        head_mask = torch.ones(n_layers, n_heads, dtype=torch.float64)
    head_mask = head_mask.clone().detach().requires_grad_(True)
    preds = []
    tot_tokens = 0.0
    for start in range(0, len(inputs), batch_size):
        ids, types, mask = padded(inputs[start:start + batch_size])
        attentions, _, extras = bert.forward(ids, types, mask, torch.float64, head_mask=head_mask)
        logits = extras["logits"]
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(labels[start:start + batch_size]))
        loss.backward()
        for layer in range(n_layers):
            attn = attentions[:, layer].detach()
            masked_entropy = entropy(attn) * mask.double().unsqueeze(1)
            attn_entropy[layer] += masked_entropy.sum(-1).sum(0)
        head_importance += head_mask.grad.abs().detach()
        preds.append(logits.detach())
        tot_tokens += float(mask.double().sum())
    attn_entropy /= tot_tokens
    head_importance /= tot_tokens
    norm_by_layer = torch.pow(torch.pow(head_importance, 2).sum(-1), 0.5)
    head_importance /= norm_by_layer.unsqueeze(-1) + 1e-20
    head_importance = (head_importance - head_importance.min()) / (head_importance.max() - head_importance.min())
    preds = torch.cat(preds).numpy()
    accuracy = float((preds.argmax(axis=1) == np.array(labels)).mean())
    margin = float(np.min(np.abs(np.sort(preds, axis=1)[:, -1] - np.sort(preds, axis=1)[:, -2])))
    return attn_entropy, head_importance, accuracy, margin


def mask_heads(bert, inputs, labels, batch_size, amount=0.1, threshold=0.9):
    """run_bertology.mask_heads; steps are recorded for the golden."""
    _, head_importance, original, margin = compute_heads_importance(bert, inputs, labels, batch_size)
    steps = [{"masked": [], "accuracy": original, "importance": head_importance.tolist(), "margin": margin}]
    new_head_mask = torch.ones_like(head_importance)
    num_to_mask = max(1, int(new_head_mask.numel() * amount))
    current = original
    final = new_head_mask.clone()
    while current >= original * threshold:
        head_mask = new_head_mask.clone()
        final = head_mask
        if float(head_mask.sum()) == 0:
            break  # run_bertology would loop for ever here
        head_importance[head_mask == 0.0] = float("Inf")
        order = np.argsort(head_importance.view(-1).numpy(), kind="stable")
        to_mask = [int(i) for i in order[:num_to_mask] if float(head_mask.view(-1)[int(i)]) != 0.0]
        new_head_mask = new_head_mask.view(-1).clone()
        new_head_mask[to_mask] = 0.0
        new_head_mask = new_head_mask.view_as(head_mask)
        _, head_importance, current, margin = compute_heads_importance(bert, inputs, labels, batch_size, new_head_mask)
        steps.append({"masked": to_mask, "accuracy": current, "importance": head_importance.tolist(), "margin": margin})
    return steps, final


def michel_raw(bert, inputs, loss_fn):
    """Sum over examples of |dL_x/d mask|, batch size 1, gradient fresh for each example."""
    raw = torch.zeros(bert.layers, bert.heads, dtype=torch.float64)
    for i, (ids, types) in enumerate(inputs):
        head_mask = torch.ones(bert.layers, bert.heads, dtype=torch.float64, requires_grad=True)
        t_ids, t_types, t_mask = padded([(ids, types)])
        _, _, extras = bert.forward(t_ids, t_types, t_mask, torch.float64, head_mask=head_mask)
        loss_fn(i, extras["logits"]).backward()
        raw += head_mask.grad.abs()
    return raw


def make_model(bertscope, folder, recipe):
    subprocess.run([bertscope, "make-model", "--vocab", VOCAB, "--out", folder] + recipe, check=True,
                   stdout=subprocess.DEVNULL)
    return Bert(folder), fnv1a64(os.path.join(folder, "model.safetensors"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bertscope", required=True, help="path to the bertscope binary")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "importance.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(1905)
    golden = {}
    with tempfile.TemporaryDirectory() as tmp:
        bert, checksum = make_model(args.bertscope, os.path.join(tmp, "clf"), CLASSIFIER)
        inputs = make_inputs(CLASS_LENGTHS, bert.cfg["vocab_size"], rng)
        labels = [int(x) for x in rng.integers(0, len(bert.cfg["id2label"]), size=len(inputs))]
        entry = {"args": CLASSIFIER, "fnv1a64": checksum,
                 "inputs": [{"ids": ids.tolist(), "types": types.tolist()} for ids, types in inputs], "labels": labels}
        raw = michel_raw(bert, inputs, lambda i, logits: torch.nn.functional.cross_entropy(logits, torch.tensor([labels[i]])))
        entry["michel_raw"] = raw.tolist()
        for batch in (1, 3):
            entropy_, importance, accuracy, _ = compute_heads_importance(bert, inputs, labels, batch)
            steps, final = mask_heads(bert, inputs, labels, batch)
            entry[f"bertology_batch{batch}"] = {"importance": importance.tolist(), "entropy": entropy_.tolist(),
                                                "accuracy": accuracy, "steps": steps, "final_mask": final.tolist()}
        golden["classifier"] = entry

        bert, checksum = make_model(args.bertscope, os.path.join(tmp, "mlm"), MLM)
        vocab = bert.cfg["vocab_size"]
        inputs = make_inputs(MLM_LENGTHS, vocab, rng)
        masked = []
        for ids, types in inputs:
            n = len(ids)
            positions = sorted(int(p) for p in rng.choice(np.arange(1, n - 1), size=max(1, round(0.15 * (n - 2))) + 1, replace=False))
            labels = [int(ids[p]) for p in positions]
            new = ids.copy()
            for k, p in enumerate(positions):
                new[p] = MASK_ID if k % 3 != 2 else int(rng.integers(5, vocab))
            masked.append(((new, types), positions, labels))

        def mlm_loss(i, logits):
            (_, _), positions, labels = masked[i]
            return torch.nn.functional.cross_entropy(logits[0, positions], torch.tensor(labels))

        raw = michel_raw(bert, [m[0] for m in masked], mlm_loss)
        golden["mlm"] = {"args": MLM, "fnv1a64": checksum,
                         "inputs": [{"ids": m[0][0].tolist(), "types": m[0][1].tolist(), "positions": m[1], "labels": m[2]}
                                    for m in masked],
                         "michel_raw": raw.tolist()}
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
