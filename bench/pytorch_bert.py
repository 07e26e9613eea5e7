#!/usr/bin/python3
"""PyTorch side of the speed comparison: the same random BERT forward that `bertscope bench`
runs, written the way transformers' eager BertModel computes it (nn.functional linear,
softmax, layer_norm, gelu; attention probabilities and every hidden state kept), float32,
no_grad. Prints one JSON object like `bertscope bench --json`. With --backward it times what
`bertscope bench --backward` times: a forward pass that keeps what autograd needs, then the
gradient of sum(last_hidden * G) (G fixed random) with respect to every encoder parameter.
With --head-sweep it times what `bertscope ablate --mode zero --no-layers` computes, the way a
transformers user would: the classifier's predictions on the inputs, then again with each head
disabled in turn by a head mask (one full forward pass per head), and the accuracy of each.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_bert.py --model DIR --batch 8 --seq 128 --threads 2
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
from bert_reference import read_safetensors  # noqa: E402


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    w = {k: v.to(torch.float32).contiguous() for k, v in read_safetensors(os.path.join(folder, "model.safetensors")).items()}
    return cfg, w


def forward(cfg, w, ids, types, masked=None, p_hidden=0.0, p_attn=0.0, float_norms=False):
    """The encoder; with p_hidden/p_attn, BERT's training dropout (after the embeddings, on the
    attention probabilities and on both branch outputs). float_norms: LayerNorm on float32 inputs
    (CPU autocast of this PyTorch leaves layer_norm to its inputs' dtypes)."""
    b, t = ids.shape
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    d = hidden // heads
    eps = cfg.get("layer_norm_eps", 1e-12)
    pos = torch.arange(t).unsqueeze(0)

    def ln(y, name):
        return F.layer_norm(y.float() if float_norms else y, (hidden,), w[name + ".weight"], w[name + ".bias"], eps)

    def drop(y, p):
        return F.dropout(y, p) if p > 0 else y
    x = w["bert.embeddings.word_embeddings.weight"][ids] + w["bert.embeddings.token_type_embeddings.weight"][types]
    x = x + w["bert.embeddings.position_embeddings.weight"][pos]
    x = drop(ln(x, "bert.embeddings.LayerNorm"), p_hidden)
    hidden_states, attentions = [x], []
    for l in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{l}."

        def lin(y, name):
            return F.linear(y, w[p + name + ".weight"], w[p + name + ".bias"])

        def split(y):
            return y.view(b, t, heads, d).permute(0, 2, 1, 3)
        q, k, v = split(lin(x, "attention.self.query")), split(lin(x, "attention.self.key")), split(lin(x, "attention.self.value"))
        probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d), dim=-1)
        if masked is not None and masked[0] == l:
            mask = torch.ones(heads)
            mask[masked[1]] = 0
            probs = probs * mask.view(1, heads, 1, 1)  # transformers' head_mask
        ctx = torch.matmul(drop(probs, p_attn), v).permute(0, 2, 1, 3).reshape(b, t, hidden)
        u = ln(drop(lin(ctx, "attention.output.dense"), p_hidden) + x, p + "attention.output.LayerNorm")
        x = ln(drop(lin(F.gelu(lin(u, "intermediate.dense")), "output.dense"), p_hidden) + u, p + "output.LayerNorm")
        attentions.append(probs)
        hidden_states.append(x)
    return attentions, hidden_states


