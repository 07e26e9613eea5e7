#!/usr/bin/env bash
# Speed of bertscope against PyTorch eager (Debian's python3-torch) on the DeBERTa-v3 and ModernBERT
# families, configured as for BERT (bench/compare_pytorch.sh): same random model, same inputs,
# float32, no_grad, the same thread count, and both sides keeping the same things: DeBERTa every
# layer's attention probabilities and hidden states (bertscope bench's default --record
# attn.probs,hidden; bench/pytorch_families.py keeps them as output_attentions /
# output_hidden_states would), ModernBERT the hidden states (see below).
# Rounds alternate PyTorch and bertscope so both see the same conditions. Per shape it prints both
# tokens/s (medians), the ratio, both peak memories, and the machine's FMA peak and the forward's
# GEMM ceiling measured by bertscope in the same run.
#
#   bench/compare_families.sh [ROUNDS]
# Shapes (SHAPES to override, "model:batch:seq" words): DeBERTa-v3-base 8x128, ModernBERT-base
# 1x1024 and 1x4096. Each side of a run is killed after LIMIT_S seconds (default 330; 1200 from
# 4096 tokens, where one PyTorch eager forward takes minutes on 2 cores) and runs under
# an address-space cap (CAP_MB, default MemAvailable - 1536 MiB at start) so that a shape that does
# not fit fails on its own instead of pushing the shared machine into the OOM killer; a failure is
# printed with its exit status and last error line, never worked around.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BERTSCOPE:-build/release/bertscope}
rounds=${1:-3}
threads=${THREADS:-2}
limit_s=${LIMIT_S:-330}
# What both sides keep, per shape (the fourth field of a SHAPES word): DeBERTa keeps every
# attention probability and hidden state (bertscope bench's default); ModernBERT at 1024 and 4096
# tokens keeps the hidden states only (every attention map of 22 layers at 4096 tokens is 17.7 GB):
# both sides still compute every layer's attention, PyTorch eagerly as full [T, T] maps, bertscope
# streamed. RECORD overrides every shape.
source bench/common.sh
export OMP_WAIT_POLICY=PASSIVE

deberta=build/bench-deberta-v3-base
modernbert=build/bench-modernbert-base
# Random models with the base checkpoints' shapes (make-model's deberta-v2 defaults are DeBERTa-v3's:
# relative attention, 256 log buckets, p2c|c2p, shared keys; ModernBERT's defaults: local_attention
# 128, every 3rd layer global).
[ -f $deberta/model.safetensors ] || "$bin" make-model --family deberta-v2 --layers 12 --hidden 768 --heads 12 \
  --intermediate 3072 --vocab-size 128100 --seed 1 --out $deberta >/dev/null
[ -f $modernbert/model.safetensors ] || "$bin" make-model --family modernbert --layers 22 --hidden 768 --heads 12 \
  --intermediate 1152 --vocab-size 50368 --seed 1 --out $modernbert >/dev/null

# Once, untimed: the PyTorch side's attentions and hidden states against tools/reference (float32).
for fam in deberta-v2 modernbert; do
  tiny=build/bench-tiny-$fam
  extra=""; [ $fam = modernbert ] && extra="--local-attention 16"
  [ -f $tiny/model.safetensors ] || "$bin" make-model --family $fam --layers 4 --hidden 64 --heads 4 \
    --intermediate 96 --vocab-size 1000 --seed 3 $extra --out $tiny >/dev/null
  printf "check %s: " $fam
  /usr/bin/python3 bench/pytorch_families.py --check $tiny --batch 2 --seq 300 --threads "$threads"
done

avail_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
cap_mb=${CAP_MB:-$((avail_mb - 1536))}
echo "machine: $(nproc) cores, MemAvailable ${avail_mb} MiB at start, address-space cap ${cap_mb} MiB per run," \
  "limit ${limit_s} s per run, ${threads} threads, ${rounds} round(s), load $(cut -d' ' -f1-3 /proc/loadavg)"

