#!/usr/bin/python3
"""Independent reference for DistilBERT encoders, written from transformers'
modeling_distilbert.py (eager attention), in PyTorch, float64 or float32.

What it follows, class by class:
  Embeddings               word_embeddings(ids) + position_embeddings(arange(T)); no token types;
                           LayerNorm(dim, eps=1e-12). With sinusoidal_pos_embds the table is
                           create_sinusoidal_embeddings' (the checkpoint stores it all the same).
  MultiHeadSelfAttention   q_lin, k_lin, v_lin; q / sqrt(dim_per_head) before q k^T;
                           masked_fill(mask == 0, finfo.min) on the key columns; softmax;
                           * head_mask; weights v; out_lin.
  TransformerBlock         sa_layer_norm(attn + x) (eps 1e-12); ffn: lin1 -> activation
                           (config.activation) -> lin2; output_layer_norm(ffn + sa) (eps 1e-12).
  DistilBertForMaskedLM    vocab_transform -> activation -> vocab_layer_norm (1e-12) ->
                           vocab_projector (tied to the word embeddings when not stored) + bias.
  DistilBertForSequenceClassification  h[:, 0] -> pre_classifier -> ReLU -> (dropout) -> classifier.

Tensor names as those classes save them ("distilbert." prefix). It never imports bertscope code;
only the safetensors reader is shared with bert_reference.py. The config keys are DistilBERT's
own (dim, n_layers, n_heads, hidden_dim, activation); every LayerNorm ignores any eps in the config.
"""
import math

import numpy as np
import torch

from bert_reference import ReferenceModel

EPS = 1e-12


def sinusoidal_table(n_pos, dim):
    """transformers' _create_sinusoidal_embeddings: float64 numpy, then FloatTensor."""
    enc = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    out = torch.zeros(n_pos, dim, dtype=torch.float32)
    out[:, 0::2] = torch.FloatTensor(np.sin(enc[:, 0::2]))
    out[:, 1::2] = torch.FloatTensor(np.cos(enc[:, 1::2]))
    return out


class DistilBert(ReferenceModel):
    def __init__(self, folder):
        super().__init__(folder)
        self.layers = self.cfg["n_layers"]
        self.heads = self.cfg["n_heads"]
        self.hidden = self.cfg["dim"]
        self.eps = EPS  # transformers' DistilBERT fixes it, whatever the config says
        self.act_name = self.cfg.get("activation", "gelu")

    def forward(self, input_ids, token_type_ids, attention_mask, dtype, head_mask=None, inputs_embeds=None,
                keep_probs=False):
        """Padded batch [B, T] (token_type_ids ignored: DistilBERT has none). Returns attentions
        [B, L, H, T, T], hidden [B, L+1, T, dim], extras (logits; pooled = ReLU(pre_classifier);
        probs when keep_probs)."""
        b, t = input_ids.shape
        if inputs_embeds is None:
            inputs_embeds = self.p("distilbert.embeddings.word_embeddings.weight", dtype)[input_ids]
        x = inputs_embeds + self.p("distilbert.embeddings.position_embeddings.weight", dtype)[torch.arange(t)][None]
        x = self.ln(x, "distilbert.embeddings.LayerNorm", dtype)
        d = self.hidden // self.heads
        key_masked = (attention_mask == 0).view(b, 1, 1, t)
        hidden_states, attentions = [x], []
        for l in range(self.layers):
            pre = f"distilbert.transformer.layer.{l}."

            def shape(y):
                return y.view(b, -1, self.heads, d).transpose(1, 2)

            q = shape(self.linear(x, pre + "attention.q_lin", dtype))
            k = shape(self.linear(x, pre + "attention.k_lin", dtype))
            v = shape(self.linear(x, pre + "attention.v_lin", dtype))
            q = q / math.sqrt(d)
            scores = torch.matmul(q, k.transpose(2, 3))
            scores = scores.masked_fill(key_masked.expand_as(scores), torch.tensor(torch.finfo(scores.dtype).min))
            weights = torch.softmax(scores, dim=-1)
            if head_mask is not None:
                weights = weights * head_mask[l].to(dtype)[None, :, None, None]
            if keep_probs:
                weights.retain_grad()
            attentions.append(weights)
            ctx = torch.matmul(weights, v).transpose(1, 2).contiguous().view(b, -1, self.hidden)
            sa = self.ln(self.linear(ctx, pre + "attention.out_lin", dtype) + x, pre + "sa_layer_norm", dtype)
            f = self.linear(self.act(self.linear(sa, pre + "ffn.lin1", dtype)), pre + "ffn.lin2", dtype)
            x = self.ln(f + sa, pre + "output_layer_norm", dtype)
            hidden_states.append(x)
        extras = {"probs": attentions if keep_probs else None}
        if "classifier.weight" in self.w:
            extras["pooled"] = torch.relu(self.linear(x[:, 0], "pre_classifier", dtype))
            extras["logits"] = self.linear(extras["pooled"], "classifier", dtype)
        elif "vocab_transform.weight" in self.w:
            h = self.ln(self.act(self.linear(x, "vocab_transform", dtype)), "vocab_layer_norm", dtype)
            dec = self.w.get("vocab_projector.weight", self.w["distilbert.embeddings.word_embeddings.weight"])
            extras["logits"] = torch.nn.functional.linear(h, dec.to(dtype), self.p("vocab_projector.bias", dtype))
        if keep_probs:
            return extras
        return torch.stack(attentions, 1), torch.stack(hidden_states, 1), extras
