#!/usr/bin/python3
"""Regenerates tests/golden/modernbert.json and tests/golden/modernbert_*.npz: random ModernBERT
models made by `bertscope make-model --family modernbert`, run through the independent reference
(modernbert_reference.py, written from transformers' modular_modernbert.py, 5.x).

    /usr/bin/python3 tools/reference/make_modernbert_goldens.py --bertscope build/release/bertscope
    /usr/bin/python3 tools/reference/make_modernbert_goldens.py --self-test     # no bertscope needed

The cases of make_roberta_goldens.py (forward with and without a head mask, autograd gradients
and a JVP in float64) on a padded batch of singles and a pair ([CLS] A [SEP] B [SEP], no token
types; one real token equal to pad_token_id: padding comes from the mask, never from the ids),
the special ids read from the folder's config.json (cls_token_id, sep_token_id, pad_token_id):
  modernbert_mlm         4 layers (global_every 3: layers 0 and 3 full attention, 1 and 2
                         sliding), local_attention 4 (window |i - j| <= 2, far shorter than the
                         inputs), rope thetas 160000 (full) / 10000 (sliding), MLM head (decoder
                         tied to the token embeddings, decoder bias);
  modernbert_classifier  3 layers, 2 heads, local_attention 6, 3 labels, mean pooling over the
                         real tokens of the final-normed states, every optional bias (--biases:
                         norm_bias, attention_bias, mlp_bias, classifier_bias).
The head mask is [layers, heads] (a bertscope extension: transformers' ModernBERT has none), with
zeroed, halved and doubled heads. Besides the roberta arrays, each npz holds per case
`<case>.pre_final_norm` (the last layer's output before final_norm: `<case>.hidden_states[:, L]`
is after it, as transformers 5.x returns it), `padded.attentions` (the padded batch as is: a
padded query row is an ordinary distribution over the real keys it may see; on a sliding layer, one
with no real key inside its window is uniform 1/T over all keys, as in transformers), and for
modernbert_mlm one input of 40 tokens alone, forward only: `long.input_ids`, `long.attention_mask`, `long.attentions`,
`long.hidden_states`, `long.pre_final_norm`, `long.logits` (its float32 errors under the model's
"long" summary key, not under "cases"), and one of 2,048 tokens: `long2048.input_ids`,
`long2048.hidden_states`, `long2048.logits` and `long2048.attention_rows` (queries 0, 1023 and
2047 of every head), stored as float32 (summary key "long2048").
"""
import json
import math
import os
import struct
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_goldens import masked_max_error  # noqa: E402
from make_roberta_goldens import LENGTHS, gradients, write_family_goldens  # noqa: E402
from modernbert_reference import ModernBert  # noqa: E402

SHARP = ["--init-std", "0.2", "--bias-std", "0.1", "--norm-std", "0.1"]
MODELS = [
    {"name": "modernbert_mlm", "args": ["--family", "modernbert", "--vocab-size", "120", "--layers", "4",
                                        "--hidden", "96", "--heads", "3", "--intermediate", "80",
                                        "--local-attention", "4", "--global-every", "3",
                                        "--global-rope-theta", "160000", "--local-rope-theta", "10000",
                                        "--seed", "61"] + SHARP},
    {"name": "modernbert_classifier", "args": ["--family", "modernbert", "--vocab-size", "130", "--layers", "3",
                                               "--hidden", "64", "--heads", "2", "--intermediate", "48",
                                               "--local-attention", "6", "--global-every", "3",
                                               "--global-rope-theta", "160000", "--local-rope-theta", "10000",
                                               "--labels", "3", "--classifier-pooling", "mean", "--biases",
                                               "--seed", "62"] + SHARP},
]
PAIR = {1: (8, 9)}       # input 1: [CLS] a(6) [SEP] b(7) [SEP]
PAD_INSIDE = {3: 5}      # input 3: a real token equal to pad_token_id at position 5
LONG = {"modernbert_mlm": 40}
HEAD_MASK_VALUES = [1.0, 0.0, 0.5, 2.0, 0.25]
SPECIALS = {}            # set by load() from the folder's config.json, read by make_batch()


