#!/usr/bin/env bash
# `make llamafactory-check`: LLaMA-Factory, in a throwaway venv of its own, on the course's persona export.
# Usage: recipes/llamafactory/run_check.sh COURSE_PYTHON   (the course venv's python, which writes the export)
set -euo pipefail
COURSE_PY=${1:?give the course venv python, e.g. .venv/bin/python}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LF_VENV=${LF_VENV:-${COURSE_CACHE:-$HOME/.cache/llm-course}/llamafactory-venv}
WORK=${LF_WORK:-$ROOT/build/llamafactory}
export HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu TOKENIZERS_PARALLELISM=false
start=$(date +%s)

# The venv is rebuilt only when requirements.txt changes (its hash is the stamp).
stamp="$LF_VENV/.installed-$(sha256sum "$HERE/requirements.txt" | cut -c1-16)"
venv_reused=true
if [ ! -f "$stamp" ]; then
  venv_reused=false
  rm -rf "$LF_VENV"
  python3.11 -m venv "$LF_VENV"
  "$LF_VENV/bin/pip" install --quiet -r "$HERE/requirements.txt"
  # The Llama 3 tokenizer file only (its package's own dependencies are not needed for that).
  "$LF_VENV/bin/pip" install --quiet --no-deps llama-models==0.3.0
  # PyPI's torchvision and torchaudio are CUDA builds: with the CPU torch their compiled ops cannot load
  # (torchvision: "operator torchvision::nms does not exist"). Text SFT needs neither: drop torchvision (transformers
  # then treats it as absent) and torchaudio's compiled libraries (it then imports without its extension).
  "$LF_VENV/bin/pip" uninstall --quiet -y torchvision
  rm -f "$LF_VENV"/lib/python3.11/site-packages/torchaudio/lib/*.so
  "$LF_VENV/bin/llamafactory-cli" version >/dev/null
  touch "$stamp"
fi
setup_s=$(( $(date +%s) - start ))

rm -rf "$WORK" && mkdir -p "$WORK"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$COURSE_PY" "$HERE/export_reference.py" "$WORK"
"$LF_VENV/bin/python" "$HERE/check_llamafactory.py" "$WORK" --lf-venv "$LF_VENV" \
  --setup-seconds "$setup_s" --venv-reused "$venv_reused" --started "$start"
