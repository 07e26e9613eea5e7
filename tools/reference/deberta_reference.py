#!/usr/bin/python3
"""Independent reference for DeBERTa-v2/v3 encoders, written from transformers'
modeling_deberta_v2.py (eager), in PyTorch, float64 or float32.

What it follows, class by class:
  DebertaV2Embeddings   word_embeddings(ids) (+ position_embeddings(arange(T)) when
                        position_biased_input) (+ token_type_embeddings when type_vocab_size > 0);
                        LayerNorm (eps layer_norm_eps, 1e-7); times the attention mask.
  DebertaV2Encoder      rel_embeddings.weight through encoder.LayerNorm (norm_rel_ebd has
                        "layer_norm") once, shared by all layers; relative_pos =
                        build_relative_position(T, T, position_buckets, max_relative_positions)
                        with make_log_bucket_position in float32 torch ops; the mask
                        M[b, i, j] = m_i m_j.
  DisentangledSelfAttention
                        query_proj / key_proj / value_proj (bias); scale = sqrt(d * (1 + [c2p in
                        pos_att_type] + [p2c in pos_att_type])) in float32; content Q (K / scale)^T;
                        c2p = gather(Q PK^T, clamp(R + S)) / scale, PK = key_proj(rel) (share_att_key)
                        or pos_key_proj(rel); p2c = gather(K PQ^T, clamp(-R + S)).T / scale,
                        PQ = query_proj(rel) or pos_query_proj(rel); S = position_buckets, or
                        max_relative_positions without buckets; masked_fill(~M, finfo.min);
                        softmax (a padded query row is all finfo.min: uniform 1/T, as 4.5x);
                        * head_mask (a bertscope extension: DeBERTa has none); P V.
  DebertaV2SelfOutput / Intermediate / Output   BERT's, LayerNorm eps layer_norm_eps, exact gelu.
  ContextPooler         h[:, 0] -> dense -> gelu (pooler_hidden_act) -> classifier.
  MLM head              legacy: cls.predictions.transform.{dense, LayerNorm} -> decoder (tied) +
                        cls.predictions.bias; otherwise lm_predictions.lm_head.{dense, LayerNorm},
                        logits = h word_embeddings^T + lm_predictions.lm_head.bias.

It never imports bertscope code; only the safetensors reader is shared with bert_reference.py.
"""
import math

import torch

from bert_reference import ReferenceModel


def make_log_bucket_position(relative_pos, bucket_size, max_position):
    """transformers' make_log_bucket_position (int64 in, float32 math, as torch does it)."""
    sign = torch.sign(relative_pos)
    mid = bucket_size // 2
    abs_pos = torch.where((relative_pos < mid) & (relative_pos > -mid), torch.tensor(mid - 1).type_as(relative_pos),
                          torch.abs(relative_pos))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)


def build_relative_position(q, k, bucket_size, max_position):
    rel = torch.arange(q)[:, None] - torch.arange(k)[None, :]
    if bucket_size > 0 and max_position > 0:
        rel = make_log_bucket_position(rel, bucket_size, max_position)
    return rel.to(torch.long)


def pos_att_types(cfg):
    v = cfg.get("pos_att_type") or []
    if isinstance(v, str):
        v = [x.strip() for x in v.lower().split("|")]
    return v


