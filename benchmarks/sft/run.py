"""QLoRA SFT speed on one GPU: the seed's recipe against the course's presets and candidates, on Llama-3-8B shapes.

Run on a GPU:   python benchmarks/sft_benchmark.py --out benchmarks/results     (or python -m benchmarks.sft)
Plumbing check: python benchmarks/sft_benchmark.py --tiny --out /tmp/bench      (CPU, tiny model, a few steps)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from .data import EVAL_ROWS, TRAIN_ROWS, alpaca_like_rows, length_summary
from course_utils.flops import FLOP_FORMULA, ModelShape
from .measure import measure_matmul_tflops, run_recipe
from .model import LLAMA3_8B, TINY, build_random_checkpoint
from .recipes import Recipe, select_recipes
from .report import device_info, markdown_table, package_versions, write_results

REPO_ROOT = Path(__file__).resolve().parents[2]


def benchmark_data(args: argparse.Namespace) -> tuple[dict, dict, dict]:
    """(config, train rows, eval rows): deterministic, so a child process rebuilds exactly the parent's rows."""
    config = TINY if args.tiny else LLAMA3_8B
    scale = 0.125 if args.tiny else 1.0
    train_rows = alpaca_like_rows(320 if args.tiny else TRAIN_ROWS, seed=0, config=config, scale=scale)
    eval_rows = alpaca_like_rows(8 if args.tiny else EVAL_ROWS, seed=1, config=config, scale=scale)
    return config, train_rows, eval_rows


def run_child(args: argparse.Namespace) -> None:
    """One recipe in a fresh process: GPU memory is whole again for the next one, and a crash stays contained."""
    recipe = select_recipes(args.child, args.tiny, args.stop_after)[0]
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
    module = "benchmarks.sft.unsloth_row" if recipe.runner == "unsloth" else "benchmarks.sft"
    command = [sys.executable, "-m", module, "--child", recipe.name, "--row-out", str(row_out),
               "--model-dir", str(checkpoint), "--matmul-tflops", repr(matmul_tflops)]
    command += ["--tiny"] if args.tiny else []
    command += ["--stop-after", str(args.stop_after)] if args.stop_after else []
    command += ["--tiny-4bit"] if args.tiny_4bit else []
    try:
        unsloth_site = args.unsloth_pythonpath if recipe.runner == "unsloth" else None
        code = subprocess.run(command, timeout=timeout, cwd=REPO_ROOT, env=child_environment(unsloth_site)).returncode
    except subprocess.TimeoutExpired:
        return {"name": recipe.name, "description": recipe.description, "error": f"timeout after {timeout:.0f} s"}
    if row_out.is_file():  # a child that failed may still have written its row with the exact error
        return json.loads(row_out.read_text())
    return {"name": recipe.name, "description": recipe.description, "error": f"child exited with code {code}"}


def child_environment(replace_path: str | None = None) -> dict[str, str]:
    """The parent's environment with the repository first on PYTHONPATH, so `-m benchmarks.sft` resolves;
    `replace_path` instead of the parent's PYTHONPATH (Unsloth's own package set must not see the course's)."""
    path = replace_path if replace_path is not None else os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT)}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    parser.add_argument("--tiny", action="store_true", help="CPU plumbing check: tiny model, a few steps")
    parser.add_argument("--tiny-4bit", action="store_true", help="with --tiny: quantize too (bitsandbytes on CPU, slow)")
    parser.add_argument("--recipes", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="time at most this many steps of each recipe and scale to 100 (for a run of many rows)")
    parser.add_argument("--stem", default="sft_benchmark", help="file name of the JSON and Markdown results")
    parser.add_argument("--model-dir", type=Path, default=None, help="where the random bf16 checkpoint is written")
    parser.add_argument("--deadline-s", type=float, default=570.0,
                        help="finish within this many seconds: later recipes are skipped or cut off")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                        help="each recipe in its own process (default: on a GPU)")
    parser.add_argument("--unsloth-pythonpath", default=os.environ.get("SFT_UNSLOTH_PYTHONPATH"),
                        help="PYTHONPATH of the unsloth row's process (its own site: trl <= 1.15, datasets < 5); "
                             "default $SFT_UNSLOTH_PYTHONPATH, else the parent's")
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
    recipes = select_recipes(args.recipes, args.tiny, args.stop_after)
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
            **FLOP_FORMULA,
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
        if recipe.runner == "unsloth" and device != "cuda":
            row = {"name": recipe.name, "description": recipe.description,
                   "error": "skipped: Unsloth needs a CUDA GPU (run without --tiny on a GPU)"}
        elif isolate or recipe.runner == "unsloth":  # Unsloth patches transformers: always its own process
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
        row["wall_seconds"] = time.perf_counter() - started - elapsed  # the whole row: process, load, train, eval
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
