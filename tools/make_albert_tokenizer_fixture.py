#!/usr/bin/python3
"""Writes tests/data/tokenizers/albert-unigram: an ALBERT-style tokenizer.json as transformers'
AlbertConverter builds it (convert_slow_tokenizer.py), on the pieces and charsmap of the XLM-R
test tokenizer (no ALBERT tokenizer files ship in the package lists):
  normalizer      Sequence[Replace(`` -> "), Replace('' -> "), NFKD, StripAccents, Lowercase,
                  Precompiled, Replace(/ {2,}/ -> " ")]   (do_lower_case, not keep_accents)
  pre-tokenizer   Metaspace(▁, prepend_scheme always)
  model           Unigram, ids <pad> <unk> [CLS] [SEP] [MASK] then the pieces, unk_id 1
  post-processor  TemplateProcessing [CLS]:0 $A:0 [SEP]:0 / ... $B:1 [SEP]:1
  added tokens    the five specials; [MASK] with lstrip (AlbertTokenizer's mask_token)
"""
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = json.load(open(os.path.join(ROOT, "tests/data/tokenizers/xlmr-unigram/tokenizer.json")))
charsmap = next(n for n in src["normalizer"]["normalizers"] if n["type"] == "Precompiled")["precompiled_charsmap"]
specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
pieces = [p for p in src["model"]["vocab"][4:] if p[0] != "<mask>"]
vocab = [[s, 0.0] for s in specials] + pieces
added = [{"id": i, "content": s, "single_word": False, "lstrip": s == "[MASK]", "rstrip": False,
          "normalized": False, "special": True} for i, s in enumerate(specials)]


def template(seq):
    return [{"SpecialToken": {"id": s, "type_id": t}} if s.startswith("[") else {"Sequence": {"id": s, "type_id": t}}
            for s, t in seq]


doc = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
        {"type": "Replace", "pattern": {"String": "''"}, "content": "\""},
        {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
        {"type": "Precompiled", "precompiled_charsmap": charsmap},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    "post_processor": {"type": "TemplateProcessing",
                       "single": template([("[CLS]", 0), ("A", 0), ("[SEP]", 0)]),
                       "pair": template([("[CLS]", 0), ("A", 0), ("[SEP]", 0), ("B", 1), ("[SEP]", 1)]),
                       "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                          "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    "model": {"type": "Unigram", "unk_id": 1, "vocab": vocab, "byte_fallback": False},
}
out = os.path.join(ROOT, "tests/data/tokenizers/albert-unigram")
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "tokenizer.json"), "w") as f:
    json.dump(doc, f, ensure_ascii=False)
config = {"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "keep_accents": False,
          "remove_space": True, "bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>",
          "sep_token": "[SEP]", "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]",
          "model_max_length": 512}
with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
