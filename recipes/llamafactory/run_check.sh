#!/usr/bin/env bash
# `make llamafactory-check`: LLaMA-Factory, in a throwaway venv of its own, on the course's persona export.
# Usage: recipes/llamafactory/run_check.sh COURSE_PYTHON   (the course venv's python, which writes the export)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../engine_check.sh" "$@"  # COURSE_PY, ROOT, start; engine_venv, course_python, write_reference
LF_VENV=${LF_VENV:-${COURSE_CACHE:-$HOME/.cache/llm-course}/llamafactory-venv}
WORK=${LF_WORK:-$ROOT/build/llamafactory}

fit_llamafactory_venv() {
  # The Llama 3 tokenizer file only (its package's own dependencies are not needed for that).
  "$1/bin/pip" install --quiet --no-deps llama-models==0.3.0
  # PyPI's torchvision and torchaudio are CUDA builds: with the CPU torch their compiled ops cannot load
  # (torchvision: "operator torchvision::nms does not exist"). Text SFT needs neither: drop torchvision (transformers
  # then treats it as absent) and torchaudio's compiled libraries (it then imports without its extension).
  "$1/bin/pip" uninstall --quiet -y torchvision
  rm -f "$1"/lib/python3.11/site-packages/torchaudio/lib/*.so
  "$1/bin/llamafactory-cli" version >/dev/null
}

engine_venv "$LF_VENV" fit_llamafactory_venv
write_reference "$WORK"
"$LF_VENV/bin/python" "$HERE/check_llamafactory.py" "$WORK" --lf-venv "$LF_VENV" \
  --setup-seconds "$setup_s" --venv-reused "$venv_reused" --started "$start"
