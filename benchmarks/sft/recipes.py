"""Every recipe the benchmark measures: a course preset (or none) plus named overrides, built by the course's one
SFTConfig builder (`course_utils.sft_recipe.sft_config`), so the benchmark and the lessons cannot drift apart."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from .data import MAX_STEPS

# What every recipe shares: the seed's schedule, evaluation on, no checkpoint writes (left out of every recipe alike).
COMMON = dict(max_steps=MAX_STEPS, lr_scheduler_type="linear", warmup_steps=10, weight_decay=0.0,
              eval_strategy="steps", save_strategy="no", logging_steps=10, include_num_input_tokens_seen="no")

# Named overrides, one idea each; a recipe is a preset plus some of them.
NO_CHECKPOINTING = {"activation_checkpointing": False, "activation_checkpointing_kwargs": None}
# Trainer reads every micro-batch's loss back to the host to filter NaN/inf before logging (a device sync each).
NO_NAN_FILTER = {"logging_nan_inf_filter": False}
HOST_SYNCS_OFF = dict(sft=NO_NAN_FILTER, trl_metrics=False)  # with TRL's per-micro-batch metric reads off
DOCUMENT_ATTENTION = dict(attention="document")
NO_DROPOUT = dict(lora_dropout=0.0)


@dataclass(frozen=True)
class Recipe:
    """A preset plus overrides; `stop_after` None trains all 100 steps, a number stops early and scales."""

    name: str
    description: str
    preset: str | None = None  # course profile ("t4", "a100") whose SFT preset is the base; None: all in `sft`
    sft: Mapping[str, Any] = field(default_factory=dict)  # SFTConfig arguments over the preset
    max_length: int | None = None  # rows are cut to it (padding-free) or padded batches stop at it; None: preset's
    precision: str = "bf16"  # "bf16" or "fp16" (a T4 has no bf16)
    lora_dropout: float = 0.05
    attention: str | None = None  # "sdpa" (block-diagonal mask), "document" (course_utils.document_attention); None: preset's
    trl_metrics: bool = True  # False: skip TRL's entropy/accuracy/token-count reads (3 syncs a micro-batch)
    compile_layers: bool = False  # regional torch.compile: each decoder layer compiled, shapes dynamic
    stop_after: int | None = None
    warmup_steps_excluded: int = 3
    stress: bool = False  # also one micro-batch of max-length rows: the worst-case memory real data can reach
    profile: bool = False  # CUDA kernel time of steps 6-8, by kind (why MFU is what it is)
    runner: str = "trl"  # "trl" (measure.run_recipe) or "unsloth" (unsloth_row.py, its own process)

    def training_preset(self):
        """The preset's seed-length run (lesson 05's `FULL_RUN`): every recipe trains the seed's 1,600 samples."""
        from course_utils.profiles import PROFILES, sft_preset

        return sft_preset(PROFILES[self.preset], full_run=True) if self.preset else None

    @property
    def attention_kind(self) -> str:
        """The attention the recipe trains with: its own choice, else its preset's, else SDPA."""
        preset = self.training_preset()
        return self.attention or (preset.attention if preset else "sdpa")

    def arguments(self) -> dict:
        """The SFTConfig arguments this recipe resolves to (preset, then the benchmark's common ones, then `sft`)."""
        from course_utils.sft_recipe import preset_arguments

        preset = self.training_preset()
        values = {**preset_arguments(preset), "eval_steps": preset.eval_steps} if preset else {}
        return {**values, **COMMON, **self.sft}

    def with_overrides(self, name: str, description: str, **changes) -> Recipe:
        """This recipe plus more overrides; `sft` entries are merged, not replaced."""
        sft = {**self.sft, **changes.pop("sft", {})}
        return dataclasses.replace(self, name=name, description=description, sft=sft, **changes)

    @property
    def per_device_train_batch_size(self) -> int:
        return self.arguments()["per_device_train_batch_size"]

    @property
    def effective_batch_size(self) -> int:
        args = self.arguments()
        return args["per_device_train_batch_size"] * args["gradient_accumulation_steps"]

    @property
    def padding_free(self) -> bool:
        return bool(self.arguments().get("padding_free", False))

    @property
    def gradient_checkpointing(self) -> bool:
        return bool(self.arguments().get("activation_checkpointing", False))

    @property
    def row_max_length(self) -> int:
        preset = self.training_preset()
        return self.max_length or self.arguments().get("max_length") or preset.max_length

    @property
    def eval_steps(self) -> int:
        return self.arguments()["eval_steps"]

    def lora_arguments(self) -> dict:
        preset = self.training_preset()
        r, alpha = (preset.lora_r, preset.lora_alpha) if preset else (16, 32)
        return dict(r=r, lora_alpha=alpha, lora_dropout=self.lora_dropout)

    def summary(self) -> dict:
        """What the JSON keeps of the recipe: its own fields and the SFTConfig arguments they resolve to."""
        return {**dataclasses.asdict(self), "resolved_sft_arguments": self.arguments(),
                "lora": self.lora_arguments(), "per_device_train_batch_size": self.per_device_train_batch_size,
                "gradient_accumulation_steps": self.arguments()["gradient_accumulation_steps"]}


