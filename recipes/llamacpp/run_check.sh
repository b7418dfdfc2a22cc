#!/usr/bin/env bash
# `make llamacpp-check`: llama.cpp itself (llama-cpp-python, in a venv of its own) on the GGUF files the course writes.
# Usage: recipes/llamacpp/run_check.sh COURSE_PYTHON   (the course venv's python, which writes the exports)
set -euo pipefail
COURSE_PY=${1:?give the course venv python, e.g. .venv/bin/python}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LLAMACPP_VENV=${LLAMACPP_VENV:-$ROOT/.deps/llamacpp-venv}
WORK=${LLAMACPP_WORK:-$ROOT/build/llamacpp}
export HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu TOKENIZERS_PARALLELISM=false
start=$(date +%s)

# The venv is rebuilt only when requirements.txt changes (its hash is the stamp). llama-cpp-python is source only:
# pip compiles llama.cpp (about 5 minutes on 2 free cores, more on a busy machine).
stamp="$LLAMACPP_VENV/.installed-$(sha256sum "$HERE/requirements.txt" | cut -c1-16)"
venv_reused=true
if [ ! -f "$stamp" ]; then
  venv_reused=false
  rm -rf "$LLAMACPP_VENV"
  python3.11 -m venv "$LLAMACPP_VENV"
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} "$LLAMACPP_VENV/bin/pip" install --quiet -r "$HERE/requirements.txt"
  touch "$stamp"
fi
setup_s=$(( $(date +%s) - start ))

rm -rf "$WORK" && mkdir -p "$WORK"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$COURSE_PY" "$HERE/export_reference.py" "$WORK"
"$LLAMACPP_VENV/bin/python" "$HERE/check_llamacpp.py" "$WORK" --results "$ROOT/benchmarks/results" \
  --setup-seconds "$setup_s" --venv-reused "$venv_reused" --started "$start"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$COURSE_PY" "$HERE/weight_error.py" "$WORK" "$ROOT/benchmarks/results"
