"""The learner's notebook is the source minus its solution cells; every lesson has solutions for its exercises."""
from pathlib import Path

import jupytext
import pytest

from course_tools.exercises import is_solution, learner_notebook, solution_sources, write_solutions

SOURCES = solution_sources()


def test_learner_notebook_drops_only_solution_cells_and_unpairs():
    text = (
        "# %% [markdown]\n# ## 연습 문제\n# - 1 + 1?\n\n"
        '# %% tags=["solution"]\nprint(1 + 1)\n\n'
        "# %%\nprint('kept')\n"
    )
    notebook = jupytext.reads(text, fmt="py:percent")
    notebook.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    learner = learner_notebook(notebook)
    assert [c.source for c in learner.cells] == ["## 연습 문제\n- 1 + 1?", "print('kept')"]
    assert "formats" not in learner.metadata["jupytext"]
    assert len(notebook.cells) == 3  # the source is untouched


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_lesson_has_solutions_after_its_exercises(source: Path):
    cells = jupytext.read(source).cells
    solutions = [i for i, c in enumerate(cells) if is_solution(c)]
    exercises = max(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "연습 문제" in c.source)
    assert solutions, f"{source.name}: every exercise needs a solution cell tagged # %% tags=[\"solution\"]."
    assert min(solutions) > exercises, f"{source.name}: solution cells belong after the exercises, at the end."


def test_solutions_notebook_keeps_the_solutions(tmp_path):
    target = write_solutions(SOURCES[0], tmp_path)
    assert any(is_solution(c) for c in jupytext.read(target).cells)


def test_regenerating_a_learner_notebook_changes_no_byte(tmp_path):
    """Cell ids come from the cells' text: `make sync` on unchanged sources leaves the committed .ipynb as it is."""
    import shutil

    from course_tools.exercises import write_learner

    source = tmp_path / "01_pipelines.py"
    shutil.copy(solution_sources()[0], source)
    first = write_learner(source).read_bytes()
    assert write_learner(source).read_bytes() == first
