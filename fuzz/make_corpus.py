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


# --- issue 21, second pass: merges.txt / vocab.json, tokenizer_config.json, SentencePiece models,
# result documents, the server's request bodies. Companion files that a harness keeps fixed
# (the other half of a tokenizer folder) go to fuzz/companions/.
COMPANIONS = os.path.join(ROOT, "fuzz", "companions")


def companion(name, data):
    os.makedirs(COMPANIONS, exist_ok=True)
    with open(os.path.join(COMPANIONS, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# vocab.json + merges.txt (RoBERTa / GPT-2 byte-level BPE): the test tokenizer's first tokens
# and the merges among them. First byte: even = the merges.txt is fuzzed (fixed vocab.json),
# odd = the vocab.json is fuzzed (fixed merges.txt).
def small_bpe(keep=900, max_merges=200):
    vocab = json.load(open(os.path.join(ROOT, "tests/data/tokenizers/roberta-bpe/vocab.json"), encoding="utf-8"))
    kept = dict(sorted(vocab.items(), key=lambda kv: kv[1])[:keep])
    kept["<mask>"] = len(kept)  # RoBERTa's last token
    lines = open(os.path.join(ROOT, "tests/data/tokenizers/roberta-bpe/merges.txt"), encoding="utf-8").read().split("\n")
    merges = [lines[0]]
    for line in lines[1:]:
        parts = line.split(" ")
        if len(parts) == 2 and parts[0] in kept and parts[1] in kept and parts[0] + parts[1] in kept:
            merges.append(line)
        if len(merges) > max_merges:
            break
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":")), "\n".join(merges) + "\n"


bpe_vocab, bpe_merges = small_bpe()
companion("vocab.json", bpe_vocab)
companion("merges.txt", bpe_merges)
put("merges", "roberta_merges.txt", b"\x00" + bpe_merges.encode())
put("merges", "roberta_merges_head.txt", b"\x00" + "\n".join(bpe_merges.split("\n")[:20]).encode() + b"\n")
put("merges", "roberta_vocab.json", b"\x01" + bpe_vocab.encode())

# tokenizer_config.json beside each kind of tokenizer folder (first byte % 4: vocab.txt,
# tokenizer.json, vocab.json + merges.txt, spiece.model).
companion("vocab.txt", "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<pad>", "<unk>", "<s>", "</s>", "<mask>",
                                   "the", "cat", "hello", ",", "!", ".", "'", "s", "a", "pair", "##s", "##ing", "un",
                                   "##aff", "##able", "12", "w", "##ö", "##rl", "##d", "你", "好"]) + "\n")
configs = {
    "bert_base_cased.json": head("tests/data/bert-base-cased/tokenizer_config.json"),
    "albert.json": head("tests/data/tokenizers/albert-cased-unigram/tokenizer_config.json"),
    "debertav3.json": head("tests/data/tokenizers/debertav3-unigram/tokenizer_config.json"),
}
modernbert = json.load(open(os.path.join(ROOT, "tests/data/tokenizers/modernbert-bpe/tokenizer_config.json")))
modernbert["added_tokens_decoder"] = dict(list(modernbert.get("added_tokens_decoder", {}).items())[:6])
configs["modernbert.json"] = json.dumps(modernbert, indent=1)
configs["added_tokens.json"] = json.dumps({"do_lower_case": True, "strip_accents": None, "model_max_length": 512,
                                           "unk_token": {"content": "[UNK]", "special": True}, "add_prefix_space": True,
                                           "added_tokens_decoder": {"0": {"content": "[PAD]", "special": True},
                                                                    "40": {"content": "<new>", "lstrip": True}}},
                                          indent=1)
for i, (name, text) in enumerate(sorted(configs.items())):
    put("tokenizer_config", name, bytes([i % 4]) + (text if isinstance(text, bytes) else text.encode()))


