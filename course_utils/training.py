"""Plumbing around a Trainer run: output folders, checkpoints and resuming, throughput, learning-rate schedules."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from transformers import TrainerCallback, get_scheduler

from .measure import Cost

FINISHED_MARKER = "run_complete.json"
CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
# What a learner finds in a checkpoint folder, and why each file is there.
CHECKPOINT_FILES = {
    "adapter_model.safetensors": "the LoRA weights only, r x (in + out) numbers per adapted layer, not the base model",
    "adapter_config.json": "LoraConfig: rank, alpha, target modules, base model id",
    "optimizer.pt": "AdamW moments for every trainable weight, to continue without a jump in the loss",
    "scheduler.pt": "where the learning-rate schedule is",
    "rng_state.pth": "random generator states, so dropout and data order continue exactly",
    "trainer_state.json": "global_step, log_history (losses), best checkpoint",
    "training_args.bin": "the SFTConfig the run used",
}


def is_finished_run(folder: Path) -> bool:
    """A folder holds a finished run once the final adapter was saved and marked, not just checkpoints."""
    return (Path(folder) / FINISHED_MARKER).is_file()


def mark_finished(folder: Path, summary: dict) -> Path:
    """Written after the final save, so an interrupted run is never mistaken for a finished one."""
    path = Path(folder) / FINISHED_MARKER
    path.write_text(json.dumps(summary, indent=1, default=str))
    return path


def prepare_output_dir(folder: Path, overwrite: bool = False) -> Path:
    """Refuse to train into a finished run unless `overwrite` is set; then the old run is deleted first."""
    folder = Path(folder)
    if is_finished_run(folder):
        if not overwrite:
            raise FileExistsError(
                f"{folder} already holds a finished run: set overwrite=True to replace it, or choose another output folder."
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first; one cut off mid-save (no trainer_state.json) is skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and CHECKPOINT_PATTERN.match(p.name)]
    complete = [p for p in found if (p / "trainer_state.json").is_file()]
    return sorted(complete, key=lambda p: int(CHECKPOINT_PATTERN.match(p.name).group(1)))


def last_checkpoint(folder: Path) -> Path | None:
    """The checkpoint to resume from after a disconnect, or None when the run has to start fresh."""
    found = checkpoints(folder)
    return found[-1] if found else None


def checked_checkpoint(path: Path | str) -> Path:
    """An explicit `resume_from_checkpoint` path, checked before the Trainer starts loading anything."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"Checkpoint folder {path} does not exist: pick one from last_checkpoint(output_dir) or start without resuming."
        )
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(
            f"{path} has no trainer_state.json, so it is not a complete checkpoint: resume from an earlier one."
        )
    return path


def describe_checkpoint(path: Path) -> list[tuple[str, float, str]]:
    """(file, size in MB, what it is for) for every file of one checkpoint folder."""
    rows = []
    for file in sorted(Path(path).iterdir()):
        size_mb = file.stat().st_size / 2**20 if file.is_file() else 0.0
        rows.append((file.name, size_mb, CHECKPOINT_FILES.get(file.name, "")))
    return rows


class StopAfterSteps(TrainerCallback):
    """Stops training after `step` optimizer steps, as a Colab disconnect would (after the checkpoint is saved)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
            control.should_save = True
        return control


def upcast_trainable_for_fp16(model: torch.nn.Module) -> int:
    """Trainable weights to fp32 so fp16 mixed precision (T4) can unscale their gradients; returns how many moved.

    TRL 1.16 casts the LoRA weights of a 4-bit model to bf16, and fp16's GradScaler has no bf16 kernel
    ("_amp_foreach_non_finite_check_and_unscale_cuda" not implemented for 'BFloat16', seen on torch 2.11).
    """
    moved = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
            moved += 1
    return moved


def tokens_per_second(num_tokens: int, seconds: float) -> float:
    """Trained (non-padding) tokens per wall-clock second: the number that compares runs across hardware."""
    return num_tokens / seconds if seconds > 0 else 0.0


def total_cost(*costs: Cost) -> Cost:
    """One Cost for a run done in parts (stopped and resumed): times add up, peaks take the largest."""
    gpu = [c.peak_gpu_gib for c in costs if c.peak_gpu_gib is not None]
    return Cost(sum(c.seconds for c in costs), max(gpu) if gpu else None, max(c.peak_rss_gib for c in costs))


def run_summary(num_tokens: int, steps: int, cost: Cost) -> str:
    """One line for every training run: wall time, tokens/s and peak memory."""
    return (
        f"{steps} steps, {num_tokens:,} tokens in {cost.seconds:.1f} s = "
        f"{tokens_per_second(num_tokens, cost.seconds):,.0f} tokens/s; {cost}"
    )


def rows_without_single_final_eos(dataset, eos_token_id: int) -> list[int]:
    """Indices of tokenized training rows whose labels do not end in exactly one EOS (should be none)."""
    bad = []
    for index, labels in enumerate(dataset["labels"]):
        trained = [token for token in labels if token != -100]
        if not trained or trained[-1] != eos_token_id or trained.count(eos_token_id) != 1:
            bad.append(index)
    return bad


def lr_schedule(scheduler_type: str, learning_rate: float, max_steps: int, warmup_steps: int) -> list[float]:
    """The learning rate at every optimizer step, computed by the same scheduler the Trainer builds."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=learning_rate)
    scheduler = get_scheduler(scheduler_type, optimizer, num_warmup_steps=warmup_steps, num_training_steps=max_steps)
    rates = []
    for _ in range(max_steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return rates


def lora_sft_trainer(model, tokenizer, train_dataset, eval_dataset, preset, output_dir: Path, max_steps: int | None = None):
    """Lesson 05's completion-only LoRA recipe in one call (not yet trained), for lesson 06's fallback and the tests."""
    from peft import LoraConfig
    from trl import SFTTrainer

    from .sft_recipe import sft_config

    overrides = {"max_steps": max_steps} if max_steps else {}
    args = sft_config(output_dir, getattr(model, "dtype", torch.float32), preset, **overrides)
    lora = LoraConfig(
        r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, processing_class=tokenizer,
        peft_config=lora,
    )
    if args.fp16:
        upcast_trainable_for_fp16(trainer.model)
    return trainer
