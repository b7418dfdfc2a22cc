"""The multi-GPU recipe: its accelerate configs say what they claim, and its script runs end to end (tiny, on CPU).

The distributed launch itself (2 GPUs, ZeRO-3 or FSDP) is not run here: it needs the GPUs and, for ZeRO-3, deepspeed.
"""
import importlib.util
import math
from pathlib import Path

import yaml

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "persona_multigpu"


def load_script():
    spec = importlib.util.spec_from_file_location("train_persona", RECIPE / "train_persona.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_zero3_config_shards_everything_over_two_processes():
    config = yaml.safe_load((RECIPE / "zero3.yaml").read_text())
    assert config["distributed_type"] == "DEEPSPEED" and config["num_processes"] == 2
    assert config["deepspeed_config"]["zero_stage"] == 3 and config["deepspeed_config"]["zero3_save_16bit_model"]
    assert "gradient_accumulation_steps" not in config["deepspeed_config"]  # left to the Trainer, no mismatch


def test_fsdp_config_wraps_llama_decoder_layers():
    config = yaml.safe_load((RECIPE / "fsdp.yaml").read_text())
    assert config["distributed_type"] == "FSDP" and config["num_processes"] == 2
    assert config["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"


def test_the_script_trains_evaluates_and_saves_an_adapter_on_cpu(tmp_path):
    summary = load_script().main(["--tiny", "--output-dir", str(tmp_path / "run")])
    assert summary["steps"] == 3 and summary["processes"] == 1 and summary["examples_per_step"] == 4
    assert summary["train_loss"] and all(math.isfinite(x) for x in summary["train_loss"])
    assert summary["eval_loss"], "the held-out split was never evaluated"
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "run" / "adapter_config.json").is_file()
