#!/usr/bin/python3
"""Independent reference for ModernBERT encoders, written from transformers' own
models/modernbert/modular_modernbert.py (which generates modeling_modernbert.py and
configuration_modernbert.py; the 5.x refactor at commit 001f85b38fb432858ace93f18622f07cec46d874:
standard attention interface, create_bidirectional_mask / create_bidirectional_sliding_window_mask,
Gemma3-style per-layer-type RoPE), eager padded path, in PyTorch, float64 or float32.

What it follows, class by class:
  ModernBertConfig      defaults as in the class; `layer_types` when given, else
                        "full_attention" if i % global_attn_every_n_layers == 0 else
                        "sliding_attention" (global_attn_every_n_layers: a legacy kwarg, default 3);
                        `rope_parameters` {full_attention, sliding_attention} -> {rope_type, rope_theta}
                        when given, a missing rope_theta (or a missing layer type) filled from the
                        legacy global_rope_theta (160000) / local_rope_theta (10000);
                        sliding_window = local_attention // 2. Only rope_type "default" is done here.
  ModernBertEmbeddings  norm(tok_embeddings(ids)) (or norm(inputs_embeds)): LayerNorm eps norm_eps,
                        bias only with norm_bias; no position or token-type embeddings. Padding is
                        not zeroed (the mask only ever touches attention keys).
  ModernBertRotaryEmbedding (Gemma3RotaryEmbedding, default rope)
                        inv_freq = 1 / theta^(arange(0, hd, 2, int64).float() / hd), in float32 as
                        transformers computes it, per layer type; position_ids = arange(T);
                        emb = cat(freqs, freqs); NeoX rotate_half: x cos + rotate_half(x) sin.
  ModernBertAttention   Wqkv [3H, H] (+bias with attention_bias); qkv.view(B, T, 3, nH, hd):
                        rows q | k | v, each heads-major; RoPE on q and k; scores q k^T hd^-0.5 +
                        mask; softmax; (* head_mask, see below); P V -> [B, T, H] -> Wo.
  masks                 full layers: create_bidirectional_mask, finfo(dtype).min on padded KEYS only
                        (a padded query row is an ordinary distribution over the real keys);
                        sliding layers: create_bidirectional_sliding_window_mask, additionally
                        finfo.min where |i - j| > local_attention // 2 (the overlay keeps
                        |q - kv| <= sliding_window, inclusive). A padded query row of a sliding
                        layer with no real key inside its window is all finfo.min (scores + min
                        rounds to min): softmax gives it 1/T over every key, padded ones included,
                        exactly as transformers' eager path does (no fix-up of empty rows there).
                        The mask a layer gets is chosen by
                        layer_types (the module's own sliding_window attribute, chosen by
                        layer_idx % global_attn_every_n_layers, only feeds flash/sdpa kernels).
  ModernBertEncoderLayer  h = h + attn(attn_norm(h)) (attn_norm is Identity for layer 0: no
                        tensor); h = h + mlp(mlp_norm(h)).
  ModernBertMLP         (a, g) = Wi(x).chunk(2, -1) (Wi [2I, H]); Wo(act(a) * g): the FIRST half
                        goes through hidden_activation (GeGLU).
  ModernBertModel       final_norm after the last layer. Outputs (check_model_inputs) record the
                        embeddings' output and each layer's output, and replace the last entry with
                        last_hidden_state, i.e. AFTER final_norm: hidden_states has L+1 entries and
                        hidden_states[L] = final_norm(layer L-1 output). The pre-norm last layer
                        output is returned here separately as extras["pre_final_norm"].
  ModernBertPredictionHead  norm(act(dense(h))), dense [H, H] with bias only with classifier_bias,
                        act = classifier_activation, norm eps norm_eps, bias only with norm_bias.
  ModernBertForMaskedLM decoder(head(last_hidden_state)); decoder.weight tied to
                        model.embeddings.tok_embeddings.weight (tie_word_embeddings, default true, or
                        when the file has no decoder.weight); decoder.bias with decoder_bias.
  ModernBertForSequenceClassification  pooling on the final-normed states: "cls" h[:, 0], "mean"
                        (h * m[..., None]).sum(1) / m.sum(1, keepdim=True); head; classifier.

Where this deliberately differs from transformers or from docs/families.md:
  * head_mask is a bertscope extension: ModernBERT in transformers takes no head_mask. Here it
    multiplies the post-softmax probabilities ([layers, heads]), as BERT's did.
  * classifier: transformers builds nn.Linear(hidden, num_labels) with a bias ALWAYS (only the
    head's dense follows classifier_bias); families.md and the brief said "+bias if
    classifier_bias". Here every bias is used when the file holds it.
  * precision: transformers computes cos/sin in float32 and casts them, rounds q and k to float32
    inside apply_rotary_pos_emb (q.float() * cos) and runs the softmax in float32. In a float32 run
    these are the same arithmetic; in a float64 run this reference keeps float64 throughout
    (inv_freq is still computed in float32 exactly as transformers does, then cast), so the
    float64 results are the exact-math target. rope_fp32=True reproduces transformers' float32
    cos/sin instead.
  * families.md writes the Wqkv split as view(B, N, 3, nH, hd); transformers 5.x writes
    qkv.view(*input_shape, 3, -1, head_dim) then unbind(dim=-3): the same layout.

Tensor names are transformers' (the "model." prefix of ModernBertForMaskedLM /
ForSequenceClassification; a bare ModernBertModel folder without it is accepted too). It never
imports bertscope code; only the safetensors reader is shared with bert_reference.py.
"""
import torch

