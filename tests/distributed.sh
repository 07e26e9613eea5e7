#!/usr/bin/env bash
# Runs under mpirun give the one-process result (docs/distributed.md): every distributed command
# (influence, ablate, importance, the analyses in blocks, batches or inputs, probe, compare, run --input)
# with 2 and 3 processes (oversubscribed on this machine) against one process, documents compared
# after dropping `execution` and the seconds each example took; train mlm and train classify
# follow the one-process losses and weights within float32 summation noise; then a run whose
# process 1 is killed in the middle fails without a result document and `--resume` finishes it
# with the uninterrupted run's result.
#
#   tests/distributed.sh BERTSCOPE_BINARY WORK_DIR MPIEXEC
#
# Exits 77 (skipped) when MPIEXEC is empty (CMake found no MPI).
set -euo pipefail
bin=$1 work=$2 mpiexec=${3:-}
[ -n "$mpiexec" ] && [ -x "$mpiexec" ] || { echo "distributed.sh: no mpiexec (built without MPI): skipped"; exit 77; }
repo=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
rm -rf "$work"
mkdir -p "$work"
# Absolute paths: some runs below start in a folder of their own.
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
work=$(cd "$work" && pwd)
fail() { echo "distributed.sh: $*" >&2; exit 1; }
mpi=("$mpiexec" --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
# Shared-memory and TCP transports only: no warnings about absent InfiniBand or UCX devices.
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_pml=ob1 OMPI_MCA_btl_base_warn_component_unused=0

"$bin" make-model --layers 3 --hidden 48 --heads 3 --intermediate 64 --seed 5 \
  --vocab "$repo/tests/data/bert-base-uncased/vocab.txt" --out "$work/m" >/dev/null
data=("$repo/tests/data/influence/subj_rel.excerpt.tsv" "$repo/tests/data/influence/obj_rel_across_anim.excerpt.tsv")

# The two documents are the same but for how they ran (execution) and timings (seconds).
same_document() {
  "$py" - "$1" "$2" "$3" <<'EOF'
import json, sys
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in ("seconds", "execution") and not k.startswith("seconds_")}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
a, b = (json.load(open(p)) for p in sys.argv[1:3])
processes = int(sys.argv[3])
if b.get("execution", {}).get("processes") != processes:
    sys.exit(f"{sys.argv[2]}: execution.processes is {b.get('execution')}, expected {processes}")
sa, sb = strip(a), strip(b)
if sa != sb:
    def diff(x, y, path="$"):
        if type(x) != type(y): return f"{path}: {x!r} vs {y!r}"
        if isinstance(x, dict):
            for k in sorted(set(x) | set(y)):
                if k not in x or k not in y: return f"{path}.{k}: only in one document"
                d = diff(x[k], y[k], f"{path}.{k}")
                if d: return d
        elif isinstance(x, list):
            if len(x) != len(y): return f"{path}: {len(x)} vs {len(y)} items"
            for i, (u, v) in enumerate(zip(x, y)):
                d = diff(u, v, f"{path}[{i}]")
                if d: return d
        elif x != y: return f"{path}: {x!r} vs {y!r}"
        return None
    sys.exit(f"{sys.argv[1]} and {sys.argv[2]} differ: {diff(sa, sb)}")
EOF
}

# --- influence: 1, 2 and 3 processes -----------------------------------------------------------
influence=(analyze influence --model "$work/m" --data "${data[@]}" --max-examples 10 --steps 8 --optimality-samples 3 --threads 1)
"$bin" "${influence[@]}" --out "$work/influence-1.json" >/dev/null || fail "influence, one process, failed"
for n in 2 3; do
  "${mpi[@]}" -n $n "$bin" "${influence[@]}" --out "$work/influence-$n.json" >"$work/influence-$n.log" 2>&1 ||
    { cat "$work/influence-$n.log" >&2; fail "influence under mpirun -n $n failed"; }
  same_document "$work/influence-1.json" "$work/influence-$n.json" $n || fail "influence: $n processes differ from one"
  [ ! -e "$work/.influence-$n.json.parts" ] || fail "influence -n $n left its checkpoint folder"
  # Only process 0 prints: one table, one "wrote" line.
  [ "$(grep -c '^wrote ' "$work/influence-$n.log")" -eq 1 ] || fail "influence -n $n: not exactly one 'wrote' line"
