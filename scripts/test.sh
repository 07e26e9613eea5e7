#!/usr/bin/env bash
# Installs what is missing, builds bertscope and runs the whole test suite: the optimised
# build (oneDNN), the same suite under AddressSanitizer + UndefinedBehaviorSanitizer, and the
# encoder parity tests on the portable CBLAS fallback; then every libFuzzer harness for a few
# seconds from its seed corpus (docs/fuzzing.md: the long runs are scripts/fuzz.sh on its own).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)
# CTest runs tests side by side; OpenMP threads that spin at barriers would take each other's
# cores (the bertscope CLI sets this itself; the test binary links libgomp directly).
export OMP_WAIT_POLICY=PASSIVE

scripts/build.sh release
ctest --test-dir build/release --output-on-failure -j "$jobs"

scripts/build.sh sanitize
# libgomp keeps its thread pool alive until exit; that is not a leak of ours. The browser tests
# exercise the web viewer's JavaScript, which the sanitizers do not see; they ran above, as did
# the tests labelled "once" (killing commands: nothing there depends on the build flavour).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/sanitize --output-on-failure -j "$jobs" -LE 'browser|once'

scripts/build.sh cblas bertscope_parity_tests
ctest --test-dir build/cblas --output-on-failure -j "$jobs" -R 'EncoderGolden|Kernel'

# Each harness replays its seed corpus, then mutates for FUZZ_SECONDS (10) with a fixed seed, so a
# failure here is reproducible: scripts/fuzz.sh names the reproducer it wrote.
FUZZ_FLAGS="-seed=1 ${FUZZ_FLAGS:-}" scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
