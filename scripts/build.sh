#!/usr/bin/env bash
# Configures and builds one flavour of bertscope: build.sh [release|sanitize|cblas] [targets...] -> build/<flavour>.
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
# The sanitized flavour builds no Python module: it would need the sanitizer runtimes preloaded
# into the interpreter.
case "$flavour" in
  release)  args=(-DCMAKE_BUILD_TYPE=Release) ;;
  sanitize) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTSCOPE_SANITIZE=ON -DBERTSCOPE_PYTHON=OFF) ;;
  cblas)    args=(-DCMAKE_BUILD_TYPE=Release -DBERTSCOPE_GEMM=cblas) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release, sanitize or cblas)" >&2; exit 2 ;;
esac
cmake -S . -B "build/$flavour" -G Ninja "${args[@]}" >/dev/null
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "build/$flavour" -j "$(nproc)" "${targets[@]}"
