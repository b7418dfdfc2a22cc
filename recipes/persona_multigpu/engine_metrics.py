"""What compare_engines.py measures and writes: step clock, peak memory, adapter and logit checks, the result files.

Kept apart from the driver so the pure parts (statistics, comparisons, error lines, the Markdown table) are unit-tested
on CPU without launching anything.
"""
from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

GIB = 1024**3
# An exception line as Python prints it, also with torchrun's "[rank1]: " prefix.
ERROR_LINE = re.compile(r"^(?:\[rank\d+\]:\s*)?((?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Interrupt)\b.*)$")


class StepClock(TrainerCallback):
    """Wall time and tokens seen at the end of every optimizer step (the GPU synchronized first, so the time is real)."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def _mark(self, state) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.marks.append((time.perf_counter(), int(state.num_input_tokens_seen or 0)))

    def on_train_begin(self, args, state, control, **kwargs):
        self._mark(state)

    def on_step_end(self, args, state, control, **kwargs):
        self._mark(state)


def step_stats(marks: list[tuple[float, int]], warmup: int) -> dict:
    """Step times and token throughput over the steps after `warmup` (marks: train start, then each step's end)."""
    steps = len(marks) - 1
    if steps <= warmup:
        return {"steps": steps, "steps_timed": 0}
    times = [b[0] - a[0] for a, b in zip(marks, marks[1:])][warmup:]
    tokens = marks[-1][1] - marks[warmup][1]
    return {
        "steps": steps, "steps_timed": len(times),
        "step_s_mean": statistics.fmean(times), "step_s_median": statistics.median(times),
        "step_s_min": min(times), "step_s_max": max(times),
        "tokens_timed": tokens, "tokens_per_s": tokens / sum(times) if tokens else None,
    }


def peak_memory() -> dict:
    """This process's peak CUDA memory since it started, in GiB (allocated by tensors, reserved by the allocator)."""
    if not torch.cuda.is_available():
        return {}
    return {"max_allocated_gib": torch.cuda.max_memory_allocated() / GIB,
            "max_reserved_gib": torch.cuda.max_memory_reserved() / GIB}


def adapter_key(name: str, adapter: str = "default") -> str:
    """A LoRA parameter's name with wrapper prefixes and the adapter's own name taken out, to compare across loads."""
    for wrapper in ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod."):
        name = name.replace(wrapper, "")
    return name.replace(f".{adapter}.", ".")


def gathered_lora_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every LoRA parameter whole, on CPU, under ZeRO-3 (partitioned), FSDP2 (DTensor) or neither; all ranks call it."""
    params = [(adapter_key(n), p) for n, p in model.named_parameters() if "lora_" in n]
    if any(hasattr(p, "ds_id") for _, p in params):
        import deepspeed

        with deepspeed.zero.GatheredParameters([p for _, p in params], modifier_rank=None):
            return {n: p.detach().float().cpu().clone() for n, p in params}
    weights = {}
    for n, p in params:
        full = p.full_tensor() if hasattr(p, "full_tensor") else p
        weights[n] = full.detach().float().cpu().clone()
    return weights


def compare_adapters(reference: dict[str, torch.Tensor], loaded: dict[str, torch.Tensor], atol: float = 1e-6) -> dict:
    """Whether a reloaded adapter holds the trained weights: same names, same shapes, values within `atol`."""
    missing, extra = sorted(set(reference) - set(loaded)), sorted(set(loaded) - set(reference))
    shape_errors = [k for k in reference if k in loaded and reference[k].shape != loaded[k].shape]
    diffs = [(reference[k].float() - loaded[k].float()).abs().max().item()
             for k in reference if k in loaded and k not in shape_errors and reference[k].numel()]
    max_diff = max(diffs) if diffs else None
    lora_b = [v for k, v in reference.items() if "lora_B" in k]
    return {
        "tensors": len(reference), "missing": missing[:5], "unexpected": extra[:5], "shape_mismatch": shape_errors[:5],
        "max_abs_diff": max_diff, "lora_B_trained": any(v.abs().max().item() > 0 for v in lora_b if v.numel()),
        "match": not missing and not extra and not shape_errors and max_diff is not None and max_diff <= atol,
    }


def compare_logits(reference: torch.Tensor, other: torch.Tensor, rel_tol: float = 0.02) -> dict:
    """How close two logit tensors are: relative L2 error (the criterion), largest difference, share of equal argmaxes.

    The argmax share is shown, not judged: a random-weight model's logits are nearly flat, so bf16 noise flips ties.
    """
    reference, other = reference.float(), other.float()
    rel = ((reference - other).norm() / reference.norm().clamp_min(1e-12)).item()
    top1 = (reference.argmax(-1) == other.argmax(-1)).float().mean().item()
    return {"rel_l2": rel, "max_abs_diff": (reference - other).abs().max().item(), "top1_agreement": top1,
            "match": rel <= rel_tol}


def error_lines(log_text: str) -> tuple[str | None, str | None]:
    """The first and the last exception line of a log: the root cause (a rank's) and what the launcher said last."""
    found = [m.group(1).strip() for line in log_text.splitlines() if (m := ERROR_LINE.match(line.strip()))]
    return (found[0], found[-1]) if found else (None, None)


# ---------------------------------------------------------------------------------------------------------- results
def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def engine_row(name: str, engine: dict) -> str:
    """One Markdown table row: status, timing, throughput, memory per GPU, adapter reload and match."""
    ranks = engine.get("ranks", [])
    stats = engine.get("step_stats", {})
    mem = " / ".join(f"{_fmt(r.get('max_allocated_gib'), 1)} ({_fmt(r.get('max_reserved_gib'), 1)})" for r in ranks) or "–"
    reload = engine.get("reload", {})
    adapter, logits = reload.get("adapter", {}), reload.get("logits", {})
    ran_as = (ranks[0].get("distributed_type") or "–").removeprefix("DistributedType.") if ranks else "–"
    return (f"| {name} | {ran_as} | {engine.get('status', '–')} | {_fmt(stats.get('steps_timed'))} | {_fmt(stats.get('step_s_median'))} "
            f"| {_fmt(stats.get('tokens_per_s'), 0)} | {mem} | {_fmt(engine.get('load_s'), 0)} | {_fmt(engine.get('save_s'), 1)} "
            f"| {_fmt(reload.get('loaded'))} | {_fmt(adapter.get('match'))} ({_fmt(adapter.get('max_abs_diff'), 1)}) "
            f"| {_fmt(logits.get('match'))} ({_fmt(logits.get('rel_l2'), 4)}, {_fmt(logits.get('top1_agreement'), 3)}) |")


def markdown_report(results: dict) -> str:
    """The results as a short Markdown page: when, where, with what, then one row per engine and any errors."""
    env, setup = results.get("environment", {}), results.get("setup", {})
    lines = [
        f"# DeepSpeed ZeRO-3 vs FSDP2: persona LoRA on a Llama-3-8B-shaped stand-in ({results.get('date', '?')})",
        "",
        f"- GPU: {env.get('gpu', '?')} × {setup.get('num_processes', '?')}; versions: "
        + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items()),
        f"- Model: {setup.get('model', '?')} (random weights, {setup.get('dtype', '?')}), LoRA r=16 on all linear layers; "
        f"per GPU batch {setup.get('batch_size', '?')} × accumulation {setup.get('grad_accum', '?')}, max_length "
        f"{setup.get('max_length', '?')}; {setup.get('steps', '?')} steps, the first {setup.get('warmup', '?')} not timed.",
        "- Ran as: accelerate's distributed type in the run (on CPU, accelerate runs an FSDP config as plain DDP).",
        "- Tokens/s: non-padding tokens of all GPUs per second. Memory: each rank's peak allocated (reserved) GiB.",
        "- Adapter: the saved adapter loaded with plain `PeftModel.from_pretrained` on one GPU; weights against the "
        "trained ones gathered in the run (max abs diff), logits on a probe sequence against the sharded model's "
        "(relative L2 ≤ 0.02 counts as a match; top-1 agreement shown). The weights are the exact check: on random "
        "weights, a few steps move the logits less than bf16 noise does (see `trained_vs_base` in the JSON).",
        "",
        "| engine | ran as | status | steps timed | step s (median) | tokens/s | peak GiB per GPU | load s | save s | reloads "
        "| adapter equal | logits match |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, engine in results.get("engines", {}).items():
        lines.append(engine_row(name, engine))
    for name, engine in results.get("engines", {}).items():
        if engine.get("error"):
            lines += ["", f"**{name}** error: `{engine['error']}`"]
            if engine.get("last_error") and engine["last_error"] != engine["error"]:
                lines.append(f"(launcher's last line: `{engine['last_error']}`)")
    between = results.get("between_engines")
    if between:
        lines += ["", f"Trained adapters of {' and '.join(between['engines'])} (same seed, data, steps): max abs "
                  f"difference {_fmt(between.get('max_abs_diff'), 5)}."]
    if results.get("standin", {}).get("error"):
        lines += ["", f"**stand-in** error: `{results['standin']['error']}`"]
    lines += ["", "Phases (s): " + ", ".join(f"{k} {_fmt(v, 0)}" for k, v in results.get("phase_seconds", {}).items())]
    return "\n".join(lines) + "\n"


def write_results(results: dict, out_dir: Path, stem: str = "engines") -> tuple[Path, Path]:
    """`<stem>.json` and `<stem>.md` in out_dir; written after every phase so a killed run still leaves its rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str))
    md_path.write_text(markdown_report(results))
    return json_path, md_path
