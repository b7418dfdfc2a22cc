"""The llama.cpp and vLLM checks' shared command line and result files: one run's date, verdict and timing, written once.

Each check runs in its engine's own venv (no course_utils, no course torch there), so this module uses only the
standard library; check_llamacpp.py and check_vllm.py put this folder on sys.path to import it.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path


def engine_check_parser() -> argparse.ArgumentParser:
    """The arguments run_check.sh passes every engine check: the work folder, where results go, and the venv's timing."""
    parser = argparse.ArgumentParser()
    parser.add_argument("work", type=Path)
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--setup-seconds", type=int, default=0)
    parser.add_argument("--venv-reused", default="false")
    parser.add_argument("--started", type=float, default=time.time())
    return parser


def run_fields(args: argparse.Namespace, failures: list[str]) -> dict:
    """The fields every engine result opens with, so tests and the README read the same keys in each."""
    return {
        "date": datetime.date.today().isoformat(), "passed": not failures, "failures": failures,
        "seconds": time.time() - args.started, "setup_seconds": args.setup_seconds, "venv_reused": args.venv_reused == "true",
    }


def run_line(result: dict) -> str:
    """The markdown line that says when the check ran, whether it passed, and how long the venv took."""
    return (f"- Date: {result['date']}; passed: **{result['passed']}**; {result['seconds']:.0f} s "
            f"(venv setup {result['setup_seconds']} s, reused: {result['venv_reused']}).")


def write_result(results: Path, name: str, result: dict, markdown: str) -> None:
    """Write `name`.json and `name`.md, print the markdown, and fail the make target when the check failed."""
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    (results / f"{name}.md").write_text(markdown)
    print(markdown)
    if result["failures"]:
        sys.exit(f"{name.replace('_', '-')} failed: " + "; ".join(result["failures"]))
