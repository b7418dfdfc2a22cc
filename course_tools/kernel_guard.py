"""Notebook kernels that fail on any request for keyboard input: no lesson may wait for a learner's answer.

A kernel started without stdin (nbmake, nbclient) answers `input()` with `StdinNotImplementedError`, an ordinary
Exception. Libraries catch it: transformers' `resolve_trust_remote_code` turned it into a ValueError that
AutoTokenizer swallowed, so lesson 02's "Do you wish to run the custom code? [y/N]" (which waits on Colab) passed CI
without a sound. The startup file written here makes every input request raise `StdinRequestError`, a BaseException
that `except Exception` does not catch, so the cell fails and names the prompt.

The course's machinery, not a lesson: `make test` (through the repository's conftest.py, a pytest plugin) and
`make gpu-rehearsal` (course_tools.rehearsal) put it in every notebook kernel they start.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

STARTUP_NAME = "00-no-stdin.py"

# Runs in the kernel before the notebook's first cell (an IPython startup file). ipykernel points builtins.input and
# getpass.getpass at the kernel's raw_input/getpass methods at every execution, so those methods are what is replaced.
NO_STDIN_STARTUP = r'''
class StdinRequestError(BaseException):
    """A notebook asked for keyboard input; a BaseException so that `except Exception` cannot hide it."""


def _course_no_stdin():
    import builtins
    import getpass

    def refuse(prompt="", *args, **kwargs):
        raise StdinRequestError(
            f"The notebook asked for keyboard input ({str(prompt).strip()[-160:]!r}): a lesson must never wait for "
            "an answer, so pass it in code instead (e.g. trust_remote_code=False)."
        )

    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is not None:
        kernel.raw_input = refuse
        kernel.getpass = refuse
    builtins.input = refuse
    getpass.getpass = refuse


_course_no_stdin()
del _course_no_stdin
'''


def write_no_stdin_startup(ipython_dir: Path) -> Path:
    """Put the startup file into `ipython_dir`'s default profile, so every kernel started with IPYTHONDIR=ipython_dir has it."""
    startup = Path(ipython_dir) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    path = startup / STARTUP_NAME
    path.write_text(NO_STDIN_STARTUP)
    return path


def guarded_ipython_dir(current: str | None) -> str:
    """An IPYTHONDIR whose kernels refuse input: `current` if it has the guard, else a copy of its profile plus the guard."""
    if current and (Path(current) / "profile_default" / "startup" / STARTUP_NAME).is_file():
        return current
    folder = Path(tempfile.mkdtemp(prefix="ipython-no-stdin-"))
    if current and (Path(current) / "profile_default").is_dir():  # keep that folder's own startup files and config
        shutil.copytree(Path(current) / "profile_default", folder / "profile_default")
    write_no_stdin_startup(folder)
    return str(folder)


_made: list[str] = []


def pytest_configure(config) -> None:
    """pytest plugin hook: every kernel nbmake starts in this session inherits an IPYTHONDIR with the guard."""
    current = os.environ.get("IPYTHONDIR")
    guarded = guarded_ipython_dir(current)
    if guarded != current:
        _made.append(guarded)
    os.environ["IPYTHONDIR"] = guarded


def pytest_unconfigure(config) -> None:
    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)
