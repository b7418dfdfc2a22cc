"""DeepSpeed ZeRO-3 against FSDP2 on the persona recipe: one stand-in, a few steps of each, then the adapters reloaded.

    python recipes/persona_multigpu/compare_engines.py --out results/       # 2 GPUs, a Llama-3-8B-shaped stand-in
    python recipes/persona_multigpu/compare_engines.py --tiny --out /tmp/e  # CPU: a 1-layer stand-in, 2 gloo processes

Each phase is a subprocess with its own time limit, so one hung engine cannot eat the others' time:
  standin  random-weight Llama-3-8B in bf16 (drawn on the GPU) with the real Llama 3 tokenizer, in a local mirror
  zero3    `accelerate launch --config_file zero3.yaml` on this file's `train`: the recipe's own trainer plus a clock
  fsdp     the same with fsdp.yaml
  reload   on one GPU: the base model, each saved adapter with plain PEFT; weights and logits against the trained ones
Results go to <out>/engines.json and engines.md, rewritten after every phase, and each phase's log to <out>/logs/.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported inside each subcommand, so the driver itself starts fast
    import torch

RECIPE = Path(__file__).resolve().parent
REPO = RECIPE.parents[1]
sys.path[:0] = [str(REPO), str(RECIPE)]  # course_utils, train_persona and engine_metrics for every subprocess

MODEL_ID = "beomi/Llama-3-Open-Ko-8B-Instruct-preview"  # the recipe's default model; its stand-in comes from the mirror
ENGINES = {"zero3": RECIPE / "zero3.yaml", "fsdp": RECIPE / "fsdp.yaml"}
# NVLink multicast stays off on the lent machines (NCCL's NVLS, torch's symmetric memory, NVSHMEM).
NO_MULTICAST = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
PHASE_CAPS = {"standin": 150, "engine": 200, "reload": 90}  # seconds; the whole run also keeps to --budget
PHASE_FLOOR = {"engine": 100, "reload": 50}  # what a later phase is left at least when an earlier one runs long
PROBE_TOKENS = 64
VERSIONED = ("torch", "transformers", "peft", "trl", "accelerate", "deepspeed", "datasets", "safetensors", "pydantic")


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide the result, as installed for this interpreter (None when absent)."""
    import torch

    from course_utils.doctor import installed_version

    versions = {name: installed_version(name) for name in VERSIONED}

    versions["cuda"] = torch.version.cuda
    return versions