done
echo "influence: 2 and 3 processes give the one-process document"

# --- ablate: 1, 2 and 3 processes ---------------------------------------------------------------
"$bin" make-model --layers 3 --hidden 48 --heads 4 --intermediate 64 --seed 6 --labels 2 \
  --vocab "$repo/tests/data/bert-base-uncased/vocab.txt" --out "$work/clf" >/dev/null
head -41 "$repo/data/sst2/dev.tsv" > "$work/sst2.tsv"
ablate=(ablate --model "$work/clf" --data "$work/sst2.tsv" --batch-size 4 --random-draws 3 --random-size 2 --threads 1)
"$bin" "${ablate[@]}" --out "$work/ablate-1.json" >/dev/null || fail "ablate, one process, failed"
for n in 2 3; do
  "${mpi[@]}" -n $n "$bin" "${ablate[@]}" --out "$work/ablate-$n.json" >"$work/ablate-$n.log" 2>&1 ||
    { cat "$work/ablate-$n.log" >&2; fail "ablate under mpirun -n $n failed"; }
  same_document "$work/ablate-1.json" "$work/ablate-$n.json" $n || fail "ablate: $n processes differ from one"
done
echo "ablate: 2 and 3 processes give the one-process document"

# --- importance (classifier with its masking curve; MLM objective on text): 1, 2 and 3 processes --
awk 'NF && ++n <= 24' "$repo/data/prose/a_tale_of_two_cities.sentences.txt" > "$work/text.txt"
importance_clf=(analyze importance --model "$work/clf" --data "$work/sst2.tsv" --batch-size 4 --threads 1)
importance_mlm=(analyze importance --model "$work/m" --data "$work/text.txt" --batch-size 4 --no-curve --threads 1)
"$bin" "${importance_clf[@]}" --out "$work/importance-clf-1.json" >/dev/null || fail "importance (classifier), one process, failed"
"$bin" "${importance_mlm[@]}" --out "$work/importance-mlm-1.json" >/dev/null || fail "importance (MLM), one process, failed"
for n in 2 3; do
  for kind in clf mlm; do
    name=importance_$kind[@]
    "${mpi[@]}" -n $n "$bin" "${!name}" --out "$work/importance-$kind-$n.json" >"$work/importance-$kind-$n.log" 2>&1 ||
      { cat "$work/importance-$kind-$n.log" >&2; fail "importance ($kind) under mpirun -n $n failed"; }
    same_document "$work/importance-$kind-1.json" "$work/importance-$kind-$n.json" $n ||
      fail "importance ($kind): $n processes differ from one"
  done
done
echo "importance: 2 and 3 processes give the one-process document (classifier with its curve, MLM)"

# --- analyses in blocks, batches or inputs (surface, syntax, cluster, rollout, flow, patterns,
# features, gradsep, saliency, coref; compare, of two models): 1, 2 and 3 processes ---------------
# Batches of 3 make several blocks, handed out to the processes and folded in input order.
surface=(analyze surface --model "$work/m" --data "$work/text.txt" --batch-size 3 --threads 1)
syntax=(analyze syntax --model "$work/m" --data "$repo/tests/data/clark/en_ewt-ud-dev.first60.conllu" --batch-size 4 --threads 1)
cluster=(analyze cluster --model "$work/m" --data "$work/text.txt" --batch-size 3 --threads 1)
rollout=(analyze rollout --model "$work/m" --data "$work/text.txt" --batch-size 3 --matrix --threads 1)
flow=(analyze flow --model "$work/m" --data "$work/text.txt" --batch-size 3 --threads 1)
patterns=(analyze patterns --model "$work/clf" --data "$work/sst2.tsv" --batch-size 4 --threads 1)
features=(analyze features --model "$work/clf" --data "$work/sst2.tsv" --batch-size 4 --threads 1)
gradsep=(analyze gradsep --model "$work/m" --data "$work/text.txt" --batch-size 3 --threads 1)
saliency=(analyze saliency --model "$work/clf" --data "$work/sst2.tsv" --steps 8 --threads 1)
head -21 "$repo/data/gap/gap-validation.tsv" > "$work/gap.tsv"
coref=(analyze coref --model "$work/m" --data "$work/gap.tsv" --batch-size 4 --threads 1)
"$bin" make-model --layers 3 --hidden 48 --heads 4 --intermediate 64 --seed 7 --labels 2 \
  --vocab "$repo/tests/data/bert-base-uncased/vocab.txt" --out "$work/clf-b" >/dev/null
