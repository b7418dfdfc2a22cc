"""Every T4 time the course quotes, from one function: a run's FLOPs (course_utils.flops) over two named T4 rates.

No T4 is reachable from this project, so a T4 time is an estimate, always shown as a range between two rates that
real T4 runs reached, each counted with the same FLOP model as the run it is applied to:

- seed 002: the original lecture's run, 3 h 30 m on a Colab T4 for 100 steps of 2 x 8 padded rows with an
  evaluation every 10 steps on 518 rows padded to 2,048 tokens (`test_size=0.01` of 51,760 rows);
- Unsloth: its Llama-3-8B Alpaca notebook, 60 steps of 2 x 4 padded rows in 476 s on a T4, no evaluation.

`python -m course_tools.t4_markers` (run by `make sync`) writes the figures into the Markdown files that quote
them, between `<!-- t4:KEY -->` and `<!-- /t4 -->`; a test fails when a file and this module disagree.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .alpaca_lengths import alpaca_like_lengths
from .flops import ModelShape, eval_flops, micro_batch_counts, step_flops
from .profiles import PROFILES, TrainingPreset

Lengths = tuple[tuple[int, int], ...]  # (prompt, completion) tokens of each row, in training order

# Llama-3-8B's shapes (config.json of NousResearch/Meta-Llama-3-8B; Llama-3-Open-Ko-8B has the same).
LLAMA3_8B = ModelShape(hidden=4096, layers=32, heads=32, kv_heads=8, head_dim=128, intermediate=14336, vocab=128256)
MODEL_SHAPES = {"NousResearch/Meta-Llama-3-8B": LLAMA3_8B, "beomi/Llama-3-Open-Ko-8B-Instruct-preview": LLAMA3_8B}

ALPACA_NO_INPUT_ROWS = 31_300  # yahma/alpaca-cleaned rows with an empty input, which lessons 05 and 06 keep
SEED_T4_SECONDS = 3.5 * 3600  # seed 002, as its lecture reports it
UNSLOTH_T4_SECONDS = 476  # Unsloth's Llama-3-8B Alpaca notebook on a free Colab T4, as its output reports it


@dataclass(frozen=True)
class Run:
    """What a training run executes: its rows and batching, its steps, and its evaluations."""

    rows: Lengths
    rows_per_micro_batch: int
    accumulation: int
    steps: int
    lora_r: int = 16
    gradient_checkpointing: bool = True
    padded: bool = False  # False: padding-free; True: each micro-batch padded to its longest row
    completion_only: bool = True
    eval_rows: Lengths = ()
    evaluations: int = 0
    eval_batch: int = 8
    eval_padded_to: int | None = None  # the seed padded its evaluation rows to max_length


@dataclass(frozen=True)
class Estimate:
    """A run's FLOPs and its T4 seconds at each named rate; always shown as a range and called an estimate."""

    train_flops: float
    eval_flops: float
    seconds: dict[str, float]

    @property
    def flops(self) -> float:
        return self.train_flops + self.eval_flops

    def english(self) -> str:
        return f"about {_span(*sorted(self.seconds.values()), ' min', ' h', '–')} (estimate)"

    def korean(self) -> str:
        return f"약 {_span(*sorted(self.seconds.values()), '분', '시간', '~')} (추정)"


def _span(low: float, high: float, minute: str, hour: str, dash: str) -> str:
    """'6–8 min' or '2.1–2.7 h': whole minutes below two hours, then hours to one decimal."""
    if high < 2 * 3600:
        lo, hi = (max(1, round(s / 60)) for s in (low, high))
        return f"{lo}{dash}{hi}{minute}" if lo != hi else f"{lo}{minute}"
    return f"{low / 3600:.1f}{dash}{high / 3600:.1f}{hour}"


