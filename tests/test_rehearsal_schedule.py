"""Notebooks run side by side in a rehearsal, but never a lesson before the lesson whose run it reads."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from course_tools.rehearsal_schedule import notebook_chains, run_chains

NAMES = ["01_pipelines", "03_quantization", "05_alpaca_qlora_sft", "06_evaluation", "08_ironman_persona",
         "09_persona_preference"]


def paths(names=NAMES):
    return [Path(f"/nb/{name}.ipynb") for name in names]


def test_lessons_that_read_a_run_follow_that_run_in_one_chain():
    chains = [[p.name[:2] for p in chain] for chain in notebook_chains(paths())]
    assert chains == [["01"], ["03"], ["05", "06"], ["08", "09"]]
    # without its source lesson, a reader stands alone (it trains its own fallback, as on a fresh VM)
    assert [[p.name[:2] for p in c] for c in notebook_chains(paths(["06_evaluation", "09_persona_preference"]))] == \
        [["06"], ["09"]]


def test_side_by_side_runs_keep_each_chain_in_order_and_rows_in_course_order():
    events, lock, running, most = [], threading.Lock(), [0], [0]

    def fake_run(path):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            events.append(("start", path.name[:2]))
        time.sleep(0.05)
        with lock:
            running[0] -= 1
            events.append(("end", path.name[:2]))
        return {"notebook": path.stem}

    rows = run_chains(paths(), fake_run, jobs=3)
    assert [row["notebook"] for row in rows] == NAMES
    assert most[0] == 3  # three chains at once, no more
    for first, then in (("05", "06"), ("08", "09")):
        assert events.index(("end", first)) < events.index(("start", then))


def test_one_job_runs_one_notebook_at_a_time():
    running, most = [0], [0]

    def fake_run(path):
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.01)
        running[0] -= 1
        return {"notebook": path.stem}

    run_chains(paths(), fake_run, jobs=1)
    assert most[0] == 1
