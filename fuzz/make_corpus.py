#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<harness>/ from the project's test data (small excerpts).

Run from the repository root: python3 fuzz/make_corpus.py. The files are checked in; run it
again only to refresh them. No third-party modules (the .npy/.npz/.safetensors seeds are
written by hand)."""
import io, json, os, shutil, struct, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def head(path, max_bytes=3000, prefix=b""):
    with open(os.path.join(ROOT, path), "rb") as f:
        data = f.read()
    if len(data) > max_bytes:  # cut at a line end
        cut = data.rfind(b"\n", 0, max_bytes)
        data = data[: cut + 1 if cut > 0 else max_bytes]
    return prefix + data


# safetensors: a header + buffer, as write_safetensors lays it out.
def safetensors(tensors, metadata=None):
    header, buf = {}, b""
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + buf


put("safetensors", "two_f32.safetensors", safetensors(
    [("a.weight", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("a.bias", "F16", [2], b"\x00\x3c\x00\x40")],
    {"format": "pt"}))
put("safetensors", "scalar_bf16_i64.safetensors", safetensors(
    [("s", "BF16", [], b"\x80\x3f"), ("ids", "I64", [3], struct.pack("<3q", 1, 2, 3)), ("e", "F32", [0, 4], b"")]))
put("safetensors", "empty.safetensors", safetensors([]))


# .npy version 1.0
def npy(descr, shape, data):
    shape_text = "(" + "".join(f"{s}, " if len(shape) == 1 else f"{s}," for s in shape).rstrip(",") + ")"
    if len(shape) > 1:
        shape_text = "(" + ", ".join(str(s) for s in shape) + ")"
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_text)
    h = h.encode()
    pad = -(10 + len(h) + 1) % 64
    h += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data


a_f4 = npy("<f4", [2, 3], struct.pack("<6f", *range(6)))
a_i8 = npy("<i8", [3], struct.pack("<3q", 7, 8, 9))
a_u = npy("<U3", [2], "ab\0cde".encode("utf-32-le"))
a_b = npy("|b1", [2], b"\x01\x00")
put("npz", "f4.npy.bin", b"\x00" + a_f4)
put("npz", "i8.npy.bin", b"\x00" + a_i8)
put("npz", "u3.npy.bin", b"\x00" + a_u)
for name, comp in (("stored.npz.bin", zipfile.ZIP_STORED), ("deflated.npz.bin", zipfile.ZIP_DEFLATED)):
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", comp) as zf:
        zf.writestr("probs.npy", a_f4)
        zf.writestr("ids.npy", a_i8)
        zf.writestr("tokens.npy", a_u)
        zf.writestr("mask.npy", a_b)
    put("npz", name, b"\x01" + z.getvalue())

# config.json: the shipped models and one per family.
put("config", "bert.json", head("models/bertscope-mini/config.json"))
put("config", "bert_sst2.json", head("models/bertscope-mini-sst2/config.json"))
base = json.loads(open(os.path.join(ROOT, "models/bertscope-mini/config.json")).read())
for family, extra in (("roberta", {"pad_token_id": 1, "max_position_embeddings": 130}),
                      ("xlm-roberta", {"pad_token_id": 1, "max_position_embeddings": 130}),
                      ("electra", {"embedding_size": 128}),
                      ("albert", {"embedding_size": 64, "num_hidden_groups": 1, "inner_group_num": 1}),
                      ("deberta-v2", {"relative_attention": True, "max_relative_positions": -1, "position_buckets": 256,
                                      "pos_att_type": ["p2c", "c2p"], "position_biased_input": False}),
                      ("modernbert", {"global_attn_every_n_layers": 3, "local_attention": 128})):
    put("config", family + ".json", json.dumps(dict(base, model_type=family, **extra), indent=1))
put("config", "distilbert.json", json.dumps({"model_type": "distilbert", "dim": 256, "n_layers": 2, "n_heads": 4,
                                             "hidden_dim": 1024, "activation": "gelu", "vocab_size": 30522,
                                             "max_position_embeddings": 512, "sinusoidal_pos_embds": False}, indent=1))


# tokenizer.json: the test tokenizers with their vocabularies cut to the first tokens.
def small_tokenizer(path, keep=80):
    doc = json.load(open(os.path.join(ROOT, path)))
    m = doc.get("model") or {}
    vocab = m.get("vocab")
    if isinstance(vocab, dict):
        kept = dict(sorted(vocab.items(), key=lambda kv: kv[1])[:keep])
        m["vocab"] = kept
        if "merges" in m:
            merges = []
            for mg in m["merges"]:
                a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
                if a in kept and b in kept and a + b in kept:
                    merges.append(mg)
            m["merges"] = merges[:40]
    elif isinstance(vocab, list):
        m["vocab"] = vocab[:keep]
        if isinstance(m.get("unk_id"), int) and m["unk_id"] >= keep:
            m["unk_id"] = 0
    # the Precompiled normalizer's charsmap is 300 KB of base64: seeds keep the rest of the pipeline
    def drop_precompiled(n):
        if isinstance(n, dict) and n.get("type") == "Sequence":
            n["normalizers"] = [x for x in n.get("normalizers", []) if x.get("type") != "Precompiled"]
        return None if isinstance(n, dict) and n.get("type") == "Precompiled" else n
    doc["normalizer"] = drop_precompiled(doc.get("normalizer"))
    doc["added_tokens"] = [t for t in doc.get("added_tokens", []) if t.get("id", 0) < keep]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


for name in ("bert-base-uncased", "tokenizers/roberta-bpe", "tokenizers/modernbert-bpe", "tokenizers/hf-unigram",
             "tokenizers/albert-unigram", "tokenizers/xlmr-unigram", "tokenizers/debertav3-unigram"):
    put("tokenizer_json", name.split("/")[-1] + ".json", small_tokenizer(f"tests/data/{name}/tokenizer.json"))

# vocab.txt
put("vocab", "bert_base_uncased_head.txt", head("tests/data/bert-base-uncased/vocab.txt", 1200))
put("vocab", "tiny.txt", head("tests/data/tiny-vocab.txt", 3000))
with open(os.path.join(ROOT, "tests/data/bert-base-cased/vocab.txt"), "rb") as f:
    lines = f.read().split(b"\n")
put("vocab", "bert_base_cased_sample.txt", b"\n".join(lines[:5] + lines[99:110] + lines[1000:1400:4] + lines[-20:]))

# CoNLL-U
put("conllu", "handmade.conllu", head("tests/data/clark/handmade.conllu"))
put("conllu", "ewt_dev.conllu", head("tests/data/kovaleva/en_ewt-ud-dev.excerpt.conllu"))

# TSV (first byte: 0 with a header row, 1 without)
put("tsv", "sst2.tsv", head("tests/data/io/sst2_glue_dev.excerpt.tsv", 1500, b"\x00"))
put("tsv", "rte.tsv", head("tests/data/io/rte_glue_dev.excerpt.tsv", 2500, b"\x00"))
put("tsv", "sst2_head40.tsv", head("tests/data/kovaleva/sst2_dev.head40.tsv", 1500, b"\x01"))

# coreference (first byte: 0 jsonl, 1 GAP, 2 CoNLL-2012)
put("coref", "handmade.jsonl", head("tests/data/clark/handmade_coref.jsonl", 3000, b"\x00"))
put("coref", "gap.tsv", head("tests/data/clark/gap-development.first8.tsv", 3000, b"\x01"))
put("coref", "handmade.conll", head("tests/data/clark/handmade_conll2012.v4_gold_conll", 3000, b"\x02"))

# agreement data (first byte: 0 Marvin & Linzen TSV, 1 BLiMP jsonl, 2 template JSON)
put("agreement", "simple_agrmt.tsv", head("data/marvin_linzen/simple_agrmt.sample.tsv", 1500, b"\x00"))
put("agreement", "subj_rel.tsv", head("tests/data/influence/subj_rel.excerpt.tsv", 1500, b"\x00"))
put("agreement", "blimp.jsonl", b"\x01" + "".join(json.dumps(r) + "\n" for r in [
    {"sentence_good": "The dogs near the cat bark.", "sentence_bad": "The dogs near the cat barks.",
     "UID": "distractor_agreement_relational_noun", "pairID": "0"},
    {"sentence_good": "Every boy praised himself.", "sentence_bad": "Every boy praised herself.",
     "UID": "anaphor_gender_agreement", "pairID": "1"}]).encode())
put("agreement", "refl_across_gender.template.json", head("data/influence/refl_across_gender.template.json", 4000, b"\x02"))

# model.safetensors.index.json (the harness provides shard-1.safetensors and shard-2.safetensors)
put("shard_index", "two_shards.json", json.dumps({"metadata": {"total_size": 196}, "weight_map": {
    "bert.embeddings.word_embeddings.weight": "shard-1.safetensors",
    "bert.embeddings.position_embeddings.weight": "shard-1.safetensors",
    "bert.embeddings.LayerNorm.weight": "shard-2.safetensors"}}, indent=2))
put("shard_index", "one_shard.json", json.dumps({"weight_map": {
    "bert.embeddings.word_embeddings.weight": "shard-1.safetensors"}}))
