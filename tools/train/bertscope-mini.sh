#!/usr/bin/env bash
# Makes bertscope-mini and bertscope-mini-sst2 (issue 16's retraining): a WordPiece vocabulary of
# 16,000 learned from the training books, a 6-layer, 8-head, 256-wide BERT pre-trained with bf16
# matrix products on a 7,000-step schedule of 128 x 128 tokens, stopped at step 4,750 (about 78 M
# tokens; see stop_after below), the held-out figures, the training dynamics over the steps it
# keeps, and the fine-tune on all of SST-2's training set. Run it in the background (nice it);
# re-running it resumes exactly where it stopped.
#
#   tools/train/bertscope-mini.sh [DATA_DIR] [WORK_DIR]
# DATA_DIR defaults to ../shared/data (Project Gutenberg books and SST-2 train), WORK_DIR to build/train.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data}
work=${2:-build/train}
bin=${BERTSCOPE:-build/release/bertscope}
[ -x "$bin" ] || scripts/build.sh release
mkdir -p "$work"
books=$data/gutenberg_books
held_out=(pg98_A_Tale_of_Two_Cities.txt pg1661_The_Adventures_of_Sherlock_Holmes.txt
          pg205_Walden_and_On_The_Duty_Of_Civil_Disobedience.txt pg2591_Grimms_Fairy_Tales.txt)
train=()
for f in "$books"/pg*.txt; do
  skip=0
  for h in "${held_out[@]}"; do [ "$(basename "$f")" = "$h" ] && skip=1; done
  [ $skip = 1 ] || train+=("$f")
done
eval_files=()
for h in "${held_out[@]}"; do eval_files+=("$books/$h"); done

# The vocabulary, from the training books only (deterministic: the same books give the same file).
# bertscope-mini ships step 4,750 of the 7,000-step schedule: by then it had reached the targets
# it reaches (issue 16), and the run had taken about 11 hours on this project's 2 shared cores,
# past the issue's 8 CPU-hours (the rest would take about 3 quiet hours more). The schedule stays that of 7,000 steps, so STOP_AFTER=7000 continues the same run
# exactly to its end.
stop_after=${STOP_AFTER:-4750}
[ -f "$work/vocab/vocab.txt" ] || "$bin" train vocab --corpus "${train[@]}" --vocab-size 16000 --out "$work/vocab"
"$bin" train mlm --config tools/train/bertscope-mini.config.json --vocab "$work/vocab/vocab.txt" \
  --corpus "${train[@]}" --eval-corpus "${eval_files[@]}" --out "$work/mini" \
  --steps 7000 --batch 128 --seq-len 128 --lr 6e-4 --warmup 400 --seed 1 --precision bf16 \
  --checkpoint-every 25 --eval-instances 1024 --save-dtype f16 --keep-every 250 --keep-dtype f16 \
  --stop-after "$stop_after"
"$bin" export --model "$work/mini" --out "$work/bertscope-mini" --dtype f16
# The card's held-out figures measured on the shipped float16 weights (every selected position masked).
"$bin" evaluate mlm --model "$work/bertscope-mini" --corpus "${eval_files[@]}" --unigram-corpus "${train[@]}" \
  --instances 1024 --seq-len 128 --bert-masking --dump-instances "$work/mini-eval-instances.npz" \
  --out "$work/mini-eval.json" --update-model-card
# Training dynamics: the main job's head statistics at each kept step (19 of them, in $work/mini/steps),
# agreement on Marvin & Linzen's full simple and subject-relative-clause files (up to 1,000
# examples of each, drawn evenly over their forms).
ml=$data/marvin_linzen_2018
"$bin" track --checkpoints "$work/mini" --agreement "$ml/simple_agrmt.tsv" "$ml/subj_rel.tsv" \
  --out "$work/bertscope-mini/training_dynamics.json"

# SST-2: all of GLUE's training set (67,349 sentences), as ../shared/data splits it (a 10% and a 90%
# part, each with a header). (32,000 of them, the first recipe, gave 79.8% on dev, under the target.)
sst2=$work/sst2_train_full.tsv
{ cat "$data/sst2/sst2_glue_train_part10.tsv"; awk 'NR > 1' "$data/sst2/sst2_glue_train_part90.tsv"; } > "$sst2"
"$bin" train classify --model "$work/bertscope-mini" --data "$sst2" --dev data/sst2/dev.tsv --out "$work/sst2" \
  --epochs 1 --batch 32 --max-length 64 --lr 1e-4 --warmup 100 --seed 1 --checkpoint-every 100 --save-dtype f16
"$bin" export --model "$work/sst2" --out "$work/bertscope-mini-sst2" --dtype f16
echo "models in $work/bertscope-mini and $work/bertscope-mini-sst2 (compare with models/)"
