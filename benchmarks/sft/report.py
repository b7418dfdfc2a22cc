"""The results: package versions, the device, and the JSON and Markdown table written after every recipe."""
from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import torch

from .data import MAX_STEPS


def package_versions() -> dict[str, str | None]:
    from course_utils.doctor import installed_version

    return {name: installed_version(name) for name in ("torch", "transformers", "peft", "trl", "bitsandbytes",
                                                       "datasets", "accelerate", "pyarrow", "unsloth", "unsloth_zoo")}


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
        + ", ".join(f"{k} {v}" for k, v in result["packages"].items() if v) + ".",
        "",
        "| recipe | s / 100 steps (1,600 samples) | speed-up vs seed | trained tokens/s | padding | peak GiB | "
        "worst-case GiB | MFU | MFU w/o recompute | timing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    seed = next((r for r in result["recipes"] if r["name"] == "seed" and "error" not in r), None)
    for r in result["recipes"]:
        if "error" in r:
            status = "not run" if r["error"].startswith("skipped") else "failed"
            lines.append(f"| {r['name']} | {status}: {r['error'][:160]} | | | | | | | | |")
            continue
        speedup = f"{seed['seconds_for_100_steps'] / r['seconds_for_100_steps']:.1f}x" if seed else "-"
        timing = "measured" if r["steps_run"] >= MAX_STEPS else f"scaled from {r['steady_steps']} steps"
        lines.append(" | ".join([
            f"| {r['name']}", f"{r['seconds_for_100_steps']:.0f}", speedup, f"{r['trained_tokens_per_s']:,.0f}",
            f"{100 * r['padding_share']:.0f} %", _gib(r["peak_memory_gib"]), _gib(r.get("stress_peak_memory_gib")),
            f"{100 * r['mfu']:.1f} %", f"{100 * r['mfu_without_recompute']:.1f} %", f"{timing} |",
        ]))
    lines += ["", "Recipes:", ""]
    lines += [f"- **{r['name']}**: {r['description']}"
              + (f" (attention: {r['attention_kernel']})" if r.get("attention_kernel") else "") for r in result["recipes"]]
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