from bert_reference import ReferenceModel, activation

# ModernBertConfig's defaults for the keys a config.json may leave out.
DEFAULTS = {"vocab_size": 50368, "hidden_size": 768, "intermediate_size": 1152, "num_hidden_layers": 22,
            "num_attention_heads": 12, "hidden_activation": "gelu", "max_position_embeddings": 8192,
            "norm_eps": 1e-5, "norm_bias": False, "pad_token_id": 50283, "eos_token_id": 50282,
            "bos_token_id": 50281, "cls_token_id": 50281, "sep_token_id": 50282, "attention_bias": False,
            "local_attention": 128, "mlp_bias": False, "decoder_bias": True, "classifier_pooling": "cls",
            "classifier_bias": False, "classifier_activation": "gelu", "tie_word_embeddings": True}
DEFAULT_THETA = {"full_attention": 160000.0, "sliding_attention": 10000.0}
LEGACY_THETA_KEY = {"full_attention": "global_rope_theta", "sliding_attention": "local_rope_theta"}


def act_fn(name, x):
    """ACT2FN for the names ModernBERT configs use (erf gelu by default)."""
    if name in ("silu", "swish"):
        return torch.nn.functional.silu(x)
    return activation(name, x)


def layer_types_of(cfg):
    if cfg.get("layer_types") is not None:
        types = list(cfg["layer_types"])
    else:
        every = cfg.get("global_attn_every_n_layers", 3)
        types = ["sliding_attention" if i % every else "full_attention" for i in range(cfg["num_hidden_layers"])]
    if len(types) != cfg["num_hidden_layers"] or any(t not in DEFAULT_THETA for t in types):
        raise ValueError(f"bad layer_types {types}")
    return types


def rope_thetas_of(cfg):
    """ModernBertConfig.convert_rope_params_to_dict: theta per layer type."""
    params = cfg.get("rope_parameters") or {}
    if cfg.get("rope_scaling"):
        raise ValueError("rope_scaling is not supported by this reference")
    thetas = {}
    for kind, default in DEFAULT_THETA.items():
        p = params.get(kind) or {}
        if p.get("rope_type", "default") != "default":
            raise ValueError(f"rope_type {p['rope_type']} is not supported by this reference")
        thetas[kind] = float(p.get("rope_theta", cfg.get(LEGACY_THETA_KEY[kind], default)))
    return thetas


