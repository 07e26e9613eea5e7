#!/usr/bin/env bash
# Lu et al. (2021)'s experiments at full scale: the six agreement subtasks of methods.md 3.4 (every
# example available, up to 1,000 per subtask, 250 per sentence form, one token length per task,
# seed 1111) and, with a classifier, 220 SST-2 dev examples of 17 tokens; then one summary: skip
# share per layer and overall, consistency against accuracy, ablation retention of the patterns
# against every attention baseline and the layer integrated-gradients stand-in, with 95% intervals.
#
#   scripts/influence_paper.sh --model DIR [--classifier DIR] [--data DIR] [--out DIR] [--examples N] [--steps M]
#                              [--optimality N] [--launcher "mpirun -n 4 ..."] [--threads T] [--gzip]
#
# --launcher runs each task under that MPI launcher (docs/distributed.md; e.g. "mpirun -n 2" on
# this 2-core machine with --threads 1, or "srun" inside a Slurm job): the examples are spread
# over its processes and the documents are those of one process. --threads is passed to every
# process (default: all cores each).
#
# --optimality N adds Lu et al.'s random-pattern optimality test (they used 100): N random
# patterns per refined pattern, one backward pass each, about 10-20 times the cost of GPR itself
# (docs/analyses/influence.md, Cost); off by default.
#
# --data: the full Marvin & Linzen TSVs (default ../shared/data/marvin_linzen_2018; any folder with
# the same file names). refl_across_gender (Lin et al. 2019) is not among them: a template in its
# form with our own gendered word lists stands in (data/influence/refl_across_gender.template.json;
# its forms' letters S/P read masculine/feminine). One task per run of `bertscope analyze
# influence`, written to OUT/TASK.json: re-running skips the tasks already written and resumes the
# task it was on at the example it stopped on (--resume: the examples done are kept in
# OUT/.TASK.json.parts/). --gzip keeps each finished document as OUT/TASK.json.gz (a sixth of the
# size: what a run kept in a repository across sessions commits; the summary reads either).
set -euo pipefail
cd "$(dirname "$0")/.."
model="" classifier="" data=../shared/data/marvin_linzen_2018 out=build/influence-paper examples=1000 steps=50 optimality=0
launcher="" threads=0 gzip=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --classifier) classifier=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --examples) examples=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --optimality) optimality=$2; shift 2 ;;
    --launcher) launcher=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --gzip) gzip=1; shift ;;
    *) echo "influence_paper.sh: unknown argument $1 (see the header)" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] || { echo "influence_paper.sh: give --model DIR (an MLM model folder)" >&2; exit 2; }
bin=${BERTSCOPE:-build/release/bertscope}
[ -x "$bin" ] || scripts/build.sh release bertscope >/dev/null
mkdir -p "$out"
per_form=$(( (examples + 3) / 4 ))
run_task() {  # name, then the data and options
  local name=$1
  shift
  for done in "$out/$name.json" "$out/$name.json.gz"; do
    if [ -f "$done" ]; then echo "$name: done before ($done)"; return; fi
  done
  local start=$SECONDS
  # shellcheck disable=SC2086 # the launcher is a command line of its own
  $launcher "$bin" analyze influence "$@" --steps "$steps" --optimality-samples "$optimality" --threads "$threads" \
    --out "$out/$name.json" --resume > "$out/$name.txt"
  echo "$name: $((SECONDS - start)) s"
  if [ "$gzip" = 1 ]; then gzip -9 "$out/$name.json"; fi
}
for task in obj_rel_across_anim subj_rel sent_comp prep_anim reflexives_across; do
  [ -f "$data/$task.tsv" ] || { echo "influence_paper.sh: $data/$task.tsv missing (--data)" >&2; exit 1; }
  run_task "$task" --model "$model" --data "$data/$task.tsv" --max-examples "$examples" --per-form "$per_form"
done
run_task refl_across_gender --model "$model" --data data/influence/refl_across_gender.template.json \
  --max-examples "$examples" --per-form "$per_form"
if [ -n "$classifier" ]; then
  run_task sst2 --model "$classifier" --data data/sst2/dev.tsv --length 17 --max-examples $(( examples < 220 ? examples : 220 ))
fi
/usr/bin/python3 tools/influence_summary.py "$out"
