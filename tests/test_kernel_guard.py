"""No lesson ever waits for input: a notebook that asks for it fails in CI's kernels and in the rehearsal's.

The notebook below asks as transformers' resolve_trust_remote_code did in lesson 02, and swallows the refusal as
AutoTokenizer did; without the guard it passed (issue 20, item 4).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from course_utils.environment import REPO_ROOT

ASKS_FOR_INPUT = [
    "print('the first cell runs')",
    "try:\n"
    "    answer = input('Do you wish to run the custom code? [y/N] ')\n"
    "except Exception:  # as transformers did: the refusal became a ValueError that AutoTokenizer swallowed\n"
    "    answer = 'n'\n"
    "print('answered', answer)",
]


@pytest.fixture
def asking_notebook():
    """The notebook inside the repository (build/ is ignored), where `make test` and the rehearsal run notebooks."""
    folder = Path(tempfile.mkdtemp(prefix="kernel-guard-", dir=REPO_ROOT / "build" if (REPO_ROOT / "build").is_dir() else REPO_ROOT))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in ASKS_FOR_INPUT])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "asks_for_input.ipynb"
    nbformat.write(notebook, path)
    yield path
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()


@pytest.mark.notebook
def test_ci_kernel_fails_on_a_request_for_input(asking_notebook):
    """The command `make test` runs, on a notebook that asks for input, with no IPYTHONDIR of its own."""
    env = {k: v for k, v in os.environ.items() if k != "IPYTHONDIR"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake",
                           "--nbmake-timeout=120", str(asking_notebook.relative_to(REPO_ROOT))],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    log = done.stdout + done.stderr
    assert done.returncode != 0, log[-3000:]
    assert "StdinRequestError" in log and "Do you wish to run the custom code" in log


@pytest.mark.notebook
def test_rehearsal_kernel_fails_on_a_request_for_input(asking_notebook, tmp_path):
    from course_tools.kernel_guard import STARTUP_NAME
    from course_tools.rehearsal import kernel_env, prepare_ipython_dir, run_one

    ipython_dir = prepare_ipython_dir(tmp_path / "ipython")
    assert (ipython_dir / "profile_default" / "startup" / STARTUP_NAME).is_file()  # its own, not only the conftest's
    row = run_one(asking_notebook, kernel_env("cpu", None, ipython_dir), 120, sys.executable, tmp_path / "logs")
    assert row["result"] == "fail" and row["error"].startswith("StdinRequestError"), row
