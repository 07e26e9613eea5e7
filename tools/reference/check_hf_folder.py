#!/usr/bin/python3
"""Checks that a model folder bertscope wrote (e.g. models/bertscope-mini) is what Hugging Face
transformers' `BertForMaskedLM.from_pretrained` / `BertForSequenceClassification.from_pretrained`
expect, and that bertscope runs it like the independent reference:

  - config.json has the keys of transformers' BertConfig, model_type "bert", and an
    `architectures` entry naming the head; a classifier has id2label/label2id of num_labels;
  - model.safetensors holds exactly the tensors of that architecture's state_dict (tied
    weights that save_pretrained leaves out may be absent), with the shapes the config implies;
  - vocab.txt has vocab_size lines;
  - the float64 reference (bert_reference.py, transformers' eager BertModel semantics) and
    `bertscope run` agree on attention and logits for a few sentences.

    /usr/bin/python3 tools/reference/check_hf_folder.py models/bertscope-mini --bertscope build/release/bertscope

Exits 0 when every check passes, 1 with one line per failure otherwise, 77 when PyTorch is missing.
It never imports bertscope code.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError:
    print("check_hf_folder: numpy and torch are needed (Debian: python3-numpy python3-torch)", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_reference import Bert, read_safetensors  # noqa: E402

CONFIG_KEYS = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
               "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
               "type_vocab_size", "initializer_range", "layer_norm_eps", "pad_token_id"]
SENTENCES = ["The keys to the cabinet are on the table.",
             "It was the best of times, it was the worst of times.",
             "The author that the guards like [MASK] at the joke."]


def expected_tensors(cfg, arch):
    """transformers' state_dict names and shapes for BertForMaskedLM / BertForSequenceClassification."""
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    t = {"bert.embeddings.word_embeddings.weight": [v, h],
         "bert.embeddings.position_embeddings.weight": [cfg["max_position_embeddings"], h],
         "bert.embeddings.token_type_embeddings.weight": [cfg["type_vocab_size"], h],
         "bert.embeddings.LayerNorm.weight": [h], "bert.embeddings.LayerNorm.bias": [h]}
    for l in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{l}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            t[p + name + ".weight"], t[p + name + ".bias"] = [h, h], [h]
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = [i, h], [i]
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = [h, i], [h]
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = [h], [h]
    optional = {}
    if arch == "BertForMaskedLM":
        t.update({"cls.predictions.transform.dense.weight": [h, h], "cls.predictions.transform.dense.bias": [h],
                  "cls.predictions.transform.LayerNorm.weight": [h], "cls.predictions.transform.LayerNorm.bias": [h],
                  "cls.predictions.bias": [v]})
        # Tied to the word embeddings and to cls.predictions.bias: save_pretrained leaves them out.
        optional = {"cls.predictions.decoder.weight": [v, h], "cls.predictions.decoder.bias": [v]}
    elif arch == "BertForSequenceClassification":
        n = cfg.get("num_labels", len(cfg.get("id2label", {})))
        t.update({"bert.pooler.dense.weight": [h, h], "bert.pooler.dense.bias": [h],
                  "classifier.weight": [n, h], "classifier.bias": [n]})
    else:
        raise ValueError(f"architecture {arch} is not checked")
    return t, optional


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--bertscope", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max |bertscope - float64 reference|")
    args = ap.parse_args()
    failures = []
    with open(os.path.join(args.folder, "config.json")) as f:
        cfg = json.load(f)
    for key in CONFIG_KEYS:
        if key not in cfg:
            failures.append(f"config.json: no {key}")
    if cfg.get("model_type") != "bert":
        failures.append(f"config.json: model_type is {cfg.get('model_type')!r}, not 'bert'")
    archs = cfg.get("architectures") or []
    if len(archs) != 1:
        failures.append(f"config.json: architectures {archs!r} should name one head")
        arch = "BertForMaskedLM"
    else:
        arch = archs[0]
    if arch == "BertForSequenceClassification":
        id2label, label2id = cfg.get("id2label", {}), cfg.get("label2id", {})
        if not id2label or sorted(int(k) for k in id2label) != list(range(len(id2label))):
            failures.append("config.json: id2label must map 0..num_labels-1")
        if {v: int(k) for k, v in id2label.items()} != {k: int(v) for k, v in label2id.items()}:
            failures.append("config.json: label2id is not the inverse of id2label")

    header = read_safetensors(os.path.join(args.folder, "model.safetensors"))
    want, optional = expected_tensors(cfg, arch)
    for name, shape in want.items():
        if name not in header:
            failures.append(f"model.safetensors: missing {name}")
        elif list(header[name].shape) != shape:
            failures.append(f"model.safetensors: {name} has shape {list(header[name].shape)}, expected {shape}")
    for name in header:
        if name not in want and name not in optional:
            failures.append(f"model.safetensors: unexpected tensor {name} (transformers would ignore it)")
    with open(os.path.join(args.folder, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    if len(vocab) != cfg["vocab_size"]:
        failures.append(f"vocab.txt: {len(vocab)} tokens, config vocab_size {cfg['vocab_size']}")

    if not failures:
        # bertscope's float32 run against the float64 reference on the same token ids.
        ref = Bert(args.folder)
        with tempfile.TemporaryDirectory() as tmp:
            inp = os.path.join(tmp, "in.txt")
            with open(inp, "w") as f:
                f.write("\n".join(SENTENCES) + "\n")
            subprocess.run([args.bertscope, "run", "--model", args.folder, "--input", inp, "--out", os.path.join(tmp, "t")],
                           check=True, stdout=subprocess.DEVNULL)
            worst_att = worst_logit = 0.0
            for k in range(len(SENTENCES)):
                z = np.load(os.path.join(tmp, "t", f"{k:06d}.npz"))
                ids = torch.tensor(z["input_ids"][None, :])
                types = torch.tensor(z["token_type_ids"][None, :])
                att, _, extras = ref.forward(ids, types, torch.ones_like(ids), torch.float64)
                worst_att = max(worst_att, float(np.abs(att[0].numpy() - z["attentions"]).max()))
                if "logits" in extras and "logits" in z:
                    worst_logit = max(worst_logit, float(np.abs(extras["logits"][0].numpy() - z["logits"]).max()))
            print(f"{args.folder}: {arch}, {len(header)} tensors as transformers names them; "
                  f"max |bertscope - float64 reference|: attention {worst_att:.2e}, logits {worst_logit:.2e}")
            if worst_att > args.tolerance or worst_logit > 100 * args.tolerance:
                failures.append(f"bertscope differs from the reference: attention {worst_att:.2e}, logits {worst_logit:.2e}")
    for f in failures:
        print(f"{args.folder}: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
