"""Measuring one recipe: matmul ceiling, per-step clock, batch contents, worst-case memory, CUDA kernel profile."""
from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np
import torch

from .data import MAX_STEPS, build_tokenizer, truncate_rows
from course_utils.flops import ModelShape, step_flops
from .model import LORA_TARGETS, load_quantized
from .recipes import Recipe, compute_dtype, sft_config


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
        """SFTTrainer that records what each micro-batch holds (for tokens/s and FLOPs), and can skip TRL's metrics."""

        counter: BatchCounter
        trl_metrics: bool = True

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.counter.add(self.state.global_step, inputs)
            return super().training_step(model, inputs, num_items_in_batch)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            """Without TRL's metrics: the same fused-LM-head loss (TRL 1.16's default path), and no `.item()` reads
            of entropy, token accuracy and token count after every micro-batch."""
            if self.trl_metrics or return_outputs or not model.training:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            inputs["use_cache"] = False
            outputs = model(**inputs, fused_lm_head=True)
            num_tokens = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
            return -outputs.log_probs.sum() / torch.as_tensor(num_tokens).clamp(min=1)

    class StepClock(TrainerCallback):
        """Time at the end of every optimizer step, and an early stop for scaled recipes.

        On a GPU the step ends are CUDA events read after training: a synchronize per step would itself keep the
        host from queueing the next step's work, the stall this benchmark looks for.
        """

        def __init__(self, device: str, stop_after: int | None):
            self.device, self.stop_after = device, stop_after
            self.begin, self.step_ends = 0.0, {}
            self._begin_event, self._events = None, {}

        def on_train_begin(self, args, state, control, **kwargs):
            if self.device == "cuda":
                self._begin_event = torch.cuda.Event(enable_timing=True)
                self._begin_event.record()
            self.begin = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.device == "cuda":
                event = torch.cuda.Event(enable_timing=True)
                event.record()
                self._events[state.global_step] = event
            else:
                self.step_ends[state.global_step] = time.perf_counter()
            if self.stop_after is not None and state.global_step >= self.stop_after:
                control.should_training_stop = True

        def finish(self) -> None:
            """Turn the recorded events into seconds after `begin` (one synchronize, after training)."""
            if self.device != "cuda":
                return
            torch.cuda.synchronize()
            self.step_ends = {step: self.begin + self._begin_event.elapsed_time(event) / 1e3
                              for step, event in self._events.items()}

    return CountingSFTTrainer, StepClock


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
    rows = [{"input_ids": [config["bos_token_id"]] + [7] * (recipe.row_max_length - 1)} for _ in
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


def compile_decoder_layers(model) -> int:
    """Regional torch.compile: every decoder layer compiled in place (one compiled graph serves all 32, since they
    share code and shapes), dynamic shapes because a padding-free row changes length every step."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    layers = [m for m in model.modules() if isinstance(m, LlamaDecoderLayer)]
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


def attention_kernel(attn_implementation: str, device: str, dtype: torch.dtype) -> str:
    """Which kernel the attention of a padding-free row runs on, in words, for the table."""
    if attn_implementation != "sdpa":
        from course_utils.document_attention import uses_varlen_kernel

        probe = torch.empty(1, 1, 1, 128, device=device, dtype=dtype)
        return ("FlashAttention varlen (per document)" if uses_varlen_kernel(probe)
                else "SDPA once per document")
    return "SDPA, block-diagonal mask"


def run_recipe(recipe: Recipe, *, checkpoint: Path, config: dict, train_rows: dict, eval_rows: dict, device: str,
               matmul_tflops: float, work_dir: Path, quantize: bool = True) -> dict:
    """Train one recipe with TRL's SFTTrainer on the quantized model and return its row of the table."""
    from datasets import Dataset
    from peft import LoraConfig

    CountingSFTTrainer, StepClock = make_trainer_class()
    setup_start = time.perf_counter()
    dtype = compute_dtype(recipe, device)
    attention = "sdpa"
    if recipe.attention_kind == "document":
        from course_utils.document_attention import register_document_attention

        attention = register_document_attention()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    load_start = time.perf_counter()
    model = load_quantized(checkpoint, dtype, device, quantize, attn_implementation=attention)
    load_seconds = time.perf_counter() - load_start
    model_gib = torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None

    cut = recipe.row_max_length if recipe.padding_free else None
    train_dataset = Dataset.from_dict(truncate_rows(train_rows, cut))
    eval_dataset = Dataset.from_dict(truncate_rows(eval_rows, cut))
    lora = LoraConfig(**recipe.lora_arguments(),
                      target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    clock = StepClock(device, recipe.stop_after)
    trainer = CountingSFTTrainer(
        model=model, args=sft_config(recipe, str(work_dir / recipe.name), device), train_dataset=train_dataset,
        eval_dataset=eval_dataset, processing_class=build_tokenizer(config), peft_config=lora, callbacks=[clock],
    )
    if dtype == torch.float16:
        fp32_adapters(trainer.model)
    trainer.trl_metrics = recipe.trl_metrics
    compiled_layers = compile_decoder_layers(trainer.model) if recipe.compile_layers else 0
    row = train_and_measure(recipe, trainer, clock, config=config, device=device, matmul_tflops=matmul_tflops,
                            setup_start=setup_start, gradient_checkpointing=recipe.gradient_checkpointing)
    row.update(attn_implementation=attention, attention_kernel=attention_kernel(attention, device, dtype),
               compiled_layers=compiled_layers, load_seconds=load_seconds, model_memory_gib=model_gib)
    del trainer, model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return row


def train_and_measure(recipe: Recipe, trainer, clock, *, config: dict, device: str, matmul_tflops: float,
                      setup_start: float, gradient_checkpointing: bool) -> dict:
    """Train a built trainer (with `clock` among its callbacks) and return the recipe's row of the table."""
    shape = ModelShape.from_config(config)
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
    setup_seconds = time.perf_counter() - setup_start
    start = time.perf_counter()
    trainer.train()
    sync(device)
    train_wall = time.perf_counter() - start
    clock.finish()
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
    flops = step_flops(shape, recipe.lora_arguments()["r"], sums["tokens"], sums["loss_tokens"], sums["pairs"],
                       gradient_checkpointing)
    all_tokens = sum(v["tokens"] for v in steps.values())
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    eval_losses = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]

    row = {
        "name": recipe.name,
        "description": recipe.description,
        "recipe": recipe.summary(),
        "setup_seconds": setup_seconds,
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
            row["stress_batch"] = f"{recipe.per_device_train_batch_size} rows x {recipe.row_max_length} tokens"
        except torch.OutOfMemoryError as error:
            row["stress_peak_memory_gib"] = None
            row["stress_error"] = f"out of memory: {error}"[:300]
    return row

