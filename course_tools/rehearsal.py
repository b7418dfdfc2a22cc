"""`make gpu-rehearsal`: run lesson notebooks under a GPU profile on stand-in models, offline, and record the results.

With `--solutions` (`make gpu-rehearsal SOLUTIONS=1`) it runs the instructors' notebooks instead: each lesson with its
exercise solutions, written fresh into build/solutions from the same sources, results in gpu_rehearsal_<profile>_solutions.

Each notebook runs through nbmake with the Hub off and COURSE_MIRROR on a mirror of random-weight stand-ins
(course_tools.standins). For `t4` the kernel emulates the card: its CUDA memory is capped at 15 GB and
`gpu_info()` reports 15 GB and compute capability 7.5, so every memory and dtype decision comes out as on a T4.
The peak GPU memory is measured inside the notebook's kernel,
and every kernel fails on a request for input (course_tools.kernel_guard). Results merge per notebook into
benchmarks/results/gpu_rehearsal_<profile>.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from course_utils.environment import REPO_ROOT
from .kernel_guard import write_no_stdin_startup
from course_utils.mirror import ALPACA_DATASET, MirrorError
from course_utils.profiles import OFFLINE_MODEL_ID, PROFILES
from .rehearsal_schedule import run_chains
from .standins import STANDINS

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
T4_GB = 15
T4_CAPABILITY = "7.5"
PACKAGES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate", "tokenizers")

# Runs in the notebook's kernel before its first cell (IPython startup file): caps memory when emulating a smaller
# card, and keeps the highest torch.cuda.max_memory_allocated seen, also across resets by course_utils.measure.
KERNEL_STARTUP = r'''
import os as _os


def _course_rehearsal_setup():
    peak_file = _os.environ.get("COURSE_PEAK_FILE")
    try:
        import torch
    except ImportError:
        return
    if not torch.cuda.is_available():
        return
    gb = _os.environ.get("COURSE_EMULATE_GPU_GB")
    if gb:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, float(gb) * 1e9 / total), 0)
    if not peak_file:
        return

    def record(*_):
        if not torch.cuda.is_initialized():
            return
        peak = torch.cuda.max_memory_allocated(0)
        try:
            old = int(open(peak_file).read() or 0)
        except (OSError, ValueError):
            old = 0
        if peak > old:
            with open(peak_file, "w") as f:
                f.write(str(peak))

    reset = torch.cuda.reset_peak_memory_stats

    def reset_after_recording(*args, **kwargs):
        record()
        return reset(*args, **kwargs)

    torch.cuda.reset_peak_memory_stats = reset_after_recording
    get_ipython().events.register("post_run_cell", record)


_course_rehearsal_setup()
del _course_rehearsal_setup
'''


def notebook_path(key: str, folder: Path = NOTEBOOK_DIR) -> Path:
    """The .ipynb in `folder` whose name starts with `key` (e.g. "05")."""
    matches = sorted(folder.glob(f"{key}*.ipynb"))
    if not matches:
        known = " ".join(sorted(p.name[:2] for p in folder.glob("[0-9][0-9]_*.ipynb")))
        raise MirrorError(f"No notebook starts with {key!r}: choose from {known}.")
    return matches[0]


def rehearsal_notebooks(keys: list[str], solutions: bool, solutions_dir: Path | None = None) -> list[Path]:
    """The learners' notebooks, or the instructors' (solutions written fresh from each .py source) for `keys`."""
    if not solutions:
        return [notebook_path(key) for key in keys]
    from .exercises import SOLUTIONS, write_solutions  # jupytext, needed only here

    solutions_dir = solutions_dir or SOLUTIONS
    sources = [NOTEBOOK_DIR / f"{notebook_path(key).stem}.py" for key in keys]
    return [write_solutions(source, solutions_dir) for source in sources]


def needed_ids(paths: list[Path], profile_name: str) -> list[str]:
    """The Hub ids the notebooks' sources name through the profile, so only their stand-ins are built."""
    profile = PROFILES[profile_name]
    ids: list[str] = []
    for path in paths:
        source_file = NOTEBOOK_DIR / f"{path.stem}.py"  # the one source, for learners' and solutions' notebooks alike
        source = source_file.read_text(encoding="utf-8") if source_file.exists() else path.read_text()
        for field in re.findall(r"profile\.(\w+_model)\b", source):
            ids.append(getattr(profile, field))
        if "tokenizer_models" in source:
            ids += list(profile.tokenizer_models)
        if "OFFLINE_MODEL_ID" in source:
            ids.append(OFFLINE_MODEL_ID)
        ids += [repo_id for repo_id in STANDINS if f'"{repo_id}"' in source]  # ids a lesson names itself
        if "HUB_DATASET" in source or "load_alpaca" in source:
            ids.append(ALPACA_DATASET)
    return list(dict.fromkeys(ids))


