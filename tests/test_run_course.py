import json

import nbformat

from course_tools import run_course


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


def test_make_run_prints_one_clean_line_per_notebook(tmp_path, capfd, monkeypatch):
    """The kernel's own log lines ("[IPKernelApp] WARNING | Kernel is running over TCP...") went to the terminal in the
    middle of each progress line; they now go to the notebook's kernel log beside its executed copy."""
    noisy = write_notebook(tmp_path / "01_noisy.ipynb", "import os\nos.write(2, b'KERNEL-NOISE on fd 2\\n')\nprint('cell output')")
    monkeypatch.setattr(run_course, "get_profile", lambda: type("P", (), {"name": "cpu"})())
    assert run_course.main([str(noisy), "--out", str(tmp_path / "out")]) == 0
    out, err = capfd.readouterr()
    assert "KERNEL-NOISE" not in out + err
    progress = [line for line in out.splitlines() if line.startswith("[1/1]")]
    assert len(progress) == 1 and progress[0].startswith("[1/1] 01_noisy (cpu): ok in ")
    assert "KERNEL-NOISE" in (tmp_path / "out" / "notebooks" / "01_noisy.kernel.log").read_text()
