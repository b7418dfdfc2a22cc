"""`make gpu-rehearsal SOLUTIONS=1`: the instructors' notebooks, with their solution cells, are what the rehearsal runs."""
from __future__ import annotations

import json

import nbformat


def test_solutions_rehearsal_runs_the_instructors_notebooks(tmp_path, monkeypatch):
    """Lesson 04's solutions ran out of memory on a T4 because the rehearsal only ever ran learners' notebooks (issue 20)."""
    from course_tools import exercises, rehearsal

    ran = []

    def fake_run_one(path, env, timeout, python, log_dir):
        ran.append((path, env, log_dir))
        return {"notebook": path.stem, "result": "pass", "seconds": 1.0, "peak_gpu_gib": None}

    monkeypatch.setattr(exercises, "SOLUTIONS", tmp_path / "solutions")
    monkeypatch.setattr(rehearsal, "run_one", fake_run_one)
    results = tmp_path / "results"
    assert rehearsal.main(["--profile", "cpu", "--solutions", "--notebooks", "04", "--results-dir", str(results)]) == 0

    (path, env, log_dir), = ran
    assert path == tmp_path / "solutions" / "04_lora.ipynb" and log_dir.name == "rehearsal-cpu-solutions"
    tags = lambda nb: [t for cell in nbformat.read(nb, as_version=4).cells for t in cell.metadata.get("tags", [])]
    assert "solution" in tags(path) and "solution" not in tags(rehearsal.notebook_path("04"))
    written = json.loads((results / "gpu_rehearsal_cpu_solutions.json").read_text())
    assert written["solutions"] is True and [r["notebook"] for r in written["notebooks"]] == ["04_lora"]
    assert "with solutions" in (results / "gpu_rehearsal_cpu_solutions.md").read_text()
    assert not (results / "gpu_rehearsal_cpu.json").exists()  # the learners' results stay apart
    # the stand-ins a solutions notebook needs are read from the same .py source as its learners' notebook
    assert rehearsal.needed_ids([path], "t4") == rehearsal.needed_ids([rehearsal.notebook_path("04")], "t4") != []


def test_without_solutions_the_learners_notebooks_run(tmp_path, monkeypatch):
    from course_tools import rehearsal

    ran = []
    monkeypatch.setattr(rehearsal, "run_one", lambda path, *a: ran.append(path) or
                        {"notebook": path.stem, "result": "pass", "seconds": 1.0, "peak_gpu_gib": None})
    assert rehearsal.main(["--profile", "cpu", "--notebooks", "02", "--results-dir", str(tmp_path)]) == 0
    assert ran == [rehearsal.NOTEBOOK_DIR / "02_tokenizers.ipynb"] and (tmp_path / "gpu_rehearsal_cpu.json").exists()
