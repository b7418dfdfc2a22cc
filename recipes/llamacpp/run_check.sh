#!/usr/bin/env bash
# `make llamacpp-check`: llama.cpp itself (llama-cpp-python, in a venv of its own) on the GGUF files the course writes.
# Usage: recipes/llamacpp/run_check.sh COURSE_PYTHON   (the course venv's python, which writes the exports)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../engine_check.sh" "$@"  # COURSE_PY, ROOT, start; engine_venv, course_python, write_reference
LLAMACPP_VENV=${LLAMACPP_VENV:-$ROOT/.deps/llamacpp-venv}
WORK=${LLAMACPP_WORK:-$ROOT/build/llamacpp}

# llama-cpp-python is source only: pip compiles llama.cpp (about 5 minutes on 2 free cores, more on a busy machine).
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} engine_venv "$LLAMACPP_VENV"
write_reference "$WORK"
"$LLAMACPP_VENV/bin/python" "$HERE/check_llamacpp.py" "$WORK" --results "$ROOT/benchmarks/results" \
  --setup-seconds "$setup_s" --venv-reused "$venv_reused" --started "$start"
course_python "$HERE/weight_error.py" "$WORK" "$ROOT/benchmarks/results"
