#!/usr/bin/env bash
# Speed of bertscope against ONNX Runtime (CPU) and PyTorch on the same machine, same random
# bert-base, same shapes, alternating runs so all see the same conditions (issue 23). Per shape,
# medians over ROUNDS rounds of:
#   bertscope bench (default --record attn.probs,hidden) and bertscope bench --record none;
#   ONNX Runtime on four files of bench/onnx_export.py: last_hidden (last hidden state only) and
#     attn_hidden (also every layer's attention probabilities and every hidden state, what
#     bertscope records), each as VARIANT.onnx (dynamic batch and sequence, the traced graph: ORT
#     fuses only BiasGelu and FusedMatMul) and as VARIANT.BxS.onnx (this shape fixed, written so
#     that ORT's own fusions match: last_hidden.BxS gets EmbedLayerNormalization, Attention,
#     SkipLayerNormalization and Gelu, all ORT's optimizer fuses for BERT; attn_hidden.BxS gets
#     SkipLayerNormalization and Gelu but no Attention, as ORT's fused Attention op cannot output
#     the probabilities); the session options are the same for all four (level 'all');
#   PyTorch eager (bench/pytorch_bert.py: keeps every layer's probabilities and hidden states).
# Ratios are like for like: bertscope --record none / ORT last_hidden, bertscope default / ORT
# attn_hidden, bertscope default / PyTorch; the headline ratio of each case is against the faster
# ORT file (named), the other one beside it. "% of peak" is a runner's tokens/s x the forward's
# FLOPs per token (bertscope's count: gflops * 1e9 / tokens_per_s of its own run of the shape; the
# same formula as pytorch_bert.py) / the machine's f32 FMA peak (the median of the peaks bertscope
# measured right before and after each of its timings of the shape).
#
#   bench/compare_onnx.sh [MODEL_DIR] [ROUNDS]
# MODEL_DIR defaults to a random bert-base made with `bertscope make-model` under build/; its ONNX
# exports go to MODEL_DIR.onnx/ (bench/onnx_export.py, remade when older than the model; the static
# ones, about 440 MB each, made on demand for each shape) and are checked against PyTorch in ONNX
# Runtime before timing. Environment: THREADS (2), SECONDS_PER_RUN (3: minimum timed seconds of
# each run), LONG=1 adds 8x512, SHAPES="BxS ..." replaces the shapes.
# Needs node and onnxruntime-node: (cd bench/onnx && npm install --ignore-scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BERTSCOPE:-build/release/bertscope}
model=${1:-build/bench-bert-base}
model=${model%/}
rounds=${2:-3}
threads=${THREADS:-2}
seconds=${SECONDS_PER_RUN:-3}
shapes=${SHAPES:-"1x128 8x128${LONG:+ 8x512}"}
source bench/common.sh

die() { echo "compare_onnx.sh: $*" >&2; exit 2; }
[ -x "$bin" ] || die "no $bin: build bertscope first (scripts/build.sh)"
command -v node >/dev/null || die "node is missing (Debian: apt-get install nodejs)"
[ -f bench/onnx/node_modules/onnxruntime-node/package.json ] ||
  die "onnxruntime-node is not installed: run npm install --ignore-scripts in bench/onnx"
