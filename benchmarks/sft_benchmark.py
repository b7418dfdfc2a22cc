"""QLoRA SFT speed on one GPU: the seed's recipe against the course's presets, on Llama-3-8B shapes.

Why it exists: seed 002 trained Alpaca for 100 steps in about 3 h 30 m on a T4 and 45 min on an A100. This script
measures, in one run on one GPU, how long the same 1,600 samples take with (a) the seed's recipe, (b) the course's
`t4` preset and (c) the fastest recipe for a big GPU, and writes the table under benchmarks/results/.

The model has Llama-3-8B's exact shapes with random weights (speed does not depend on the values): it is built from a
`LlamaConfig`, saved once in bf16, and loaded with `BitsAndBytesConfig` (nf4 + double quant) like the real model.
The data are token ids whose lengths follow an Alpaca-cleaned-like no-input length model (see `alpaca_like_rows`).

FLOPs (counted per optimizer step, from the real token counts of the batches; see `step_flops`):
    body  = 4 * P_body * T              forward + input gradients through the frozen 4-bit weights (no weight grads)
    lora  = 6 * P_lora * T              forward + weight and input gradients of the adapters
    head  = 4 * V * d * T_loss          lm_head forward + input gradient, only on positions that carry a label
    attn  = 12 * L * d_q * S            QK^T and AV, forward and backward, S = sum over sequences of l(l+1)/2
    recompute (executed, counted in `mfu`):
        gradient checkpointing: 2 * P_body * T + 2 * P_lora * T + 4 * L * d_q * S
        TRL's fused LM head recomputes its logits tiles in backward: 2 * V * d * T_loss
MFU = FLOPs / seconds / (bf16 matmul rate measured on this GPU with an 8192^3 product).

Run on a GPU:   python benchmarks/sft_benchmark.py --out benchmarks/results
Plumbing check: python benchmarks/sft_benchmark.py --tiny --out /tmp/bench   (CPU, tiny model, a few steps)
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SAMPLES = 1600  # the seed's 100 steps x effective batch 16
MAX_STEPS = 100
# yahma/alpaca-cleaned keeps ~31.3k no-input rows; the seed held out 1 % of them for evaluation.
EVAL_ROWS = 313
TRAIN_ROWS = 2 * SAMPLES
# The Alpaca no-input template (course_utils.prompts.alpaca_prompt) is ~30 tokens, plus BOS.
PROMPT_TEMPLATE_TOKENS = 31

LLAMA3_8B = dict(
    hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
    vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5,
    bos_token_id=128000, eos_token_id=128001, pad_token_id=128255, tie_word_embeddings=False,
)
TINY = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    vocab_size=512, max_position_embeddings=512, rope_theta=500000.0, rms_norm_eps=1e-5,
    bos_token_id=509, eos_token_id=510, pad_token_id=511, tie_word_embeddings=False,
)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# --------------------------------------------------------------------------------------------------------------------
# FLOP counting
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
        return cls(config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
                   config["num_key_value_heads"], head_dim, config["intermediate_size"], config["vocab_size"])

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def body_params(self) -> int:
        """Matmul weights of the decoder layers (q, k, v, o, gate, up, down); norms and embeddings do no matmuls."""
        d = self.hidden
        per_layer = d * self.q_dim + 2 * d * self.kv_dim + self.q_dim * d + 3 * d * self.intermediate
        return self.layers * per_layer

    def head_params(self) -> int:
        return self.vocab * self.hidden

    def lora_params(self, r: int) -> int:
        """LoRA A and B of all 7 projections: r * (fan_in + fan_out) each."""
        d, i = self.hidden, self.intermediate
        per_layer = r * ((d + self.q_dim) + 2 * (d + self.kv_dim) + (self.q_dim + d) + 2 * (d + i) + (i + d))
        return self.layers * per_layer


def step_flops(shape: ModelShape, lora_r: int, tokens: int, loss_tokens: int, causal_pairs: int,
               gradient_checkpointing: bool) -> dict[str, float]:
    """Model FLOPs of one optimizer step and the extra FLOPs the recipe recomputes (formula in the module docstring).

    tokens: real (non-pad) tokens; loss_tokens: positions whose next-token label is not -100 (the fused LM head
    projects only those); causal_pairs: sum over sequences of l * (l + 1) / 2.
    """
    body, head, lora = shape.body_params(), shape.head_params(), shape.lora_params(lora_r)
    attn_fwd = 4 * shape.layers * shape.q_dim * causal_pairs
    model = 4 * body * tokens + 6 * lora * tokens + 4 * head * loss_tokens + 3 * attn_fwd
    recompute = 2 * head * loss_tokens
    if gradient_checkpointing:
        recompute += 2 * body * tokens + 2 * lora * tokens + attn_fwd
    return {"model": float(model), "recompute": float(recompute), "total": float(model + recompute)}


# --------------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------------
def alpaca_like_lengths(n: int, seed: int, scale: float = 1.0) -> list[tuple[int, int]]:
    """(prompt, completion) token lengths of n Alpaca-cleaned-like no-input rows, in Llama-3 tokens.

    A log-normal model, not the real rows (neither the dataset nor the Llama-3 tokenizer is reachable offline):
    instruction median 14 tokens (sigma 0.45), response median 110 tokens (sigma 0.83, capped at 1,800), plus the
    31-token Alpaca template with BOS and one EOS. Mean ~200 tokens a row, ~25 % of rows above 256 tokens and ~4 %
    above 512, in line with the dataset card ("a larger number of prompts that exceed a length of 256") and its
    size (42 MB of JSON for 51,760 rows).
    """
    rng = np.random.default_rng(seed)
    instruction = np.clip(np.rint(rng.lognormal(math.log(14), 0.45, n)), 3, 160).astype(int)
    response = np.clip(np.rint(rng.lognormal(math.log(110), 0.83, n)), 2, 1800).astype(int)
    prompt = PROMPT_TEMPLATE_TOKENS + instruction
    completion = response + 1  # EOS
    if scale != 1.0:
        prompt = np.maximum(2, np.rint(prompt * scale)).astype(int)
        completion = np.maximum(1, np.rint(completion * scale)).astype(int)
    return list(zip(prompt.tolist(), completion.tolist()))


def alpaca_like_rows(n: int, seed: int, config: dict, scale: float = 1.0) -> dict[str, list]:
    """Pre-tokenized rows (input_ids, completion_mask) with random token ids, BOS first and EOS last."""
    rng = np.random.default_rng(seed + 1)
    high = min(config["bos_token_id"], config["eos_token_id"], config["pad_token_id"])
    ids, masks = [], []
    for prompt_len, completion_len in alpaca_like_lengths(n, seed, scale):
        body = rng.integers(1, high, prompt_len + completion_len).tolist()
        body[0], body[-1] = config["bos_token_id"], config["eos_token_id"]
        ids.append(body)
        masks.append([0] * prompt_len + [1] * completion_len)
    return {"input_ids": ids, "completion_mask": masks}


def truncate_rows(rows: dict[str, list], max_length: int | None) -> dict[str, list]:
    """Keep the start of each row (TRL's keep_start); padding-free TRL refuses max_length, so rows come cut."""
    if max_length is None:
        return rows
    return {key: [value[:max_length] for value in values] for key, values in rows.items()}


def length_summary(rows: dict[str, list]) -> dict[str, float]:
    lengths = np.array([len(r) for r in rows["input_ids"]])
    return {
        "rows": int(len(lengths)), "mean": float(lengths.mean()), "median": float(np.median(lengths)),
        "p90": float(np.percentile(lengths, 90)), "p99": float(np.percentile(lengths, 99)), "max": int(lengths.max()),
        "share_over_256": float((lengths > 256).mean()), "share_over_512": float((lengths > 512).mean()),
        "share_over_1024": float((lengths > 1024).mean()),
    }


def build_tokenizer(config: dict):
    """A tokenizer that only knows the special tokens: the rows are already ids, TRL needs the pad and EOS ids."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = {"<|begin_of_text|>": config["bos_token_id"], "<|end_of_text|>": config["eos_token_id"],
                "<|reserved_special_token_250|>": config["pad_token_id"]}
    vocab = {"<unk>": 0, **specials}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")),
        bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", pad_token="<|reserved_special_token_250|>",
        unk_token="<unk>",
    )
    return tokenizer


# --------------------------------------------------------------------------------------------------------------------
# Recipes
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class Recipe:
    """One training configuration; `stop_after` None trains all 100 steps, a number stops early and scales."""

    name: str
    description: str
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    max_length: int
    eval_steps: int
    per_device_eval_batch_size: int
    optim: str
    gradient_checkpointing: bool
    use_reentrant: bool
    padding_free: bool
    precision: str  # "bf16" or "fp16"
    completion_only_loss: bool
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    stop_after: int | None = None
    warmup_steps_excluded: int = 3
    stress: bool = False
    profile: bool = False  # CUDA kernel time of steps 6-8, by kind (why MFU is what it is)

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


def preset_recipe(name: str, description: str, preset, precision: str, **overrides) -> Recipe:
    """A recipe from a course TrainingPreset, so the benchmark measures what a learner gets by default."""
    values = dict(
        per_device_train_batch_size=preset.per_device_train_batch_size,
        gradient_accumulation_steps=preset.gradient_accumulation_steps, max_length=preset.max_length,
        eval_steps=preset.eval_steps, per_device_eval_batch_size=preset.per_device_train_batch_size,
        optim=preset.optim, gradient_checkpointing=preset.gradient_checkpointing, use_reentrant=False,
        padding_free=preset.padding_free, precision=precision, completion_only_loss=True,
        learning_rate=preset.learning_rate, lora_r=preset.lora_r, lora_alpha=preset.lora_alpha,
    )
    values.update(overrides)
    return Recipe(name=name, description=description, **values)


def default_recipes(extras: bool = False) -> list[Recipe]:
    """(a) seed, (b) the t4 preset, (c) the big-GPU recipe, then candidates that decide the presets.

    With `extras`, also the diagnostics that are run only when named (`--recipes`).
    """
    from course_utils.profiles import PROFILES

    t4, a100 = PROFILES["t4"].sft, PROFILES["a100"].sft
    seed = Recipe(
        name="seed", description="seed 002: batch 2 x accumulation 8, max 2048, padded, eval every 10 steps on 1 %, "
        "adamw_8bit, reentrant gradient checkpointing, bf16, full-sequence loss",
        per_device_train_batch_size=2, gradient_accumulation_steps=8, max_length=2048, eval_steps=10,
        per_device_eval_batch_size=8, optim="adamw_8bit", gradient_checkpointing=True, use_reentrant=True,
        padding_free=False, precision="bf16", completion_only_loss=False, stop_after=23,
    )
    fast = Recipe(
        name="fast", description="big GPU: 16 rows a micro-batch, padding-free (SDPA, block-diagonal mask), no "
        "gradient checkpointing, eval every 50 steps, adamw_8bit, bf16, completion-only loss",
        per_device_train_batch_size=16, gradient_accumulation_steps=1, max_length=2048, eval_steps=50,
        per_device_eval_batch_size=16, optim="adamw_8bit", gradient_checkpointing=False, use_reentrant=False,
        padding_free=True, precision="bf16", completion_only_loss=True, learning_rate=a100.learning_rate,
    )
    return [
        seed,
        preset_recipe("t4", "course t4 preset as shipped (fp16 compute)", t4, "fp16", stress=True, stop_after=23),
        fast,
        dataclasses.replace(
            preset_recipe("t4_padding_free", "t4 preset + padding-free batches (fp16)", t4, "fp16", stress=True,
                          stop_after=23),
            padding_free=True),
        dataclasses.replace(fast, name="fast_gc", description="fast + non-reentrant gradient checkpointing (for "
                            "40 GB A100 / 24 GB L4)", gradient_checkpointing=True, stop_after=33),
        dataclasses.replace(
            preset_recipe("t4_padding_free_16x1", "t4 preset, padding-free, 16 rows x accumulation 1 (fp16)", t4,
                          "fp16", stress=True, stop_after=23),
            padding_free=True, per_device_train_batch_size=16, gradient_accumulation_steps=1,
            per_device_eval_batch_size=16),
    ] + ([
        dataclasses.replace(fast, name="fast_profile", description="fast, steps 6-8 under the CUDA profiler",
                            stop_after=8, profile=True),
        dataclasses.replace(fast, name="fast_no_dropout", description="fast with lora_dropout=0", lora_dropout=0.0,
                            stop_after=33),
    ] if extras else [])


# --------------------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------------------
def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure_matmul_tflops(device: str, size: int, dtype: torch.dtype, repeats: int = 20) -> float:
    """The machine's own matmul ceiling: median of `repeats` timed size^3 products on random data."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    times = []
    for i in range(repeats + 3):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times)) / 1e12


