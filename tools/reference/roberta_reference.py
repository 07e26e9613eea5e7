#!/usr/bin/python3
"""Independent reference for RoBERTa and XLM-RoBERTa encoders, written from transformers'
modeling_roberta.py (eager attention), in PyTorch, float64 or float32.

What it follows, class by class:
  RobertaEmbeddings        position ids = create_position_ids_from_input_ids: mask = ids != pad,
                           cumsum(mask) * mask + padding_idx; inputs_embeds + token_type_embeddings,
                           then + position_embeddings; LayerNorm (config.layer_norm_eps).
  RobertaSelfAttention     q, k, v projections; q k^T / sqrt(head_dim) + additive mask
                           ((1 - mask) * finfo.min); softmax; * head_mask; probs v.
  RobertaSelfOutput, ...   dense, LayerNorm(x + input); intermediate act (config.hidden_act);
                           output dense, LayerNorm(x + input).
  RobertaLMHead            dense -> gelu (exact erf, whatever hidden_act is) -> layer_norm ->
                           decoder (tied to the word embeddings when not stored) + bias.
  RobertaClassificationHead  features[:, 0] -> dense -> tanh -> out_proj.

Tensor names as RobertaForMaskedLM / RobertaForSequenceClassification save them ("roberta."
prefix, "lm_head.*", "classifier.dense" / "classifier.out_proj"). It never imports bertscope
code; only the safetensors reader is shared with bert_reference.py.
"""
import math

import torch

from bert_reference import ReferenceModel, activation


class Roberta(ReferenceModel):
    def __init__(self, folder):
        super().__init__(folder)
        self.layers = self.cfg["num_hidden_layers"]
        self.heads = self.cfg["num_attention_heads"]
        self.hidden = self.cfg["hidden_size"]
        self.eps = self.cfg.get("layer_norm_eps", 1e-12)
        self.pad = self.cfg.get("pad_token_id", 1)
        self.act_name = self.cfg.get("hidden_act", "gelu")

    def position_ids(self, input_ids):
        mask = input_ids.ne(self.pad).int()
        incremental = torch.cumsum(mask, dim=1).type_as(mask) * mask
        return incremental.long() + self.pad

    def forward(self, input_ids, token_type_ids, attention_mask, dtype, head_mask=None, inputs_embeds=None,
                keep_probs=False):
        """Padded batch [B, T]. Returns attentions [B, L, H, T, T], hidden [B, L+1, T, hidden], extras
        (logits; pooled for the classification head's tanh output; probs: the per-layer tensors
        themselves when keep_probs, for gradients)."""
        b, t = input_ids.shape
        pos = self.position_ids(input_ids)
        if inputs_embeds is None:
            inputs_embeds = self.p("roberta.embeddings.word_embeddings.weight", dtype)[input_ids]
        x = inputs_embeds + self.p("roberta.embeddings.token_type_embeddings.weight", dtype)[token_type_ids]
        x = x + self.p("roberta.embeddings.position_embeddings.weight", dtype)[pos]
        x = self.ln(x, "roberta.embeddings.LayerNorm", dtype)
        ext = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        d = self.hidden // self.heads
        hidden_states, attentions = [x], []
        for l in range(self.layers):
            pre = f"roberta.encoder.layer.{l}."

            def split(y):
                return y.view(b, t, self.heads, d).permute(0, 2, 1, 3)

            q = split(self.linear(x, pre + "attention.self.query", dtype))
            k = split(self.linear(x, pre + "attention.self.key", dtype))
            v = split(self.linear(x, pre + "attention.self.value", dtype))
            probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext, dim=-1)
            if head_mask is not None:
                probs = probs * head_mask[l].to(dtype)[None, :, None, None]
            if keep_probs:
                probs.retain_grad()
            attentions.append(probs)
            ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(b, t, self.hidden)
            u = self.ln(self.linear(ctx, pre + "attention.output.dense", dtype) + x, pre + "attention.output.LayerNorm",
                        dtype)
            f = self.act(self.linear(u, pre + "intermediate.dense", dtype))
            x = self.ln(self.linear(f, pre + "output.dense", dtype) + u, pre + "output.LayerNorm", dtype)
            hidden_states.append(x)
        extras = {"probs": attentions if keep_probs else None}
        if "classifier.out_proj.weight" in self.w:
            extras["pooled"] = torch.tanh(self.linear(x[:, 0, :], "classifier.dense", dtype))
            extras["logits"] = self.linear(extras["pooled"], "classifier.out_proj", dtype)
        elif "lm_head.dense.weight" in self.w:
            h = activation("gelu", self.linear(x, "lm_head.dense", dtype))  # exact GELU whatever hidden_act says
            h = torch.nn.functional.layer_norm(h, (self.hidden,), self.p("lm_head.layer_norm.weight", dtype),
                                               self.p("lm_head.layer_norm.bias", dtype), self.eps)
            dec = self.w.get("lm_head.decoder.weight", self.w["roberta.embeddings.word_embeddings.weight"])
            extras["logits"] = torch.nn.functional.linear(h, dec.to(dtype), self.p("lm_head.bias", dtype))
        if keep_probs:
            return extras
        return torch.stack(attentions, 1), torch.stack(hidden_states, 1), extras