/usr/bin/python3 -c 'import torch' 2>/dev/null || die "PyTorch is missing for /usr/bin/python3 (Debian: apt-get install python3-torch)"
ensure_bert_base "$model"
onnx=$model.onnx
for shape in $shapes; do
  [[ $shape =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || die "not a shape BxS in SHAPES: $shape"
done
[ -n "${shapes// /}" ] || die "no shapes in SHAPES"
# shellcheck disable=SC2086 # one argument per shape
/usr/bin/python3 bench/onnx_export.py "$model" --out "$onnx" --static $shapes --check 2>&1 | sed 's/^/  /' ||
  die "the ONNX export or its check against PyTorch failed"

tmp=$(mktemp -d /tmp/bertscope_onnx.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ort() { env GLIBC_TUNABLES="$malloc_tunables" node bench/onnx_bert.mjs --threads "$threads" --seconds "$seconds" "$@"; }

# The peak line first, from a short run.
"$bin" bench --model "$model" --batch 1 --seq 16 --threads "$threads" --iterations 1 --json | peak_line

# What ORT's optimizer made of each graph (level 'all'; the dynamic files' the same for every shape).
files=(last_hidden attn_hidden)
for shape in $shapes; do files+=("last_hidden.$shape" "attn_hidden.$shape"); done
for v in "${files[@]}"; do
  node bench/onnx_bert.mjs --model "$onnx/$v.onnx" --threads "$threads" --ops-only > "$tmp/ops.$v.json"
done
/usr/bin/python3 - "$tmp" "$threads" "${files[@]}" <<'EOF'
import json, sys
tmp, threads, *files = sys.argv[1:]
for v in files:
    j = json.load(open(f"{tmp}/ops.{v}.json"))
    if v == files[0]:
        print(f"ONNX Runtime {j['ort_version']} (onnxruntime-node, CPU EP, graph optimization 'all', "
              f"{threads} intra-op threads, 1 inter-op); optimized graphs, nodes by op type:")
    ops = {k.replace("com.microsoft:", ""): n for k, n in j["ops"].items()}
    fusions = ("EmbedLayerNormalization", "Attention", "MultiHeadAttention", "SkipLayerNormalization", "BiasGelu",
               "FastGelu", "Gelu", "FusedMatMul", "FusedGemm", "Gemm")
    print(f"  {v}.onnx ({j['outputs']} output{'s' * (j['outputs'] > 1)}): " + ", ".join(f"{k} {n}" for k, n in ops.items())
          + "; not in it: " + ", ".join(k for k in fusions if k not in ops))
EOF
echo "medians of $rounds rounds, each run timed for at least ${seconds} s, $threads threads; tokens/s (% of the f32 FMA peak)"

for shape in $shapes; do
  batch=${shape%x*} seq=${shape#*x}
  for f in bs bs_none ort_a ort_as ort_b ort_bs torch flops peaks; do : > "$tmp/$f"; done
  for r in $(seq "$rounds"); do
    for record in default none; do
      extra=()
      [ $record = none ] && extra=(--record none)
      "$bin" bench --model "$model" --batch "$batch" --seq "$seq" --threads "$threads" --seconds "$seconds" --json \
        "${extra[@]}" > "$tmp/last.json"
      /usr/bin/python3 - "$tmp" "$record" <<'EOF'
import json, sys
tmp, record = sys.argv[1:]
j = json.load(open(f"{tmp}/last.json"))
open(f"{tmp}/{'bs' if record == 'default' else 'bs_none'}", "a").write(f"{j['tokens_per_s']}\n")
open(f"{tmp}/flops", "a").write(f"{j['gflops'] * 1e9 / j['tokens_per_s']}\n")
open(f"{tmp}/peaks", "a").write(f"{j['peak']['f32_gflops_before']}\n{j['peak']['f32_gflops_after']}\n")
EOF
    done
    ort --model "$onnx/last_hidden.onnx" --batch "$batch" --seq "$seq" | field tokens_per_s >> "$tmp/ort_a"
    ort --model "$onnx/last_hidden.$shape.onnx" --batch "$batch" --seq "$seq" | field tokens_per_s >> "$tmp/ort_as"
    ort --model "$onnx/attn_hidden.onnx" --batch "$batch" --seq "$seq" | field tokens_per_s >> "$tmp/ort_b"
    ort --model "$onnx/attn_hidden.$shape.onnx" --batch "$batch" --seq "$seq" | field tokens_per_s >> "$tmp/ort_bs"
    torch_run --model "$model" --batch "$batch" --seq "$seq" --seconds "$seconds" | field tokens_per_s >> "$tmp/torch"
  done
  /usr/bin/python3 - "$tmp" "$shape" <<'EOF'
import statistics, sys
tmp, shape = sys.argv[1:]
m = {f: statistics.median(float(x) for x in open(f"{tmp}/{f}").read().split())
     for f in ("bs", "bs_none", "ort_a", "ort_as", "ort_b", "ort_bs", "torch", "flops", "peaks")}
peaks = open(f"{tmp}/peaks").read().split()
flops, peak = m["flops"], m["peaks"] * 1e9
def t(x):
    return f"{x:,.0f} ({100 * x * flops / peak:.1f}%)"
print(f"{shape}: forward {flops / 1e6:.1f} MFLOP/token, peak {m['peaks']:.0f} GFLOP/s (median of {len(peaks)} measured)")
def versus(ours, variant, static, dynamic):
    """ORT's two files of a case, the faster first: the headline ratio against it, the other beside."""
    runs = sorted([(m[static], f"{variant}.{shape}", "static"), (m[dynamic], variant, "dynamic")], reverse=True)
    (best, best_file, best_kind), (other, other_file, other_kind) = runs
    return (f"ORT {best_kind} {best_file}.onnx {t(best)}, {other_kind} {other_file}.onnx {t(other)}; "
            f"bertscope/ORT {ours / best:.2f}x (vs the faster, {best_kind}; vs {other_kind} {ours / other:.2f}x)")
print(f"  last hidden only:      bertscope --record none {t(m['bs_none'])}; "
      + versus(m["bs_none"], "last_hidden", "ort_as", "ort_a"))
print(f"  + attn probs, hidden:  bertscope default {t(m['bs'])}; " + versus(m["bs"], "attn_hidden", "ort_bs", "ort_b"))
print(f"  PyTorch eager {t(m['torch'])}; bertscope default/PyTorch {m['bs'] / m['torch']:.2f}x")
EOF
done
