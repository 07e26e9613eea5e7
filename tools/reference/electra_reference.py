#!/usr/bin/python3
"""Independent reference for ELECTRA encoders, written from transformers' modeling_electra.py
(eager attention), in PyTorch, float64 or float32.

What it follows, class by class:
  ElectraEmbeddings        (word_embeddings(ids) + token_type_embeddings(types)) +
                           position_embeddings(arange(T)), all embedding_size wide;
                           LayerNorm(embedding_size, eps=layer_norm_eps).
  ElectraModel             embeddings_project (Linear(embedding_size, hidden_size)) only when the
                           two sizes differ, applied to the embeddings' output before the encoder,
                           so hidden_states[0] is the projected tensor.
  ElectraSelfAttention ... BERT's layers: additive (1 - mask) * finfo.min on the key columns,
                           q k^T / sqrt(head_dim), softmax, * head_mask; attention.output.dense +
                           LayerNorm(x + .); intermediate.dense -> hidden_act -> output.dense +
                           LayerNorm(u + .).
  ElectraForMaskedLM       generator_predictions: dense (hidden -> embedding_size) ->
                           get_activation("gelu") (whatever hidden_act says) ->
                           LayerNorm(embedding_size); generator_lm_head (tied to the word
                           embeddings when not stored) + bias.
  ElectraForPreTraining    discriminator_predictions: dense -> get_activation(hidden_act) ->
                           dense_prediction (hidden -> 1), squeeze(-1): one logit per token [B, T].
  ElectraForSequenceClassification  ElectraClassificationHead on h[:, 0]: dense -> gelu
                           (hard-coded) -> out_proj.

Tensor names as those classes save them ("electra." prefix). Defaults are ElectraConfig's. It
never imports bertscope code; only the safetensors reader is shared with bert_reference.py.
"""
import math

import torch

from bert_reference import ReferenceModel, activation

# ElectraConfig's defaults for the keys a config.json may leave out.
DEFAULTS = {"vocab_size": 30522, "embedding_size": 128, "hidden_size": 256, "num_hidden_layers": 12,
            "num_attention_heads": 4, "intermediate_size": 1024, "hidden_act": "gelu",
            "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12}


class Electra(ReferenceModel):
    def __init__(self, folder):
        super().__init__(folder)
        for key, value in DEFAULTS.items():
            self.cfg.setdefault(key, value)
        self.layers = self.cfg["num_hidden_layers"]
        self.heads = self.cfg["num_attention_heads"]
        self.hidden = self.cfg["hidden_size"]
        self.embedding_size = self.cfg["embedding_size"]
        self.eps = self.cfg["layer_norm_eps"]
        self.act_name = self.cfg["hidden_act"]
        self.word_table = "electra.embeddings.word_embeddings.weight"
        # ElectraForPreTraining: per-token replaced-token logits [B, T] rather than class logits.
        self.token_logits = "discriminator_predictions.dense.weight" in self.w

    def norm(self, x, prefix, dtype):
        """nn.LayerNorm over the last dimension (embedding_size or hidden_size)."""
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.p(prefix + ".weight", dtype),
                                              self.p(prefix + ".bias", dtype), self.eps)

    def forward(self, input_ids, token_type_ids, attention_mask, dtype, head_mask=None, inputs_embeds=None,
                keep_probs=False):
        """Padded batch [B, T]. Returns attentions [B, L, H, T, T], hidden [B, L+1, T, hidden],
        extras (logits; probs when keep_probs, in which case only extras is returned)."""
        b, t = input_ids.shape
        if inputs_embeds is None:
            inputs_embeds = self.p(self.word_table, dtype)[input_ids]
        x = inputs_embeds + self.p("electra.embeddings.token_type_embeddings.weight", dtype)[token_type_ids]
        x = x + self.p("electra.embeddings.position_embeddings.weight", dtype)[torch.arange(t)][None]
        x = self.norm(x, "electra.embeddings.LayerNorm", dtype)
        if "electra.embeddings_project.weight" in self.w:
            x = self.linear(x, "electra.embeddings_project", dtype)
        ext = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        d = self.hidden // self.heads
        hidden_states, attentions = [x], []
        for l in range(self.layers):
            pre = f"electra.encoder.layer.{l}."

            def split(y):
                return y.view(b, t, self.heads, d).permute(0, 2, 1, 3)

            q = split(self.linear(x, pre + "attention.self.query", dtype))
            k = split(self.linear(x, pre + "attention.self.key", dtype))
            v = split(self.linear(x, pre + "attention.self.value", dtype))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext
            probs = torch.softmax(scores, dim=-1)
            if head_mask is not None:
                probs = probs * head_mask[l].to(dtype)[None, :, None, None]
            if keep_probs:
                probs.retain_grad()
            attentions.append(probs)
            ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(b, t, self.hidden)
            u = self.norm(self.linear(ctx, pre + "attention.output.dense", dtype) + x, pre + "attention.output.LayerNorm",
                          dtype)
            f = self.act(self.linear(u, pre + "intermediate.dense", dtype))
            x = self.norm(self.linear(f, pre + "output.dense", dtype) + u, pre + "output.LayerNorm", dtype)
            hidden_states.append(x)
        extras = {"probs": attentions if keep_probs else None}
        if self.token_logits:
            h = self.act(self.linear(x, "discriminator_predictions.dense", dtype))
            extras["logits"] = self.linear(h, "discriminator_predictions.dense_prediction", dtype).squeeze(-1)
        elif "classifier.out_proj.weight" in self.w:
            extras["pooled"] = activation("gelu", self.linear(x[:, 0], "classifier.dense", dtype))
            extras["logits"] = self.linear(extras["pooled"], "classifier.out_proj", dtype)
        elif "generator_predictions.dense.weight" in self.w:
            h = activation("gelu", self.linear(x, "generator_predictions.dense", dtype))
            h = self.norm(h, "generator_predictions.LayerNorm", dtype)
            dec = self.w.get("generator_lm_head.weight", self.w[self.word_table])
            extras["logits"] = torch.nn.functional.linear(h, dec.to(dtype), self.p("generator_lm_head.bias", dtype))
        if keep_probs:
            return extras
        return torch.stack(attentions, 1), torch.stack(hidden_states, 1), extras
