#!/usr/bin/python3
"""Independent reference for bertscope's encoder: Hugging Face BertModel semantics in PyTorch.

Reads a Hugging Face BERT folder (config.json + model.safetensors, parsed here with the
standard library and NumPy), runs the forward pass on a padded batch exactly as transformers'
eager BertModel does (additive padding mask, 1/sqrt(head_dim) scaling, head_mask applied to the
post-softmax probabilities, erf or tanh GELU from the config, LayerNorm epsilon from the config,
(word + token type) + position embeddings, pooler on [CLS], MLM head with tied decoder), in
float64 and in float32, and reports the float32 error against float64.

It never imports bertscope code. make_goldens.py uses it to write tests/golden/.
"""
import json
import math
import struct

import numpy as np
import torch

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[info["dtype"]])
        tensors[name] = torch.from_numpy(arr.astype(np.float64).reshape(info["shape"]))
    return tensors


def fnv1a64(path):
    h = 0xCBF29CE484222325
    with open(path, "rb") as f:
        for b in f.read():
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def activation(name, x):
    """transformers' ACT2FN in exact form, for the names the families' configs use."""
    if name in ("gelu", "gelu_python"):
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "relu":
        return torch.relu(x)
    raise ValueError(name)


class ReferenceModel:
    """What every family's reference shares: a folder's config and float64 master weights,
    parameters cast to the run's dtype, Linear and LayerNorm by parameter prefix. A family sets
    hidden, eps and act_name."""

    def __init__(self, folder):
        with open(f"{folder}/config.json") as f:
            self.cfg = json.load(f)
        self.w = read_safetensors(f"{folder}/model.safetensors")

    def p(self, name, dtype):
        return self.w[name].to(dtype)

    def act(self, x):
        return activation(self.act_name, x)

    def linear(self, x, prefix, dtype):
        return torch.nn.functional.linear(x, self.p(prefix + ".weight", dtype), self.p(prefix + ".bias", dtype))

    def ln(self, x, prefix, dtype):
        return torch.nn.functional.layer_norm(x, (self.hidden,), self.p(prefix + ".weight", dtype),
                                              self.p(prefix + ".bias", dtype), self.eps)


class Bert(ReferenceModel):
    """BertModel (+ MLM head / pooler / classifier) on float64 master weights, run in any dtype."""

    def __init__(self, folder):
        super().__init__(folder)
        self.layers = self.cfg["num_hidden_layers"]
        self.heads = self.cfg["num_attention_heads"]
        self.hidden = self.cfg["hidden_size"]
        self.eps = self.cfg.get("layer_norm_eps", 1e-12)
        self.act_name = self.cfg.get("hidden_act", "gelu")

    def forward(self, input_ids, token_type_ids, attention_mask, dtype, head_mask=None, uniform_heads=(),
                skip_layers=()):
        """Padded batch [B, T]. Returns attentions [B, L, H, T, T], hidden [B, L+1, T, hidden], extras."""
        b, t = input_ids.shape
        pos = torch.arange(t).unsqueeze(0).expand(b, t)
        x = self.p("bert.embeddings.word_embeddings.weight", dtype)[input_ids]
        x = x + self.p("bert.embeddings.token_type_embeddings.weight", dtype)[token_type_ids]
        x = x + self.p("bert.embeddings.position_embeddings.weight", dtype)[pos]
        x = self.ln(x, "bert.embeddings.LayerNorm", dtype)
        ext = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        n_real = attention_mask.sum(dim=1)
        hidden_states, attentions = [x], []
        d = self.hidden // self.heads
        for l in range(self.layers):
            pre = f"bert.encoder.layer.{l}."
            if l in skip_layers:
                attentions.append(torch.zeros(b, self.heads, t, t, dtype=dtype))
                hidden_states.append(x)
                continue

            def split(y):
                return y.view(b, t, self.heads, d).permute(0, 2, 1, 3)

            q = split(self.linear(x, pre + "attention.self.query", dtype))
            k = split(self.linear(x, pre + "attention.self.key", dtype))
            v = split(self.linear(x, pre + "attention.self.value", dtype))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext
            probs = torch.softmax(scores, dim=-1)
            for (ul, uh) in uniform_heads:
                if ul == l:
                    for i in range(b):
                        n = int(n_real[i])
                        probs[i, uh, :, :] = 0.0
                        probs[i, uh, :, :n] = 1.0 / n
            if head_mask is not None:
                probs = probs * head_mask[l].to(dtype)[None, :, None, None]
            ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(b, t, self.hidden)
            attn_out = self.linear(ctx, pre + "attention.output.dense", dtype)
            u = self.ln(attn_out + x, pre + "attention.output.LayerNorm", dtype)
            f = self.act(self.linear(u, pre + "intermediate.dense", dtype))
            x = self.ln(self.linear(f, pre + "output.dense", dtype) + u, pre + "output.LayerNorm", dtype)
            attentions.append(probs)
            hidden_states.append(x)
        extras = {}
        if "bert.pooler.dense.weight" in self.w:
            extras["pooled"] = torch.tanh(self.linear(x[:, 0], "bert.pooler.dense", dtype))
            if "classifier.weight" in self.w:
                extras["logits"] = self.linear(extras["pooled"], "classifier", dtype)
        if "cls.predictions.transform.dense.weight" in self.w:
            h = self.act(self.linear(x, "cls.predictions.transform.dense", dtype))
            h = self.ln(h, "cls.predictions.transform.LayerNorm", dtype)
            dec = self.w.get("cls.predictions.decoder.weight", self.w["bert.embeddings.word_embeddings.weight"])
            extras["logits"] = torch.nn.functional.linear(h, dec.to(dtype), self.p("cls.predictions.bias", dtype))
        return torch.stack(attentions, 1), torch.stack(hidden_states, 1), extras
