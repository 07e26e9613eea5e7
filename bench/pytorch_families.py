#!/usr/bin/python3
"""PyTorch side of the speed comparison for the DeBERTa-v2/v3 and ModernBERT families (dispatch on
config.json's model_type): the same random forward that `bertscope bench` runs, written the way
transformers' eager path computes it, float32, torch.no_grad, torch.set_num_threads(--threads), and,
as output_attentions=True / output_hidden_states=True would, every layer's attention probabilities
and every hidden state kept until the pass ends. Prints one JSON object like `bertscope bench --json`
(and like bench/pytorch_bert.py, whose CLI it shares for the forward).

DeBERTa-v2/v3 (modeling_deberta_v2.py, eager):
  embeddings    word_embeddings(ids) (+ position_embeddings when position_biased_input, + token types
                when type_vocab_size > 0); LayerNorm; * attention mask.
  encoder       relative_pos = build_relative_position (log buckets) once per pass; rel_embeddings
                through encoder.LayerNorm (norm_rel_ebd); mask M[b,i,j] = m_i m_j.
  attention     q, k, v projections; scale = sqrt(d * (1 + c2p + p2c)); scores = Q (K/scale)^T;
                c2p = gather(Q PK^T, clamp(R + S)) / scale, p2c = gather(K PQ^T, clamp(-R + S))^T / scale
                with PK/PQ the (shared or pos_) key/query projections of rel_embeddings[:2S]
                (computed over all 2S relative rows, as transformers does; broadcast over the batch
                instead of transformers' .repeat copy: the same numbers);
                masked_fill(~M, finfo.min); softmax; P V; dense + residual, LayerNorm; GELU FFN.
ModernBERT (modular_modernbert.py, 5.x eager):
  embeddings    norm(tok_embeddings(ids)).
  layers        h += Wo(attn(attn_norm(h))) (Identity norm for layer 0), Wqkv split q|k|v, RoPE per layer
                type (cos/sin once per pass), scores * hd^-0.5 + the eager additive mask (materialised
                for both layer types, as transformers' eager_mask does: zeros / finfo.min outside the
                sliding window), softmax in float32, P V; h += Wo(gelu(a) * g) with (a, g) =
                Wi(mlp_norm(h)).chunk(2); final_norm replaces the last hidden state.

Weights are read straight into float32 (one copy; no float64 staging), so peak RSS is the model plus
what the forward keeps. peak_rss_mb is the process's ru_maxrss like bertscope's; forward_peak_rss_mb
is the peak after resetting the high-water mark once the weights are loaded (/proc/self/clear_refs).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_families.py --model DIR --batch 8 --seq 128 --threads 2
    /usr/bin/python3 bench/pytorch_families.py --check DIR     # attentions/hidden vs tools/reference, float32
"""
import argparse
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "reference"))
from deberta_reference import build_relative_position  # noqa: E402  (transformers' float32 log buckets)