# SentencePiece models: the test models cut to their first pieces, without the normaliser's
# precompiled charsmap (230 KB) and self-test data, by rewriting the protobuf (ModelProto:
# 1 pieces, 2 trainer_spec, 3 normalizer_spec (2: precompiled_charsmap), 4 self_test_data).
# First byte: even = spiece.model (ALBERT), odd = sentencepiece.bpe.model (XLM-R).
def pb_varint(buf, at):
    """The protobuf varint at buf[at]: (value, the position after it)."""
    v, shift = 0, 0
    while True:
        b = buf[at]
        at += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, at


def pb_fields(buf):
    at, out = 0, []
    while at < len(buf):
        start = at
        key, at = pb_varint(buf, at)
        wire = key & 7
        if wire == 0:
            _, at = pb_varint(buf, at)
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            n, at = pb_varint(buf, at)
            at += n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((key >> 3, wire, buf[start:at]))
    return out


def pb_payload(field_bytes):
    _, at = pb_varint(field_bytes, 0)  # the key
    n, at = pb_varint(field_bytes, at)
    return field_bytes[at:at + n]


def pb_len_field(number, payload):
    key, n = (number << 3) | 2, len(payload)
    def enc(v):
        out = b""
        while True:
            if v < 0x80:
                return out + bytes([v])
            out += bytes([(v & 0x7F) | 0x80]); v >>= 7
    return enc(key) + enc(n) + payload


def small_spm(path, keep=120):
    data = open(os.path.join(ROOT, path), "rb").read()
    out, pieces = b"", 0
    for number, wire, raw in pb_fields(data):
        if number == 1:
            pieces += 1
            if pieces <= keep:
                out += raw
        elif number == 3 and wire == 2:
            spec = b"".join(r for n, w, r in pb_fields(pb_payload(raw)) if n != 2)
            out += pb_len_field(3, spec)
        elif number in (2, 5):
            out += raw
    return out


spm_albert = small_spm("tests/data/tokenizers/albert-spiece/spiece.model")
companion("spiece.model", spm_albert)
put("sentencepiece", "albert_spiece.model", b"\x00" + spm_albert)
put("sentencepiece", "albert_lower_spiece.model", b"\x00" + small_spm("tests/data/tokenizers/albert-lower-unigram/spiece.model", 60))
put("sentencepiece", "xlmr_sentencepiece.bpe.model", b"\x01" + small_spm("tests/data/tokenizers/xlmr-unigram/sentencepiece.bpe.model"))
put("sentencepiece", "debertav3_spm.model", b"\x01" + small_spm("tests/data/tokenizers/debertav3-unigram/spm.model", 80))

# Result documents (report / summary): one per method the summary reads, in the shape the
# analyses write (docs/results.md), with a 2-layer x 2-head model's numbers; and an attention
# document as `run` / the server write it.
def hd(layer, head, **kw):
    return dict({"layer": layer, "head": head, "label": f"{layer + 1}-{head + 1}"}, **kw)


