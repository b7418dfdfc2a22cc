"""Every notebook's first cell is at most 4 code lines, and the repository URL is written in one place only."""
from __future__ import annotations

import shutil

import pytest

from course_tools import colab_cell
from course_utils.environment import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_first_cell_is_four_code_lines_that_clone_from_the_one_url(path):
    cell = colab_cell.first_code_cell(path.read_text(encoding="utf-8"))
    lines = colab_cell.code_lines(cell)
    assert len(lines) <= 4, lines
    assert colab_cell.clone_line(colab_cell.repository_url()) in lines
    assert lines[-1].startswith("profile = setup(")


def test_everything_is_in_step_with_pyproject():
    url = colab_cell.repository_url()
    for path in NOTEBOOKS + [REPO_ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        assert colab_cell.synced(text, url, path.suffix == ".py") == text, f"{path.name}: run `make sync`"


def test_when_the_repository_moves_one_line_changes_and_sync_rewrites_the_rest(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS[:2]:
        shutil.copy(path, tmp_path / "notebooks" / path.name)
    shutil.copy(REPO_ROOT / "README.md", tmp_path / "README.md")
    old = colab_cell.repository_url()
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert pyproject.count(old) == 1  # the one place
    (tmp_path / "pyproject.toml").write_text(pyproject.replace(old, "https://github.com/new-home/fine-tuning"))
    assert colab_cell.main(tmp_path) == 0
    for path in [*(tmp_path / "notebooks").iterdir(), tmp_path / "README.md"]:
        text = path.read_text(encoding="utf-8")
        assert "llm-finetuning-course" not in text, path.name
        assert "colab.research.google.com/github/new-home/fine-tuning/blob/main/notebooks/" in text
    first = colab_cell.first_code_cell((tmp_path / "notebooks" / NOTEBOOKS[0].name).read_text())
    assert "git clone -q --depth=1 https://github.com/new-home/fine-tuning /content/course" in first


def test_the_url_is_written_nowhere_else_in_code():
    url = colab_cell.repository_url()
    sources = [p for p in REPO_ROOT.glob("*/*.py") if p.parent.name in ("course_utils", "course_tools", "tests")]
    assert not [p.name for p in sources if url in p.read_text(encoding="utf-8")]


def test_a_clone_that_fails_stops_the_cell_with_one_sentence(tmp_path):
    """No network, or a moved repository: the learner reads why, not "No module named 'course_utils'"."""
    import subprocess
    import sys

    content = tmp_path / "content"
    content.mkdir()
    cell = colab_cell.first_code_cell(NOTEBOOKS[0].read_text(encoding="utf-8"))
    missing = (tmp_path / "no-such-repository").as_uri()
    code = cell.replace(colab_cell.repository_url(), missing).replace(colab_cell.COLAB_HOME, str(content))
    env = {"PATH": "/usr/bin:/bin", "COLAB_RELEASE_TAG": "release-colab-emulated", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=content, timeout=120)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0
    assert last.startswith("RuntimeError: Could not download the course from " + missing), result.stderr[-2000:]
    assert "run this cell again" in last
    assert "ModuleNotFoundError" not in result.stderr
    assert not (content / "course_utils").is_symlink(), "no dangling link is left behind"
