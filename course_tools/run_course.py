"""`make run`: execute every lesson notebook in order on the detected profile and write a summary under build/."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils.environment import REPO_ROOT
from course_utils.profiles import get_profile

BUILD_DIR = REPO_ROOT / "build"
# Appended to each notebook in memory only: the kernel reports its own peak memory before it shuts down.
PEAK_MEMORY_PROBE = """
import json, resource, sys
_peak = {"rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
try:
    import torch
    if torch.cuda.is_available():
        _peak["gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
except ImportError:
    pass
print("COURSE_PEAK_MEMORY=" + json.dumps(_peak))
"""


def lesson_notebooks(folder: Path = REPO_ROOT / "notebooks") -> list[Path]:
    """Lessons in teaching order: the NN_ prefix is the order."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def _read_probe(notebook: nbformat.NotebookNode) -> dict:
    for output in notebook.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith("COURSE_PEAK_MEMORY="):
                return json.loads(line.split("=", 1)[1])
    return {}


def run_notebook(path: Path, out_dir: Path, timeout: int = 3600) -> dict:
    """Execute one notebook in its own folder, save the executed copy, return a summary row.

    The kernel process's own stderr (IPKernelApp's log lines) goes to <name>.kernel.log beside the executed copy,
    so the terminal shows one clean line per notebook; the cells' outputs are in the executed copy as usual."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_MEMORY_PROBE))
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    out_dir.mkdir(parents=True, exist_ok=True)
    start, error = time.perf_counter(), None
    with open(out_dir / f"{path.stem}.kernel.log", "w") as kernel_log:
        try:
            client.execute(stderr=kernel_log)
        except CellExecutionError as exc:
            error = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
    seconds = time.perf_counter() - start
    peak = _read_probe(notebook) if error is None else {}
    notebook.cells.pop()
    nbformat.write(notebook, out_dir / path.name)
    return {
        "notebook": path.stem, "passed": error is None, "seconds": round(seconds, 1),
        "peak_rss_gib": round(peak.get("rss_gib", 0.0), 2), "peak_gpu_gib": round(peak.get("gpu_gib", 0.0), 2),
        "error": error,
    }


def write_summary(rows: list[dict], profile_name: str, out_dir: Path) -> Path:
    """build/summary.md (and .json): one line per notebook, for the learner and for instructors."""
    lines = [f"# Course run on profile `{profile_name}`", "", "| notebook | profile | wall time (s) | peak RAM (GiB) | peak GPU (GiB) | result |", "|---|---|---|---|---|---|"]
    for row in rows:
        result = "pass" if row["passed"] else f"FAIL: {row['error']}"
        lines.append(f"| {row['notebook']} | {profile_name} | {row['seconds']} | {row['peak_rss_gib']} | {row['peak_gpu_gib']} | {result} |")
    (out_dir / "summary.json").write_text(json.dumps({"profile": profile_name, "notebooks": rows}, indent=2))
    summary = out_dir / "summary.md"
    summary.write_text("\n".join(lines) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the course notebooks in order and summarise them.")
    parser.add_argument("notebooks", nargs="*", type=Path, help="only these notebooks (default: all lessons)")
    parser.add_argument("--out", type=Path, default=BUILD_DIR)
    args = parser.parse_args(argv)
    profile = get_profile()
    os.environ.setdefault("COURSE_PROFILE", profile.name)  # every kernel gets the same profile
    paths = [p.resolve() for p in args.notebooks] or lesson_notebooks()
    rows = []
    for index, path in enumerate(paths, 1):
        row = run_notebook(path, args.out / "notebooks")
        rows.append(row)
        print(f"[{index}/{len(paths)}] {path.stem} ({profile.name}): " + ("ok" if row["passed"] else "FAILED")
              + f" in {row['seconds']} s, peak RAM {row['peak_rss_gib']} GiB", flush=True)
        if row["error"]:
            print(f"    {row['error']}")
    summary = write_summary(rows, profile.name, args.out)
    print(summary.read_text())
    return 0 if all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