# ---------------------------------------------------------------------------------------------------- subcommands
def cmd_standin(argv: list[str]) -> None:
    """Write the stand-in into the mirror (GPU-drawn bf16 shards for the full size) and say what it is and took."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mirror", required=True)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    import torch

    from course_tools.standins import write_standin

    start = time.perf_counter()
    folder = write_standin(Path(args.mirror), MODEL_ID, tiny=args.tiny)
    size = sum(f.stat().st_size for f in folder.iterdir() if f.suffix == ".safetensors")
    info = {"folder": str(folder), "seconds": time.perf_counter() - start, "weights_gb": size / 1e9,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)",
            "gpu_count": torch.cuda.device_count()}
    (Path(args.mirror).parent / "standin.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info), flush=True)


def probe_ids(tokenizer) -> torch.Tensor:
    """A fixed probe sequence: the first persona row as a chat, cut to PROBE_TOKENS tokens."""
    import torch

    from course_utils.persona import load_persona_data, persona_example

    example = persona_example(load_persona_data()[0][0])  # what the recipe trains on: system, user, answer
    messages = example["prompt"] + example["completion"]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:PROBE_TOKENS]
    return torch.tensor([ids])


def model_logits(model, ids, device) -> torch.Tensor:
    """Logits of the probe in eval mode (every rank calls this under ZeRO-3/FSDP: the forward is collective)."""
    import torch

    model.eval()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if str(device).startswith("cuda") else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), autocast:
        return model(input_ids=ids.to(device)).logits.float().cpu()


def cmd_train(argv: list[str]) -> None:
    """One rank of an engine run: the recipe's trainer with a step clock; then save, gather the adapter, probe logits."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics-dir", required=True)
    parser.add_argument("--warmup", type=int, default=3)
    args, recipe_argv = parser.parse_known_args(argv)
    import torch
    from safetensors.torch import save_file

    import train_persona
    from engine_metrics import StepClock, gathered_lora_weights, peak_memory, step_stats

    metrics_dir = Path(args.metrics_dir)
    recipe_args = train_persona.parse_args(recipe_argv)
    start = time.perf_counter()
    # tokens counted for throughput, and the loss of every step logged (the recipe logs every 10th)
    trainer = train_persona.build_trainer(recipe_args, include_num_input_tokens_seen="non_padding", logging_steps=1)
    clock = StepClock()
    trainer.add_callback(clock)
    accelerator = trainer.accelerator
    record = {"rank": accelerator.process_index, "load_s": time.perf_counter() - start, "stage": "loaded",
              "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
              "distributed_type": str(accelerator.distributed_type), "processes": accelerator.num_processes,
              "nccl": ".".join(map(str, torch.cuda.nccl.version())) if torch.cuda.is_available() else None}
    path = metrics_dir / f"metrics-rank{record['rank']}.json"

    def dump() -> None:
        path.write_text(json.dumps(record, indent=1))

    dump()
    start = time.perf_counter()
    trainer.train()
    record.update(stage="trained", train_s=time.perf_counter() - start, **peak_memory(), marks=clock.marks,
                  step_stats=step_stats(clock.marks, args.warmup), global_step=trainer.state.global_step,
                  loss=[e["loss"] for e in trainer.state.log_history if "loss" in e])
    dump()
    start = time.perf_counter()
    train_persona.save_adapter(trainer, recipe_args.output_dir)
    record.update(stage="saved", save_s=time.perf_counter() - start)
    dump()
    weights = gathered_lora_weights(trainer.model)
    ids = probe_ids(trainer.processing_class)
    logits = model_logits(trainer.model, ids, accelerator.device)
    if accelerator.is_main_process:
        save_file({k: v.contiguous() for k, v in weights.items()}, str(metrics_dir / "reference_adapter.safetensors"))
        torch.save({"input_ids": ids, "logits": logits}, metrics_dir / "probe.pt")
    record.update(stage="done", after_save=peak_memory())
    dump()
    accelerator.wait_for_everyone()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def cmd_reload(argv: list[str]) -> None:
    """Plain PEFT on one device: the base model once, each engine's saved adapter on it, compared with the run's own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--engines", nargs="+", required=True)
    args = parser.parse_args(argv)
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from engine_metrics import adapter_key, compare_adapters, compare_logits

    work = Path(args.work)
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    start = time.perf_counter()
    base = AutoModelForCausalLM.from_pretrained(work / "mirror" / MODEL_ID, dtype=torch.bfloat16 if device != "cpu" else torch.float32,
                                                device_map={"": device})
    report: dict = {"base_load_s": time.perf_counter() - start, "engines": {}}
    model = None
    for engine in args.engines:
        folder = work / engine
        try:
            probe = torch.load(folder / "probe.pt")
            if model is None:
                base_logits = model_logits(base, probe["input_ids"], device)
                model = PeftModel.from_pretrained(base, folder / "adapter", adapter_name=engine)
            else:
                model.load_adapter(folder / "adapter", adapter_name=engine)
            model.set_adapter(engine)
            loaded = {adapter_key(n, engine): p.detach().float().cpu()
                      for n, p in model.named_parameters() if "lora_" in n and f".{engine}." in n}
            reference = load_file(str(folder / "reference_adapter.safetensors"))
            logits = model_logits(model, probe["input_ids"], device)
            report["engines"][engine] = {
                "loaded": True, "adapter": compare_adapters(reference, loaded),
                "logits": compare_logits(probe["logits"], logits),
                "trained_vs_base": compare_logits(base_logits, probe["logits"]),
            }
        except Exception as error:  # one engine's bad adapter must not hide the other's result
            traceback.print_exc()
            report["engines"][engine] = {"loaded": False, "error": f"{type(error).__name__}: {error}"}
    if len(args.engines) >= 2:  # same seed, data and steps: how far apart the engines' trained adapters are
        first, second = (load_file(str(work / e / "reference_adapter.safetensors")) for e in args.engines[:2])
        report["between_engines"] = {"engines": args.engines[:2], **compare_adapters(first, second)}
    (work / "reload.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1), flush=True)


# -------------------------------------------------------------------------------------------------------- driver
def run_phase(name: str, command: list[str], env: dict, timeout: float, logs: Path) -> tuple[str, float, str]:
    """Run one phase in its own process group; on timeout the whole group is ended. ('ok'|'failed'|'timeout', s, log)."""
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    print(f"[compare_engines] {name}: up to {timeout:.0f} s: {' '.join(command)}", flush=True)
    start = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
        try:
            status = "ok" if process.wait(timeout=timeout) == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
            for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=grace)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
    seconds = time.monotonic() - start
    text = log_path.read_text(errors="replace")
    print(f"[compare_engines] {name}: {status} after {seconds:.0f} s", flush=True)
    return status, seconds, text


def child_env(tiny: bool) -> dict:
    env = {**os.environ, **NO_MULTICAST, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO)) if p)
    if tiny:
        env["COURSE_PROFILE"] = "cpu"
    return env


def engine_command(engine: str, folder: Path, args: argparse.Namespace, port: int) -> list[str]:
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ENGINES[engine]),
              "--num_processes", str(args.num_processes), "--main_process_port", str(port)]
    if args.tiny:
        launch += ["--mixed_precision", "no"]
    recipe = ["--model", str(args.work_path / "mirror" / MODEL_ID), "--output-dir", str(folder / "adapter"), "--max-steps", str(args.steps),
              "--batch-size", str(args.batch_size), "--grad-accum", str(args.grad_accum), "--max-length", str(args.max_length)]
    return launch + [str(Path(__file__).resolve()), "train", "--metrics-dir", str(folder), "--warmup", str(args.warmup)] + recipe


def collect_engine(status: str, seconds: float, log: str, folder: Path) -> dict:
    """An engine's record from its ranks' metric files and its log: status, timing, memory, and the error if any."""
    from engine_metrics import error_lines

    ranks = [json.loads(p.read_text()) for p in sorted(folder.glob("metrics-rank*.json"))]
    ranks.sort(key=lambda r: r["rank"])
    done = status == "ok" and (folder / "adapter" / "adapter_model.safetensors").is_file()
    engine = {"status": "ok" if done else status, "seconds": seconds,
              "stage_reached": [r.get("stage") for r in ranks],
              "ranks": [{k: r.get(k) for k in ("rank", "device", "distributed_type", "nccl", "max_allocated_gib", "max_reserved_gib",
                                               "after_save", "load_s", "train_s", "save_s", "global_step", "loss")}
                        for r in ranks]}
    if ranks:
        engine["step_stats"] = ranks[0].get("step_stats", {})
        engine["load_s"] = max(r.get("load_s") or 0 for r in ranks)
        saves = [r.get("save_s") for r in ranks]
        engine["save_s"] = max(saves) if None not in saves else None
    if not done:
        first, last = error_lines(log)
        engine["error"] = first or (f"no exception printed; phase {status} after {seconds:.0f} s")
        engine["last_error"] = last
        engine["log_tail"] = log.splitlines()[-40:]
    return engine


def cmd_all(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT", "outputs/engines"), help="results folder ($OUT)")
    parser.add_argument("--work", default="/tmp/compare_engines", help="stand-in, adapters, logs (local disk, ~17 GB)")
    parser.add_argument("--engines", default="zero3,fsdp")
    parser.add_argument("--tiny", action="store_true", help="CPU check of the whole path: 1-layer stand-in, gloo")
    parser.add_argument("--num-processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3, help="steps not timed")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--budget", type=float, default=420, help="seconds for all phases together")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.budget
    out, work = Path(args.out), Path(args.work)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {unknown}: choose from {', '.join(ENGINES)}")
    logs = out / "logs"
    env = child_env(args.tiny)
    args.work_path = work
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "setup": {"model": f"{MODEL_ID} stand-in ({'1-layer tiny' if args.tiny else 'Llama-3-8B shapes'})",
                  "dtype": "float32" if args.tiny else "bfloat16", "num_processes": args.num_processes,
                  "batch_size": args.batch_size, "grad_accum": args.grad_accum, "max_length": args.max_length,
                  "steps": args.steps, "warmup": args.warmup, "budget_s": args.budget},
        "environment": {"versions": package_versions(), "python": sys.version.split()[0]},
        "engines": {}, "phase_seconds": {},
    }

    def time_for(kind: str, later: list[str]) -> float:
        left = deadline - time.monotonic() - sum(PHASE_FLOOR[k] for k in later)
        return max(20.0, min(PHASE_CAPS[kind], left))

    work.mkdir(parents=True, exist_ok=True)
    later = ["engine"] * len(engines) + ["reload"]
    status, seconds, log = run_phase("standin", [sys.executable, str(Path(__file__).resolve()), "standin", "--mirror",
                                                 str(work / "mirror")] + (["--tiny"] if args.tiny else []),
                                     env, time_for("standin", later), logs)
    results["phase_seconds"]["standin"] = seconds
    info_path = work / "standin.json"
    if status == "ok" and info_path.is_file():
        info = json.loads(info_path.read_text())
        results["standin"] = info
        results["environment"]["gpu"] = info["gpu"]
    else:
        from engine_metrics import error_lines

        results["standin"] = {"status": status, "error": error_lines(log)[0] or status, "log_tail": log.splitlines()[-40:]}
        write_results_now(results, out)
        return 1
    write_results_now(results, out)

    for number, engine in enumerate(engines):
        later.pop(0)
        folder = work / engine
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        status, seconds, log = run_phase(engine, engine_command(engine, folder, args, 29511 + number), env,
                                         time_for("engine", later), logs)
        results["phase_seconds"][engine] = seconds
        results["engines"][engine] = collect_engine(status, seconds, log, folder)
        write_results_now(results, out)

    ready = [e for e in engines if (work / e / "probe.pt").is_file() and (work / e / "adapter").is_dir()]
    if ready:
        reload_env = {**env, "CUDA_VISIBLE_DEVICES": "0"}
        status, seconds, log = run_phase("reload", [sys.executable, str(Path(__file__).resolve()), "reload", "--work",
                                                    str(work), "--engines", *ready], reload_env, time_for("reload", []), logs)
        results["phase_seconds"]["reload"] = seconds
        reload_path = work / "reload.json"
        reloaded = json.loads(reload_path.read_text()) if status == "ok" and reload_path.is_file() else {}
        results["reload_base_load_s"] = reloaded.get("base_load_s")
        results["between_engines"] = reloaded.get("between_engines")
        for engine in ready:
            results["engines"][engine]["reload"] = reloaded.get("engines", {}).get(
                engine, {"loaded": False, "error": f"reload phase {status}: see logs/reload.log"})
    for engine in engines:
        entry = results["engines"][engine]
        check = entry.get("reload", {})
        if entry["status"] == "ok" and not (check.get("loaded") and check.get("adapter", {}).get("match")):
            entry["status"] = "trained; adapter check failed"
    results["phase_seconds"]["total"] = args.budget - (deadline - time.monotonic())
    json_path, md_path = write_results_now(results, out)
    print(md_path.read_text(), flush=True)
    return 0 if all(results["engines"][e]["status"] == "ok" for e in engines) else 2


def write_results_now(results: dict, out: Path):
    from engine_metrics import write_results

    return write_results(results, out)


if __name__ == "__main__":
    commands = {"standin": cmd_standin, "train": cmd_train, "reload": cmd_reload}
    if len(sys.argv) > 1 and sys.argv[1] in commands:
        commands[sys.argv[1]](sys.argv[2:])
    else:
        sys.exit(cmd_all(sys.argv[1:]))
