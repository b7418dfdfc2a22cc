"""Which rehearsal notebooks may run side by side: chains that keep a lesson after the lesson whose run it reads.

Lesson 06 evaluates lesson 05's adapter and lesson 09 tunes lesson 08's; run side by side, they would find no finished
run and train their short fallback instead, which is not what a learner meets. Every other lesson stands alone, so one
lent GPU can hold several notebooks' kernels at once (each capped at a T4's 15 GB under t4 emulation), and a rehearsal
that takes an hour one notebook at a time fits in one lease.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

# lesson key -> the lesson whose finished run it reads
READS_RUN_OF = {"06": "05", "09": "08"}


def notebook_chains(paths: list[Path]) -> list[list[Path]]:
    """The notebooks grouped into chains, in course order within each; chains are independent of one another."""
    chains: list[list[Path]] = []
    chain_of: dict[str, list[Path]] = {}
    for path in paths:
        key = path.name[:2]
        before = chain_of.get(READS_RUN_OF.get(key, ""))
        chain = before if before is not None else []
        if before is None:
            chains.append(chain)
        chain.append(path)
        chain_of[key] = chain
    return chains


def run_chains(paths: list[Path], run: Callable[[Path], dict], jobs: int = 1) -> list[dict]:
    """Run every notebook through `run`, up to `jobs` chains at a time; rows come back in the order of `paths`."""
    rows: dict[Path, dict] = {}
    lock = threading.Lock()

    def run_chain(chain: list[Path]) -> None:
        for path in chain:
            row = run(path)
            with lock:
                rows[path] = row

    chains = notebook_chains(paths)
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(chains)))) as pool:
        for future in [pool.submit(run_chain, chain) for chain in chains]:
            future.result()
    return [rows[path] for path in paths]