def build_random_checkpoint(config: dict, folder: Path, device: str) -> float:
    """Llama with random weights saved in bf16: built on the GPU (fast init), written once, reloaded per recipe."""
    from transformers import LlamaConfig, LlamaForCausalLM

    marker = folder / "benchmark_complete.json"
    if marker.is_file() and json.loads(marker.read_text()) == config:
        return 0.0
    start = time.perf_counter()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(LlamaConfig(**config))
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(folder)
    marker.write_text(json.dumps(config))
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return time.perf_counter() - start


def load_quantized(folder: Path, compute_dtype: torch.dtype, device: str, quantize: bool = True):
    """The QLoRA base: nf4 + double quant with the recipe's compute dtype, SDPA attention."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    ) if quantize else None
    return AutoModelForCausalLM.from_pretrained(
        folder, quantization_config=quantization, dtype=compute_dtype, attn_implementation="sdpa",
        device_map={"": 0} if device == "cuda" else "cpu",
    )


class BatchCounter:
    """Real tokens, loss tokens and causal pairs of every micro-batch, kept as device tensors so nothing syncs."""

    def __init__(self):
        self.records: list[tuple[int, torch.Tensor, int, int]] = []

    def add(self, step: int, inputs: dict) -> None:
        if "attention_mask" in inputs:
            lengths = inputs["attention_mask"].sum(-1)
        else:  # padding-free: one row, sequence boundaries in cu_seq_lens_q
            lengths = torch.diff(inputs["cu_seq_lens_q"])
        lengths = lengths.to(torch.int64)
        loss_tokens = (inputs["labels"][:, 1:] != -100).sum()
        stats = torch.stack([lengths.sum(), loss_tokens.to(torch.int64), (lengths * (lengths + 1) // 2).sum()])
        # shapes are host-side ints: padded positions and sequence count cost no sync
        self.records.append((step, stats, inputs["input_ids"].numel(), lengths.numel()))

    def per_step(self) -> dict[int, dict[str, int]]:
        """Totals per optimizer step (1-based), read back once at the end."""
        steps: dict[int, dict[str, int]] = {}
        for step, stats, padded, sequences in self.records:
            tokens, loss_tokens, pairs = (int(v) for v in stats.cpu().tolist())
            entry = steps.setdefault(step + 1, {"tokens": 0, "loss_tokens": 0, "pairs": 0, "padded": 0,
                                                "sequences": 0, "micro_batches": 0})
            entry["tokens"] += tokens
            entry["loss_tokens"] += loss_tokens
            entry["pairs"] += pairs
            entry["padded"] += padded
            entry["sequences"] += sequences
            entry["micro_batches"] += 1
        return steps

    def max_micro_batch_tokens(self) -> int:
        return max(int(stats[0]) for _, stats, _, _ in self.records)


def make_trainer_class():
    from transformers import TrainerCallback
    from trl import SFTTrainer

    class CountingSFTTrainer(SFTTrainer):
        """SFTTrainer that records what each micro-batch holds (for tokens/s and FLOPs)."""

        counter: BatchCounter

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.counter.add(self.state.global_step, inputs)
            return super().training_step(model, inputs, num_items_in_batch)

    class StepClock(TrainerCallback):
        """Wall time at the end of every optimizer step (synchronized), and an early stop for scaled recipes."""

        def __init__(self, device: str, stop_after: int | None):
            self.device, self.stop_after = device, stop_after
            self.begin, self.step_ends = 0.0, {}

        def on_train_begin(self, args, state, control, **kwargs):
            sync(self.device)
            self.begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync(self.device)
            self.step_ends[state.global_step] = time.perf_counter()
            if self.stop_after is not None and state.global_step >= self.stop_after:
                control.should_training_stop = True

    return CountingSFTTrainer, StepClock


def sft_config(recipe: Recipe, output_dir: str, device: str):
    """The recipe as overrides of the course's one SFTConfig builder, so benchmark and lessons cannot drift."""
    from course_utils.sft_recipe import sft_config as course_sft_config

    on_gpu = device == "cuda"
    compute_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[recipe.precision] if on_gpu else torch.float32
    return course_sft_config(
        output_dir, compute_dtype,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        per_device_eval_batch_size=recipe.per_device_eval_batch_size,
        max_steps=MAX_STEPS,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=10,
        weight_decay=0.0,
        optim=recipe.optim,
        # padding-free TRL enforces no max_length: the rows were cut beforehand
        max_length=None if recipe.padding_free else recipe.max_length,
        padding_free=recipe.padding_free,
        completion_only_loss=recipe.completion_only_loss,
        activation_checkpointing=recipe.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": recipe.use_reentrant} if recipe.gradient_checkpointing else None,
        use_cpu=not on_gpu,
        eval_strategy="steps",
        eval_steps=recipe.eval_steps,
        save_strategy="no",  # checkpoint writes are left out of every recipe alike
        logging_steps=10,
        include_num_input_tokens_seen="no",
    )