def compute_dtype(recipe: Recipe, device: str) -> torch.dtype:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[recipe.precision] if device == "cuda" else torch.float32


def sft_config(recipe: Recipe, output_dir: str | Path, device: str):
    """The recipe through the course's one SFTConfig builder: preset, then the common and the recipe's overrides."""
    from course_utils.sft_recipe import sft_config as course_sft_config

    overrides = {**COMMON, **recipe.sft, "use_cpu": device != "cuda", "dataloader_pin_memory": device == "cuda"}
    if recipe.preset:
        overrides.setdefault("eval_steps", recipe.training_preset().eval_steps)
    if recipe.padding_free:
        overrides["max_length"] = None  # padding-free TRL enforces no max_length: the rows were cut beforehand
    return course_sft_config(output_dir, compute_dtype(recipe, device), preset=recipe.training_preset(), **overrides)


SEED = Recipe(
    name="seed", description="seed 002: batch 2 x accumulation 8, max 2048, padded, eval every 10 steps on 1 %, "
    "adamw_8bit, reentrant gradient checkpointing, bf16, full-sequence loss",
    sft=dict(per_device_train_batch_size=2, gradient_accumulation_steps=8, per_device_eval_batch_size=8,
             max_length=2048, eval_steps=10, learning_rate=2e-4, optim="adamw_8bit", padding_free=False,
             activation_checkpointing=True, activation_checkpointing_kwargs={"use_reentrant": True},
             completion_only_loss=False),
    stop_after=11,
)
T4 = Recipe(name="t4", description="course t4 preset as shipped (fp16 compute)", preset="t4", precision="fp16",
            stress=True, stop_after=11)
A100 = Recipe(name="a100", description="course a100 preset as shipped (the old `fast_gc`: fast + non-reentrant "
              "gradient checkpointing, for 40 GB A100 / 24 GB L4)", preset="a100", stop_after=15)
FAST = A100.with_overrides(
    "fast", "big GPU: a100 preset without gradient checkpointing (16 rows a micro-batch, padding-free SDPA with a "
    "block-diagonal mask, eval every 50 steps, adamw_8bit, bf16, completion-only loss)", sft=NO_CHECKPOINTING,
    attention="sdpa")
UNSLOTH = Recipe(
    name="unsloth", description="Unsloth's QLoRA recipe (FastLanguageModel 4-bit, r=16 on 7 projections, "
    "use_gradient_checkpointing='unsloth', lora_dropout 0, padded batches of 2 x accumulation 8, adamw_8bit, bf16)",
    sft=dict(per_device_train_batch_size=2, gradient_accumulation_steps=8, per_device_eval_batch_size=8,
             max_length=2048, eval_steps=50, learning_rate=2e-4, optim="adamw_8bit", padding_free=False,
             gradient_checkpointing=False),  # Unsloth checkpoints itself; transformers 5.17 has no activation_*
    lora_dropout=0.0, stop_after=13, runner="unsloth",
)
BEST = dict(**DOCUMENT_ATTENTION, **NO_DROPOUT)  # plus HOST_SYNCS_OFF, merged below