def inv_freq_f32(theta, dim):
    """compute_default_rope_parameters, in float32 exactly as transformers computes it."""
    return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype=torch.float) / dim))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class ModernBert(ReferenceModel):
    def __init__(self, folder):
        super().__init__(folder)
        c = self.cfg
        if c.get("model_type", "modernbert") != "modernbert":
            raise ValueError(f"model_type {c.get('model_type')} is not modernbert")
        for key, value in DEFAULTS.items():
            c.setdefault(key, value)
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.hidden = c["hidden_size"]
        self.intermediate = c["intermediate_size"]
        self.head_dim = self.hidden // self.heads
        if self.head_dim * self.heads != self.hidden:
            raise ValueError("hidden_size is not a multiple of num_attention_heads")
        self.eps = c["norm_eps"]
        self.act_name = c["hidden_activation"]
        self.layer_types = layer_types_of(c)
        self.thetas = rope_thetas_of(c)
        self.half_window = c["local_attention"] // 2  # config.sliding_window
        self.pre = "model." if "model.embeddings.tok_embeddings.weight" in self.w else ""
        self.word_table = self.pre + "embeddings.tok_embeddings.weight"
        self.mlm = "decoder.bias" in self.w or "decoder.weight" in self.w
        self.classifier = "classifier.weight" in self.w
        if self.classifier:
            c.setdefault("num_labels", self.w["classifier.weight"].shape[0])
        if c["classifier_pooling"] not in ("cls", "mean"):
            raise ValueError(f"classifier_pooling {c['classifier_pooling']}")

    # ------------------------------------------------------------------ pieces
    def opt(self, name, dtype):
        return self.p(name, dtype) if name in self.w else None

    def linear(self, x, prefix, dtype):
        """nn.Linear; the bias only where the file holds one (attention_bias, mlp_bias, ...)."""
        return torch.nn.functional.linear(x, self.p(prefix + ".weight", dtype), self.opt(prefix + ".bias", dtype))

    def ln(self, x, prefix, dtype):
        """nn.LayerNorm(hidden, eps=norm_eps, bias=norm_bias)."""
        return torch.nn.functional.layer_norm(x, (self.hidden,), self.p(prefix + ".weight", dtype),
                                              self.opt(prefix + ".bias", dtype), self.eps)

    def rope(self, t, layer_type, dtype, rope_fp32=False):
        """cos, sin [T, head_dim] for positions arange(T)."""
        inv = inv_freq_f32(self.thetas[layer_type], self.head_dim)
        pos = torch.arange(t)
        if rope_fp32:  # transformers' own arithmetic: float32 angles and cos/sin, then cast
            freqs = pos.float()[:, None] * inv[None, :]
            emb = torch.cat((freqs, freqs), dim=-1)
            return emb.cos().to(dtype), emb.sin().to(dtype)
        freqs = pos.to(dtype)[:, None] * inv.to(dtype)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()

    def allowed(self, attention_mask, layer_type):
        """[B, 1, T, T] bool: padding on keys only; sliding layers also |i - j| <= local_attention // 2."""
        b, t = attention_mask.shape
        ok = attention_mask.bool()[:, None, None, :].expand(b, 1, t, t)
        if layer_type == "sliding_attention":
            idx = torch.arange(t)
            ok = ok & ((idx[:, None] - idx[None, :]).abs() <= self.half_window)[None, None]
        return ok

    # ------------------------------------------------------------------ forward
    def forward(self, input_ids, token_type_ids, attention_mask, dtype, head_mask=None, inputs_embeds=None,
                keep_probs=False, rope_fp32=False):
        """Padded batch [B, T] (token_type_ids is ignored: ModernBERT has none). Returns attentions
        [B, L, H, T, T], hidden [B, L+1, T, hidden] (last entry after final_norm, as transformers
        5.x) and extras {logits, pooled, pre_final_norm, last_hidden, probs}; only extras when
        keep_probs (then probs are the per-layer probability tensors, retain_grad'ed)."""
        pre = self.pre
        if attention_mask is None:
            attention_mask = torch.ones(input_ids.shape, dtype=torch.long)
        if inputs_embeds is None:
            inputs_embeds = self.p(self.word_table, dtype)[input_ids]
        b, t = inputs_embeds.shape[:2]
        x = self.ln(inputs_embeds, pre + "embeddings.norm", dtype)
        masks, ropes = {}, {}
        for kind in set(self.layer_types):
            masks[kind] = torch.zeros(b, 1, t, t, dtype=dtype).masked_fill(
                ~self.allowed(attention_mask, kind), torch.finfo(dtype).min)
            ropes[kind] = self.rope(t, kind, dtype, rope_fp32)
        hidden_states, attentions = [x], []
        nh, hd = self.heads, self.head_dim
        for l in range(self.layers):
            lp = f"{pre}layers.{l}."
            kind = self.layer_types[l]
            a_in = x if l == 0 else self.ln(x, lp + "attn_norm", dtype)
            qkv = self.linear(a_in, lp + "attn.Wqkv", dtype).view(b, t, 3, nh, hd)
            q, k, v = (s.transpose(1, 2) for s in qkv.unbind(dim=-3))  # [B, nH, T, hd]
            cos, sin = ropes[kind]
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            scores = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5 + masks[kind]
            probs = torch.softmax(scores, dim=-1)
            if head_mask is not None:
                probs = probs * head_mask[l].to(dtype)[None, :, None, None]
            if keep_probs:
                probs.retain_grad()
            attentions.append(probs)
            ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.hidden)
            x = x + self.linear(ctx, lp + "attn.Wo", dtype)
            gate_in = self.linear(self.ln(x, lp + "mlp_norm", dtype), lp + "mlp.Wi", dtype)
            a, g = gate_in.chunk(2, dim=-1)
            x = x + self.linear(act_fn(self.act_name, a) * g, lp + "mlp.Wo", dtype)
            hidden_states.append(x)
        pre_final = x
        last = self.ln(x, pre + "final_norm", dtype)
        hidden_states[-1] = last
        extras = {"pre_final_norm": pre_final, "last_hidden": last, "probs": attentions if keep_probs else None}
        if self.classifier:
            m = attention_mask.to(dtype)
            if self.cfg["classifier_pooling"] == "cls":
                pooled = last[:, 0]
            else:
                pooled = (last * m.unsqueeze(-1)).sum(dim=1) / m.sum(dim=1, keepdim=True)
            extras["pooled"] = self.head(pooled, dtype)
            extras["logits"] = self.linear(extras["pooled"], "classifier", dtype)
        elif self.mlm:
            if self.cfg["tie_word_embeddings"] or "decoder.weight" not in self.w:
                dec = self.p(self.word_table, dtype)
            else:
                dec = self.p("decoder.weight", dtype)
            extras["logits"] = torch.nn.functional.linear(self.head(last, dtype), dec, self.opt("decoder.bias", dtype))
        if keep_probs:
            return extras
        return torch.stack(attentions, 1), torch.stack(hidden_states, 1), extras

    def head(self, h, dtype):
        """ModernBertPredictionHead: norm(act(dense(h)))."""
        return self.ln(act_fn(self.cfg["classifier_activation"], self.linear(h, "head.dense", dtype)), "head.norm",
                       dtype)