def run_flops(run: Run, shape: ModelShape = LLAMA3_8B) -> tuple[float, float]:
    """(training FLOPs, evaluation FLOPs) of a run, counted micro-batch by micro-batch on its rows."""
    needed = run.steps * run.accumulation * run.rows_per_micro_batch
    if len(run.rows) < needed:
        raise ValueError(f"The run needs {needed} rows and has {len(run.rows)}: draw more rows for it.")
    train = 0.0
    for start in range(0, needed, run.rows_per_micro_batch):
        batch = run.rows[start:start + run.rows_per_micro_batch]
        padded_to = max(p + c for p, c in batch) if run.padded else None
        tokens, loss, pairs = micro_batch_counts(batch, padded_to, run.completion_only)
        train += step_flops(shape, run.lora_r, tokens, loss, pairs, run.gradient_checkpointing)["total"]
    one_eval = 0.0
    for start in range(0, len(run.eval_rows), run.eval_batch):
        batch = run.eval_rows[start:start + run.eval_batch]
        padded_to = run.eval_padded_to or (max(p + c for p, c in batch) if run.padded else None)
        tokens, loss, pairs = micro_batch_counts(batch, padded_to, run.completion_only)
        one_eval += eval_flops(shape, run.lora_r, tokens, loss, pairs)
    return train, one_eval * run.evaluations


def seed_run() -> Run:
    """Seed 002 on a T4: 100 steps of 2 x 8 rows padded to each batch's longest, full-sequence loss, reentrant
    checkpointing, and 10 evaluations of 518 rows padded to 2,048 tokens (what issue 22 reads in the seed)."""
    return Run(rows=alpaca_rows(1600), rows_per_micro_batch=2, accumulation=8, steps=100, padded=True,
               completion_only=False, eval_rows=alpaca_rows(518, seed=1), evaluations=10, eval_batch=8,
               eval_padded_to=2048)


def unsloth_run() -> Run:
    """Unsloth's notebook: 60 steps of 2 x 4 rows padded to each batch's longest, full-sequence loss, its own
    checkpointing, no evaluation (its rows include inputs; the no-input length model stands in for them)."""
    return Run(rows=alpaca_rows(480, seed=2), rows_per_micro_batch=2, accumulation=4, steps=60, padded=True,
               completion_only=False)


@lru_cache(maxsize=1)
def t4_rates() -> dict[str, float]:
    """FLOP/s each anchor run reached on a T4, by the FLOP model: the two ends of every estimate."""
    return {"seed 002": sum(run_flops(seed_run())) / SEED_T4_SECONDS,
            "Unsloth": sum(run_flops(unsloth_run())) / UNSLOTH_T4_SECONDS}


@lru_cache(maxsize=8)
def alpaca_rows(n: int, seed: int = 0, max_length: int | None = None) -> Lengths:
    """n alpaca-cleaned-like rows; with max_length, rows longer than it are dropped as lesson 05 drops them."""
    rows, drawn = [], 0
    while len(rows) < n:
        batch = alpaca_like_lengths(2 * n, seed + 1000 * drawn)
        rows += [r for r in batch if max_length is None or sum(r) <= max_length]
        drawn += 1
    return tuple(rows[:n])


def preset_run(preset: TrainingPreset, rows: Lengths, eval_rows: Lengths, evaluations_before: int = 0,
               steps: int | None = None) -> Run:
    """The run a lesson trains from a preset: its batching and steps, an evaluation every eval_steps (plus the
    evaluations it runs before training), on eval_rows cut to the preset's eval_rows."""
    steps = steps or preset.max_steps
    cap = preset.eval_rows if preset.eval_rows is not None else len(eval_rows)
    return Run(rows=rows, rows_per_micro_batch=preset.per_device_train_batch_size,
               accumulation=preset.gradient_accumulation_steps, steps=steps, lora_r=preset.lora_r,
               gradient_checkpointing=preset.gradient_checkpointing, padded=not preset.padding_free,
               eval_rows=eval_rows[:cap], evaluations=steps // preset.eval_steps + evaluations_before,
               eval_batch=preset.per_device_train_batch_size)


def t4_time(run: Run, shape: ModelShape = LLAMA3_8B) -> Estimate:
    """The one function behind every T4 time: the run's FLOPs over each named T4 rate."""
    train, evaluation = run_flops(run, shape)
    return Estimate(train, evaluation, {name: (train + evaluation) / rate for name, rate in t4_rates().items()})


def alpaca_preset_run(preset: TrainingPreset, evaluations_before: int) -> Run:
    """A preset trained on alpaca-cleaned as lessons 05 and 06 do: no-input rows up to max_length, 1 % held out."""
    rows = alpaca_rows(preset.max_steps * preset.effective_batch_size, max_length=preset.max_length)
    held_out = alpaca_rows(round(0.01 * ALPACA_NO_INPUT_ROWS), seed=1, max_length=preset.max_length)
    return preset_run(preset, rows, held_out, evaluations_before)
