"""The first cell of every notebook: what machine this is and whether the installed packages match the pins."""
from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from .environment import REPO_ROOT, cpu_has_fast_bf16, gpu_info, hub_token, in_colab, pick_compute_dtype
from .profiles import Profile, get_profile

KEY_PACKAGES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate")


def read_pins(*files: Path) -> dict[str, str]:
    """`name==version` lines of the requirement files, the one place versions are pinned."""
    pins = {}
    for file in files:
        if not file.is_file():
            continue
        for line in file.read_text().splitlines():
            match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
            if match:
                pins[match.group(1).lower()] = match.group(2)
    return pins


def installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def same_version(loaded: str, installed: str) -> bool:
    """Equal as pip sees them: a local label (`+cu130`) counts only when both sides have one.

    PyPI's torch for Python 3.12/3.13 reports `2.13.0+cu130` while its metadata says `2.13.0`: the same install.
    """
    from packaging.version import Version

    a, b = Version(loaded), Version(installed)
    if a.local is None or b.local is None:
        return a.public == b.public
    return a == b


def version_mismatches(pins: dict[str, str], packages: tuple[str, ...] = KEY_PACKAGES) -> list[str]:
    """One warning line per pinned package whose installed version differs, with the pip command that fixes it."""
    warnings = []
    for package in packages:
        pinned, found = pins.get(package), installed_version(package)
        if pinned and not (found and same_version(found, pinned)):
            warnings.append(f"{package} {found or 'not installed'} != pinned {pinned}: pip install '{package}=={pinned}'")
    return warnings


def bitsandbytes_status() -> str:
    try:
        import bitsandbytes  # noqa: F401
    except Exception as error:  # any import failure means quantization cells will not work
        return f"does not import ({type(error).__name__}: {error})"
    return "imports"


def cpu_bf16_note(fast: bool | None) -> str:
    """What the CPU's bf16 support means for a learner: the course trains in fp32 on CPU either way."""
    if fast is None:
        return "unknown on this OS (the course trains in fp32 on CPU)"
    if fast:
        return "native (AVX-512 BF16/AMX); the course still trains in fp32 on CPU"
    return "emulated, about 78x slower than fp32 per matmul: keep CPU training in fp32 (the course does)"


def doctor(profile_name: str | None = None) -> Profile:
    """Print what the notebook found and return the profile it will use."""
    gpu = gpu_info()
    profile = get_profile(profile_name)
    pin_files = [REPO_ROOT / "requirements.txt"]
    if not in_colab():  # Colab keeps its own CUDA torch; only local machines pin the CPU torch
        pin_files.append(REPO_ROOT / "requirements-cpu.txt")
    pins = read_pins(*pin_files)
    print(f"Runtime      : {'Google Colab' if in_colab() else 'local'}")
    if gpu:
        print(f"GPU          : {gpu.name}, compute capability {gpu.capability[0]}.{gpu.capability[1]}, {gpu.memory_gib:.1f} GiB")
        print(f"Compute dtype: {pick_compute_dtype(gpu.capability)} (bf16 only from capability 8.0)")
    else:
        print("GPU          : none (CPU only)")
    print(f"CPU bf16     : {cpu_bf16_note(cpu_has_fast_bf16())}")
    print(f"Profile      : {profile.name} - {profile.description}")
    print(f"Profile dtype: {profile.dtype_name}")
    for package in KEY_PACKAGES:
        print(f"  {package:<13}{installed_version(package) or 'not installed'} (pinned {pins.get(package, '-')})")
    for warning in version_mismatches(pins):
        print(f"WARNING: {warning}")
    print(f"bitsandbytes : {bitsandbytes_status()}")
    print(f"Hub token    : {'present' if hub_token() else 'absent (only needed to upload or for gated models)'}")
    return profile