def summarize_timing(recipe: Recipe, clock, eval_seconds: list[tuple[int, float]], train_wall: float,
                     steps: dict[int, dict[str, int]]) -> dict:
    """Per-step times with evaluations taken out; the steady window excludes the first warm-up steps."""
    ends = clock.step_ends
    last = max(ends)
    eval_at = {}
    for step, seconds in eval_seconds:
        eval_at[step] = eval_at.get(step, 0.0) + seconds
    step_seconds, previous = {}, clock.begin
    for step in range(1, last + 1):
        step_seconds[step] = ends[step] - previous - eval_at.get(step - 1, 0.0)
        previous = ends[step]
    warm = min(recipe.warmup_steps_excluded, last - 1)
    steady = [s for s in range(warm + 1, last + 1)]
    steady_time = sum(step_seconds[s] for s in steady)
    mean_step = steady_time / len(steady)
    eval_mean = float(np.mean([s for _, s in eval_seconds])) if eval_seconds else 0.0
    evals_in_100 = MAX_STEPS // recipe.eval_steps
    scaled = sum(step_seconds[s] for s in range(1, warm + 1)) + (MAX_STEPS - warm) * mean_step + evals_in_100 * eval_mean
    measured_all = last >= MAX_STEPS
    return {
        "steps_run": last,
        "warmup_steps_excluded": warm,
        "steady_steps": len(steady),
        "step_seconds_mean": mean_step,
        "step_seconds_first": step_seconds[1],
        "eval_seconds_mean": eval_mean,
        "evals_run": len(eval_seconds),
        "evals_in_100_steps": evals_in_100,
        "train_call_seconds": train_wall,
        "seconds_for_100_steps_scaled": scaled,
        "seconds_for_100_steps": train_wall if measured_all else scaled,
        "timing": "measured (all 100 steps, evaluations included)" if measured_all else
        f"scaled: {len(steady)} steps after {warm} warm-up steps, x{MAX_STEPS - warm} + warm-up + "
        f"{evals_in_100} evaluations at their measured mean",
        "_steady": steady,
        "_step_seconds": step_seconds,
    }


