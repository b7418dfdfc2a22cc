"""The first code cell and the Colab badges of every notebook, written by `make sync` from the one repository URL.

The URL lives in pyproject.toml (`[project.urls] Repository`). When the repository moves, that line changes and
`make sync` rewrites the clone line of every first cell and every "Open in Colab" badge (notebooks and README).
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from course_utils.environment import REPO_ROOT

BADGE = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/notebooks/(?P<name>[\w.-]+\.ipynb)")
CLONE = re.compile(r'^if "COLAB_RELEASE_TAG" in os\.environ\b.*$', re.M)
COLAB_HOME = "/content"  # Colab's working folder: the kernel's sys.path starts with it


def repository_url(root: Path = REPO_ROOT) -> str:
    """The course's git URL, from pyproject.toml: the one place it is written."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["urls"]["Repository"].rstrip("/")


def clone_line(url: str) -> str:
    """Colab only: clone the course once into /content/course and link its package where the kernel looks first.

    When the clone or the link fails (no network, a moved repository), the cell stops with one sentence instead of
    the "No module named 'course_utils'" that the next line would raise."""
    return (f'if "COLAB_RELEASE_TAG" in os.environ and os.system("(test -d {COLAB_HOME}/course || git clone -q --depth=1 '
            f'{url} {COLAB_HOME}/course) && ln -sfn {COLAB_HOME}/course/course_utils {COLAB_HOME}/course_utils"): '
            f'raise RuntimeError("Could not download the course from {url}: check the runtime\'s internet connection '
            f'and run this cell again.")')


def badge_url(url: str, notebook: str) -> str:
    owner_repo = re.sub(r"^https://github\.com/", "", url).removesuffix(".git")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{notebook}"


def first_code_cell(source: str) -> str:
    """The text of a py:percent notebook's first code cell (from its `# %%` line to the next cell marker)."""
    match = re.search(r"^# %%\n(?P<body>.*?)(?=^# %%)", source, re.M | re.S)
    if match is None:
        raise ValueError("no code cell found")
    return match["body"]


def code_lines(cell: str) -> list[str]:
    return [line for line in cell.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def synced(text: str, url: str, notebook: bool) -> str:
    """text with every badge, and (for a notebook source) the first cell's clone line, written from `url`."""
    text = BADGE.sub(lambda m: badge_url(url, m["name"]), text)
    if notebook:
        cell = first_code_cell(text)
        new_cell = CLONE.sub(lambda _: clone_line(url), cell, count=1)
        text = text.replace(cell, new_cell, 1)
    return text


def main(root: str | Path = REPO_ROOT) -> int:
    """Rewrite the badges and clone lines from pyproject.toml's URL; print the files that changed."""
    root = Path(root)
    url = repository_url(root)
    files = [(p, True) for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))] + [(root / "README.md", False)]
    for path, is_notebook in files:
        text = path.read_text(encoding="utf-8")
        new = synced(text, url, is_notebook)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print("Colab links rewritten:", path.relative_to(root))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
