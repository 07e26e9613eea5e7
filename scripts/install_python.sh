#!/usr/bin/env bash
# Builds the Python package bertscope (build/release) and installs it, offline, into the active
# virtual environment ($VIRTUAL_ENV), else into the user's site-packages, or into --target DIR:
#   scripts/install_python.sh [--target DIR]
# The module is built for Debian's /usr/bin/python3 (its NumPy comes from apt: make virtual
# environments with `/usr/bin/python3 -m venv --system-site-packages`).
set -euo pipefail
cd "$(dirname "$0")/.."
target=""
if [ "${1:-}" = "--target" ]; then
  target=${2:?"--target needs a folder"}
elif [ $# -gt 0 ]; then
  echo "install_python.sh: usage: install_python.sh [--target DIR]" >&2
  exit 2
fi
scripts/setup.sh
scripts/build.sh release bertscope_python
built=$(sed -n 's/^Python_EXECUTABLE:[A-Z]*=//p' build/release/CMakeCache.txt)
if [ -z "$target" ]; then
  python=python3
  [ -n "${VIRTUAL_ENV:-}" ] && python="$VIRTUAL_ENV/bin/python"
  [ -z "${VIRTUAL_ENV:-}" ] && python="$built"
  want=$("$built" -c 'import sys; print(sys.version_info[:2])')
  have=$("$python" -c 'import sys; print(sys.version_info[:2])')
  if [ "$want" != "$have" ]; then
    echo "install_python.sh: the module is built for $built $want, not $python $have" >&2
    exit 1
  fi
  if [ -n "${VIRTUAL_ENV:-}" ]; then
    target=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  else
    target=$("$python" -m site --user-site)
  fi
fi
mkdir -p "$target"
cmake --install build/release --component python --prefix "$target" >/dev/null
echo "bertscope installed in $target/bertscope"