def stress_peak(trainer, recipe: Recipe, config: dict, device: str) -> float | None:
    """Peak memory of one micro-batch made only of max-length rows: the worst case real data can reach."""
    if device != "cuda":
        return None
    rows = [{"input_ids": [config["bos_token_id"]] + [7] * (recipe.max_length - 1)} for _ in
            range(recipe.per_device_train_batch_size)]
    for row in rows:
        row["labels"] = list(row["input_ids"])
    batch = trainer.data_collator(rows)
    trainer.model.train()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    trainer.training_step(trainer.model, batch)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**30
    trainer.optimizer.zero_grad(set_to_none=True)
    return peak


def fp32_adapters(model) -> int:
    """Trainable (LoRA) weights back to float32 for fp16 training: the course's own fix, shared with lesson 05."""
    from course_utils.training import upcast_trainable_for_fp16

    return upcast_trainable_for_fp16(model)


PROFILED = (6, 8)  # optimizer steps recorded by the profiler (after 4 skipped and 1 warm-up step)
KERNEL_KINDS = (
    ("attention", ("fmha", "flash", "attention", "cudnn")),
    ("bitsandbytes 4-bit dequantize", ("dequant", "kquantize", "bnb")),
    ("matmul", ("gemm", "gemv", "cutlass", "nvjet", "xmma", "cublas", "matmul", "sm90_", "wgmma")),
    ("triton (TRL fused LM head)", ("triton", "_forward_kernel", "_backward_kernel")),
)