class DebertaV2(ReferenceModel):
    def __init__(self, folder):
        super().__init__(folder)
        c = self.cfg
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.hidden = c["hidden_size"]
        self.eps = c.get("layer_norm_eps", 1e-7)
        self.act_name = c.get("hidden_act", "gelu")
        self.pos_att_type = pos_att_types(c)
        self.relative = c.get("relative_attention", False)
        self.max_rel = c.get("max_relative_positions", -1)
        if self.max_rel < 1:
            self.max_rel = c.get("max_position_embeddings", 512)
        self.buckets = c.get("position_buckets", -1)
        self.span = self.buckets if self.buckets > 0 else self.max_rel
        self.share_att_key = c.get("share_att_key", False)
        self.norm_rel = "layer_norm" in [x.strip() for x in c.get("norm_rel_ebd", "none").lower().split("|")]
        self.position_biased_input = c.get("position_biased_input", True)
        self.legacy = c.get("legacy", True)

    def forward(self, input_ids, token_type_ids, attention_mask, dtype, head_mask=None, inputs_embeds=None,
                keep_probs=False):
        """Padded batch [B, T]. Returns attentions [B, L, H, T, T], hidden [B, L+1, T, hidden],
        extras (logits, pooled, probs when keep_probs)."""
        b, t = input_ids.shape
        pre = "deberta."
        if inputs_embeds is None:
            inputs_embeds = self.p(pre + "embeddings.word_embeddings.weight", dtype)[input_ids]
        x = inputs_embeds
        if self.position_biased_input:
            x = x + self.p(pre + "embeddings.position_embeddings.weight", dtype)[torch.arange(t)][None]
        if self.cfg.get("type_vocab_size", 0) > 0:
            x = x + self.p(pre + "embeddings.token_type_embeddings.weight", dtype)[token_type_ids]
        x = self.ln(x, pre + "embeddings.LayerNorm", dtype)
        x = x * attention_mask.unsqueeze(-1).to(dtype)
        m = attention_mask.view(b, 1, 1, t)
        mask = (m * m.squeeze(-2).unsqueeze(-1)).bool()  # [B, 1, T, T]
        rel_pos = build_relative_position(t, t, self.buckets, self.max_rel)
        rel = None
        if self.relative:
            rel = self.p(pre + "encoder.rel_embeddings.weight", dtype)
            if self.norm_rel:
                rel = self.ln(rel, pre + "encoder.LayerNorm", dtype)
        d = self.hidden // self.heads
        scale_factor = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
        hidden_states, attentions = [x], []
        for l in range(self.layers):
            lp = f"{pre}encoder.layer.{l}.attention.self."

            def split(y):
                return y.view(y.shape[0], -1, self.heads, d).transpose(1, 2)  # [B?, H, N, d]

            q = split(self.linear(x, lp + "query_proj", dtype))
            k = split(self.linear(x, lp + "key_proj", dtype))
            v = split(self.linear(x, lp + "value_proj", dtype))
            scale = torch.sqrt(torch.tensor(d, dtype=torch.float) * scale_factor)
            scores = torch.matmul(q, k.transpose(-1, -2) / scale.to(dtype=q.dtype))
            if self.relative:
                span = self.span
                r = rel[0:2 * span][None]
                if "c2p" in self.pos_att_type:
                    pk = split(self.linear(r, lp + ("key_proj" if self.share_att_key else "pos_key_proj"), dtype))
                    c2p = torch.matmul(q, pk.transpose(-1, -2))  # [B, H, T, 2S]
                    idx = torch.clamp(rel_pos + span, 0, 2 * span - 1)
                    c2p = torch.gather(c2p, -1, idx.expand(b, self.heads, t, t))
                    scores = scores + c2p / scale.to(dtype=c2p.dtype)
                if "p2c" in self.pos_att_type:
                    pq = split(self.linear(r, lp + ("query_proj" if self.share_att_key else "pos_query_proj"), dtype))
                    p2c = torch.matmul(k, pq.transpose(-1, -2))  # [B, H, T(key), 2S]
                    idx = torch.clamp(-rel_pos + span, 0, 2 * span - 1)
                    p2c = torch.gather(p2c, -1, idx.expand(b, self.heads, t, t)).transpose(-1, -2)
                    scores = scores + p2c / scale.to(dtype=p2c.dtype)
            scores = scores.masked_fill(~mask, torch.finfo(dtype).min)
            probs = torch.softmax(scores, dim=-1)
            if head_mask is not None:
                probs = probs * head_mask[l].to(dtype)[None, :, None, None]
            if keep_probs:
                probs.retain_grad()
            attentions.append(probs)
            ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.hidden)
            lo = f"{pre}encoder.layer.{l}."
            mid = self.ln(self.linear(ctx, lo + "attention.output.dense", dtype) + x, lo + "attention.output.LayerNorm",
                          dtype)
            f = self.linear(self.act(self.linear(mid, lo + "intermediate.dense", dtype)), lo + "output.dense", dtype)
            x = self.ln(f + mid, lo + "output.LayerNorm", dtype)
            hidden_states.append(x)
        extras = {"probs": attentions if keep_probs else None}
        if "classifier.weight" in self.w:
            extras["pooled"] = torch.nn.functional.gelu(self.linear(x[:, 0], "pooler.dense", dtype))
            extras["logits"] = self.linear(extras["pooled"], "classifier", dtype)
        elif self.legacy and "cls.predictions.transform.dense.weight" in self.w:
            h = self.ln(self.act(self.linear(x, "cls.predictions.transform.dense", dtype)),
                        "cls.predictions.transform.LayerNorm", dtype)
            dec = self.w.get("cls.predictions.decoder.weight", self.w[pre + "embeddings.word_embeddings.weight"])
            extras["logits"] = torch.nn.functional.linear(h, dec.to(dtype), self.p("cls.predictions.bias", dtype))
        elif "lm_predictions.lm_head.dense.weight" in self.w:
            h = self.ln(self.act(self.linear(x, "lm_predictions.lm_head.dense", dtype)),
                        "lm_predictions.lm_head.LayerNorm", dtype)
            word = self.p(pre + "embeddings.word_embeddings.weight", dtype)
            extras["logits"] = torch.matmul(h, word.t()) + self.p("lm_predictions.lm_head.bias", dtype)
        if keep_probs:
            return extras
        return torch.stack(attentions, 1), torch.stack(hidden_states, 1), extras
