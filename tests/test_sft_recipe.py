"""The shared SFTConfig builder: precision follows the compute dtype, presets and overrides apply in that order."""
import pytest
import torch
from trl import SFTConfig

from course_utils.profiles import PROFILES
from course_utils.sft_recipe import precision_flags, sft_config, trainer_arguments


@pytest.mark.parametrize("dtype, bf16, fp16", [(torch.float32, False, False), (torch.bfloat16, True, False),
                                               (torch.float16, False, True)])
def test_precision_follows_the_compute_dtype(dtype, bf16, fp16):
    assert precision_flags(dtype) == {"bf16": bf16, "fp16": fp16}


def test_cpu_profile_config_never_autocasts_to_bf16(tmp_path, cpu_profile):
    args = sft_config(tmp_path, cpu_profile.compute_dtype, cpu_profile.sft)
    assert (args.bf16, args.fp16) == (False, False)
    assert args.max_steps == cpu_profile.sft.max_steps and args.padding_free == cpu_profile.sft.padding_free
    assert args.max_length is None  # padding-free: rows are length-checked before training


def test_overrides_win_over_the_preset(tmp_path, cpu_profile):
    args = sft_config(tmp_path, torch.float32, cpu_profile.persona, max_steps=3, learning_rate=1e-3)
    assert (args.max_steps, args.learning_rate) == (3, 1e-3)
    assert args.per_device_train_batch_size == cpu_profile.persona.per_device_train_batch_size


def test_gpu_presets_keep_their_memory_settings(tmp_path):
    preset = PROFILES["t4"].sft
    args = sft_config(tmp_path, torch.float32, preset)
    assert args.activation_checkpointing is True and args.gradient_accumulation_steps == preset.gradient_accumulation_steps


def test_trl_default_would_autocast_cpu_training_to_bf16(tmp_path):
    """Why the guard in conftest exists: left alone, TRL turns bf16 on, and the guard refuses it on a CPU machine."""
    if torch.cuda.is_available():
        pytest.skip("the guard only applies without CUDA")
    with pytest.raises(AssertionError, match="autocast CPU training to bf16"):
        SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")


@pytest.mark.parametrize("name", ["cpu", "t4", "a100"])
def test_dpo_and_grpo_configs_take_every_preset_setting(tmp_path, name):
    """Lesson 09 spreads trainer_arguments into DPOConfig and GRPOConfig: each preset value must arrive, and GRPO
    (no accumulation in its preset) keeps TRL's 1."""
    from trl import DPOConfig, GRPOConfig

    profile = PROFILES[name]
    for preset, config in ((profile.dpo, DPOConfig), (profile.grpo, GRPOConfig)):
        arguments = trainer_arguments(preset, profile.compute_dtype)
        assert (arguments["bf16"], arguments["fp16"]) == tuple(precision_flags(profile.compute_dtype).values())
        arguments.update(precision_flags(torch.float32))  # a CPU machine refuses bf16/fp16 configs
        extra = {"num_generations": preset.num_generations} if config is GRPOConfig else {}
        args = config(output_dir=str(tmp_path), use_cpu=True, report_to="none", **arguments, **extra)
        assert (args.per_device_train_batch_size, args.max_steps, args.learning_rate, args.optim) == (
            preset.per_device_train_batch_size, preset.max_steps, preset.learning_rate, preset.optim)
        assert args.activation_checkpointing is preset.gradient_checkpointing
        assert args.gradient_accumulation_steps == getattr(preset, "gradient_accumulation_steps", 1)
