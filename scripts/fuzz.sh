#!/usr/bin/env bash
# Runs every libFuzzer harness of fuzz/ (docs/fuzzing.md) for SECONDS each (default 60).
#
#   scripts/fuzz.sh [seconds-per-harness] [harness...]   e.g. scripts/fuzz.sh 20 safetensors npz
#
# Configures and builds build/fuzz with clang (-DBERTSCOPE_FUZZ=ON) when needed, copies each
# seed corpus fuzz/corpus/<harness>/ to build/fuzz/corpus/<harness>/ (the checked-in corpus is
# never written; the copy keeps what the runs found, so later runs start from it), runs the
# harnesses one after the other and prints executions, coverage (cov) and features (ft) of each.
# Exits non-zero when a harness crashed, leaked, timed out or ran out of memory, and names the
# reproducer (build/fuzz/artifacts/<harness>/); replay one with build/fuzz/fuzz/fuzz_<harness> FILE.
# Environment: JOBS (build parallelism, default 2), FUZZ_FLAGS (extra libFuzzer flags).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build/fuzz
SECONDS_EACH=${1:-60}
shift || true
if ! [[ $SECONDS_EACH =~ ^[0-9]+$ ]] || [ "$SECONDS_EACH" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [seconds-per-harness] [harness...]" >&2
  exit 2
fi
ALL=(safetensors shard_index npz config tokenizer_json vocab conllu tsv coref agreement merges tokenizer_config
  sentencepiece results run_request)
HARNESSES=("$@")
[ ${#HARNESSES[@]} -eq 0 ] && HARNESSES=("${ALL[@]}")
for h in "${HARNESSES[@]}"; do
  if [ ! -d "$ROOT/fuzz/corpus/$h" ]; then echo "fuzz.sh: no harness '$h' (known: ${ALL[*]})" >&2; exit 2; fi
done

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (Debian: apt-get install clang)" >&2; exit 2; }
if [ ! -f "$BUILD/build.ninja" ] && [ ! -f "$BUILD/Makefile" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBERTSCOPE_FUZZ=ON -DBERTSCOPE_TESTS=OFF -DBERTSCOPE_PYTHON=OFF -DBERTSCOPE_BENCH=OFF \
    -DBERTSCOPE_EXAMPLES=OFF >"$BUILD.configure.log" 2>&1 ||
    { cat "$BUILD.configure.log" >&2; echo "fuzz.sh: configuring $BUILD failed" >&2; exit 2; }
fi
targets=()
for h in "${HARNESSES[@]}"; do targets+=("fuzz_$h"); done
nice cmake --build "$BUILD" --target "${targets[@]}" -j"${JOBS:-2}" || { echo "fuzz.sh: build failed" >&2; exit 2; }

failed=0
printf '%-16s %12s %8s %8s %8s  %s\n' harness executions exec/s cov ft result
for h in "${HARNESSES[@]}"; do
  corpus=$BUILD/corpus/$h
  artifacts=$BUILD/artifacts/$h
  log=$BUILD/logs/$h.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  cp -n "$ROOT/fuzz/corpus/$h/"* "$corpus/" 2>/dev/null
  # shellcheck disable=SC2086
  nice "$BUILD/fuzz/fuzz_$h" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  [ -z "$execs" ] && execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ $rc -ne 0 ]; then
    failed=1
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    kind=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)[^ ]*( [a-z-]+)?|runtime error|uncaught exception|terminate called after throwing an instance of .[^ ]*' "$log" | head -1)
    result="FAILED (rc $rc${kind:+: $kind}) reproducer: ${repro:-none} log: $log"
  fi
  printf '%-16s %12s %8s %8s %8s  %s\n' "$h" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $failed