compare=(compare --model "$work/clf" --model-b "$work/clf-b" --data "$work/sst2.tsv" --batch-size 3 --threads 1)
for method in surface syntax cluster rollout flow patterns features gradsep saliency coref compare; do
  name=$method[@]
  "$bin" "${!name}" --out "$work/$method-1.json" >/dev/null || fail "$method, one process, failed"
  for n in 2 3; do
    "${mpi[@]}" -n $n "$bin" "${!name}" --out "$work/$method-$n.json" >"$work/$method-$n.log" 2>&1 ||
      { cat "$work/$method-$n.log" >&2; fail "$method under mpirun -n $n failed"; }
    same_document "$work/$method-1.json" "$work/$method-$n.json" $n || fail "$method: $n processes differ from one"
    [ ! -e "$work/.$method-$n.json.parts" ] || fail "$method -n $n left its checkpoint folder"
    [ "$(grep -c '^wrote ' "$work/$method-$n.log")" -eq 1 ] || fail "$method -n $n: not exactly one 'wrote' line"
  done
done
echo "surface, syntax, cluster, rollout, flow, patterns, features, gradsep, saliency, coref, compare: 2 and 3 processes give the one-process document"


# --- analyze probe: training windows of attention passes spread over the processes, every process
# training alike; the weights file too is the one-process file -----------------------------------
printf '%s\n' "the 0.1 -0.2 0.3" ", 0.5 0.0 -0.1" ". -0.3 0.2 0.2" "to 0.0 0.4 -0.5" "and 0.2 0.2 0.1" "of -0.1 -0.4 0.3" \
  > "$work/vectors.txt"
probe=(analyze probe --model "$work/m" --data "$repo/tests/data/clark/en_ewt-ud-dev.first60.conllu"
  --dev "$repo/tests/data/clark/handmade.conllu" --word-vectors "$work/vectors.txt" --hidden 8 --epochs 2
  --batch-size 2 --threads 1)
# Each run in a folder of its own, so that the documents name the same weights file (w.npz).
mkdir -p "$work/probe-1" "$work/probe-2" "$work/probe-3"
(cd "$work/probe-1" && "$bin" "${probe[@]}" --weights w.npz --out p.json >/dev/null) || fail "probe, one process, failed"
for n in 2 3; do
  (cd "$work/probe-$n" && "${mpi[@]}" -n $n "$bin" "${probe[@]}" --weights w.npz --out p.json >log 2>&1) ||
    { cat "$work/probe-$n/log" >&2; fail "probe under mpirun -n $n failed"; }
  same_document "$work/probe-1/p.json" "$work/probe-$n/p.json" $n || fail "probe: $n processes differ from one"
  # The same arrays, byte for byte (the archives' time stamps differ).
  "$py" - "$work/probe-1/w.npz" "$work/probe-$n/w.npz" <<'EOF' || fail "probe: the weights of $n processes differ from one"
import sys, zipfile
a, b = (zipfile.ZipFile(p) for p in sys.argv[1:3])
if sorted(a.namelist()) != sorted(b.namelist()) or any(a.read(n) != b.read(n) for n in a.namelist()):
    sys.exit("the weights differ")
EOF
  [ "$(grep -c '^wrote ' "$work/probe-$n/log")" -eq 1 ] || fail "probe -n $n: not exactly one 'wrote' line"
done
echo "probe: 2 and 3 processes give the one-process document and weights"

# --- run --input (one trace file per input, written by the process that ran its batch) ---------
"$bin" run --model "$work/m" --input "$work/text.txt" --batch-size 4 --out "$work/traces-1" --threads 1 >/dev/null ||
  fail "run --input, one process, failed"