# ----------------------------------------------------------------------------------------- loading
def read_f32(path):
    """model.safetensors -> {name: float32 tensor}, one copy per tensor."""
    dtypes = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            f.seek(base + begin)
            if info["dtype"] == "BF16":
                u = np.fromfile(f, dtype="<u2", count=(end - begin) // 2).astype(np.uint32) << 16
                arr = u.view(np.float32)
            else:
                dt = np.dtype(dtypes[info["dtype"]])
                arr = np.fromfile(f, dtype=dt, count=(end - begin) // dt.itemsize)
                if dt != np.float32:
                    arr = arr.astype(np.float32)
            out[name] = torch.from_numpy(arr.reshape(info["shape"]))
    return out


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    return cfg, read_f32(os.path.join(folder, "model.safetensors"))


# ----------------------------------------------------------------------------------------- DeBERTa
def deberta_forward(cfg, w, ids, attention_mask, keep_attn=True):
    b, t = ids.shape
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    d = hidden // heads
    eps = cfg.get("layer_norm_eps", 1e-7)
    pre = "deberta."
    pos_att = cfg.get("pos_att_type") or []
    if isinstance(pos_att, str):
        pos_att = [x.strip() for x in pos_att.lower().split("|")]
    max_rel = cfg.get("max_relative_positions", -1)
    if max_rel < 1:
        max_rel = cfg.get("max_position_embeddings", 512)
    buckets = cfg.get("position_buckets", -1)
    span = buckets if buckets > 0 else max_rel
    share = cfg.get("share_att_key", False)
    relative = cfg.get("relative_attention", False)
    norm_rel = "layer_norm" in [x.strip() for x in cfg.get("norm_rel_ebd", "none").lower().split("|")]
    act = cfg.get("hidden_act", "gelu")
    assert act == "gelu", act

    def ln(y, name):
        return F.layer_norm(y, (hidden,), w[name + ".weight"], w[name + ".bias"], eps)

    def lin(y, name):
        return F.linear(y, w[name + ".weight"], w[name + ".bias"])

    def split(y):  # [B?, N, hidden] -> [B?, H, N, d]
        return y.view(y.shape[0], -1, heads, d).transpose(1, 2)

    x = w[pre + "embeddings.word_embeddings.weight"][ids]
    if cfg.get("position_biased_input", True):
        x = x + w[pre + "embeddings.position_embeddings.weight"][torch.arange(t)][None]
    if cfg.get("type_vocab_size", 0) > 0:
        x = x + w[pre + "embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    x = ln(x, pre + "embeddings.LayerNorm")
    x = x * attention_mask.unsqueeze(-1).to(x.dtype)
    m = attention_mask.view(b, 1, 1, t)
    keep = (m * m.squeeze(-2).unsqueeze(-1)).bool()  # [B, 1, T, T]
    rel_pos = build_relative_position(t, t, buckets, max_rel)
    rel = None
    if relative:
        rel = w[pre + "encoder.rel_embeddings.weight"]
        if norm_rel:
            rel = ln(rel, pre + "encoder.LayerNorm")
        rel = rel[0:2 * span][None]
        c2p_idx = torch.clamp(rel_pos + span, 0, 2 * span - 1).expand(b, heads, t, t)
        p2c_idx = torch.clamp(-rel_pos + span, 0, 2 * span - 1).expand(b, heads, t, t)
    scale = float(torch.sqrt(torch.tensor(d, dtype=torch.float) * (1 + ("c2p" in pos_att) + ("p2c" in pos_att))))
    neg = torch.finfo(torch.float32).min
    hidden_states, attentions = [x], []
    for l in range(cfg["num_hidden_layers"]):
        lp = f"{pre}encoder.layer.{l}."
        ap = lp + "attention.self."
        q, k, v = split(lin(x, ap + "query_proj")), split(lin(x, ap + "key_proj")), split(lin(x, ap + "value_proj"))
        scores = torch.matmul(q, k.transpose(-1, -2) / scale)
        if relative:
            if "c2p" in pos_att:
                pk = split(lin(rel, ap + ("key_proj" if share else "pos_key_proj")))  # [1, H, 2S, d]
                c2p = torch.gather(torch.matmul(q, pk.transpose(-1, -2)), -1, c2p_idx)
                scores = scores + c2p / scale
            if "p2c" in pos_att:
                pq = split(lin(rel, ap + ("query_proj" if share else "pos_query_proj")))
                p2c = torch.gather(torch.matmul(k, pq.transpose(-1, -2)), -1, p2c_idx).transpose(-1, -2)
                scores = scores + p2c / scale
        probs = F.softmax(scores.masked_fill(~keep, neg), dim=-1)
        if keep_attn:
            attentions.append(probs)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, hidden)
        mid = ln(lin(ctx, lp + "attention.output.dense") + x, lp + "attention.output.LayerNorm")
        x = ln(lin(F.gelu(lin(mid, lp + "intermediate.dense")), lp + "output.dense") + mid, lp + "output.LayerNorm")
        hidden_states.append(x)
    return attentions, hidden_states


def deberta_flops(cfg, b, t):
    """Products of one pass as computed here (c2p/p2c over all 2S relative rows)."""
    h, i, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    s2 = 2 * (cfg.get("position_buckets", -1) if cfg.get("position_buckets", -1) > 0 else 512)
    per_layer = b * t * (2 * (4 * h * h + 2 * h * i) + 4 * t * h) + 2 * (2 * s2 * h * h) + 2 * (2 * b * t * s2 * h)
    return per_layer * L


# -------------------------------------------------------------------------------------- ModernBERT
def modernbert_layer_types(cfg):
    if cfg.get("layer_types") is not None:
        return list(cfg["layer_types"])
    every = cfg.get("global_attn_every_n_layers", 3)
    return ["sliding_attention" if i % every else "full_attention" for i in range(cfg["num_hidden_layers"])]


def modernbert_thetas(cfg):
    params = cfg.get("rope_parameters") or {}
    legacy = {"full_attention": ("global_rope_theta", 160000.0), "sliding_attention": ("local_rope_theta", 10000.0)}
    return {k: float((params.get(k) or {}).get("rope_theta", cfg.get(key, dflt))) for k, (key, dflt) in legacy.items()}


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def modernbert_forward(cfg, w, ids, attention_mask, keep_attn=True):
    b, t = ids.shape
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = hidden // heads
    eps = cfg.get("norm_eps", 1e-5)
    pre = "model." if "model.embeddings.tok_embeddings.weight" in w else ""
    act = cfg.get("hidden_activation", "gelu")
    assert act == "gelu", act
    types = modernbert_layer_types(cfg)
    thetas = modernbert_thetas(cfg)
    half_window = cfg.get("local_attention", 128) // 2

    def ln(y, name):
        return F.layer_norm(y, (hidden,), w[name + ".weight"], w.get(name + ".bias"), eps)

    def lin(y, name):
        return F.linear(y, w[name + ".weight"], w.get(name + ".bias"))

    x = ln(w[pre + "embeddings.tok_embeddings.weight"][ids], pre + "embeddings.norm")
    # Once per pass, per layer type: the eager additive mask and RoPE's cos/sin.
    neg = torch.finfo(torch.float32).min
    key_ok = attention_mask.bool()[:, None, None, :]
    idx = torch.arange(t)
    masks, ropes = {}, {}
    for kind in set(types):
        ok = key_ok
        if kind == "sliding_attention":
            ok = ok & ((idx[:, None] - idx[None, :]).abs() <= half_window)[None, None]
        masks[kind] = torch.zeros(b, 1, t, t).masked_fill(~ok, neg)
        inv = 1.0 / (thetas[kind] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
        freqs = idx.float()[:, None] * inv[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        ropes[kind] = (emb.cos(), emb.sin())
    hidden_states, attentions = [x], []
    for l in range(cfg["num_hidden_layers"]):
        lp = f"{pre}layers.{l}."
        kind = types[l]
        a_in = x if l == 0 else ln(x, lp + "attn_norm")
        q, k, v = lin(a_in, lp + "attn.Wqkv").view(b, t, 3, heads, hd).transpose(3, 1).unbind(dim=2)  # [B, H, T, hd]
        cos, sin = ropes[kind]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        probs = F.softmax(torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5 + masks[kind], dim=-1, dtype=torch.float32)
        if keep_attn:
            attentions.append(probs)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, hidden)
        x = x + lin(ctx, lp + "attn.Wo")
        a, g = lin(ln(x, lp + "mlp_norm"), lp + "mlp.Wi").chunk(2, dim=-1)
        x = x + lin(F.gelu(a) * g, lp + "mlp.Wo")
        hidden_states.append(x)
    hidden_states[-1] = ln(x, pre + "final_norm")
    return attentions, hidden_states


def modernbert_flops(cfg, b, t):
    h, i, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    return b * t * (2 * (4 * h * h + 3 * h * i) + 4 * t * h) * L


FAMILIES = {"deberta-v2": (deberta_forward, deberta_flops), "modernbert": (modernbert_forward, modernbert_flops)}


def bert_formula_flops(cfg, b, t):
    """bertscope bench's forward_flops (BERT's count), for a like-for-like gflops field."""
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    return b * t * (2 * (4 * h * h + 2 * h * i) + 4 * t * h) * cfg["num_hidden_layers"]


# ------------------------------------------------------------------------------------------- check
def check(folder, seq, batch):
    """Attentions and hidden states against tools/reference in float32 (not timed)."""
    cfg, w = load(folder)
    kind = cfg["model_type"]
    if kind == "deberta-v2":
        from deberta_reference import DebertaV2 as Ref
    else:
        from modernbert_reference import ModernBert as Ref
    ref = Ref(folder)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, cfg["vocab_size"], (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    with torch.no_grad():
        att, hid = FAMILIES[kind][0](cfg, w, ids, mask)
        r_att, r_hid, _ = ref.forward(ids, torch.zeros_like(ids), mask, torch.float32)
        r64_att, r64_hid, _ = ref.forward(ids, torch.zeros_like(ids), mask, torch.float64)
    att, hid = torch.stack(att, 1), torch.stack(hid, 1)
    res = {"model_type": kind, "batch": batch, "seq": seq,
           "attn_max_abs_vs_ref_f32": float((att - r_att).abs().max()),
           "hidden_max_abs_vs_ref_f32": float((hid - r_hid).abs().max()),
           "attn_max_abs_vs_ref_f64": float((att.double() - r64_att).abs().max()),
           "hidden_max_abs_vs_ref_f64": float((hid.double() - r64_hid).abs().max())}
    res["ok"] = res["attn_max_abs_vs_ref_f32"] < 1e-5 and res["hidden_max_abs_vs_ref_f32"] < 1e-4
    print(json.dumps(res))
    return res["ok"]


# -------------------------------------------------------------------------------------------- main
def rss_mb(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--record", default="attn.probs,hidden",
                    help='as bertscope bench: "attn.probs,hidden" (default) keeps every attention; "hidden" does not')
    ap.add_argument("--check", metavar="DIR", help="compare with tools/reference in float32 on DIR and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        sys.exit(0 if check(args.check, args.seq, args.batch) else 1)
    cfg, w = load(args.model)
    forward, flops_of = FAMILIES[cfg["model_type"]]
    keep_attn = "attn.probs" in args.record
    g = torch.Generator().manual_seed(42)
    ids = torch.randint(1000, cfg["vocab_size"], (args.batch, args.seq), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102  # as bertscope bench
    mask = torch.ones(args.batch, args.seq, dtype=torch.long)
    load_rss = rss_mb()
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark: what follows is the forward's
        reset = True
    except OSError:
        reset = False
    with torch.no_grad():
        def step():
            return forward(cfg, w, ids, mask, keep_attn)
        step()  # warm-up
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds or done < 2:
            step()
            done += 1
        elapsed = time.perf_counter() - start
    tokens = args.batch * args.seq * done
    print(json.dumps({"impl": "pytorch", "mode": "forward", "model_type": cfg["model_type"], "torch": torch.__version__,
                      "batch": args.batch, "seq": args.seq, "threads": args.threads, "record": args.record,
                      "iterations": done, "seconds": elapsed, "tokens_per_s": tokens / elapsed,
                      "gflops": bert_formula_flops(cfg, args.batch, args.seq) * done / elapsed / 1e9,
                      "gflops_own_count": flops_of(cfg, args.batch, args.seq) * done / elapsed / 1e9,
                      "peak_rss_mb": max(load_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "rss_after_load_mb": load_rss,
                      "forward_peak_rss_mb": rss_mb("VmHWM") if reset else None}))


if __name__ == "__main__":
    main()