def package_versions() -> dict[str, str]:
    from course_utils.doctor import installed_version

    return {name: installed_version(name) or "missing" for name in PACKAGES}


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (cpu)"


def error_line(log: str) -> str:
    """The last exception line of a failed run's log, short enough for a table cell."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # IPython colours its tracebacks
    lines = [l.strip() for l in log.splitlines() if re.match(r"^\s*(E\s+)?[\w.]*(Error|Exception|Interrupt)\b", l)]
    line = lines[-1] if lines else (log.strip().splitlines() or ["failed"])[-1]
    return re.sub(r"^E\s+", "", line)[:240]


def run_one(path: Path, env: dict, timeout: int, python: str, log_dir: Path) -> dict:
    """One notebook through nbmake in its own kernel; pass/fail, wall seconds, and the kernel's peak GPU memory."""
    peak_file = Path(tempfile.mkstemp(prefix="peak-", suffix=".txt")[1])
    env = {**env, "COURSE_PEAK_FILE": str(peak_file)}
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake", f"--nbmake-timeout={timeout}",
               str(path.relative_to(REPO_ROOT))]
    print(f"[rehearsal] {path.name} ...", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = done.stdout + done.stderr
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"{path.stem}.log").write_text(log)
    try:
        peak_bytes = int(peak_file.read_text() or 0)
    except (OSError, ValueError):
        peak_bytes = 0
    peak_file.unlink(missing_ok=True)
    passed = done.returncode == 0
    row = {"notebook": path.stem, "result": "pass" if passed else "fail", "seconds": round(seconds, 1),
           "peak_gpu_gib": round(peak_bytes / 2**30, 2) if peak_bytes else None}
    if not passed:
        row["error"] = error_line(log)
        print(log[-6000:], flush=True)
    print(f"[rehearsal] {path.name}: {row['result']} in {seconds:.0f} s, peak GPU "
          f"{row['peak_gpu_gib'] if row['peak_gpu_gib'] is not None else 'n/a'} GiB", flush=True)
    return row


def merge_results(old: dict | None, new_rows: list[dict], header: dict) -> dict:
    """Rows of this run replace the same notebooks' rows; other notebooks' rows stay as they were."""
    rows = {row["notebook"]: row for row in (old or {}).get("notebooks", [])}
    rows.update({row["notebook"]: row for row in new_rows})
    return {**(old or {}), **header, "notebooks": [rows[key] for key in sorted(rows)]}