for n in 2 3; do
  "${mpi[@]}" -n $n "$bin" run --model "$work/m" --input "$work/text.txt" --batch-size 4 --out "$work/traces-$n" --threads 1 \
    >"$work/run-$n.log" 2>&1 || { cat "$work/run-$n.log" >&2; fail "run --input under mpirun -n $n failed"; }
  # The arrays, exactly (the zip entries carry their write time, so the files' bytes differ).
  "$py" - "$work/traces-1" "$work/traces-$n" <<'PY' || fail "run --input: $n processes wrote other traces than one"
import os, sys
import numpy as np
one, many = sys.argv[1], sys.argv[2]
if sorted(os.listdir(one)) != sorted(os.listdir(many)): sys.exit("other trace files")
for name in sorted(os.listdir(one)):
    a, b = np.load(os.path.join(one, name)), np.load(os.path.join(many, name))
    if sorted(a.files) != sorted(b.files): sys.exit(f"{name}: other arrays")
    for k in a.files:
        if a[k].shape != b[k].shape or not (a[k] == b[k]).all(): sys.exit(f"{name}: {k} differs")
PY
  [ "$(grep -c '^wrote ' "$work/run-$n.log")" -eq 1 ] || fail "run --input -n $n: not exactly one 'wrote' line"
done
echo "run --input: 2 and 3 processes write the one-process traces, every array equal"

# --- train mlm and train classify: data-parallel over 2 and 3 processes -------------------------
# The same global batch split over the processes: each step's gradients are summed over them, so
# the losses follow the one-process run's up to float32 summation order, and the weights too.
# classify's batch of 13 over 40 examples leaves a last batch of 1: two of 3 processes are idle.
train_mlm=(train mlm --model "$work/m" --corpus "$work/text.txt" --steps 4 --batch 6 --seq-len 32 --checkpoint-every 2 --threads 1)
train_clf=(train classify --model "$work/clf" --data "$work/sst2.tsv" --epochs 1 --batch 13 --max-length 32 --threads 1)
close_training() {  # one-process folder, N-process folder
  "$py" - "$1" "$2" <<'PY'
import json, struct, sys
import numpy as np
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__": continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32)
    return out
one, many = sys.argv[1], sys.argv[2]
sa, sb = (json.load(open(f"{d}/checkpoint/trainer_state.json")) for d in (one, many))
if sa["step"] != sb["step"]: sys.exit(f"steps differ: {sa['step']} vs {sb['step']}")
la = [h[1] for h in sa.get("history", [])] + [sa["last_loss"]]
lb = [h[1] for h in sb.get("history", [])] + [sb["last_loss"]]
rel = max(abs(x - y) / abs(x) for x, y in zip(la, lb))
if rel > 1e-7: sys.exit(f"losses differ beyond float32 summation noise: {la} vs {lb}")
wa, wb = tensors(f"{one}/model.safetensors"), tensors(f"{many}/model.safetensors")
if wa.keys() != wb.keys(): sys.exit("the models hold other tensors")
worst = max(float(np.max(np.abs(wa[k] - wb[k]))) for k in wa)
if worst > 1e-6: sys.exit(f"weights differ by up to {worst:g}")
print(f"losses within {rel:.2g} relative, weights within {worst:.2g}")
PY
}
for kind in mlm clf; do
  name=train_$kind[@]
  "$bin" "${!name}" --out "$work/train-$kind-1" >/dev/null 2>"$work/train-$kind-1.err" ||
    { cat "$work/train-$kind-1.err" >&2; fail "train $kind, one process, failed"; }
  for n in 2 3; do
    "${mpi[@]}" -n $n "$bin" "${!name}" --out "$work/train-$kind-$n" >"$work/train-$kind-$n.log" 2>&1 ||
      { cat "$work/train-$kind-$n.log" >&2; fail "train $kind under mpirun -n $n failed"; }
    figures=$(close_training "$work/train-$kind-1" "$work/train-$kind-$n") || fail "train $kind: $n processes stray from one"
    echo "train $kind -n $n: $figures"
  done
done
echo "train mlm, train classify: 2 and 3 processes follow the one-process run"