tmp=$(mktemp -d /tmp/bertscope_families.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run_capped OUT ERR CMD...: the command under the cap and the time limit; its exit status.
run_capped() {
  local out=$1 err=$2
  shift 2
  set +e
  ( ulimit -v $((cap_mb * 1024)); exec timeout "$limit_s" "$@" ) > "$out" 2> "$err"
  local rc=$?
  set -e
  return $rc
}

# PyTorch as bench/common.sh's torch_run runs it (passive OpenMP waiting, glibc malloc keeping freed
# memory), with this family script.
torch_families=(env OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$threads"
  GLIBC_TUNABLES="$malloc_tunables"
  /usr/bin/python3 bench/pytorch_families.py --threads "$threads")

why() {  # one line on a failed run: exit status (124 = time limit) and the last error line
  local rc=$1 err=$2
  printf "FAILED (exit %s%s): %s" "$rc" "$([ "$rc" = 124 ] && echo ", over ${limit_s} s")" \
    "$(grep -v '^\s*$' "$err" | tail -n 1 | cut -c1-200)"
}

shapes=${SHAPES:-"deberta:8:128:attn.probs,hidden modernbert:1:1024:hidden modernbert:1:4096:hidden"}
for shape in $shapes; do
  IFS=: read -r fam batch seq record <<< "$shape"
  record=${RECORD:-${record:-attn.probs,hidden}}
  limit_s=${LIMIT_S:-$([ "$seq" -ge 4096 ] && echo 1200 || echo 330)}
  model=$([ "$fam" = deberta ] && echo $deberta || echo $modernbert)
  : > "$tmp/ours"; : > "$tmp/torch"; : > "$tmp/ceiling"; : > "$tmp/fraction"; : > "$tmp/ours_rss"
  : > "$tmp/torch_rss"; : > "$tmp/torch_fwd_rss"; : > "$tmp/peak"; : > "$tmp/fail"
  for r in $(seq "$rounds"); do
    start=$(date +%s)
    if run_capped "$tmp/t.json" "$tmp/t.err" "${torch_families[@]}" --model "$model" --batch "$batch" --seq "$seq" --record "$record"; then
      field tokens_per_s < "$tmp/t.json" >> "$tmp/torch"
      field peak_rss_mb < "$tmp/t.json" >> "$tmp/torch_rss"
      field forward_peak_rss_mb < "$tmp/t.json" >> "$tmp/torch_fwd_rss"
    else
      echo "PyTorch round $r: $(why $? "$tmp/t.err") after $(( $(date +%s) - start )) s" >> "$tmp/fail"
    fi
    start=$(date +%s)
    # The binary may be briefly missing or unrunnable while someone rebuilds it: wait and retry.
    for _ in $(seq 20); do
      { [ -x "$bin" ] && "$bin" --version > /dev/null 2>&1; } && break
      sleep 30
    done
    if run_capped "$tmp/o.json" "$tmp/o.err" "$bin" bench --model "$model" --batch "$batch" --seq "$seq" \
        --threads "$threads" --record "$record" --json --gemm-ceiling; then
      field tokens_per_s < "$tmp/o.json" >> "$tmp/ours"
      field gemm_ceiling_gflops < "$tmp/o.json" >> "$tmp/ceiling"
      field ceiling_fraction < "$tmp/o.json" >> "$tmp/fraction"
      field peak_rss_mb < "$tmp/o.json" >> "$tmp/ours_rss"
      peak_line < "$tmp/o.json" >> "$tmp/peak"
      [ "$(field record < "$tmp/o.json")" = "$record" ] || echo "bertscope did not record $record" >> "$tmp/fail"
    else
      echo "bertscope round $r: $(why $? "$tmp/o.err") after $(( $(date +%s) - start )) s" >> "$tmp/fail"
    fi
  done
  printf "%s %sx%s, both keeping %s: " "$fam" "$batch" "$seq" "$record"
  if [ -s "$tmp/ours" ]; then
    ours=$(median < "$tmp/ours")
    printf "bertscope %.1f tokens/s (peak RSS %.0f MB), " "$ours" "$(median < "$tmp/ours_rss")"
  else
    printf "bertscope: no run finished, "
  fi
  if [ -s "$tmp/torch" ]; then
    torch=$(median < "$tmp/torch")
    printf "PyTorch %.1f tokens/s (peak RSS %.0f MB, %.0f MB from the first forward on)" "$torch" \
      "$(median < "$tmp/torch_rss")" "$(median < "$tmp/torch_fwd_rss")"
  else
    printf "PyTorch: no run finished"
  fi
  if [ -s "$tmp/ours" ] && [ -s "$tmp/torch" ]; then
    printf ", ratio %.2fx" "$(echo "$ours / $torch" | bc -l)"
  fi
  echo
  if [ -s "$tmp/ceiling" ]; then
    printf "  GEMM ceiling (the forward's own products alone) %.0f GFLOP/s, forward at %.0f%% of it\n" \
      "$(median < "$tmp/ceiling")" "$(echo "100 * $(median < "$tmp/fraction")" | bc -l)"
    sed 's/^/  /' "$tmp/peak"
  fi
  if [ -s "$tmp/fail" ]; then sed 's/^/  /' "$tmp/fail"; fi
done
