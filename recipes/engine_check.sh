# shellcheck shell=bash
# What the three engine checks' run_check.sh share (they `source` it): the offline setting, a venv of the engine's own
# rebuilt only when its requirements.txt changes, and the course venv's python for step 1.
# Usage: source "$HERE/../engine_check.sh" "$@"  (HERE: the recipe's folder; $1: the course venv's python).
# Sets COURSE_PY, ROOT and start; engine_venv sets venv_reused and setup_s.
COURSE_PY=${1:?give the course venv python, e.g. .venv/bin/python}
ROOT=$(cd "$HERE/../.." && pwd)
export HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu TOKENIZERS_PARALLELISM=false
start=$(date +%s)

# engine_venv VENV [AFTER_INSTALL]: the venv is rebuilt only when $HERE/requirements.txt changes (its hash is the stamp).
# AFTER_INSTALL, a function given VENV, runs before the stamp, so a venv whose fix-ups failed is rebuilt next time.
# venv_reused and setup_s go into the result file, so a slow run shows whether the build took the time.
engine_venv() {
  local venv=$1 after_install=${2:-} stamp
  stamp="$venv/.installed-$(sha256sum "$HERE/requirements.txt" | cut -c1-16)"
  venv_reused=true
  if [ ! -f "$stamp" ]; then
    venv_reused=false
    rm -rf "$venv"
    python3.11 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$HERE/requirements.txt"
    if [ -n "$after_install" ]; then
      "$after_install" "$venv"
    fi
    touch "$stamp"
  fi
  setup_s=$(( $(date +%s) - start ))
}

# course_python SCRIPT ARGS...: the course venv's python with the repository importable (course_utils, course_tools).
course_python() {
  PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$COURSE_PY" "$@"
}

# write_reference WORK: step 1, a fresh WORK holding what the course itself computes, for the engine to be held against.
write_reference() {
  rm -rf "$1" && mkdir -p "$1"
  course_python "$HERE/export_reference.py" "$1"
}