model_info = {"path": "models/bertscope-mini", "layers": 2, "heads": 2}
results_docs = {
    "surface": {"inputs": 10, "uniform_entropy": 3.2,
                "heads": [hd(0, 0, behaviour="prev", prev=0.8, next=0.05, cls=0.02, sep=0.1, punct=0.01, entropy=1.1),
                          hd(0, 1, behaviour="sep", prev=0.1, next=0.05, cls=0.02, sep=0.7, punct=0.01, entropy=1.5),
                          hd(1, 0, behaviour="broad", prev=0.1, next=0.1, cls=0.1, sep=0.2, punct=0.1, entropy=3.0)],
                "layers": [{"layer": 0, "sep": 0.4}, {"layer": 1, "sep": 0.2}]},
    "syntax": {"sentences": 20, "relations": {
        "all": {"count": 300, "best": hd(1, 1, accuracy=0.4, direction="dependent->head"), "baseline": {"accuracy": 0.3, "offset": -1}},
        "nsubj": {"count": 120, "best": hd(0, 1, accuracy=0.6, direction="head->dependent"), "baseline": {"accuracy": 0.4, "offset": 1}},
        "det": {"count": 40, "best": hd(0, 0, accuracy=0.9, direction="dependent->head"), "baseline": {"accuracy": 0.8, "offset": 1}}}},
    "probe": {"probes": {"attn": {"uas": 0.5}, "attn+words": {"uas": 0.6}}, "baselines": {"right_branching": {"uas": 0.3}}},
    "coref": {"documents": 4, "best": {"all": hd(1, 0, accuracy=0.5)}, "baselines": {"nearest": {"all": 0.3}},
              "anaphors": {"all": 40}},
    "patterns": {"inputs": 8, "class_share": {"vertical": [[0.5, 0.2], [0.1, 0.3]], "diagonal": [[0.2, 0.4], [0.5, 0.1]]},
                 "heads": [hd(0, 0, majority="vertical"), hd(1, 1, majority="diagonal")]},
    "compare": {"cosine_layer_mean": [0.99, 0.95], "lowest": [hd(1, 1, cosine=0.8), hd(0, 1, cosine=0.9)]},
    "ablate": {"metric": "accuracy", "baseline": 0.8, "head_delta": [[0.01, -0.02], [0.0, 0.03]], "layer_delta": [-0.01, 0.02],
               "improving_heads": [hd(0, 0, delta=0.01), hd(1, 1, delta=0.03)], "random_head": {"mean_delta": 0.005}},
    "importance": {"examples": 50, "metric": "accuracy", "threshold_metric": 0.72, "baseline_metric": 0.8,
                   "per_head": [hd(0, 0, importance=0.3), hd(1, 0, importance=0.7)],
                   "curve": [{"fraction_masked": 0.25, "above_threshold": True}, {"fraction_masked": 0.5, "above_threshold": False}]},
    "saliency": {"examples": [{"tokens": ["[CLS]", "a", "[SEP]"]}],
                 "completeness": {"steps": 50, "mean_relative_error": 0.01, "max_relative_error": 0.03}},
    "flow": {"inputs": 3, "cost": {"seconds_per_output_node": 0.002, "dinic_phases": 40}},
    "influence": {"tasks": [{"task": "subj_rel", "accuracy": {"all": {"n": 20, "accuracy": 0.9}},
                             "skip_share": {"all": {"overall": 0.6, "per_layer": [0.5, 0.7], "patterns": 20}},
                             "consistency": {"subject": {"modal_share": 0.7, "instances": 20}},
                             "ablation": {"methods": {"pattern": {"sign_agreement": 0.95}}}}]},
    "gradsep": {"layers": [{"layer": 0, "sep": 0.001, "other": 0.01}, {"layer": 1, "sep": 0.02, "other": 0.01}]},
}
for method, res in results_docs.items():
    put("results", method + ".json", json.dumps({"method": method, "model": model_info, "data": {"path": f"data/{method}.txt"},
                                                 "params": {}, "results": res,
                                                 "figures": [{"id": method + "-heads", "kind": "heads"}]}, indent=1))
put("results", "attention.json", json.dumps({"kind": "attention", "tokens": ["[CLS]", "hi", "[SEP]"],
                                             "model": {"name": "m", "layers": 1, "heads": 1},
                                             "attention": {"encoding": "float16", "shape": [1, 1, 3, 3], "data": "AAAAAAAA"}}))
put("results", "not_a_result.json", json.dumps({"method": "cluster", "results": {}}))

# POST /api/run bodies (first byte: bit 0 = a second model is loaded, bit 1 = a 64-byte limit).
put("run_request", "text.json", b"\x00" + json.dumps({"text": "The cat sat on the [MASK]."}).encode())
put("run_request", "pair.json", b"\x01" + json.dumps({"text": "Is it raining?", "text_pair": "No, it is sunny.", "precision": "float32",
                                                      "truncate": True, "vectors": False, "model": "b"}).encode())
put("run_request", "nulls.json", b"\x00" + json.dumps({"text": "naïve 你好", "text_pair": None, "truncate": None, "model": None}).encode())
put("run_request", "small_limit.json", b"\x02" + json.dumps({"text": "a" * 80}).encode())