def train_step_fn(cfg, w, ids, types, positions, labels, autocast_bf16):
    """One masked-LM training step as `bertscope bench --train` runs it, written the way
    transformers' BertForMaskedLM trains (dropout 0.1 after the embeddings, on the attention
    probabilities and on both branch outputs; the MLM head's transform and the decoder tied to the
    word embeddings), with the careful choice of running the head only at the masked positions,
    then AdamW (no decay on biases and LayerNorm) after clipping the gradient norm to 1."""
    hidden = cfg["hidden_size"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    p_hidden, p_attn = cfg.get("hidden_dropout_prob", 0.1), cfg.get("attention_probs_dropout_prob", 0.1)
    params = [v for v in w.values() if v.requires_grad]
    decay = [v for k, v in w.items() if v.requires_grad and not (k.endswith(".bias") or "LayerNorm" in k)]
    rest = [v for k, v in w.items() if v.requires_grad and (k.endswith(".bias") or "LayerNorm" in k)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-5, eps=1e-6)

    def loss_fn():
        _, hs = forward(cfg, w, ids, types, p_hidden=p_hidden, p_attn=p_attn, float_norms=autocast_bf16)
        h = hs[-1][positions[0], positions[1]]  # the masked positions only
        h = F.gelu(F.linear(h, w["cls.predictions.transform.dense.weight"], w["cls.predictions.transform.dense.bias"]))
        h = F.layer_norm(h.float(), (hidden,), w["cls.predictions.transform.LayerNorm.weight"],
                         w["cls.predictions.transform.LayerNorm.bias"], eps)
        logits = F.linear(h, w["bert.embeddings.word_embeddings.weight"], w["cls.predictions.bias"])
        return F.cross_entropy(logits.float(), labels)

    def step():
        opt.zero_grad(set_to_none=True)
        if autocast_bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn()
        else:
            loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return step


def timed(step, seconds):
    """Runs step once to warm up, then for at least `seconds` (and twice): (runs, seconds)."""
    step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 2:
        step()
        done += 1
    return done, time.perf_counter() - start


def classify(cfg, w, ids, types, masked=None):
    _, hs = forward(cfg, w, ids, types, masked)
    pooled = torch.tanh(F.linear(hs[-1][:, 0], w["bert.pooler.dense.weight"], w["bert.pooler.dense.bias"]))
    return F.linear(pooled, w["classifier.weight"], w["classifier.bias"]).argmax(-1)


def head_sweep(cfg, w, ids, labels, batch):
    """Seconds for the baseline and every single-head-disabled evaluation, and the accuracies."""
    types = torch.zeros_like(ids)
    configs = [None] + [(l, h) for l in range(cfg["num_hidden_layers"]) for h in range(cfg["num_attention_heads"])]
    accuracy = []
    start = time.perf_counter()
    with torch.no_grad():
        for masked in configs:
            correct = 0
            for b in range(0, ids.shape[0], batch):
                correct += int((classify(cfg, w, ids[b:b + batch], types[b:b + batch], masked) == labels[b:b + batch]).sum())
            accuracy.append(correct / ids.shape[0])
    return time.perf_counter() - start, accuracy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--backward", action="store_true")
    ap.add_argument("--train", action="store_true", help="time a whole masked-LM training step (see train_step_fn)")
    ap.add_argument("--autocast-bf16", action="store_true", help="with --train: torch.autocast(cpu, bfloat16)")
    ap.add_argument("--head-sweep", type=int, metavar="N",
                    help="time a head-disabling sweep over N inputs of --seq tokens ([CLS], --token repeated, [SEP])")
    ap.add_argument("--token", type=int, default=1996, help="token id that fills the --head-sweep inputs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg, w = load(args.model)
    g = torch.Generator().manual_seed(42)
    if args.head_sweep:
        ids = torch.full((args.head_sweep, args.seq), args.token)
        ids[:, 0], ids[:, -1] = 101, 102
        labels = torch.arange(args.head_sweep) % 2
        seconds, accuracy = head_sweep(cfg, w, ids, labels, args.batch)
        print(json.dumps({"impl": "pytorch", "mode": "head_sweep", "torch": torch.__version__, "inputs": args.head_sweep,
                          "seq": args.seq, "batch": args.batch, "threads": args.threads,
                          "configurations": len(accuracy), "seconds": seconds, "baseline_accuracy": accuracy[0]}))
        return
    ids = torch.randint(1000, cfg["vocab_size"], (args.batch, args.seq), generator=g)
    types = torch.zeros_like(ids)
    if args.train:
        for k, v in w.items():
            v.requires_grad_(not k.startswith("cls.predictions.decoder"))  # tied to the word embeddings
        mask = torch.rand(args.batch, args.seq, generator=g) < 0.15
        mask[:, 0] = mask[:, -1] = False
        mask[:, 1] |= ~mask.any(dim=1)  # at least one prediction per input
        positions = mask.nonzero(as_tuple=True)
        labels = ids[positions].clone()
        ids = ids.clone()
        ids[positions] = 103
        step = train_step_fn(cfg, w, ids, types, positions, labels, args.autocast_bf16)
        done, elapsed = timed(step, args.seconds)
    elif args.backward:
        for v in w.values():
            v.requires_grad_(True)
        seed = torch.randn(args.batch, args.seq, cfg["hidden_size"], generator=g)

        def step():
            for v in w.values():
                v.grad = None
            _, hs = forward(cfg, w, ids, types)
            (hs[-1] * seed).sum().backward()
        done, elapsed = timed(step, args.seconds)
    else:
        with torch.no_grad():
            done, elapsed = timed(lambda: forward(cfg, w, ids, types), args.seconds)
    tokens = args.batch * args.seq * done
    h, i, t = cfg["hidden_size"], cfg["intermediate_size"], args.seq
    flops = args.batch * t * (2 * (4 * h * h + 2 * h * i) + 4 * t * h) * cfg["num_hidden_layers"] * done
    if args.backward or args.train:
        flops *= 3  # the backward pass costs two forward passes' products (input and weight gradients)
    mode = "train" + ("_autocast_bf16" if args.autocast_bf16 else "") if args.train else "backward" if args.backward else "forward"
    print(json.dumps({"impl": "pytorch", "mode": mode, "torch": torch.__version__, "batch": args.batch, "seq": args.seq,
                      "threads": args.threads, "iterations": done, "tokens_per_s": tokens / elapsed,
                      "gflops": flops / elapsed / 1e9,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
