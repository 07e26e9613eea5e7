#!/usr/bin/env bash
# Installs the Debian packages bertscope needs that are not installed yet. Idempotent.
set -euo pipefail

# clang, libclang-rt-dev, libomp-dev: the libFuzzer harnesses (scripts/fuzz.sh) build with clang,
# which only recommends libFuzzer's runtime and needs its own OpenMP runtime for -fopenmp.
# libopenmpi-dev, openmpi-bin: runs across processes and machines under mpirun (docs/distributed.md);
# a build without them runs everything in one process.
# ocl-icd-opencl-dev: Debian's libdnnl-dev only recommends it, but its CMake config
# (dnnl-config.cmake) requires OpenCL, and we install without recommends.
packages=(
  build-essential cmake ninja-build pkg-config git
  libdnnl-dev ocl-icd-opencl-dev libopenblas-dev libutf8proc-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libcpp-httplib-dev libzip-dev libhwy-dev libgtest-dev libbenchmark-dev
  libpcre2-dev libsentencepiece-dev sentencepiece
  python3 python3-numpy python3-torch
  python3-dev pybind11-dev python3-pybind11 python3-pytest
  python3-nbclient python3-nbformat python3-ipykernel python3-matplotlib python3-pandas python3-tqdm
  chromium
  clang libclang-rt-dev libomp-dev
  libopenmpi-dev openmpi-bin
)
# The web viewer is built with Node.js and npm. A Node.js from NodeSource bundles npm and
# conflicts with Debian's npm package, so a working command counts as installed.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o Acquire::Retries=3 update -qq
$sudo apt-get -o Acquire::Retries=3 install -y -qq --no-install-recommends "${missing[@]}" >&2
