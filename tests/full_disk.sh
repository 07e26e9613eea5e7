#!/usr/bin/env bash
# A full disk: commands writing their outputs to a small tmpfs that fills up fail with one clear
# error naming the output and the cause (no space left on device), exit non-zero, and leave no
# partial output and no temporary file behind: `analyze surface --out FILE` (one document),
# `report --out DIR` (a folder), `run --input --out DIR` (a folder of traces) and `train mlm
# --out DIR` (weights, checkpoints). Each runs twice: on a filesystem with no free byte, and on
# one with 4 KB left, so that the write starts and fails part of the way.
#
#   tests/full_disk.sh BERTSCOPE_BINARY WORK_DIR
#
# Needs to mount a tmpfs (root, or a user namespace that allows it); exits 77 (skipped) when it
# cannot.
set -euo pipefail
bin=$1 work=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "full_disk.sh: $*" >&2; exit 1; }
mnt=$work/mnt
if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" || true; fi
rm -rf "$work"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=256k,mode=0755 tmpfs "$mnt" 2>"$work/mount.err"; then
  echo "full_disk.sh: skipped: cannot mount a tmpfs here ($(head -1 "$work/mount.err"))"
  exit 77
fi
trap 'umount "$mnt" 2>/dev/null || true' EXIT

"$bin" make-model --layers 2 --hidden 48 --heads 3 --intermediate 64 --seed 1 \
  --vocab "$repo/tests/data/bert-base-uncased/vocab.txt" --out "$work/m" >/dev/null
awk "NF && ++n <= 40" "$repo/data/prose/a_tale_of_two_cities.sentences.txt" > "$work/in.txt"
mkdir -p "$work/results"
"$bin" analyze surface --model "$work/m" --data "$work/in.txt" --out "$work/results/surface.json" >/dev/null 2>&1 ||
  fail "analyze surface failed on a disk with room"
python3 - "$repo/tools/train/bertscope-mini.config.json" "$work/small.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
json.dump(c, open(sys.argv[2], "w"))
PY

# Fills the tmpfs, then frees FREE bytes (rounded to pages by tmpfs).
fill() {
  local free=$1
  rm -rf "${mnt:?}"/* "$mnt"/.[!.]* 2>/dev/null || true
  dd if=/dev/zero of="$mnt/filler" bs=4096 2>/dev/null || true
  [ "$free" -gt 0 ] && truncate -s "-$free" "$mnt/filler"
  return 0
}

# check NAME OUTPUT COMMAND...: on the filled disk, COMMAND fails, its stderr has a line naming
# OUTPUT's folder and the lack of space, nothing crashed, and the tmpfs holds only the filler.
check() {
  local name=$1 out=$2
  shift 2
  local rc=0
  "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$name: exit status 0 on a full disk"
  [ "$rc" -lt 128 ] || fail "$name: killed by signal $((rc - 128)) on a full disk: $(tail -3 "$work/$name.err")"
  if grep -qiE 'terminate called|what\(\)|Sanitizer|Segmentation|Aborted|core dumped' "$work/$name.err"; then
    fail "$name: crashed on a full disk: $(cat "$work/$name.err")"
  fi
  local errors
  errors=$(grep -icE 'no space left|disk full|ENOSPC' "$work/$name.err" || true)
  [ "$errors" -ge 1 ] || fail "$name: no 'no space left on device' error: $(cat "$work/$name.err")"
  [ "$errors" -eq 1 ] || fail "$name: $errors error lines instead of one: $(cat "$work/$name.err")"
  grep -iE 'no space left|disk full|ENOSPC' "$work/$name.err" | grep -qF "$mnt" ||
    fail "$name: the error does not name the output under $mnt: $(cat "$work/$name.err")"
  local left
  left=$(cd "$mnt" && find . -mindepth 1 ! -name filler | sort | tr '\n' ' ')
  [ -z "$left" ] || fail "$name: left behind on the full disk: $left"
  echo "$name: exit $rc, $(grep -iE 'no space left|disk full|ENOSPC' "$work/$name.err" | head -1)"
}

for free in 0 4096; do
  fill "$free"
  check "analyze-surface-free$free" "$mnt/x.json" \
    "$bin" analyze surface --model "$work/m" --data "$work/in.txt" --out "$mnt/x.json"
  fill "$free"
  check "report-free$free" "$mnt/r" "$bin" report --results "$work/results" --out "$mnt/r"
  fill "$free"
  check "run-input-free$free" "$mnt/trace" "$bin" run --model "$work/m" --input "$work/in.txt" --out "$mnt/trace"
  fill "$free"
  check "train-mlm-free$free" "$mnt/t" \
    "$bin" train mlm --config "$work/small.json" --vocab "$repo/tests/data/bert-base-uncased/vocab.txt" \
    --corpus "$work/in.txt" --steps 4 --batch 2 --seq-len 16 --lr 1e-3 --warmup 1 --seed 3 --checkpoint-every 2 --out "$mnt/t"
done
echo "full_disk.sh: every command failed with one clear error and left nothing on the full disk"
