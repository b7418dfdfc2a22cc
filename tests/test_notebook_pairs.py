"""Every notebook is a jupytext pair: the py:percent source is edited, the .ipynb twin must match it without solutions."""
from pathlib import Path

import jupytext
import pytest

from course_tools.exercises import learner_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


LESSONS = [
    "01_pipelines", "02_tokenizers", "03_quantization", "04_lora",
    "05_alpaca_qlora_sft", "06_evaluation", "07_exaone_llamafy", "08_ironman_persona", "09_persona_preference",
]


def test_the_nine_lessons_are_there_in_teaching_order():
    assert [p.stem for p in SOURCES] == LESSONS


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_matches_its_py_source(source: Path):
    twin = source.with_suffix(".ipynb")
    assert twin.is_file(), f"{twin.name} is missing: run `make sync`."
    expected = cells(learner_notebook(jupytext.read(source)))  # the learner's notebook: solution cells cut
    assert expected == cells(jupytext.read(twin)), f"{twin.name} is out of sync with {source.name}: run `make sync`."


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_has_no_outputs(source: Path):
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    dirty = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{source.with_suffix('.ipynb').name} has outputs in cells {dirty}: strip them (make sync)."


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_opens_with_goals_and_ends_with_exercises(source: Path):
    notebook = jupytext.read(source)
    first_markdown = next(c.source for c in notebook.cells if c.cell_type == "markdown")
    last_markdown = [c.source for c in notebook.cells if c.cell_type == "markdown"][-1]
    assert "목표" in first_markdown and "시간" in first_markdown, f"{source.name} must open with goals and time/hardware."
    first_code = next(c.source for c in notebook.cells if c.cell_type == "code")
    assert "profile = setup(" in first_code, f"{source.name}: the first code cell must call course_utils.setup()."
    assert "연습" in last_markdown, f"{source.name} must end with exercises (연습 문제)."


COLAB_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}
DRIVE_LESSONS = {"05_alpaca_qlora_sft", "06_evaluation", "08_ironman_persona", "09_persona_preference"}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_opens_a_t4_gpu_runtime_in_colab(source: Path):
    """Without this metadata an Open-in-Colab badge starts a CPU runtime; the .py header is its one source."""
    for path in (source, source.with_suffix(".ipynb")):
        metadata = jupytext.read(path).metadata
        found = {key: metadata.get(key) for key in COLAB_METADATA}
        assert found == COLAB_METADATA, f"{path.name} lacks Colab's GPU metadata {COLAB_METADATA}: add it to the .py header, then `make sync`."


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_first_cell_leaves_installing_to_setup(source: Path):
    """The install logic lives in course_utils.setup, so the first cells cannot drift apart."""
    first_code = next(c.source for c in jupytext.read(source).cells if c.cell_type == "code")
    assert "pip" not in first_code, f"{source.name}: installing belongs to course_utils.setup(), not the first cell."
    wants_drive = "setup(drive=True)" in first_code
    assert wants_drive == (source.stem in DRIVE_LESSONS), (
        f"{source.name}: lessons 05, 06, 08 and 09 (and only they) keep their outputs on Drive with setup(drive=True)."
    )


def test_claims_that_make_test_leaves_to_the_notebooks_are_asserted_there():
    """make test deselects the unit tests marked also_asserted_by_a_notebook; the notebooks must still assert their claims."""
    root = Path(__file__).resolve().parent.parent
    source = {n: (root / "notebooks" / f"{n}.py").read_text(encoding="utf-8") for n in ("05_alpaca_qlora_sft", "06_evaluation", "08_ironman_persona")}
    assert "assert final_eval_loss < base_eval_loss - 0.05" in source["05_alpaca_qlora_sft"]
    assert "assert tuned_loss < base_loss - 0.05" in source["06_evaluation"]
    assert 'abs(tuned_loss - recorded["eval_loss_after"]) < 0.1' in source["06_evaluation"]
    for claim in ('"training loss fell"', '"held-out answers likelier at the best step"', '"marker rate +20%p"',
                  'assert tokenizer.decode(trained).startswith(fit_rows[0]["output"][:20])',
                  'assert relative < 5e-3 and top1 >= 0.98', "assert gguf_tokenizer.chat_template == tokenizer.chat_template"):
        assert claim in source["08_ironman_persona"], claim
    assert '-m "not also_asserted_by_a_notebook"' in (root / "Makefile").read_text()