# --- a killed process: no document, then --resume finishes the run -----------------------------
long=(analyze influence --model "$work/m" --data "${data[@]}" --max-examples 40 --steps 16 --threads 1)
"$bin" "${long[@]}" --out "$work/long-1.json" >/dev/null || fail "long influence, one process, failed"
out=$work/long-3.json parts=$work/.long-3.json.parts
"${mpi[@]}" -n 3 "$bin" "${long[@]}" --out "$out" >"$work/killed.log" 2>&1 &
launcher=$!
# Wait until some examples are kept, then kill process 1 (found by its MPI rank).
victim=""
for _ in $(seq 600); do
  kept=$( (find "$parts" -name "*.part" 2>/dev/null || true) | wc -l)
  if [ "$kept" -ge 4 ]; then
    for p in $(pgrep -f "$bin analyze influence" || true); do
      if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
    done
    [ -n "$victim" ] && break
  fi
  sleep 0.1
done
[ -n "$victim" ] || { kill "$launcher" 2>/dev/null; fail "no process 1 to kill (the run ended first?)"; }
kill -9 "$victim"
if wait "$launcher"; then fail "the run with a killed process succeeded"; fi
[ ! -e "$out" ] || fail "the run with a killed process wrote $out"
grep -q "rank 1" "$work/killed.log" || { cat "$work/killed.log" >&2; fail "the launcher's message does not name rank 1"; }
kept=$(find "$parts" -name '*.part' | wc -l)
[ "$kept" -ge 4 ] || fail "only $kept checkpoint files survived the kill"
# Resumed with another process count: the examples kept are reused, the rest computed. The model's
# files are touched first: the checkpoint is keyed by the inputs' content, so a run resumes in a
# fresh clone, where every file is new.
sleep 1.1 && touch "$work/m"/*
"${mpi[@]}" -n 2 "$bin" "${long[@]}" --out "$out" --resume >"$work/resumed.log" 2>&1 ||
  { cat "$work/resumed.log" >&2; fail "the resumed run failed"; }
same_document "$work/long-1.json" "$out" 2 || fail "the resumed run differs from the uninterrupted one"
"$py" -c "import json,sys; e=json.load(open(sys.argv[1]))['execution']; sys.exit(0 if e.get('resumed_items',0)>0 else 'nothing reused: %s' % e)" "$out" ||
  fail "the resumed run reused nothing"
[ ! -e "$parts" ] || fail "the resumed run left its checkpoint folder"
echo "a killed process: no document; --resume (2 processes) completes it as the uninterrupted run"

# --- a process that fails: one line naming it, no document -------------------------------------
for k in 1 0; do
  rm -f "$work/failed.json"
  if BERTSCOPE_DIST_FAIL=$k "${mpi[@]}" -x BERTSCOPE_DIST_FAIL -n 3 "$bin" "${influence[@]}" --out "$work/failed.json" \
      >"$work/failed-$k.out" 2>"$work/failed-$k.err"; then
    fail "a run whose process $k failed succeeded"
  fi
  [ ! -e "$work/failed.json" ] || fail "a run whose process $k failed wrote its document"
  lines=$(grep -c '^bertscope: error:' "$work/failed-$k.err" || true)
  [ "$lines" -eq 1 ] || { cat "$work/failed-$k.err" >&2; fail "process $k failed: $lines error lines, expected 1"; }
  expected="bertscope: error: injected failure"
  [ $k -eq 0 ] || expected="bertscope: error: process $k of 3: injected failure"
  grep -q "^$expected" "$work/failed-$k.err" || { cat "$work/failed-$k.err" >&2; fail "process $k failed: no line '$expected'"; }
done
echo "a failing process: one error line naming it, no document"

# --- --resume with other options is refused -----------------------------------------------------
"$bin" "${influence[@]}" --out "$work/r.json" >/dev/null
mkdir -p "$work/.r.json.parts" && echo '{"format":"bertscope-checkpoint 1","key":"other"}' > "$work/.r.json.parts/manifest.json"
if "$bin" "${influence[@]}" --out "$work/r.json" --resume >/dev/null 2>"$work/refused.log"; then fail "a foreign checkpoint was accepted"; fi
grep -q "another model, data or options" "$work/refused.log" || { cat "$work/refused.log" >&2; fail "no clear refusal"; }
echo "a checkpoint of other options is refused"