def kernel_kind(name: str) -> str:
    """Which part of a QLoRA step a CUDA kernel belongs to, from its name."""
    lowered = name.lower()
    for kind, needles in KERNEL_KINDS:
        if any(needle in lowered for needle in needles):
            return kind
    return "elementwise, norms, copies, optimizer"


def start_profiler(trainer):
    """CUDA-only activity (little host overhead) over the steps in PROFILED, stepped at every optimizer step."""
    from torch.profiler import ProfilerActivity, profile, schedule
    from transformers import TrainerCallback

    wait = PROFILED[0] - 2
    profiler = profile(activities=[ProfilerActivity.CUDA],
                       schedule=schedule(wait=wait, warmup=1, active=PROFILED[1] - PROFILED[0] + 1, repeat=1))

    class Step(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            profiler.step()

    trainer.add_callback(Step())
    profiler.start()
    return profiler


def kernel_time_profile(profiler, wall_seconds: float) -> dict:
    """GPU kernel time of the profiled steps by kind, and the share of wall time the GPU was busy at all."""
    by_kind: dict[str, float] = {}
    kernels: dict[str, float] = {}
    for event in profiler.key_averages():
        seconds = (getattr(event, "self_device_time_total", 0) or getattr(event, "self_cuda_time_total", 0)) / 1e6
        if seconds <= 0:
            continue
        by_kind[kernel_kind(event.key)] = by_kind.get(kernel_kind(event.key), 0.0) + seconds
        kernels[event.key] = kernels.get(event.key, 0.0) + seconds
    busy = sum(by_kind.values())
    top = sorted(kernels.items(), key=lambda item: -item[1])[:12]
    return {
        "steps": list(PROFILED), "wall_seconds": wall_seconds, "gpu_kernel_seconds": busy,
        "gpu_busy_share": busy / wall_seconds if wall_seconds else None,
        "kernel_seconds_by_kind": dict(sorted(by_kind.items(), key=lambda item: -item[1])),
        "top_kernels": [{"name": name[:120], "seconds": seconds} for name, seconds in top],
    }


def run_recipe(recipe: Recipe, *, checkpoint: Path, config: dict, train_rows: dict, eval_rows: dict, device: str,
               matmul_tflops: float, work_dir: Path, quantize: bool = True) -> dict:
    """Train one recipe with TRL's SFTTrainer on the quantized model and return its row of the table."""
    from datasets import Dataset
    from peft import LoraConfig

    CountingSFTTrainer, StepClock = make_trainer_class()
    shape = ModelShape.from_config(config)
    compute_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[recipe.precision] if device == "cuda" else torch.float32
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    load_start = time.perf_counter()
    model = load_quantized(checkpoint, compute_dtype, device, quantize)
    load_seconds = time.perf_counter() - load_start
    model_gib = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None

    cut = recipe.max_length if recipe.padding_free else None
    train_dataset = Dataset.from_dict(truncate_rows(train_rows, cut))
    eval_dataset = Dataset.from_dict(truncate_rows(eval_rows, cut))
    lora = LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                      target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    clock = StepClock(device, recipe.stop_after)
    trainer = CountingSFTTrainer(
        model=model, args=sft_config(recipe, str(work_dir / recipe.name), device), train_dataset=train_dataset,
        eval_dataset=eval_dataset, processing_class=build_tokenizer(config), peft_config=lora, callbacks=[clock],
    )
    if compute_dtype == torch.float16:
        fp32_adapters(trainer.model)
    trainer.counter = BatchCounter()
    eval_seconds: list[tuple[int, float]] = []
    original_evaluate = trainer.evaluate

    def timed_evaluate(*args, **kwargs):
        sync(device)
        start = time.perf_counter()
        result = original_evaluate(*args, **kwargs)
        sync(device)
        eval_seconds.append((trainer.state.global_step, time.perf_counter() - start))
        return result

    trainer.evaluate = timed_evaluate
    profiler = None
    if recipe.profile and device == "cuda":
        profiler = start_profiler(trainer)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    sync(device)
    train_wall = time.perf_counter() - start
    if profiler is not None:
        profiler.stop()
    if not eval_seconds:  # a run stopped before its first evaluation still needs one to scale the 100 steps
        trainer.evaluate()
    peak_gib = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    reserved_gib = torch.cuda.max_memory_reserved() / 2**30 if device == "cuda" else None

    steps = trainer.counter.per_step()
    timing = summarize_timing(recipe, clock, eval_seconds, train_wall, steps)
    steady = timing.pop("_steady")
    step_seconds = timing.pop("_step_seconds")
    steady_time = sum(step_seconds[s] for s in steady)
    sums = {key: sum(steps[s][key] for s in steady) for key in ("tokens", "loss_tokens", "pairs", "padded", "sequences")}
    flops = step_flops(shape, recipe.lora_r, sums["tokens"], sums["loss_tokens"], sums["pairs"],
                       recipe.gradient_checkpointing)
    all_tokens = sum(v["tokens"] for v in steps.values())
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    eval_losses = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]

    row = {
        "name": recipe.name,
        "description": recipe.description,
        "recipe": dataclasses.asdict(recipe),
        **{k: v for k, v in timing.items()},
        "samples_per_100_steps": recipe.effective_batch_size * MAX_STEPS,
        "trained_tokens_per_s": sums["tokens"] / steady_time,
        "padded_tokens_per_s": sums["padded"] / steady_time,
        "padding_share": 1 - sums["tokens"] / sums["padded"],
        "tokens_per_step_mean": sums["tokens"] / len(steady),
        "loss_tokens_share": sums["loss_tokens"] / sums["tokens"],
        "tokens_in_run": all_tokens,
        "peak_memory_gib": peak_gib,
        "peak_reserved_gib": reserved_gib,
        "model_memory_gib": model_gib,
        "load_seconds": load_seconds,
        "flops_per_token": flops["total"] / sums["tokens"],
        "model_flops_per_token": flops["model"] / sums["tokens"],
        "achieved_tflops": flops["total"] / steady_time / 1e12,
        "mfu": flops["total"] / steady_time / 1e12 / matmul_tflops,
        "mfu_without_recompute": flops["model"] / steady_time / 1e12 / matmul_tflops,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "last_eval_loss": eval_losses[-1] if eval_losses else None,
        "max_tokens_in_a_micro_batch": trainer.counter.max_micro_batch_tokens(),
    }
    if profiler is not None:
        row["profile"] = kernel_time_profile(profiler, clock.step_ends[PROFILED[1]] - clock.step_ends[PROFILED[0] - 1])
    if recipe.stress:
        try:
            row["stress_peak_memory_gib"] = stress_peak(trainer, recipe, config, device)
            row["stress_batch"] = f"{recipe.per_device_train_batch_size} rows x {recipe.max_length} tokens"
        except torch.OutOfMemoryError as error:
            row["stress_peak_memory_gib"] = None
            row["stress_error"] = f"out of memory: {error}"[:300]
    del trainer, model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return row


