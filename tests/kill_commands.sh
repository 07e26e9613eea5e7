#!/usr/bin/env bash
# Crash safety: long commands killed (SIGKILL) at random moments leave either no output or a
# complete one, and a rerun finishes the job: `run --input` (a folder of traces, resumed from
# where it stopped), `analyze surface` (one document), `report` (a folder) and `train mlm`
# (resumed from its last checkpoint to exactly the weights of an uninterrupted run).
#
#   tests/kill_commands.sh BERTSCOPE_BINARY WORK_DIR [KILLS]
set -euo pipefail
bin=$1 work=$2 kills=${3:-20}
repo=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
RANDOM=7  # reproducible kill times
rm -rf "$work"
mkdir -p "$work"
fail() { echo "kill_commands.sh: $*" >&2; exit 1; }
"$bin" make-model --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 1 \
  --vocab "$repo/tests/data/bert-base-uncased/vocab.txt" --out "$work/m" >/dev/null
awk "NF && ++n <= 240" "$repo/data/prose/a_tale_of_two_cities.sentences.txt" > "$work/in.txt"
lines=$(wc -l < "$work/in.txt")

# Milliseconds one uninterrupted run of a command takes (its output goes to a scratch place the
# caller names in the command).
duration_ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || fail "$* failed"
  end=$(date +%s%N)
  echo $(((end - start) / 1000000 + 1))
}

# Runs a command in the background and kills it at a uniformly random moment within MS
# milliseconds (its usual duration); true if it was killed before it ended.
kill_at_random() {
  local ms=$1
  shift
  "$@" >/dev/null 2>&1 &
  local pid=$!
  local at=$(((RANDOM * 32768 + RANDOM) % ms))
  sleep "$((at / 1000)).$(printf '%03d' $((at % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; return 0; fi
  wait "$pid" || fail "$* failed on its own"
  return 1
}

# run --input: after each kill the folder is absent or complete (a kill that lands after the
# staged folder was renamed into place, while the process is still exiting, finds the work done);
# a rerun of the same command resumes from the staging folder and completes it.
ms=$(duration_ms "$bin" run --model "$work/m" --input "$work/in.txt" --out "$work/traces")
killed=0
for i in $(seq "$kills"); do
  rm -rf "$work/traces"
  if kill_at_random "$ms" "$bin" run --model "$work/m" --input "$work/in.txt" --out "$work/traces"; then
    killed=$((killed + 1))
    if [ -e "$work/traces" ]; then
      n=$(find "$work/traces" -name '*.npz' | wc -l)
      [ "$n" = "$lines" ] || fail "run --input killed (round $i) left a partial $work/traces ($n traces for $lines inputs)"
    fi
  fi
  "$bin" run --model "$work/m" --input "$work/in.txt" --out "$work/traces" >/dev/null 2>&1 || fail "rerun failed"
  n=$(find "$work/traces" -name '*.npz' | wc -l)
  [ "$n" = "$lines" ] || fail "run --input rerun (round $i) gave $n traces for $lines inputs"
  [ ! -e "$work/.traces.partial" ] || fail "a finished run left its staging folder"
done
echo "run --input: $killed of $kills runs killed; each left nothing or the complete folder, each rerun completed the folder"

# analyze surface: the document is absent or a complete result document.
ms=$(duration_ms "$bin" analyze surface --model "$work/m" --data "$work/in.txt" --out "$work/surface.json")
killed=0
for i in $(seq "$kills"); do
  rm -f "$work/surface.json"
  kill_at_random "$ms" "$bin" analyze surface --model "$work/m" --data "$work/in.txt" --out "$work/surface.json" && killed=$((killed + 1))
  if [ -e "$work/surface.json" ]; then
    $py -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['method']=='surface' and d['results']" \
      "$work/surface.json" || fail "analyze surface (round $i) left an incomplete document"
  fi
done
echo "analyze surface: $killed of $kills runs killed; every document present was complete"

# report: the folder is absent or has its page.
mkdir -p "$work/results"
"$bin" analyze surface --model "$work/m" --data "$work/in.txt" --out "$work/results/surface.json" >/dev/null 2>&1
ms=$(duration_ms "$bin" report --results "$work/results" --out "$work/report")
killed=0
for i in $(seq "$kills"); do
  rm -rf "$work/report"
  kill_at_random "$ms" "$bin" report --results "$work/results" --out "$work/report" && killed=$((killed + 1))
  if [ -e "$work/report" ]; then
    [ -s "$work/report/index.html" ] || fail "report (round $i) left a folder without its page"
  fi
done
echo "report: $killed of $kills runs killed; every folder present was complete"

# train mlm: killed and rerun until it finishes, it ends with the weights of a run never killed.
train=("$bin" train mlm --config "$repo/tools/train/bertscope-mini.config.json" --vocab "$repo/tests/data/bert-base-uncased/vocab.txt"
       --corpus "$work/in.txt" --steps 40 --batch 4 --seq-len 32 --lr 1e-3 --warmup 4 --seed 3 --checkpoint-every 2)
small_config="$work/small.json"
$py - "$repo/tools/train/bertscope-mini.config.json" "$small_config" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
json.dump(c, open(sys.argv[2], "w"))
PY
train[4]=$small_config
ms=$(duration_ms "${train[@]}" --out "$work/straight")
killed=0
for i in $(seq "$kills"); do
  kill_at_random "$ms" "${train[@]}" --out "$work/killed" && killed=$((killed + 1))
  [ -f "$work/killed/config.json" ] && break
done
"${train[@]}" --out "$work/killed" >/dev/null 2>&1 || fail "train mlm did not resume"
cmp -s "$work/straight/model.safetensors" "$work/killed/model.safetensors" ||
  fail "train mlm killed $killed times and resumed did not end with the uninterrupted run's weights"
echo "train mlm: killed $killed times, resumed each time; final weights identical to an uninterrupted run"
