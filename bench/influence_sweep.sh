#!/usr/bin/env bash
# GPR's sweep against the per-layer reference (issue 20: at least 4x faster per example), side by
# side in one run: Lu et al.'s agreement model shape (6 layers, 8 heads, 512 wide, random
# weights) on 11-token subj_rel examples, every source token, 50 alpha steps, no ablation; then
# seconds per example of the sweep on a bert-base-sized classifier on 17-token SST-2 inputs.
#   bench/influence_sweep.sh [examples] [sst2_examples]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bertscope
source bench/common.sh
scripts/build.sh release bertscope >/dev/null
export OMP_WAIT_POLICY=PASSIVE
examples=${1:-4}
sst2_examples=${2:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=build/bench-influence-6x512
[ -f "$small/model.safetensors" ] || "$bin" make-model --layers 6 --hidden 512 --heads 8 --intermediate 2048 --seed 1 \
  --vocab tests/data/bert-base-uncased/vocab.txt --out "$small" >/dev/null
echo "$(peak_line < <("$bin" bench --model "$small" --threads 2 --json --batch 1 --seq 16 --record none))"
per_example() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['results']['seconds']['per_example'])" "$1"; }
run() {  # algorithm out
  "$bin" analyze influence --model "$small" --data data/marvin_linzen/subj_rel.sample.tsv --length 11 \
    --max-examples "$examples" --no-ablation --algorithm "$1" --out "$2" >/dev/null
}
# Alternate so that both see the same machine state.
run sweep "$tmp/s1.json"; run per-layer "$tmp/p1.json"; run sweep "$tmp/s2.json"; run per-layer "$tmp/p2.json"
s=$( (per_example "$tmp/s1.json"; per_example "$tmp/s2.json") | median)
p=$( (per_example "$tmp/p1.json"; per_example "$tmp/p2.json") | median)
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
a, b = (json.load(open(f"{sys.argv[1]}/{n}.json")) for n in ("s1", "p1"))
key = lambda ex: [(p["source"], p["positions"], p["edges"]) for p in ex["patterns"]]
pairs = [(key(x), key(y)) for x, y in zip(a["results"]["examples"], b["results"]["examples"])]
same = sum(x == y for xs, ys in pairs for x, y in zip(xs, ys))
total = sum(len(xs) for xs, _ in pairs)
rel = max((abs(p["influence"] - q["influence"]) / max(abs(p["influence"]), abs(q["influence"]), 1e-12)
           for x, y in zip(a["results"]["examples"], b["results"]["examples"]) for p, q in zip(x["patterns"], y["patterns"])), default=0)
print(f"patterns (positions and edges) identical for {same} of {total} source tokens; largest relative difference of a pattern's influence {rel:.1e}")
PY
awk -v s="$s" -v p="$p" -v n="$examples" 'BEGIN { printf "6x8x512, 11 tokens, %d examples: per-layer %.2f s/example, sweep %.2f s/example: %.2fx\n", n, p, s, p / s }'

big=build/bench-bert-base-sst2
[ -f "$big/model.safetensors" ] || "$bin" make-model --layers 12 --hidden 768 --heads 12 --intermediate 3072 --seed 1 \
  --labels 2 --vocab tests/data/bert-base-uncased/vocab.txt --out "$big" >/dev/null
"$bin" analyze influence --model "$big" --data data/sst2/dev.tsv --length 17 --max-examples "$sst2_examples" \
  --no-ablation --out "$tmp/sst2.json" >/dev/null
awk -v s="$(per_example "$tmp/sst2.json")" -v n="$sst2_examples" 'BEGIN { printf "bert-base-sized classifier, 17-token SST-2, %d examples: sweep %.1f s/example\n", n, s }'
