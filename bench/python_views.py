"""How long NumPy takes to get a whole attention trace from Python (issue 18: no measurable
time, no copy): python_views.py MODEL [tokens]. Runs one input of `tokens` tokens with
attention recorded, then times reading the whole [layers, heads, T, T] trace as a NumPy view
(Trace.attentions) and every layer's [heads, T, T] view (Trace.attention(l)) against a plain
NumPy copy of the same bytes. Prints one JSON line."""

import json
import sys
import time

import numpy as np

import bertscope


def best_of(fn, n=20):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    m = bertscope.load(sys.argv[1])
    tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    e = bertscope.Encoding()
    e.ids = [101 if i == 0 else 102 if i == tokens - 1 else (1000 + 7 * i) % m.info.vocab for i in range(tokens)]
    e.type_ids = [0] * tokens
    t = m.run(e, record="attn.probs")
    layers = m.info.layers

    def views():
        t._sites = None  # fresh NumPy objects each time, as a new trace would build them
        return [t.attention(l) for l in range(layers)]

    def stacked():
        t._stacks = None
        return t.attentions

    v = views()
    whole = stacked()
    shares = all(not a.flags.owndata and np.shares_memory(a, whole) for a in v) and not whole.flags.owndata
    nbytes = sum(a.nbytes for a in v)
    out = {"layers": layers, "heads": m.info.heads, "tokens": tokens, "bytes": nbytes, "views_share_memory": shares,
           "views_seconds": best_of(views), "attentions_view_seconds": best_of(stacked),
           "numpy_copy_seconds": best_of(lambda: whole.copy(), 5)}
    print(json.dumps({k: round(x, 6) if isinstance(x, float) else x for k, x in out.items()}))


if __name__ == "__main__":
    main()
