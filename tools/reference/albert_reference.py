#!/usr/bin/python3
"""Independent reference for ALBERT encoders, written from transformers' modeling_albert.py
(eager attention), in PyTorch, float64 or float32.

What it follows, class by class:
  AlbertEmbeddings         (word + token type) + position, in embedding_size dims;
                           LayerNorm(embedding_size, eps=layer_norm_eps).
  AlbertTransformer        embedding_hidden_mapping_in (Linear E -> H) first; then for config layer
                           i in range(num_hidden_layers), group g = int(i / (L / G)) runs all of its
                           inner_group_num AlbertLayers in order, with the group's shared weights.
  AlbertAttention          query, key, value; q k^T / sqrt(head_dim) + (1 - mask) * finfo.min;
                           softmax; * head_mask; weights v; dense; LayerNorm(x + dense).
  AlbertLayer              full_layer_layer_norm(ffn_output(act(ffn(a))) + a), act = hidden_act.
  outputs                  transformers 5 records hidden_states at every AlbertLayer (the input of
                           the first, i.e. after the mapping, then each layer's output) and
                           attentions at every AlbertAttention: L * inner_group_num + 1 and
                           L * inner_group_num entries. (Releases before 5 returned only each
                           group's output as a hidden state.)
  AlbertModel pooler       tanh(pooler(h[:, 0])) (a Linear named "pooler").
  AlbertMLMHead            dense (H -> E) -> act -> LayerNorm(E, eps=layer_norm_eps; the nn default
                           1e-5 before transformers 4.3x) -> decoder (tied to the word embeddings
                           when not stored) + bias.
  AlbertForSequenceClassification  classifier(pooled).

Head mask: transformers hands group g head_mask[g*lpg:(g+1)*lpg] and inner layer k its entry k
(one group, one inner layer: every layer reads head_mask[0]). This reference takes one row per run
layer, as bertscope does (docs/families.md says why). Tensor names as those classes save them
("albert." prefix). It never imports bertscope code; only the safetensors reader and the Linear
helpers are shared with bert_reference.py.
"""
import math

import torch

from bert_reference import ReferenceModel


class Albert(ReferenceModel):
    def __init__(self, folder):
        super().__init__(folder)
        c = self.cfg
        self.config_layers = c.get("num_hidden_layers", 12)
        self.groups = c.get("num_hidden_groups", 1)
        self.inner = c.get("inner_group_num", 1)
        self.layers = self.config_layers * self.inner  # run layers, one attention map each
        self.heads = c.get("num_attention_heads", 64)
        self.hidden = c.get("hidden_size", 4096)
        self.embedding = c.get("embedding_size", 128)
        self.eps = c.get("layer_norm_eps", 1e-12)
        self.act_name = c.get("hidden_act", "gelu_new")

    def ln(self, x, prefix, dtype):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.p(prefix + ".weight", dtype),
                                              self.p(prefix + ".bias", dtype), self.eps)

    def forward(self, input_ids, token_type_ids, attention_mask, dtype, head_mask=None, inputs_embeds=None,
                keep_probs=False):
        """Padded batch [B, T]. Returns attentions [B, L*inner, H, T, T], hidden [B, L*inner+1, T,
        hidden], extras (logits, pooled; probs when keep_probs)."""
        b, t = input_ids.shape
        pos = torch.arange(t).unsqueeze(0).expand(b, t)
        if inputs_embeds is None:
            inputs_embeds = self.p("albert.embeddings.word_embeddings.weight", dtype)[input_ids]
        x = inputs_embeds + self.p("albert.embeddings.token_type_embeddings.weight", dtype)[token_type_ids]
        x = x + self.p("albert.embeddings.position_embeddings.weight", dtype)[pos]
        x = self.ln(x, "albert.embeddings.LayerNorm", dtype)
        x = self.linear(x, "albert.encoder.embedding_hidden_mapping_in", dtype)
        ext = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        d = self.hidden // self.heads
        hidden_states, attentions = [x], []
        run = 0
        for i in range(self.config_layers):
            g = int(i / (self.config_layers / self.groups))
            for k in range(self.inner):
                pre = f"albert.encoder.albert_layer_groups.{g}.albert_layers.{k}."

                def split(y):
                    return y.view(b, t, self.heads, d).transpose(1, 2)

                q = split(self.linear(x, pre + "attention.query", dtype))
                kk = split(self.linear(x, pre + "attention.key", dtype))
                v = split(self.linear(x, pre + "attention.value", dtype))
                scores = torch.matmul(q, kk.transpose(-1, -2)) / math.sqrt(d) + ext
                probs = torch.softmax(scores, dim=-1)
                if head_mask is not None:
                    probs = probs * head_mask[run].to(dtype)[None, :, None, None]
                if keep_probs:
                    probs.retain_grad()
                attentions.append(probs)
                ctx = torch.matmul(probs, v).transpose(2, 1).flatten(2)
                a = self.ln(x + self.linear(ctx, pre + "attention.dense", dtype), pre + "attention.LayerNorm", dtype)
                f = self.linear(self.act(self.linear(a, pre + "ffn", dtype)), pre + "ffn_output", dtype)
                x = self.ln(f + a, pre + "full_layer_layer_norm", dtype)
                hidden_states.append(x)
                run += 1
        extras = {"probs": attentions if keep_probs else None}
        if "albert.pooler.weight" in self.w:
            extras["pooled"] = torch.tanh(self.linear(x[:, 0], "albert.pooler", dtype))
            if "classifier.weight" in self.w:
                extras["logits"] = self.linear(extras["pooled"], "classifier", dtype)
        if "predictions.dense.weight" in self.w:
            h = self.ln(self.act(self.linear(x, "predictions.dense", dtype)), "predictions.LayerNorm", dtype)
            dec = self.w.get("predictions.decoder.weight", self.w["albert.embeddings.word_embeddings.weight"])
            extras["logits"] = torch.nn.functional.linear(h, dec.to(dtype), self.p("predictions.bias", dtype))
        if keep_probs:
            return extras
        return torch.stack(attentions, 1), torch.stack(hidden_states, 1), extras
