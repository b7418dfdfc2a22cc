"""The engine comparison's own logic (recipes/persona_multigpu/engine_metrics.py), on CPU without launching anything.

The launches themselves need two GPUs (and deepspeed): compare_engines.py runs them on the lent machine.
"""
import importlib.util
import json
import sys
from pathlib import Path

import torch

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "persona_multigpu"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, RECIPE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


metrics = load("engine_metrics")


def test_step_stats_leave_out_the_warmup_steps():
    # train start at 0 s; steps end at 10 s (warm-up), 12 s, 14 s, 17 s; tokens seen 100 after each step
    marks = [(0.0, 0), (10.0, 100), (12.0, 200), (14.0, 300), (17.0, 400)]
    stats = metrics.step_stats(marks, warmup=1)
    assert stats["steps"] == 4 and stats["steps_timed"] == 3
    assert stats["step_s_median"] == 2.0 and stats["step_s_max"] == 3.0
    assert stats["tokens_per_s"] == 300 / 7


def test_step_stats_with_no_step_past_the_warmup_say_so():
    assert metrics.step_stats([(0.0, 0), (1.0, 5)], warmup=3) == {"steps": 1, "steps_timed": 0}


def test_adapter_check_finds_a_changed_missing_or_empty_tensor():
    trained = {"a.lora_A.weight": torch.ones(2, 4), "a.lora_B.weight": torch.full((4, 2), 0.5)}
    assert metrics.compare_adapters(trained, {k: v.clone() for k, v in trained.items()})["match"]
    changed = {**trained, "a.lora_B.weight": trained["a.lora_B.weight"] + 1e-3}
    assert not metrics.compare_adapters(trained, changed)["match"]
    assert metrics.compare_adapters(trained, {"a.lora_A.weight": trained["a.lora_A.weight"]})["missing"] == ["a.lora_B.weight"]
    empty = {**trained, "a.lora_B.weight": torch.empty(0)}  # what a ZeRO-3 save without gathering writes
    assert not metrics.compare_adapters(trained, empty)["match"]
    assert not metrics.compare_adapters({**trained, "a.lora_B.weight": torch.zeros(4, 2)}, trained)["lora_B_trained"]


def test_adapter_names_compare_across_adapter_names_and_wrappers():
    assert metrics.adapter_key("m._fsdp_wrapped_module.q_proj.lora_A.default.weight") == "m.q_proj.lora_A.weight"
    assert metrics.adapter_key("m.q_proj.lora_A.zero3.weight", "zero3") == "m.q_proj.lora_A.weight"


def test_logits_match_within_tolerance_only():
    torch.manual_seed(0)
    logits = torch.randn(1, 8, 50)
    assert metrics.compare_logits(logits, logits + 1e-4)["match"]
    far = metrics.compare_logits(logits, torch.randn(1, 8, 50))
    assert not far["match"] and far["top1_agreement"] < 1


def test_error_lines_find_the_rank_root_cause_and_the_launcher_last_word():
    log = "\n".join([
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "[rank1]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "W1130 rank 0 closing",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    ])
    first, last = metrics.error_lines(log)
    assert first.startswith("torch.OutOfMemoryError: CUDA out of memory")
    assert last.startswith("torch.distributed.elastic.multiprocessing.errors.ChildFailedError")
    assert metrics.error_lines("all fine\n") == (None, None)


def test_results_are_written_as_json_and_a_table_with_the_error(tmp_path):
    results = {
        "date": "2026-12-01T00:00:00+00:00", "environment": {"gpu": "NVIDIA H200", "versions": {"deepspeed": "0.19.8"}},
        "setup": {"num_processes": 2, "steps": 8, "warmup": 3},
        "engines": {
            "zero3": {"status": "failed", "error": "ValueError: boom", "ranks": []},
            "fsdp": {"status": "ok", "step_stats": {"steps_timed": 5, "step_s_median": 1.5, "tokens_per_s": 9000.0},
                     "ranks": [{"max_allocated_gib": 20.0, "max_reserved_gib": 22.0, "distributed_type": "DistributedType.FSDP"}] * 2, "load_s": 30.0, "save_s": 4.0,
                     "reload": {"loaded": True, "adapter": {"match": True, "max_abs_diff": 0.0},
                                "logits": {"match": True, "rel_l2": 0.001, "top1_agreement": 1.0}}},
        },
        "phase_seconds": {"standin": 40.0},
    }
    json_path, md_path = metrics.write_results(results, tmp_path)
    assert json.loads(json_path.read_text())["engines"]["zero3"]["error"] == "ValueError: boom"
    page = md_path.read_text()
    assert "NVIDIA H200" in page and "deepspeed 0.19.8" in page and "2026-12-01" in page
    assert "| fsdp | FSDP | ok | 5 | 1.50 | 9,000 | 20.0 (22.0) / 20.0 (22.0) |" in page
    assert "**zero3** error: `ValueError: boom`" in page
