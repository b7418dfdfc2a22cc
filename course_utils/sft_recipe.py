"""The course's TRL training arguments in one place: the preset's share of every config, and a whole SFTConfig.

Lesson 05 writes `SFTConfig` out in full because it is what it teaches. Lessons 08 and 09 spread `trainer_arguments`
into their SFTConfig, DPOConfig and GRPOConfig and write out only what is new; every other caller (lesson 06's
fallback, tests, the multi-GPU recipe, the benchmark) builds the whole config with `sft_config`, so the copies cannot
drift apart. Precision always comes from the compute dtype.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .profiles import DpoPreset, GrpoPreset, TrainingPreset


def precision_flags(compute_dtype: torch.dtype) -> dict[str, bool]:
    """`bf16`/`fp16` set from the compute dtype, both False for fp32.

    TRL's SFTConfig turns bf16 on when neither flag is given; on a CPU without native bf16 (AVX2 only) that autocast
    makes every matmul ~78x slower, so no caller may leave the flags to TRL's default.
    """
    return {"bf16": compute_dtype == torch.bfloat16, "fp16": compute_dtype == torch.float16}


def trainer_arguments(preset: TrainingPreset | DpoPreset | GrpoPreset, compute_dtype: torch.dtype) -> dict:
    """What every TRL config of the course takes from a hardware preset: batch, accumulation, steps, learning rate,
    optimizer, activation checkpointing, and the precision flags of the compute dtype.

    Lesson 05 writes each of these out in its SFTConfig; lessons 08 and 09 spread this dict, so that their SFTConfig,
    DPOConfig and GRPOConfig show only what is new to them. (GRPO presets have no accumulation: TRL's default, 1.)
    """
    arguments = dict(
        per_device_train_batch_size=preset.per_device_train_batch_size,
        max_steps=preset.max_steps,
        learning_rate=preset.learning_rate,
        optim=preset.optim,
        activation_checkpointing=preset.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if preset.gradient_checkpointing else None,
        **precision_flags(compute_dtype),
    )
    if hasattr(preset, "gradient_accumulation_steps"):
        arguments["gradient_accumulation_steps"] = preset.gradient_accumulation_steps
    return arguments


def preset_arguments(preset: TrainingPreset) -> dict:
    """The SFTConfig arguments a hardware preset decides (batch, length, steps, optimizer, checkpointing), without the
    precision flags, which come from the compute dtype."""
    arguments = trainer_arguments(preset, torch.float32)
    del arguments["bf16"], arguments["fp16"]
    return dict(
        arguments,
        per_device_eval_batch_size=preset.per_device_train_batch_size,
        # padding-free TRL refuses max_length: the rows were length-checked before training
        max_length=None if preset.padding_free else preset.max_length,
        padding_free=preset.padding_free,
    )


def sft_config(output_dir: Path | str, compute_dtype: torch.dtype, preset: TrainingPreset | None = None, **overrides):
    """An SFTConfig for the course's completion-only LoRA recipe: defaults, then the preset, then `overrides`."""
    from trl import SFTConfig

    on_gpu = torch.cuda.is_available()
    arguments = dict(
        output_dir=str(output_dir), lr_scheduler_type="cosine", warmup_steps=0.1, weight_decay=0.01,
        completion_only_loss=True, eval_strategy="no", save_strategy="no", logging_steps=1, report_to="none",
        seed=42, include_num_input_tokens_seen="non_padding", dataloader_pin_memory=on_gpu, disable_tqdm=True,
        use_cpu=not on_gpu,
    )
    if preset is not None:
        arguments.update(preset_arguments(preset))
    arguments.update(precision_flags(compute_dtype))
    arguments.update(overrides)
    return SFTConfig(**arguments)
