"""Tokens per second of bertscope's Model.run from Python (bench/python_run.sh compares it with
bench/api_run_bench.cpp): python_run.py MODEL [batch tokens repeats record]. Same inputs and
timing as the C++ bench; prints one JSON line per repeat."""

import json
import sys
import time

import bertscope


def main():
    folder = sys.argv[1]
    batch, tokens, repeats = (int(sys.argv[i]) if len(sys.argv) > i else d for i, d in ((2, 8), (3, 128), (4, 5)))
    record = sys.argv[5] if len(sys.argv) > 5 else "attn.probs"
    m = bertscope.load(folder)
    vocab = m.info.vocab
    inputs = []
    for b in range(batch):
        e = bertscope.Encoding()
        e.ids = [101 if i == 0 else 102 if i == tokens - 1 else (1000 + 7 * i + 13 * b) % vocab for i in range(tokens)]
        e.type_ids = [0] * tokens
        inputs.append(e)
    m.run(inputs, record=record, batch_size=batch)  # warm-up
    for _ in range(repeats):
        t0 = time.perf_counter()
        traces = m.run(inputs, record=record, batch_size=batch)
        if record == "attn.probs":
            traces[-1].attention(0)  # one view, as a user would read it
        s = time.perf_counter() - t0
        print(json.dumps({"seconds": round(s, 6), "tokens_per_second": round(batch * tokens / s, 1)}))


if __name__ == "__main__":
    main()
