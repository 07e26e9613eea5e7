#!/usr/bin/env bash
# Strong scaling of runs under mpirun (issue 22, docs/distributed.md): on this machine, 2 processes
# x 1 thread against 1 process x 1 thread, and the machinery's own overhead (`mpirun -n 1`, the
# hand-out thread, the checkpoint files) against a plain single-process run, side by side in one
# run (alternating, medians of REPEATS):
#   - analyze influence on the shipped 6-layer bertscope-mini (8 heads, 256 wide): EXAMPLES
#     agreement examples (half subj_rel, half obj_rel_across_anim samples, any length), every
#     source token, 50 steps, the default ablation check;
#   - ablate on a random 12-layer, 12-head classifier (384 wide) over ABLATE SST-2 dev examples.
# Wall time of the whole command (model loading and MPI start-up included).
#
#   bench/distributed_scaling.sh [EXAMPLES=40] [ABLATE=64] [REPEATS=2] [PARTS="influence ablate"]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bertscope
source bench/common.sh
scripts/build.sh release bertscope >/dev/null
command -v mpirun >/dev/null || { echo "distributed_scaling.sh: no mpirun (apt-get install openmpi-bin)" >&2; exit 2; }
export OMP_WAIT_POLICY=PASSIVE OMPI_MCA_btl=self,vader,tcp OMPI_MCA_pml=ob1
examples=${1:-40} ablate_examples=${2:-64} repeats=${3:-2} parts=${4:-influence ablate}
mpi=(mpirun --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

clf=build/bench-ablate-12x12x384
[ -f "$clf/model.safetensors" ] || "$bin" make-model --layers 12 --hidden 384 --heads 12 --intermediate 1536 --seed 1 \
  --labels 2 --vocab tests/data/bert-base-uncased/vocab.txt --out "$clf" >/dev/null
head -"$((ablate_examples + 1))" data/sst2/dev.tsv > "$tmp/sst2.tsv"
per_file=$((examples / 2))
influence=(analyze influence --model models/bertscope-mini --data data/marvin_linzen/subj_rel.sample.tsv
  data/marvin_linzen/obj_rel_across_anim.sample.tsv --length -1 --max-examples "$per_file" --per-form 0 --threads 1)
ablate=(ablate --model "$clf" --data "$tmp/sst2.tsv" --threads 1)

echo "$(peak_line < <("$bin" bench --model "$clf" --threads 2 --json --batch 1 --seq 16 --record none))"
seconds() {  # command... : wall seconds
  local start end
  start=$(date +%s.%N)
  "$@" >"$tmp/out.log" 2>&1 || { cat "$tmp/out.log" >&2; echo "distributed_scaling.sh: $* failed" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}
measure() {  # name, command...
  local name=$1
  shift
  : > "$tmp/$name.plain"; : > "$tmp/$name.one"; : > "$tmp/$name.two"
  for _ in $(seq "$repeats"); do
    seconds "$bin" "$@" --out "$tmp/$name-plain.json" >> "$tmp/$name.plain"
    seconds "${mpi[@]}" -n 2 "$bin" "$@" --out "$tmp/$name-two.json" >> "$tmp/$name.two"
    seconds "${mpi[@]}" -n 1 "$bin" "$@" --out "$tmp/$name-one.json" >> "$tmp/$name.one"
  done
  local plain one two
  plain=$(median < "$tmp/$name.plain") one=$(median < "$tmp/$name.one") two=$(median < "$tmp/$name.two")
  awk -v n="$name" -v p="$plain" -v o="$one" -v t="$two" 'BEGIN {
    printf "%-9s plain 1x1 %7.1f s | mpirun -n 1 %7.1f s (overhead %+.1f%%) | mpirun -n 2 x 1 thread %7.1f s: speed-up %.2fx over plain, %.2fx over -n 1\n",
      n, p, o, 100 * (o / p - 1), t, p / t, o / t }'
}
if [[ " $parts " == *" influence "* ]]; then
  echo "influence: $examples examples of bertscope-mini (6 x 8 x 256), all source tokens, 50 steps; $repeats repeats, medians"
  measure influence "${influence[@]}"
fi
if [[ " $parts " == *" ablate "* ]]; then
  echo "ablate: $ablate_examples SST-2 examples, random 12 x 12 x 384 classifier, every head and layer; $repeats repeats, medians"
  measure ablate "${ablate[@]}"
fi
echo "$(peak_line < <("$bin" bench --model "$clf" --threads 2 --json --batch 1 --seq 16 --record none))"