# --------------------------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------------------------
def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate", "pyarrow"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info(device: str) -> dict:
    info = {"device": device, "python": platform.python_version(), "cuda": torch.version.cuda}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(name=props.name, memory_gib=props.total_memory / 2**30, capability=f"{props.major}.{props.minor}",
                    multiprocessors=props.multi_processor_count)
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30)
            info["driver"] = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    else:
        info.update(name=platform.processor() or "cpu", driver=None)
    return info


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown_table(result: dict) -> str:
    dev = result["device"]
    lines = [
        f"# QLoRA SFT benchmark: {dev.get('name')} (driver {dev.get('driver')}, CUDA {dev.get('cuda')})",
        "",
        f"Model: Llama-3-8B shapes, random weights, nf4 + double quant, LoRA r=16 on 7 projections. "
        f"Data: {result['data']['source']}. Matmul ceiling measured: {result['matmul_tflops']:.0f} TFLOP/s "
        f"({result['matmul_dtype']}). Packages: "
        + ", ".join(f"{k} {v}" for k, v in result["packages"].items()) + ".",
        "",
        "| recipe | s / 100 steps (1,600 samples) | speed-up vs seed | trained tokens/s | padding | peak GiB | "
        "worst-case GiB | MFU | MFU w/o recompute | timing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    seed = next((r for r in result["recipes"] if r["name"] == "seed" and "error" not in r), None)
    for r in result["recipes"]:
        if "error" in r:
            status = "not run" if r["error"].startswith("skipped") else "failed"
            lines.append(f"| {r['name']} | {status}: {r['error'][:80]} | | | | | | | | |")
            continue
        speedup = f"{seed['seconds_for_100_steps'] / r['seconds_for_100_steps']:.1f}x" if seed else "-"
        timing = "measured" if r["steps_run"] >= MAX_STEPS else f"scaled from {r['steady_steps']} steps"
        lines.append(" | ".join([
            f"| {r['name']}", f"{r['seconds_for_100_steps']:.0f}", speedup, f"{r['trained_tokens_per_s']:,.0f}",
            f"{100 * r['padding_share']:.0f} %", _gib(r["peak_memory_gib"]), _gib(r.get("stress_peak_memory_gib")),
            f"{100 * r['mfu']:.1f} %", f"{100 * r['mfu_without_recompute']:.1f} %", f"{timing} |",
        ]))
    lines += ["", "Recipes:", ""]
    lines += [f"- **{r['name']}**: {r['description']}" for r in result["recipes"]]
    lines += ["", "Columns: seconds for the 100 optimizer steps of 16 samples, evaluations included, checkpoint saving "
              "left out of every recipe; trained tokens/s counts non-pad tokens over the steps after warm-up, "
              "evaluations excluded; padding is the share of computed positions that were padding; peak is "
              "torch.cuda.max_memory_allocated over the whole run; worst case is one micro-batch of max-length rows; "
              "MFU counts executed FLOPs (gradient-checkpointing and fused-LM-head recomputation included) against "
              "the measured matmul ceiling, 'w/o recompute' leaves them out.", ""]
    return "\n".join(lines)


def write_results(result: dict, out: Path, stem: str = "sft_benchmark") -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1, default=str))
    (out / f"{stem}.md").write_text(markdown_table(result))


