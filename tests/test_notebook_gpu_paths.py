"""Static checks on the notebooks' GPU-only branches, which CI (cpu profile) never executes."""
import re
from pathlib import Path

from transformers.pipelines import PIPELINE_REGISTRY

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


def code(path: Path) -> str:
    """The notebook's code lines: markdown cells and comments are `#` lines in py:percent and may name old APIs."""
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))


def test_notebooks_use_only_pipeline_tasks_transformers_has():
    tasks = set(PIPELINE_REGISTRY.get_supported_tasks())
    used = {task for path in NOTEBOOKS for task in re.findall(r"pipeline\(\s*[\"']([\w-]+)[\"']", code(path))}
    assert used and used <= tasks, f"tasks transformers 5 does not have: {sorted(used - tasks)}"


def test_no_notebook_runs_remote_model_code():
    """Remote modeling code written for transformers 4.x breaks under 5.x (EXAONE 3.0's does): llamafy instead."""
    offenders = [path.name for path in NOTEBOOKS if re.search(r"trust_remote_code\s*=\s*True", code(path))]
    assert not offenders, f"trust_remote_code=True in {offenders}"
