"""Where the course runs: Colab or local, which GPU, which dtype it can compute in."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
OUTPUT_ENV = "COURSE_OUTPUT"


def output_dir() -> Path:
    """Folder for trained adapters, checkpoints and logs; `COURSE_OUTPUT` moves it (setup(drive=True) points it at Drive).

    Read at every call, never cached, so a folder set after import (Drive mounted by setup) is the one used.
    """
    return Path(os.environ.get(OUTPUT_ENV) or REPO_ROOT / "outputs")


def local_output_dir() -> Path:
    """Folder for large outputs that can be made again (a merged model, a GGUF file): always this machine's disk, since
    setup(drive=True) moves `output_dir()` to Drive, whose free 15 GB cannot hold a merged 8B model."""
    return REPO_ROOT / "outputs"


def in_colab() -> bool:
    """Colab sets COLAB_* variables in every runtime; checking them avoids importing google.colab."""
    return any(key.startswith("COLAB_") for key in os.environ)


@dataclass(frozen=True)
class GpuInfo:
    name: str
    capability: tuple[int, int]
    memory_gib: float


EMULATE_GB_ENV = "COURSE_EMULATE_GPU_GB"
EMULATE_CAPABILITY_ENV = "COURSE_EMULATE_GPU_CAPABILITY"


def gpu_info() -> GpuInfo | None:
    """The first CUDA device, or None on a CPU-only machine.

    A rehearsal emulates a smaller card (`make gpu-rehearsal PROFILE=t4`): COURSE_EMULATE_GPU_GB (decimal GB, as the cap) and
    COURSE_EMULATE_GPU_CAPABILITY (e.g. 15 and 7.5) replace what the course reads about the real device.
    """
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    info = GpuInfo(props.name, (props.major, props.minor), props.total_memory / 2**30)
    gib, capability = os.environ.get(EMULATE_GB_ENV), os.environ.get(EMULATE_CAPABILITY_ENV)
    if gib or capability:
        major, minor = (int(x) for x in capability.split(".")) if capability else info.capability
        memory = float(gib) * 1e9 / 2**30 if gib else info.memory_gib
        info = GpuInfo(f"{props.name} (emulating {memory:.1f} GiB, sm {major}.{minor})", (major, minor), memory)
    return info


def pick_compute_dtype(capability: tuple[int, int] | None) -> torch.dtype:
    """bf16 only from compute capability 8.0 (Ampere); a T4 (7.5) emulates it slowly, so it gets fp16.

    `torch.cuda.is_bf16_supported()` is not used on purpose: it answers True where bf16 is only emulated.
    """
    if capability is None:
        return torch.float32
    return torch.bfloat16 if capability >= (8, 0) else torch.float16


def hub_token() -> str | None:
    """A Hub token from `HF_TOKEN` or Colab secrets, never from the notebook text."""
    token = os.environ.get("HF_TOKEN")
    if token or not in_colab():
        return token
    try:
        from google.colab import userdata  # type: ignore[import-not-found]

        return userdata.get("HF_TOKEN")
    except Exception:  # the secret is missing or notebook access was not granted
        return None


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool | None:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); None where it cannot be told (not Linux).

    Without it a bf16 matmul on CPU is emulated, ~78x slower than fp32 (torch 2.13, AVX2 only), so CPU runs stay fp32.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})
