import json

import nbformat

from course_utils import run_course


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_lessons_are_found_in_teaching_order():
    names = [p.stem for p in run_course.lesson_notebooks()]
    assert names == sorted(names) and names[0].startswith("01_")


def test_a_passing_and_a_failing_notebook_are_summarised(tmp_path):
    good = write_notebook(tmp_path / "01_good.ipynb", "x = [0] * 10**6\nprint('hello')")
    bad = write_notebook(tmp_path / "02_bad.ipynb", "raise ValueError('broken lesson')")
    rows = [run_course.run_notebook(p, tmp_path / "out") for p in (good, bad)]
    assert rows[0]["passed"] and rows[0]["peak_rss_gib"] > 0 and rows[0]["error"] is None
    assert not rows[1]["passed"] and "broken lesson" in rows[1]["error"]
    executed = nbformat.read(tmp_path / "out" / "01_good.ipynb", as_version=4)
    assert len(executed.cells) == 1 and "hello" in executed.cells[0].outputs[0]["text"]
    summary = run_course.write_summary(rows, "cpu", tmp_path)
    assert "| 01_good | cpu |" in summary.read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["notebooks"][1]["passed"] is False
