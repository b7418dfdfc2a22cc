"""Colab as a learner meets it, emulated: Colab's package versions in a Python 3.13 venv, then a notebook's first cell.

The base venv (Colab's versions, before the course installs anything) is cached under ~/.cache/llm-course, keyed by
the package list; every run works in a hard-linked copy of it, so the install the first cell does is really done.
Deselect with `-m "not colab_emulation"`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import jupytext
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# googlecolab/backend-info, 2026-08. Colab's torch is 2.11.0+cu128 from PyTorch's own index; only PyPI is reachable
# here, whose torch 2.11.0 is the CUDA 13 build: same version, and it runs on a CPU machine as Colab's does.
COLAB_PYTHON = "3.13.0"
COLAB_PACKAGES = (
    "torch==2.11.0", "transformers==5.15.0", "datasets==4.0.0", "pyarrow==18.1.0", "huggingface_hub==1.27.0",
    "peft==0.20.0", "accelerate==1.14.0", "pandas==2.2.3", "matplotlib",
)
CACHE = Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "llm-course"))

pytestmark = pytest.mark.colab_emulation


def colab_python() -> Path:
    """pyenv's Python 3.13.0, the version Colab runs."""
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() if shutil.which("pyenv") else ""
    python = Path(root or Path.home() / ".pyenv") / "versions" / COLAB_PYTHON / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"pyenv's Python {COLAB_PYTHON} is missing: `pyenv install {COLAB_PYTHON}` to emulate Colab.")
    return python


def base_venv() -> Path:
    """Colab's package set in a venv, built once per package list; a half-built one is never reused."""
    key = hashlib.sha256("\n".join((COLAB_PYTHON, *COLAB_PACKAGES)).encode()).hexdigest()[:12]
    venv = CACHE / f"colab-venv-{key}"
    if (venv / ".complete").is_file():
        return venv
    building = venv.with_name(venv.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([str(colab_python()), "-m", "venv", str(building)], check=True)
    subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "-q", *COLAB_PACKAGES], check=True)
    shutil.rmtree(venv, ignore_errors=True)
    building.rename(venv)  # pyvenv.cfg names no absolute path of the venv itself, so the renamed venv works
    (venv / ".complete").write_text(f"built in {time.perf_counter() - start:.0f} s\n")
    print(f"Colab base venv built in {time.perf_counter() - start:.0f} s: {venv}")
    return venv


def copy_venv(source: Path, target: Path) -> Path:
    """Hard links: pip replaces files by unlinking them, so the cached base stays as Colab ships it."""
    try:
        subprocess.run(["cp", "-al", str(source), str(target)], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        shutil.copytree(source, target, symlinks=True)
    return target / "bin" / "python"


def first_cell(lesson: str) -> str:
    notebook = jupytext.read(REPO_ROOT / "notebooks" / f"{lesson}.py")
    return next(c.source for c in notebook.cells if c.cell_type == "code")


def run_as_colab(python: Path, code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """The cell as Colab runs it: COLAB_RELEASE_TAG set, in Colab's working folder (tmp_path/content standing in for
    /content, first on the kernel's sys.path), this repository's clone standing in for GitHub."""
    from course_tools.colab_cell import repository_url

    content = tmp_path / "content"
    content.mkdir(exist_ok=True)
    code = code.replace(repository_url(), REPO_ROOT.as_uri()).replace("/content", str(content))
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_PROFILE", "COURSE_OUTPUT", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(COLAB_RELEASE_TAG="release-colab-emulated", HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=env, cwd=content, timeout=900)


def test_first_cell_installs_the_course_on_colabs_packages(tmp_path):
    start = time.perf_counter()
    python = copy_venv(base_venv(), tmp_path / "venv")
    ready = time.perf_counter()
    torch_before = subprocess.run([str(python), "-c", "import torch; print(torch.__version__)"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    cell = first_cell("05_alpaca_qlora_sft")
    report = "\nimport course_utils, torch\nprint('REPORT', profile.name, profile.dtype_name, torch.__version__, course_utils.__file__)\n"

    # Colab's kernel has pandas (and with it pyarrow) imported before the cell upgrades them.
    first = run_as_colab(python, "import pandas, pyarrow\n" + cell + report, tmp_path)
    installed = time.perf_counter()
    output = first.stdout + first.stderr
    stale = "after it had been imported: restart the runtime" in output
    assert first.returncode == 0 or stale, output[-6000:]

    # After "Runtime > Restart session": nothing is installed twice, and the notebook goes on.
    second = run_as_colab(python, cell + report, tmp_path)
    done = time.perf_counter()
    output2 = second.stdout + second.stderr
    assert second.returncode == 0, output2[-6000:]
    assert "Installing the course's pinned packages" not in output2, "the second run must find the stamp and skip pip"
    name, dtype, torch_after, module = next(l for l in second.stdout.splitlines() if l.startswith("REPORT")).split()[1:]
    assert (name, dtype) == ("cpu", "float32")
    assert torch_after == torch_before, "the pins must resolve around Colab's torch, never replace it"
    assert torch_before.split("+")[0] == "2.11.0"
    assert str(Path(module).resolve()).startswith(str(tmp_path / "content" / "course")), "course_utils must come from the clone"
    assert "Change runtime type > T4 GPU" in output2
    assert "Drive is skipped" in output2  # setup(drive=True) without google.colab degrades to one sentence
    assert "WARNING:" not in output2, "every pinned package must be installed at its pin"
    print(f"\nColab emulation: venv ready {ready - start:.0f} s, first cell {installed - ready:.0f} s "
          f"(restart needed: {stale}), after restart {done - installed:.0f} s")
