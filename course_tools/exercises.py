"""Learner notebooks and instructors' solution notebooks from one source, by cutting tagged solution cells.

After INRIA/scikit-learn-mooc's generate-exercise-from-solution: the jupytext `notebooks/NN_*.py` holds the lesson,
its exercises and a solution cell per exercise (`# %% tags=["solution"]`). `notebooks/NN_*.ipynb` (what learners
open) is that source without the solution cells; `build/solutions/NN_*.ipynb` keeps them, and CI runs those, so an
exercise can never be unsolvable.

    python -m course_tools.exercises learner              # notebooks/*.ipynb from notebooks/*.py (make sync)
    python -m course_tools.exercises solutions [FOLDER]   # FOLDER/NN_*.ipynb with solutions (default build/solutions)
"""
from __future__ import annotations

import copy
import hashlib
import sys
from pathlib import Path

import jupytext
from nbformat import NotebookNode

from course_utils.environment import REPO_ROOT

SOLUTION_TAG = "solution"
NOTEBOOKS = REPO_ROOT / "notebooks"
SOLUTIONS = REPO_ROOT / "build" / "solutions"


def is_solution(cell: NotebookNode) -> bool:
    """A cell only instructors see: tagged `solution` in its jupytext header."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def with_stable_cell_ids(notebook: NotebookNode) -> NotebookNode:
    """Cell ids from each cell's own text, so regenerating an unchanged notebook changes no byte of the .ipynb."""
    seen: dict[str, int] = {}
    for cell in notebook.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:8]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
    return notebook


def learner_notebook(notebook: NotebookNode) -> NotebookNode:
    """The notebook without its solution cells, and unpaired so that saving it in Jupyter cannot overwrite the source."""
    learner = copy.deepcopy(notebook)
    learner.cells = [cell for cell in learner.cells if not is_solution(cell)]
    learner.metadata.get("jupytext", {}).pop("formats", None)
    return with_stable_cell_ids(learner)


def solution_sources(folder: Path = NOTEBOOKS) -> list[Path]:
    """The lesson sources, in teaching order."""
    return sorted(Path(folder).glob("[0-9][0-9]_*.py"))


def write_learner(source: Path) -> Path:
    """`NN_x.ipynb` beside its source, exercises kept and solutions cut."""
    target = source.with_suffix(".ipynb")
    jupytext.write(learner_notebook(jupytext.read(source)), target)
    return target


def write_solutions(source: Path, folder: Path = SOLUTIONS) -> Path:
    """`folder/NN_x.ipynb`, the whole lesson with its solutions, for instructors and for CI to execute."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    if not any(is_solution(cell) for cell in notebook.cells):
        raise ValueError(f"{source.name} has exercises but no solution cell: add one tagged # %% tags=[\"solution\"].")
    target = folder / source.with_suffix(".ipynb").name
    notebook.metadata.get("jupytext", {}).pop("formats", None)
    jupytext.write(with_stable_cell_ids(notebook), target)
    return target


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("learner", "solutions"):
        raise SystemExit("usage: python -m course_tools.exercises learner | solutions [FOLDER]")
    for source in solution_sources():
        target = write_learner(source) if argv[0] == "learner" else write_solutions(source, Path(argv[1]) if len(argv) > 1 else SOLUTIONS)
        print(target)


if __name__ == "__main__":
    main(sys.argv[1:])