def default_recipes(extras: bool = False) -> list[Recipe]:
    """In order of priority (a run that meets its deadline drops the last ones); with `extras`, also the
    diagnostics run only when named (`--recipes`)."""
    fast_best = FAST.with_overrides("fast_best", "fast + per-document attention + host syncs off + lora_dropout 0",
                                    sft=NO_NAN_FILTER, trl_metrics=False, **BEST)
    a100_best = A100.with_overrides(
        "a100_best", "a100 preset + per-document attention + host syncs off + lora_dropout 0",
        sft=NO_NAN_FILTER, trl_metrics=False, **BEST)
    # the headline rows first, then what each change adds alone; the riskiest (compile) last
    recipes = [
        SEED, T4, A100, FAST, fast_best, UNSLOTH, a100_best,
        FAST.with_overrides("fast_docattn", "fast + per-document attention (FlashAttention varlen kernel in torch)",
                            **DOCUMENT_ATTENTION),
        FAST.with_overrides("fast_nosync", "fast + TRL's per-micro-batch metrics off + Trainer's NaN filter off",
                            **HOST_SYNCS_OFF),
        FAST.with_overrides("fast_no_dropout", "fast with lora_dropout=0", **NO_DROPOUT),
        fast_best.with_overrides("fast_best_compile", "fast_best + regional torch.compile of the 32 decoder layers",
                                 compile_layers=True),
    ]
    if extras:
        recipes += [
            T4.with_overrides("t4_best", "t4 preset + host syncs off + lora_dropout 0 (no FlashAttention on a T4)",
                              sft=NO_NAN_FILTER, trl_metrics=False, **NO_DROPOUT),
            FAST.with_overrides("fast_profile", "fast, steps 6-8 under the CUDA profiler", stop_after=8,
                                profile=True),
            fast_best.with_overrides("fast_best_profile", "fast_best, steps 6-8 under the CUDA profiler",
                                     stop_after=8, profile=True),
            T4.with_overrides("t4_16x1", "t4 preset, 16 rows x accumulation 1 (fp16)",
                              sft=dict(per_device_train_batch_size=16, gradient_accumulation_steps=1,
                                       per_device_eval_batch_size=16)),
        ]
    return recipes


def tiny_recipe(recipe: Recipe) -> Recipe:
    """The same recipe shrunk for a CPU check of the plumbing: shorter rows, at most 2 micro-batches a step, 3 steps."""
    max_length = min(recipe.row_max_length, 128) // 2
    sft = {"gradient_accumulation_steps": min(recipe.arguments()["gradient_accumulation_steps"], 2), "eval_steps": 2}
    if not recipe.padding_free:
        sft["max_length"] = max_length
    return dataclasses.replace(recipe, max_length=max_length, sft={**recipe.sft, **sft}, stop_after=3,
                               warmup_steps_excluded=1, stress=False)


def select_recipes(names: str | None, tiny: bool, stop_after: int | None = None) -> list[Recipe]:
    """The default list, or the comma-separated `names` in that order (diagnostics included); tiny-sized if asked;
    with `stop_after`, no recipe times more steps than that (a run of many rows fits its deadline)."""
    recipes = default_recipes(extras=bool(names))
    if stop_after:
        recipes = [dataclasses.replace(r, stop_after=min(r.stop_after or stop_after, stop_after)) for r in recipes]
    if names:
        wanted = names.split(",")
        by_name = {r.name: r for r in recipes}
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise SystemExit(f"Unknown recipe(s) {unknown}: choose from {list(by_name)}.")
        recipes = [by_name[name] for name in wanted]
    return [tiny_recipe(r) for r in recipes] if tiny else recipes
