#!/usr/bin/python3
"""Regenerates tests/golden/gradients*.npz: gradients from PyTorch autograd in float64 on the
independent reference (bert_reference.py), for random models made by `bertscope make-model`.

    /usr/bin/python3 tools/reference/make_grad_goldens.py --bertscope build/release/bertscope

Loss: the sum over inputs of each input's mean cross-entropy (MLM at a few labelled positions,
or the class label). Stored: every parameter gradient, the head-mask gradient (at a head mask
with non-trivial values), the gradient with respect to each input's word embeddings and to the
applied attention probabilities of every layer, and a forward-mode derivative (JVP) of the
logits along a random word-embedding tangent. Gradients are stored as float32 (the tests
allow 1e-4 relative error).
"""
import argparse
import json
import math
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
MODELS = [
    {"name": "grad_mlm", "args": ["--layers", "2", "--hidden", "48", "--heads", "3", "--intermediate", "100",
                                   "--seed", "21", "--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]},
    {"name": "grad_classifier", "args": ["--layers", "2", "--hidden", "40", "--heads", "5", "--intermediate", "72",
                                          "--seed", "22", "--init-std", "0.2", "--bias-std", "0.1", "--norm-std",
                                          "0.1", "--labels", "3", "--hidden-act", "gelu_new"]},
]
LENGTHS = [9, 6, 12]


def forward_graph(bert, ids, types, mask, word_emb, head_mask):
    """The reference forward with the leaves whose gradients we store."""
    w = bert.w
    b, t = ids.shape
    hidden, heads = bert.hidden, bert.heads
    d = hidden // heads
    pos = torch.arange(t).unsqueeze(0).expand(b, t)
    x = word_emb + w["bert.embeddings.token_type_embeddings.weight"][types]
    x = x + w["bert.embeddings.position_embeddings.weight"][pos]
    x = torch.nn.functional.layer_norm(x, (hidden,), w["bert.embeddings.LayerNorm.weight"],
                                       w["bert.embeddings.LayerNorm.bias"], bert.eps)
    ext = (1.0 - mask[:, None, None, :].double()) * torch.finfo(torch.float64).min
    probs_used = []
    for l in range(bert.layers):
        pre = f"bert.encoder.layer.{l}."

        def lin(y, name):
            return torch.nn.functional.linear(y, w[pre + name + ".weight"], w[pre + name + ".bias"])

        def split(y):
            return y.view(b, t, heads, d).permute(0, 2, 1, 3)

        q, k, v = split(lin(x, "attention.self.query")), split(lin(x, "attention.self.key")), split(lin(x, "attention.self.value"))
        p = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext, dim=-1)
        p = p * head_mask[l][None, :, None, None]
        p.retain_grad()
        probs_used.append(p)
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(b, t, hidden)
        u = torch.nn.functional.layer_norm(lin(ctx, "attention.output.dense") + x, (hidden,),
                                           w[pre + "attention.output.LayerNorm.weight"],
                                           w[pre + "attention.output.LayerNorm.bias"], bert.eps)
        x = torch.nn.functional.layer_norm(lin(bert.act(lin(u, "intermediate.dense")), "output.dense") + u, (hidden,),
                                           w[pre + "output.LayerNorm.weight"], w[pre + "output.LayerNorm.bias"], bert.eps)
    if "classifier.weight" in w:
        pooled = torch.tanh(torch.nn.functional.linear(x[:, 0], w["bert.pooler.dense.weight"], w["bert.pooler.dense.bias"]))
        logits = torch.nn.functional.linear(pooled, w["classifier.weight"], w["classifier.bias"])
    else:
        h = bert.act(torch.nn.functional.linear(x, w["cls.predictions.transform.dense.weight"],
                                                w["cls.predictions.transform.dense.bias"]))
        h = torch.nn.functional.layer_norm(h, (hidden,), w["cls.predictions.transform.LayerNorm.weight"],
                                           w["cls.predictions.transform.LayerNorm.bias"], bert.eps)
        logits = torch.nn.functional.linear(h, w["bert.embeddings.word_embeddings.weight"], w["cls.predictions.bias"])
    return logits, probs_used


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bertscope", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden"))
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    summary = {"vocab": "tests/data/tiny-vocab.txt", "lengths": LENGTHS, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in MODELS:
            folder = os.path.join(tmp, spec["name"])
            subprocess.run([args.bertscope, "make-model", "--vocab", VOCAB, "--out", folder] + spec["args"],
                           check=True, stdout=subprocess.DEVNULL)
            bert = Bert(folder)
            for v in bert.w.values():
                v.requires_grad_(True)
            vocab = bert.cfg["vocab_size"]
            t = max(LENGTHS)
            ids = np.zeros((len(LENGTHS), t), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for i, n in enumerate(LENGTHS):
                ids[i, :n] = rng.integers(5, vocab, size=n)
                ids[i, 0], ids[i, n - 1] = 2, 3
                mask[i, :n] = 1
                if i == 1:
                    types[i, 3:n] = 1
            classifier = "classifier.weight" in bert.w
            heads = bert.heads
            head_mask = torch.ones(bert.layers, heads, dtype=torch.float64)
            head_mask[0, 1] = 0.5
            head_mask[1, heads - 1] = 1.5
            head_mask.requires_grad_(True)
            word_emb = bert.w["bert.embeddings.word_embeddings.weight"].detach()[torch.from_numpy(ids)].clone().requires_grad_(True)
            tids, ttypes, tmask = map(torch.from_numpy, (ids, types, mask))
            logits, probs = forward_graph(bert, tids, ttypes, tmask, word_emb, head_mask)
            labels = np.full((len(LENGTHS), t), -100, dtype=np.int64)
            class_labels = rng.integers(0, bert.cfg.get("num_labels", 3) if classifier else 2, size=len(LENGTHS))
            loss = 0
            for i, n in enumerate(LENGTHS):
                if classifier:
                    loss = loss + torch.nn.functional.cross_entropy(logits[i:i + 1], torch.tensor([int(class_labels[i])]))
                else:
                    positions = rng.choice(np.arange(1, n - 1), size=min(3, n - 2), replace=False)
                    labels[i, positions] = rng.integers(5, vocab, size=len(positions))
                    loss = loss + torch.nn.functional.cross_entropy(logits[i, :n], torch.from_numpy(labels[i, :n]), ignore_index=-100)
            loss.backward()
            arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "mlm_labels": labels,
                      "class_labels": class_labels, "head_mask": head_mask.detach().numpy(), "loss": np.array(float(loss)),
                      "grad.head_mask": head_mask.grad.numpy().astype(np.float32),
                      "grad.word_embeddings": word_emb.grad.numpy().astype(np.float32)}
            for l, p in enumerate(probs):
                arrays[f"grad.layer.{l}.attn.probs"] = p.grad.numpy().astype(np.float32)
            for name, v in bert.w.items():
                if v.grad is not None:
                    g = v.grad.clone()
                    if name == "bert.embeddings.word_embeddings.weight":
                        pass  # the lookup went through word_emb (a leaf); only the tied decoder adds here
                    arrays["param." + name] = g.numpy().astype(np.float32)
            # Forward-mode: d logits along a random word-embedding tangent (finite in float64 autograd).
            tangent = torch.from_numpy(rng.normal(size=word_emb.shape)) * tmask[..., None]
            arrays["jvp.tangent"] = tangent.numpy().astype(np.float32)
            def f(we):
                return forward_graph(bert, tids, ttypes, tmask, we, head_mask.detach())[0]
            _, jv = torch.autograd.functional.jvp(f, (word_emb.detach(),), (tangent,))
            arrays["jvp.logits"] = jv.detach().numpy().astype(np.float32)
            np.savez(os.path.join(args.out, spec["name"] + ".npz"), **arrays)
            summary["models"].append({"name": spec["name"], "args": spec["args"], "classifier": classifier,
                                      "fnv1a64": fnv1a64(os.path.join(folder, "model.safetensors"))})
            print(spec["name"], "loss", float(loss), file=sys.stderr)
    with open(os.path.join(args.out, "gradients.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
