#!/usr/bin/env bash
# Runs every bertscope analysis on one masked-language model and one SST-2 classifier over the
# data samples in data/, writes each result document to OUT/results/, the report to
# OUT/report/index.html, and prints a summary of the findings computed from the results.
#
#   scripts/run_suite.sh [--model DIR] [--classifier DIR] [--out DIR] [--bin PATH] [--quick]
#
# Defaults: the shipped models/bertscope-mini and models/bertscope-mini-sst2, out/, and
# build/release/bertscope. Any Hugging Face BERT folder works, e.g. bert-base-uncased and a
# BertForSequenceClassification fine-tuned on SST-2. --quick uses fewer examples per analysis.
set -euo pipefail
cd "$(dirname "$0")/.."

model=models/bertscope-mini
classifier=models/bertscope-mini-sst2
out=out
bin=build/release/bertscope
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --classifier) classifier=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "run_suite.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
for m in "$model" "$classifier"; do
  [ -f "$m/config.json" ] || { echo "run_suite.sh: $m: no model folder (config.json missing)" >&2; exit 1; }
done

results=$out/results
mkdir -p "$results" "$out/logs"
rm -f "$results"/*.json
# Sizes: the full job stays under 15 minutes on 2 cores with bertscope-mini.
if [ "$quick" = 1 ]; then segments=60; sst2=200; importance=100; agreement=2; saliency=8
else segments=300; sst2=872; importance=300; agreement=6; saliency=24; fi
head -n $((sst2 + 1)) data/sst2/dev.tsv > "$out/sst2_dev.tsv"
head -n $((importance + 1)) data/sst2/dev.tsv > "$out/sst2_importance.tsv"
head -n $((saliency + 1)) data/sst2/dev.tsv > "$out/sst2_saliency.tsv"
tail -n +2 "$out/sst2_saliency.tsv" | cut -f1 > "$out/sst2_sentences.txt"

start=$(date +%s)
steps=0
total=18
# Held-out masked-LM accuracy when the model has a masked-LM head (A Tale of Two Cities, the prose
# sample, is one of the four books bertscope-mini's training left out).
mlm=0; grep -q 'ForMaskedLM' "$model/config.json" && mlm=1 && total=$((total + 1))
# Progress (step, time, time so far) on stderr when it is a terminal; quiet in pipes and CI.
tty=0; [ -t 2 ] && tty=1
# One analysis; its table goes to OUT/logs/NAME.txt, its stderr to OUT/logs/NAME.err.
step() {
  local name=$1; shift
  steps=$((steps + 1))
  local t0; t0=$(date +%s.%N)
  [ $tty = 1 ] && printf '[%2d/%d] %-12s ...' "$steps" "$total" "$name" >&2
  if ! "$@" > "$out/logs/$name.txt" 2> "$out/logs/$name.err"; then
    [ $tty = 1 ] && echo >&2
    echo "run_suite.sh: $name failed; see $out/logs/$name.err:" >&2
    tail -n 5 "$out/logs/$name.err" >&2
    exit 1
  fi
  [ $tty = 1 ] && printf '\r[%2d/%d] %-12s %6.1f s   (%d s so far)\n' "$steps" "$total" "$name" \
    "$(echo "$(date +%s.%N) - $t0" | bc)" "$(($(date +%s) - start))" >&2
  return 0
}

prose=data/prose/a_tale_of_two_cities.sentences.txt
ewt_dev=data/ud_ewt/en_ewt-ud-dev.conllu
ewt_test=data/ud_ewt/en_ewt-ud-test.first500.conllu

step info            "$bin" info --model "$model"
[ $mlm = 1 ] && step mlm-eval  "$bin" evaluate mlm --model "$model" --corpus "$prose" --seq-len 128 --instances 128 \
                       --out "$results/mlm_eval.json"
# Clark et al. 2019
step surface         "$bin" analyze surface --model "$model" --data "$prose" --segments --max-segments $segments --out "$results/surface.json"
step cluster         "$bin" analyze cluster --model "$model" --data "$prose" --segments --max-segments $segments --out "$results/cluster.json"
step gradsep         "$bin" analyze gradsep --model "$model" --data "$prose" --segments --max-segments $segments --out "$results/gradsep.json"
step syntax          "$bin" analyze syntax --model "$model" --data "$ewt_dev" --out "$results/syntax.json"
step probe           "$bin" analyze probe --model "$model" --data "$ewt_dev" --dev "$ewt_test" --out "$results/probe.json"
step coref           "$bin" analyze coref --model "$model" --data data/gap/gap-validation.tsv --out "$results/coref.json"
# Kovaleva et al. 2019
step patterns        "$bin" analyze patterns --model "$classifier" --data "$out/sst2_dev.tsv" --out "$results/patterns.json"
step features        "$bin" analyze features --model "$classifier" --data "$out/sst2_dev.tsv" --out "$results/features.json"
step compare         "$bin" compare --model "$model" --model-b "$classifier" --data "$out/sst2_dev.tsv" --out "$results/compare.json"
step ablate          "$bin" ablate --model "$classifier" --data "$out/sst2_dev.tsv" --out "$results/ablate.json"
# Gradients: head importance, attributions, rollout and flow
step importance      "$bin" analyze importance --model "$classifier" --data "$out/sst2_importance.tsv" --out "$results/importance.json"
step saliency        "$bin" analyze saliency --model "$classifier" --data "$out/sst2_saliency.tsv" --out "$results/saliency.json"
step rollout         "$bin" analyze rollout --model "$classifier" --data "$out/sst2_sentences.txt" --out "$results/rollout.json"
step flow            "$bin" analyze flow --model "$classifier" --data "$out/sst2_sentences.txt" --out "$results/flow.json"
# Lu et al. 2021
step influence       "$bin" analyze influence --model "$model" --max-examples $agreement \
                       --data data/marvin_linzen/subj_rel.sample.tsv --data data/marvin_linzen/obj_rel_across_anim.sample.tsv \
                       --data data/marvin_linzen/simple_agrmt.sample.tsv --data data/marvin_linzen/reflexives_across.sample.tsv \
                       --out "$results/influence.json"
# Two example traces for the viewer's attention views.
step traces          "$bin" run --model "$model" --text "The keys to the cabinet are on the table." --out "$results/trace_keys.npz"
step traces-pair     "$bin" run --model "$model" --text "The author that the guards like laughs." \
                       --text-pair "The authors that the guard likes laugh." --out "$results/trace_agreement.npz"

# The model's training dynamics, when its folder ships them (bertscope track's document).
[ -f "$model/training_dynamics.json" ] && cp "$model/training_dynamics.json" "$results/track.json"
"$bin" report --results "$results" --out "$out/report" --title "bertscope: $(basename "$model") and $(basename "$classifier")" > /dev/null
echo "report: $out/report/index.html; results: $results/; tables: $out/logs/ ($(($(date +%s) - start)) s)"
echo
"$bin" summary --results "$results"