def specials_of(cfg):
    ids = {"cls": cfg["cls_token_id"], "sep": cfg["sep_token_id"], "pad": cfg["pad_token_id"]}
    reserved = {v for v in ids.values()}
    for key in ("bos_token_id", "eos_token_id", "mask_token_id", "unk_token_id"):
        if cfg.get(key) is not None:
            reserved.add(cfg[key])
    ids["reserved"] = sorted(reserved)
    return ids


def ordinary_ids(vocab, rng, n):
    pool = np.setdiff1d(np.arange(vocab), np.array(SPECIALS["reserved"]))
    return rng.choice(pool, size=n)


def make_batch(vocab, rng):
    t = max(LENGTHS)
    cls, sep, pad = SPECIALS["cls"], SPECIALS["sep"], SPECIALS["pad"]
    ids = np.full((len(LENGTHS), t), pad, dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(LENGTHS):
        seq = ordinary_ids(vocab, rng, n)
        seq[0], seq[n - 1] = cls, sep
        if i in PAIR:
            seq[PAIR[i][0] - 1] = sep
        if i in PAD_INSIDE:
            seq[PAD_INSIDE[i]] = pad
        ids[i, :n] = seq
        mask[i, :n] = 1
    return ids, np.zeros_like(ids), mask


def load(folder):
    model = ModernBert(folder)
    model.name = os.path.basename(os.path.normpath(folder))
    SPECIALS.clear()
    SPECIALS.update(specials_of(model.cfg))
    # The summary entry is built from this dict after the forward cases ran: they add "long".
    model.summary_extra = {"specials": {k: SPECIALS[k] for k in ("cls", "sep", "pad")},
                           "layer_types": model.layer_types}
    return model, model.summary_extra


def head_mask_for(model):
    hm = torch.tensor([HEAD_MASK_VALUES[(l * model.heads + h) % len(HEAD_MASK_VALUES)]
                       for l in range(model.layers) for h in range(model.heads)], dtype=torch.float64)
    return hm.view(model.layers, model.heads)


def logits_error(model, e32, e64, tmask):
    kind = "mlm_logits" if e64["logits"].dim() == 3 else "logits"
    return masked_max_error(e32["logits"].double(), e64["logits"], tmask, kind)


def forward_cases(model, tids, ttypes, tmask, arrays):
    """make_roberta_goldens' forward cases with a [layers, heads] head mask, plus the pre-final-norm
    states, the padded batch's attentions over every row and (modernbert_mlm) the long input."""
    head_mask = head_mask_for(model)
    cases = {}
    for case, hm in (("base", None), ("head_mask", head_mask)):
        a64, h64, e64 = model.forward(tids, ttypes, tmask, torch.float64, head_mask=hm)
        a32, h32, e32 = model.forward(tids, ttypes, tmask, torch.float32, head_mask=hm)
        errors = {"attentions": masked_max_error(a32.double(), a64, tmask, "attentions"),
                  "hidden_states": masked_max_error(h32.double(), h64, tmask, "hidden"),
                  "pre_final_norm": masked_max_error(e32["pre_final_norm"].double(), e64["pre_final_norm"], tmask,
                                                     "mlm_logits")}
        arrays[f"{case}.attentions"] = a64.numpy()
        arrays[f"{case}.hidden_states"] = h64.numpy()
        arrays[f"{case}.pre_final_norm"] = e64["pre_final_norm"].numpy()
        if case == "base":
            errors["logits"] = logits_error(model, e32, e64, tmask)
            arrays["base.logits"] = e64["logits"].numpy()
        cases[case] = {"interventions": {"head_mask": head_mask.tolist()} if hm is not None else {},
                       "torch_f32_max_error": errors}
    # The padded batch as is, padded query rows included (ordinary rows over the real keys).
    a64, _, _ = model.forward(tids, ttypes, tmask, torch.float64)
    a32, _, _ = model.forward(tids, ttypes, tmask, torch.float32)
    arrays["padded.attentions"] = a64.numpy()
    cases["base"]["padded_attentions_f32_error"] = float((a32.double() - a64).abs().max())
    n = LONG.get(getattr(model, "name", ""))
    if n:
        rng = np.random.default_rng(6400 + n)
        ids = ordinary_ids(model.cfg["vocab_size"], rng, n)
        ids[0], ids[-1] = SPECIALS["cls"], SPECIALS["sep"]
        lids = torch.from_numpy(ids[None].astype(np.int64))
        lmask = torch.ones_like(lids)
        a64, h64, e64 = model.forward(lids, None, lmask, torch.float64)
        a32, h32, e32 = model.forward(lids, None, lmask, torch.float32)
        arrays.update({"long.input_ids": lids.numpy(), "long.attention_mask": lmask.numpy(),
                       "long.attentions": a64.numpy(), "long.hidden_states": h64.numpy(),
                       "long.pre_final_norm": e64["pre_final_norm"].numpy(), "long.logits": e64["logits"].numpy()})
        model.summary_extra["long"] = {"length": n, "torch_f32_max_error": {
            "attentions": float((a32.double() - a64).abs().max()),
            "hidden_states": float((h32.double() - h64).abs().max()),
            "pre_final_norm": float((e32["pre_final_norm"].double() - e64["pre_final_norm"]).abs().max()),
            "logits": float((e32["logits"].double() - e64["logits"]).abs().max())}}
    if n:
        # 2,048 tokens (every sliding layer sees 5 of them per query): states and logits, and three
        # attention rows per head (first, middle, last query), stored as float32 to keep the file small.
        rng = np.random.default_rng(2048)
        ids = ordinary_ids(model.cfg["vocab_size"], rng, 2048)
        ids[0], ids[-1] = SPECIALS["cls"], SPECIALS["sep"]
        lids = torch.from_numpy(ids[None].astype(np.int64))
        lmask = torch.ones_like(lids)
        a64, h64, e64 = model.forward(lids, None, lmask, torch.float64)
        a32, h32, e32 = model.forward(lids, None, lmask, torch.float32)
        rows = [0, 1023, 2047]
        arrays.update({"long2048.input_ids": lids.numpy(),
                       "long2048.attention_rows": a64[:, :, :, rows, :].numpy().astype(np.float32),
                       "long2048.hidden_states": h64.numpy().astype(np.float32),
                       "long2048.logits": e64["logits"].numpy().astype(np.float32)})
        model.summary_extra["long2048"] = {"length": 2048, "attention_rows": rows, "torch_f32_max_error": {
            "attentions": float((a32.double() - a64)[:, :, :, rows, :].abs().max()),
            "hidden_states": float((h32.double() - h64).abs().max()),
            "logits": float((e32["logits"].double() - e64["logits"]).abs().max())}}
    return cases


# ---------------------------------------------------------------------------------- self-test
def write_safetensors(path, tensors):
    """A tiny safetensors writer: u64 LE header length, JSON header, raw little-endian F32."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def random_folder(folder, cfg, labels, rng, prefix="model.", heads_out=True, init=0.2, bias=0.1, norm=0.1):
    """A ModernBertForMaskedLM (labels 0) or ForSequenceClassification folder in transformers'
    layout: config.json and model.safetensors, biases only where the config asks for them."""
    os.makedirs(folder, exist_ok=True)
    h, i_, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    t = {}

    def lin(name, out, inp, with_bias):
        t[name + ".weight"] = rng.normal(0, init, (out, inp))
        if with_bias:
            t[name + ".bias"] = rng.normal(0, bias, (out,))

    def ln(name):
        t[name + ".weight"] = 1 + rng.normal(0, norm, (h,))
        if cfg.get("norm_bias", False):
            t[name + ".bias"] = rng.normal(0, norm, (h,))

    p = prefix
    t[p + "embeddings.tok_embeddings.weight"] = rng.normal(0, init, (v, h))
    ln(p + "embeddings.norm")
    ab, mb = cfg.get("attention_bias", False), cfg.get("mlp_bias", False)
    for l in range(cfg["num_hidden_layers"]):
        lp = f"{p}layers.{l}."
        if l > 0:
            ln(lp + "attn_norm")
        lin(lp + "attn.Wqkv", 3 * h, h, ab)
        lin(lp + "attn.Wo", h, h, ab)
        ln(lp + "mlp_norm")
        lin(lp + "mlp.Wi", 2 * i_, h, mb)
        lin(lp + "mlp.Wo", h, i_, mb)
    ln(p + "final_norm")
    if heads_out:
        lin("head.dense", h, h, cfg.get("classifier_bias", False))
        ln("head.norm")
        if labels:
            lin("classifier", labels, h, True)
        elif cfg.get("decoder_bias", True):
            t["decoder.bias"] = rng.normal(0, bias, (v,))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    write_safetensors(os.path.join(folder, "model.safetensors"), t)


def rope_by_pairs(x, pos, theta):
    """NeoX RoPE written independently: the pair (x[m], x[m + d/2]) turned by pos * theta^(-2m/d)."""
    d = x.shape[-1]
    out = x.clone()
    for m in range(d // 2):
        ang = pos * (1.0 / theta ** (2 * m / d))
        c, s = math.cos(ang), math.sin(ang)
        out[..., m] = x[..., m] * c - x[..., m + d // 2] * s
        out[..., m + d // 2] = x[..., m + d // 2] * c + x[..., m] * s
    return out


class Checks:
    def __init__(self):
        self.failed = 0

    def __call__(self, name, ok, detail=""):
        print(f"  [{'ok' if ok else 'FAIL'}] {name}{(': ' + detail) if detail else ''}")
        self.failed += 0 if ok else 1


def check_model(check, folder, lengths, tag):
    model = ModernBert(folder)
    SPECIALS.clear()
    SPECIALS.update(specials_of(model.cfg))
    rng = np.random.default_rng(7)
    t = max(lengths)
    ids = np.full((len(lengths), t), SPECIALS["pad"], dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        seq = ordinary_ids(model.cfg["vocab_size"], rng, n)
        seq[0], seq[-1] = SPECIALS["cls"], SPECIALS["sep"]
        ids[i, :n], mask[i, :n] = seq, 1
    tids, tmask = torch.from_numpy(ids), torch.from_numpy(mask)
    with torch.no_grad():
        a64, h64, e64 = model.forward(tids, None, tmask, torch.float64)
        a32, h32, e32 = model.forward(tids, None, tmask, torch.float32)
    check(f"{tag}: runs in float64 and float32",
          a64.dtype == torch.float64 and a32.dtype == torch.float32 and torch.isfinite(h64).all()
          and torch.isfinite(a32).all() and tuple(h64.shape) == (len(lengths), model.layers + 1, t, model.hidden))
    check(f"{tag}: attention rows sum to 1 (padded query rows too)",
          float((a64.sum(-1) - 1).abs().max()) < 1e-12, f"{float((a64.sum(-1) - 1).abs().max()):.1e}")
    idx = torch.arange(t)
    far = (idx[:, None] - idx[None, :]).abs() > model.half_window
    # A query row keeps exactly 0 on padded keys whenever one real key is left to it: every real
    # row, and on sliding layers a padded row with a real key inside its window. A padded row of a
    # sliding layer with no real key in its window is all finfo.min: uniform 1/T, as in transformers.
    key_real = tmask.bool()[:, None, None, None, :]
    window = {"sliding_attention": ~far[None], "full_attention": torch.ones(1, t, t, dtype=torch.bool)}
    allowed_real = torch.stack([(tmask.bool()[:, None, :] & window[k]).any(-1) for k in model.layer_types],
                               1)[:, :, None, :, None]  # [B, L, 1, T, 1]: the row has a real key
    pad_keys = (~key_real & allowed_real).expand_as(a64)
    check(f"{tag}: padded keys get exactly 0 (rows with a real key)",
          bool((a64[pad_keys] == 0).all()) and bool((a32[pad_keys] == 0).all()))
    empty = (~allowed_real).expand_as(a64)
    check(f"{tag}: fully masked padded rows are uniform 1/T ({int(empty.sum()) // t} rows)",
          bool((a64[empty] == 1.0 / t).all()))
    real = tmask.bool()[:, None, :] & tmask.bool()[:, :, None]  # [B, T, T]
    for l, kind in enumerate(model.layer_types):
        sel = real & far[None]
        p = a64[:, l].permute(1, 0, 2, 3)  # [H, B, T, T]
        if kind == "sliding_attention":
            check(f"{tag}: layer {l} (sliding) is 0 outside |i-j| <= {model.half_window}",
                  bool((p[:, sel] == 0).all()) and bool((p[:, real & ~far[None]] > 0).all()))
        else:
            check(f"{tag}: layer {l} (full) is non-zero outside the window", bool((p[:, sel] > 0).all()))
    err = {"attentions": masked_max_error(a32.double(), a64, tmask, "attentions"),
           "hidden": masked_max_error(h32.double(), h64, tmask, "hidden") / float(h64.abs().max()),
           "logits": (masked_max_error(e32["logits"].double(), e64["logits"], tmask,
                                       "mlm_logits" if e64["logits"].dim() == 3 else "logits")
                      / float(e64["logits"].abs().max()))}
    check(f"{tag}: float32 agrees with float64 (relative for hidden/logits)", max(err.values()) < 1e-5,
          ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
    worst = 0.0
    with torch.no_grad():
        for i, n in enumerate(lengths):
            a1, h1, e1 = model.forward(tids[i:i + 1, :n], None, tmask[i:i + 1, :n], torch.float64)
            worst = max(worst, float((a1[0] - a64[i, :, :, :n, :n]).abs().max()),
                        float((h1[0] - h64[i, :, :n]).abs().max()),
                        float((e1["pre_final_norm"][0] - e64["pre_final_norm"][i, :n]).abs().max()))
            lg = e64["logits"][i, :n] if e64["logits"].dim() == 3 else e64["logits"][i]
            worst = max(worst, float((e1["logits"][0] - lg).abs().max()))
    check(f"{tag}: padded batch equals each input alone (real tokens)", worst < 1e-12, f"{worst:.1e}")
    check(f"{tag}: hidden_states[L] is final_norm(pre_final_norm)",
          float((model.ln(e64["pre_final_norm"], model.pre + "final_norm", torch.float64) - h64[:, -1]).abs().max())
          == 0.0)
    return model, tids, tmask, a64, h64, e64


def self_test():
    torch.set_num_threads(2)
    check = Checks()
    rng = np.random.default_rng(1234)
    with tempfile.TemporaryDirectory() as tmp:
        base_cfg = {"model_type": "modernbert", "architectures": ["ModernBertForMaskedLM"], "vocab_size": 120,
                    "hidden_size": 96, "intermediate_size": 80, "num_hidden_layers": 4, "num_attention_heads": 3,
                    "local_attention": 4, "global_attn_every_n_layers": 3, "global_rope_theta": 160000.0,
                    "local_rope_theta": 10000.0, "norm_eps": 1e-5, "norm_bias": False, "hidden_activation": "gelu",
                    "classifier_activation": "gelu", "pad_token_id": 0, "cls_token_id": 1, "sep_token_id": 2,
                    "bos_token_id": 1, "eos_token_id": 2, "mask_token_id": 3, "tie_word_embeddings": True}
        mlm = os.path.join(tmp, "modernbert_mlm")
        random_folder(mlm, base_cfg, 0, rng)
        print("MLM, legacy config keys (global_attn_every_n_layers, global/local_rope_theta):")
        model, tids, tmask, a64, h64, e64 = check_model(check, mlm, [9, 5, 12, 3], "mlm")
        check("mlm: layer types from global_attn_every_n_layers",
              model.layer_types == ["full_attention", "sliding_attention", "sliding_attention", "full_attention"])
        check("mlm: thetas", model.thetas == {"full_attention": 160000.0, "sliding_attention": 10000.0})

        # RoPE against an independent pairwise rotation, and its relative-position property.
        x = torch.from_numpy(rng.normal(size=(6, model.head_dim)))
        cos, sin = model.rope(6, "sliding_attention", torch.float64)
        mine = x * cos + torch.cat((-x[:, model.head_dim // 2:], x[:, :model.head_dim // 2]), -1) * sin
        ref = torch.stack([rope_by_pairs(x[p], p, 10000.0) for p in range(6)])
        check("rope: NeoX rotate_half equals the pairwise rotation", float((mine - ref).abs().max()) < 1e-6,
              f"{float((mine - ref).abs().max()):.1e} (inv_freq is float32, as transformers)")
        c32, s32 = model.rope(40, "full_attention", torch.float64, rope_fp32=True)
        c64, s64 = model.rope(40, "full_attention", torch.float64)
        print(f"  (info) float32 cos/sin (transformers) vs float64 from the float32 inv_freq, 40 positions: "
              f"{float(torch.maximum((c32 - c64).abs(), (s32 - s64).abs()).max()):.1e}")

        # The same weights under 5.x config keys (layer_types, rope_parameters) give the same outputs.
        new_cfg = dict(base_cfg)
        for k in ("global_attn_every_n_layers", "global_rope_theta", "local_rope_theta"):
            new_cfg.pop(k)
        new_cfg["layer_types"] = model.layer_types
        new_cfg["rope_parameters"] = {"full_attention": {"rope_type": "default", "rope_theta": 160000.0},
                                      "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}
        with open(os.path.join(mlm, "config.json"), "w") as f:
            json.dump(new_cfg, f)
        with torch.no_grad():
            a2, h2, e2 = ModernBert(mlm).forward(tids, None, tmask, torch.float64)
        check("mlm: layer_types + rope_parameters config == legacy keys",
              bool(torch.equal(a2, a64) and torch.equal(h2, h64) and torch.equal(e2["logits"], e64["logits"])))
        # A changed sliding theta must change the sliding layers' attentions only from layer 1 on.
        new_cfg["rope_parameters"]["sliding_attention"]["rope_theta"] = 500.0
        with open(os.path.join(mlm, "config.json"), "w") as f:
            json.dump(new_cfg, f)
        with torch.no_grad():
            a3, _, _ = ModernBert(mlm).forward(tids, None, tmask, torch.float64)
        check("mlm: sliding theta reaches layer 1 and not layer 0",
              bool(torch.equal(a3[:, 0], a64[:, 0])) and float((a3[:, 1] - a64[:, 1]).abs().max()) > 1e-6)

        # A bare ModernBertModel folder (no "model." prefix, no head) gives the same states.
        bare = os.path.join(tmp, "bare")
        random_folder(bare, base_cfg, 0, np.random.default_rng(1234), prefix="", heads_out=False)
        with torch.no_grad():
            ab, hb, eb = ModernBert(bare).forward(tids, None, tmask, torch.float64)
        check("bare base-model folder == prefixed folder (states), no logits",
              bool(torch.equal(ab, a64) and torch.equal(hb, h64)) and "logits" not in eb)

        cls_cfg = dict(base_cfg, architectures=["ModernBertForSequenceClassification"], vocab_size=130,
                       hidden_size=64, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
                       local_attention=6, classifier_pooling="mean", norm_bias=True, attention_bias=True,
                       mlp_bias=True, classifier_bias=True, id2label={"0": "a", "1": "b", "2": "c"})
        clf = os.path.join(tmp, "modernbert_classifier")
        random_folder(clf, cls_cfg, 3, rng)
        print("classifier, mean pooling, every optional bias:")
        check_model(check, clf, [7, 13, 4], "classifier/mean")
        cls_cfg["classifier_pooling"] = "cls"
        with open(os.path.join(clf, "config.json"), "w") as f:
            json.dump(cls_cfg, f)
        check_model(check, clf, [7, 13, 4], "classifier/cls")

        # The goldens' own path end to end (forward cases, long input, gradients, JVP) on both.
        print("the goldens' pipeline (forward_cases + make_roberta_goldens.gradients):")
        random_folder(mlm, base_cfg, 0, np.random.default_rng(99))
        cls_cfg["classifier_pooling"] = "mean"
        random_folder(clf, cls_cfg, 3, np.random.default_rng(98))
        for folder in (mlm, clf):
            m, extra = load(folder)
            ids, types, msk = make_batch(m.cfg["vocab_size"], np.random.default_rng(5))
            tids, ttypes, tmask = map(torch.from_numpy, (ids, types, msk))
            arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": msk}
            with torch.no_grad():
                cases = forward_cases(m, tids, ttypes, tmask, arrays)
            classifier, loss = gradients(m, ids, tids, ttypes, tmask, np.random.default_rng(6), arrays)
            np.savez(os.path.join(tmp, m.name + ".npz"), **arrays)
            # float32 errors relative to each golden array's largest value (the pre-norm residual
            # stream grows with depth, so absolute errors there are larger than post-LN families').
            rel = {}
            for c, e in cases.items():
                for k, v in e["torch_f32_max_error"].items():
                    rel[f"{c}.{k}"] = v / float(np.abs(arrays[f"{c if k != 'logits' else 'base'}.{k}"]).max())
            check(f"{m.name}: forward cases, loss {loss:.4f}, f32 errors (relative) "
                  + ", ".join(f"{k} {v:.1e}" for k, v in rel.items()), np.isfinite(loss) and max(rel.values()) < 2e-5)
            if "long" in extra:
                le = extra["long"]["torch_f32_max_error"]
                lrel = {k: v / float(np.abs(arrays[f"long.{k}"]).max()) for k, v in le.items()}
                check(f"{m.name}: long input {extra['long']['length']} tokens, f32 errors (relative) "
                      + ", ".join(f"{k} {v:.1e}" for k, v in lrel.items()),
                      arrays["long.attentions"].shape[-1] == 40 and max(lrel.values()) < 2e-5)
            check(f"{m.name}: gradients finite, every parameter reached",
                  all(np.isfinite(v).all() for k, v in arrays.items() if k.startswith(("grad.", "param.")))
                  and {n for n in m.w if "param." + n not in arrays} <= ({m.word_table} if classifier else set()))
            # The JVP against central finite differences of the logits.
            for v in m.w.values():
                v.requires_grad_(False)
            we = m.w[m.word_table][tids].clone()
            tan = torch.from_numpy(arrays["jvp.tangent"].astype(np.float64))
            hm = torch.from_numpy(arrays["head_mask"])
            eps = 1e-6
            with torch.no_grad():
                up = m.forward(tids, ttypes, tmask, torch.float64, head_mask=hm, inputs_embeds=we + eps * tan)[2]
                dn = m.forward(tids, ttypes, tmask, torch.float64, head_mask=hm, inputs_embeds=we - eps * tan)[2]
            fd = (up["logits"] - dn["logits"]) / (2 * eps)
            jv = torch.from_numpy(arrays["jvp.logits"].astype(np.float64))
            if fd.dim() == 3:
                sel = tmask.bool()[:, :, None].expand_as(fd)
                fd, jv = fd[sel], jv[sel]
            rel = float((fd - jv).abs().max()) / float(fd.abs().max())
            check(f"{m.name}: JVP matches finite differences", rel < 1e-5, f"relative {rel:.1e}")
    print("self-test:", "PASSED" if check.failed == 0 else f"FAILED ({check.failed} checks)")
    return check.failed == 0


def main():
    if "--self-test" in sys.argv[1:]:
        sys.exit(0 if self_test() else 1)
    write_family_goldens(MODELS, 6100, load, make_batch, "modernbert.json", forward=forward_cases)


if __name__ == "__main__":
    main()
