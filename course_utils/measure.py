"""Wall time and peak memory of a block of work, so every training run can say what it cost."""
from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass
class Cost:
    seconds: float = 0.0
    peak_gpu_gib: float | None = None
    peak_rss_gib: float = 0.0

    def __str__(self) -> str:
        gpu = f", peak GPU memory {self.peak_gpu_gib:.2f} GiB" if self.peak_gpu_gib is not None else ""
        return f"{self.seconds:.1f} s{gpu}, peak process memory {self.peak_rss_gib:.2f} GiB"


def peak_rss_gib() -> float:
    """The process's peak resident memory (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


@contextmanager
def measure(label: str | None = None):
    """`with measure("training") as cost:` fills `cost` and prints it when the block ends."""
    cost = Cost()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        yield cost
    finally:
        cost.seconds = time.perf_counter() - start
        if torch.cuda.is_available():
            cost.peak_gpu_gib = torch.cuda.max_memory_allocated() / 2**30
        cost.peak_rss_gib = peak_rss_gib()
        if label:
            print(f"{label}: {cost}")
