"""Lesson tools as command lines (llamafy, merge, GGUF export, upload): a refusal is one sentence and exit status 2."""
from __future__ import annotations

import sys
from typing import Callable


def run_tool(action: Callable[[], str], refusals: tuple[type[BaseException], ...] = (ValueError, OSError)) -> int:
    """Run `action` and print what it reports (0); print a refusal as `error: <sentence>` on stderr instead (2)."""
    try:
        report = action()
    except refusals as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report)
    return 0