# --------------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------------
def tiny_recipe(recipe: Recipe) -> Recipe:
    """The same recipe shrunk for a CPU check of the plumbing: shorter rows, at most 2 micro-batches a step, 3 steps."""
    return dataclasses.replace(recipe, max_length=min(recipe.max_length, 128) // 2, stop_after=3,
                               gradient_accumulation_steps=min(recipe.gradient_accumulation_steps, 2),
                               warmup_steps_excluded=1, eval_steps=2, stress=False)


def selected_recipes(args: argparse.Namespace) -> list[Recipe]:
    recipes = default_recipes(extras=bool(args.recipes))
    if args.recipes:
        wanted = args.recipes.split(",")
        unknown = set(wanted) - {r.name for r in recipes}
        if unknown:
            raise SystemExit(f"Unknown recipe(s) {sorted(unknown)}: choose from {[r.name for r in recipes]}.")
        recipes = [r for r in recipes if r.name in wanted]
    return [tiny_recipe(r) for r in recipes] if args.tiny else recipes


def benchmark_data(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """(config, train rows, eval rows): deterministic, so a child process rebuilds exactly the parent's rows."""
    config = TINY if args.tiny else LLAMA3_8B
    scale = 0.125 if args.tiny else 1.0
    train_rows = alpaca_like_rows(320 if args.tiny else TRAIN_ROWS, seed=0, config=config, scale=scale)
    eval_rows = alpaca_like_rows(8 if args.tiny else EVAL_ROWS, seed=1, config=config, scale=scale)
    return config, train_rows, eval_rows


def run_child(args: argparse.Namespace) -> None:
    """One recipe in a fresh process: GPU memory is whole again for the next one, and a crash stays contained."""
    recipe = next(r for r in selected_recipes(argparse.Namespace(**{**vars(args), "recipes": args.child})))
    config, train_rows, eval_rows = benchmark_data(args)
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    row = run_recipe(recipe, checkpoint=args.model_dir, config=config, train_rows=train_rows, eval_rows=eval_rows,
                     device=device, matmul_tflops=args.matmul_tflops, work_dir=Path(tempfile.mkdtemp(prefix="sft-")),
                     quantize=not args.tiny or args.tiny_4bit)
    args.row_out.write_text(json.dumps(row, default=str))


def run_isolated(recipe: Recipe, args: argparse.Namespace, checkpoint: Path, matmul_tflops: float,
                 timeout: float) -> dict:
    """Run one recipe through `run_child` in a subprocess and return its row (or why it has none)."""
    row_out = Path(tempfile.mkdtemp(prefix="sft-row-")) / f"{recipe.name}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", recipe.name, "--row-out", str(row_out),
               "--model-dir", str(checkpoint), "--matmul-tflops", repr(matmul_tflops)]
    command += ["--tiny"] if args.tiny else []
    command += ["--tiny-4bit"] if args.tiny_4bit else []
    try:
        code = subprocess.run(command, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return {"name": recipe.name, "description": recipe.description, "error": f"timeout after {timeout:.0f} s"}
    if code != 0 or not row_out.is_file():
        return {"name": recipe.name, "description": recipe.description, "error": f"child exited with code {code}"}
    return json.loads(row_out.read_text())


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    parser.add_argument("--tiny", action="store_true", help="CPU plumbing check: tiny model, a few steps")
    parser.add_argument("--tiny-4bit", action="store_true", help="with --tiny: quantize too (bitsandbytes on CPU, slow)")
    parser.add_argument("--recipes", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--stem", default="sft_benchmark", help="file name of the JSON and Markdown results")
    parser.add_argument("--model-dir", type=Path, default=None, help="where the random bf16 checkpoint is written")
    parser.add_argument("--deadline-s", type=float, default=570.0,
                        help="finish within this many seconds: later recipes are skipped or cut off")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                        help="each recipe in its own process (default: on a GPU)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--row-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--matmul-tflops", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    threads = torch.get_num_threads()
    if args.tiny:
        torch.set_num_threads(1)  # tiny matrices: thread barriers on a shared CPU cost more than they save
    try:
        if args.child:
            run_child(args)
            return None
        return run_all(args)
    finally:
        torch.set_num_threads(threads)


def run_all(args: argparse.Namespace) -> dict:
    """Every recipe one after the other on one checkpoint; the table is rewritten after each."""
    started = time.perf_counter()
    import datasets, peft, trl  # noqa: F401,E401 - fail before the checkpoint is built if a carried wheel is missing

    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    isolate = device == "cuda" if args.isolate is None else args.isolate
    recipes = selected_recipes(args)
    config, train_rows, eval_rows = benchmark_data(args)

    if device == "cuda":
        matmul_tflops, matmul_dtype = measure_matmul_tflops(device, 8192, torch.bfloat16), "bf16 8192^3"
    else:
        matmul_tflops, matmul_dtype = measure_matmul_tflops(device, 512, torch.float32, repeats=5), "fp32 512^3 (CPU)"
    print(f"matmul ceiling: {matmul_tflops:.1f} TFLOP/s ({matmul_dtype})", flush=True)

    work_dir = Path(tempfile.mkdtemp(prefix="sft-bench-"))
    checkpoint = args.model_dir or work_dir / "random-llama"
    build_seconds = build_random_checkpoint(config, checkpoint, device)
    print(f"random bf16 checkpoint ready in {build_seconds:.1f} s: {checkpoint}", flush=True)

    result = {
        "device": device_info(device),
        "packages": package_versions(),
        "matmul_tflops": matmul_tflops,
        "matmul_dtype": matmul_dtype,
        "model_config": config,
        "tiny": args.tiny,
        "quantized": not args.tiny or args.tiny_4bit,
        "isolated_processes": isolate,
        "data": {
            "source": "synthetic token ids, lengths from an Alpaca-cleaned-like no-input length model "
                      "(alpaca_like_lengths; not the real rows)" + (" scaled x0.125" if args.tiny else ""),
            "train": length_summary(train_rows),
            "eval": length_summary(eval_rows),
        },
        "flop_formula": {
            "body": "4 * P_body * tokens", "lora": "6 * P_lora * tokens", "head": "4 * vocab * hidden * loss_tokens",
            "attention": "12 * layers * q_dim * sum(l*(l+1)/2)",
            "recompute_gradient_checkpointing": "2 * P_body * tokens + 2 * P_lora * tokens + 4 * layers * q_dim * pairs",
            "recompute_fused_lm_head": "2 * vocab * hidden * loss_tokens",
            "P_body": ModelShape.from_config(config).body_params(),
            "P_lora_r16": ModelShape.from_config(config).lora_params(16),
            "P_head": ModelShape.from_config(config).head_params(),
        },
        "checkpoint_build_seconds": build_seconds,
        "recipes": [],
    }
    for recipe in recipes:
        elapsed = time.perf_counter() - started
        remaining = args.deadline_s - elapsed
        if remaining < 45:
            print(f"skipping {recipe.name}: {elapsed:.0f} s used of the {args.deadline_s:.0f} s deadline", flush=True)
            result["recipes"].append({"name": recipe.name, "description": recipe.description,
                                      "error": "skipped: deadline"})
            continue
        print(f"--- {recipe.name}: {recipe.description} (t={elapsed:.0f} s)", flush=True)
        if isolate:
            row = run_isolated(recipe, args, checkpoint, matmul_tflops, timeout=remaining)
        else:
            try:
                row = run_recipe(recipe, checkpoint=checkpoint, config=config, train_rows=train_rows,
                                 eval_rows=eval_rows, device=device, matmul_tflops=matmul_tflops, work_dir=work_dir,
                                 quantize=not args.tiny or args.tiny_4bit)
            except Exception as error:  # one recipe failing must not lose the others' numbers
                import traceback

                traceback.print_exc()
                row = {"name": recipe.name, "description": recipe.description,
                       "error": f"{type(error).__name__}: {error}"[:500]}
        result["recipes"].append(row)
        if "error" not in row:
            print(f"{row['name']}: {row['seconds_for_100_steps']:.1f} s/100 steps ({row['timing']}), "
                  f"{row['trained_tokens_per_s']:,.0f} tok/s, peak {row['peak_memory_gib']} GiB, "
                  f"worst case {row.get('stress_peak_memory_gib')} GiB, MFU {100 * row['mfu']:.1f} %", flush=True)
        else:
            print(f"{row['name']}: {row['error']}", flush=True)
        write_results(result, args.out, args.stem)  # after every recipe, so a timeout keeps what was measured
    ok = {r["name"]: r for r in result["recipes"] if "error" not in r}
    seed, fast, t4 = ok.get("seed"), ok.get("fast"), ok.get("t4")
    result["targets"] = {
        "fast_speedup_vs_seed": seed["seconds_for_100_steps"] / fast["seconds_for_100_steps"] if seed and fast else None,
        "fast_speedup_vs_seed_steady_state": seed["seconds_for_100_steps_scaled"] / fast["seconds_for_100_steps_scaled"]
        if seed and fast else None,
        "t4_peak_gib": t4["peak_memory_gib"] if t4 else None,
        "t4_worst_case_gib": t4.get("stress_peak_memory_gib") if t4 else None,
        "fast_mfu": fast["mfu"] if fast else None,
    }
    result["total_seconds"] = time.perf_counter() - started
    write_results(result, args.out, args.stem)
    shutil.rmtree(work_dir, ignore_errors=True)
    print(markdown_table(result), flush=True)
    return result


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