def results_markdown(results: dict) -> str:
    """The results as a table, with what was emulated and why the speed is not a T4's."""
    profile = results["profile"]
    lines = [f"# GPU rehearsal: profile `{profile}`" + (", instructors' notebooks (with solutions)"
                                                       if results.get("solutions") else ""), ""]
    if profile == "t4":
        lines += ["T4 emulated: each notebook's kernel is capped at 15 GB of GPU memory "
                  "(`torch.cuda.set_per_process_memory_fraction`) and `gpu_info()` reports 15 GB and compute capability "
                  "7.5, so the course picks fp16 and the T4 batch sizes. Memory and dtypes are a T4's; **speed is not**: "
                  "wall times are the host GPU's, and a real T4 is several times slower.", ""]
    lines += ["Models are random-weight stand-ins with the real architectures and configs (`python -m course_tools.mirror "
              "standins`), loaded from a local mirror with the Hub off; `layers` is the decoder depth of the 7-8B "
              "models (`full` = their real 32), the small models keep their real depth. Scores mean nothing here.", "",
              "| notebook | result | wall s | peak GPU GiB | layers | GPU | date | error |",
              "|---|---|---:|---:|---|---|---|---|"]
    if any(row.get("side_by_side") for row in results["notebooks"]):
        lines[-2:-2] = ["Wall times marked ‖ were measured with other notebooks running on the same GPU at the same time "
                        "(`--jobs`, benchmarks/rehearsal_lease.sh), so they are longer than a notebook alone would take; "
                        "peaks are each kernel's own.", ""]
    for row in results["notebooks"]:
        peak = "n/a" if row.get("peak_gpu_gib") is None else f"{row['peak_gpu_gib']:.2f}"
        wall = "n/a" if row.get("seconds") is None else f"{row['seconds']:.0f}" + (" ‖" if row.get("side_by_side") else "")
        lines.append(f"| {row['notebook']} | {row['result']} | {wall} | {peak} | {row.get('layers', '')} | "
                     f"{row.get('gpu', '')} | {row.get('date', '')} | {row.get('error', '').replace('|', '/')} |")
    versions = results.get("versions", {})
    lines += ["", "Packages (last run): " + ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    return "\n".join(lines)


def write_results(profile: str, rows: list[dict], versions: dict, results_dir: Path = RESULTS_DIR,
                  solutions: bool = False) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"gpu_rehearsal_{profile}{'_solutions' if solutions else ''}.json"
    old = json.loads(path.read_text()) if path.exists() else None
    header = {"profile": profile, "versions": versions, **({"solutions": True} if solutions else {})}
    results = merge_results(old, rows, header)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    path.with_suffix(".md").write_text(results_markdown(results))
    return path


def kernel_env(profile: str, mirror: Path | None, ipython_dir: Path) -> dict:
    """The environment every kernel inherits: profile, Hub off, mirror, emulation, and the startup file's folder."""
    env = {**os.environ, "COURSE_PROFILE": profile, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "IPYTHONDIR": str(ipython_dir)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if mirror is not None:
        env["COURSE_MIRROR"] = str(mirror)
    # A Colab runtime has one GPU; with more visible, Trainer wraps the model in nn.DataParallel (SFTTrainer refuses)
    env["CUDA_VISIBLE_DEVICES"] = env.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
    if profile == "t4":
        env.update({"COURSE_EMULATE_GPU_GB": str(T4_GB), "COURSE_EMULATE_GPU_CAPABILITY": T4_CAPABILITY})
    return env


def prepare_ipython_dir(ipython_dir: Path) -> Path:
    """The IPYTHONDIR of every rehearsal kernel: the peak-memory startup file and the no-input guard."""
    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-course-rehearsal.py").write_text(KERNEL_STARTUP)
    write_no_stdin_startup(Path(ipython_dir))
    return Path(ipython_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.rehearsal", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, choices=sorted(PROFILES))
    parser.add_argument("--notebooks", default="", help='e.g. "03 04" (default: all, in order)')
    parser.add_argument("--layers", type=int, default=None, help="decoder layers of the 7-8B stand-ins (default: full)")
    parser.add_argument("--mirror", type=Path, default=None, help="mirror folder (default: build/mirror-<layers>)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per notebook (nbmake)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs pytest/nbmake")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--solutions", action="store_true",
                        help="run the instructors' notebooks (lessons with their exercise solutions) instead")
    parser.add_argument("--jobs", type=int, default=1,
                        help="notebooks run side by side on the one GPU (lessons that read another's run wait for it)")
    parser.add_argument("--mirror-only", action="store_true", help="write the stand-ins and stop")
    args = parser.parse_args(argv)
    try:
        keys = args.notebooks.split() or sorted(p.name[:2] for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
        paths = rehearsal_notebooks(keys, args.solutions)
        mirror = None
        layers = "full" if args.layers is None else str(args.layers)
        if not PROFILES[args.profile].offline:
            from .standins import write_standins

            mirror = (args.mirror or REPO_ROOT / "build" / f"mirror-{layers}").resolve()
            start = time.perf_counter()
            write_standins(mirror, layers=args.layers, profile_name=args.profile, only=needed_ids(paths, args.profile))
            print(f"[rehearsal] mirror ready in {time.perf_counter() - start:.0f} s: {mirror}", flush=True)
    except MirrorError as error:
        print(error, file=sys.stderr)
        return 2
    if args.mirror_only:
        return 0
    versions, gpu = package_versions(), gpu_name()
    log_dir = REPO_ROOT / "build" / f"rehearsal-{args.profile}{'-solutions' if args.solutions else ''}"
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="ipython-") as ipython_dir:
        env = kernel_env(args.profile, mirror, prepare_ipython_dir(Path(ipython_dir)))

        def run_and_record(path: Path) -> dict:
            row = run_one(path, env, args.timeout, args.python, log_dir)
            row.update({"layers": layers if mirror else "n/a", "gpu": gpu, "date": dt.date.today().isoformat(),
                        **({"side_by_side": args.jobs} if args.jobs > 1 else {})})
            with lock:
                written = write_results(args.profile, [row], versions, args.results_dir, solutions=args.solutions)
            print(f"[rehearsal] results: {written}", flush=True)
            return row

        rows = run_chains(paths, run_and_record, args.jobs)
    return 0 if all(row["result"] == "pass" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
