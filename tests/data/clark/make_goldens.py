#!/usr/bin/python3
"""Reference values for tests/clark_surface_test.cpp, made with Python's own `random` module.

Writes py_random.golden.json: streams of random(), randrange(n) and shuffle() for a few seeds, as
Python 3 draws them and as Python 2.7 did (int(random() * n) in randrange and shuffle); and
segments.golden.json: Clark et al.'s preprocess_unlabeled.py segment building (prep_document and
truncate_seq_pair, copied in behaviour) on running_text.txt, whose words are all single
bert-base-uncased word pieces, so tokenizing is lower-casing and splitting off punctuation.

Run with Debian's interpreter: /usr/bin/python3 tests/data/clark/make_goldens.py
"""
import json
import os
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def randbelow(rng, n, flavour):
    return rng.randrange(n) if flavour == "python3" else int(rng.random() * n)


def shuffle(rng, x, flavour):
    for i in reversed(range(1, len(x))):
        j = randbelow(rng, i + 1, flavour)
        x[i], x[j] = x[j], x[i]


def random_streams():
    out = []
    for seed in [0, 1, 42, 4294967296 + 7, 12345678901234567]:
        for flavour in ["python3", "python2"]:
            rng = random.Random(seed)
            doubles = [rng.random() for _ in range(5)]
            below = [randbelow(rng, n, flavour) for n in [1, 2, 3, 7, 10, 100, 1000, 65537, 4294967295]]
            deck = list(range(20))
            shuffle(rng, deck, flavour)
            out.append({"seed": seed, "flavour": flavour, "random": doubles, "randbelow_n": [1, 2, 3, 7, 10, 100, 1000, 65537, 4294967295],
                        "randbelow": below, "shuffle20": deck})
    return out


def tokenize(line):
    return re.findall(r"[a-z0-9]+|[^a-z0-9\s]", line.lower())


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    while True:
        total_length = len(tokens_a) + len(tokens_b)
        if total_length <= max_num_tokens:
            break
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()


def prep_document(document, max_sequence_length, rng, flavour):
    max_num_tokens = max_sequence_length - 3
    instances = []
    current_chunk = []
    current_length = 0
    i = 0
    while i < len(document):
        segment = document[i]
        current_chunk.append(segment)
        current_length += len(segment)
        if i == len(document) - 1 or current_length >= max_num_tokens:
            if current_chunk:
                a_end = 1
                if len(current_chunk) >= 2:
                    a_end = 1 + randbelow(rng, len(current_chunk) - 1, flavour)
                tokens_a = [t for s in current_chunk[:a_end] for t in s]
                tokens_b = [t for s in current_chunk[a_end:] for t in s]
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                if len(tokens_a) == 0 or len(tokens_b) == 0:
                    break
                instances.append({"a": tokens_a, "b": tokens_b})
            current_chunk = []
            current_length = 0
        i += 1
    return instances


def segments(max_sequence_length, num_docs, seed, flavour):
    rng = random.Random(seed)
    docs, current = [], []
    with open(os.path.join(HERE, "running_text.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines.append("")  # the file's last document is used too (bertscope's documented deviation)
    out = []
    for line in lines:
        line = line.strip()
        if not line:
            if current:
                for s in prep_document(current, max_sequence_length, rng, flavour):
                    out.append(s)
                    if len(out) >= num_docs:
                        break
                if len(out) >= num_docs:
                    break
            current = []
            continue
        toks = tokenize(line)
        if toks:
            current.append(toks)
    shuffle(rng, out, flavour)
    return {"max_sequence_length": max_sequence_length, "max_segments": num_docs, "seed": seed, "flavour": flavour,
            "segments": out}


def main():
    with open(os.path.join(HERE, "py_random.golden.json"), "w") as f:
        json.dump(random_streams(), f, indent=1)
        f.write("\n")
    cases = [segments(32, 1000, 0, "python3"), segments(32, 1000, 0, "python2"), segments(20, 5, 7, "python3"),
             segments(128, 1000, 0, "python3")]
    with open(os.path.join(HERE, "segments.golden.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
