"""Loading and checking Alpaca rows: bad rows are named, long rows are counted, the pipeline keeps the seed's steps."""
import json

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from course_utils.alpaca_data import (
    OFFLINE_FILE, alpaca_splits, check_rows, drop_too_long, eval_fraction, has_empty_input, load_alpaca_jsonl,
    read_jsonl, row_problem, to_prompt_completion,
)
from course_utils.environment import DATA_DIR
from course_utils.offline_model import offline_model_path
from course_utils.prompts import alpaca_prompt

EOS = "<|im_end|>"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(offline_model_path())


@pytest.mark.parametrize("row,problem", [
    ({"instruction": "Hi", "input": ""}, "has no 'output' field"),
    ({"input": "", "output": "x"}, "has no 'instruction' field"),
    ({"instruction": "Hi", "output": "   "}, "has an empty 'output'"),
    ({"instruction": "Hi", "output": 144}, "has a non-string 'output' (int)"),
    ({"instruction": "Hi", "input": ["a"], "output": "x"}, "has a non-string 'input' (list)"),
    (["not", "a", "row"], "is a list"),
])
def test_row_problem_names_the_field(row, problem):
    assert problem in row_problem(row)


def test_good_rows_pass_and_missing_input_is_allowed():
    assert row_problem({"instruction": "Hi", "output": "Hello"}) is None
    assert row_problem({"instruction": "Hi", "input": None, "output": "Hello"}) is None
    assert check_rows([{"instruction": "a", "output": "b"}] * 3) == 3


def test_check_rows_names_the_row_and_field():
    rows = [{"instruction": "a", "output": "b"}, {"instruction": "c", "input": ""}]
    with pytest.raises(ValueError, match=r"^Row 2 of demo.jsonl has no 'output' field: fix or remove"):
        check_rows(rows, source="demo.jsonl")


def test_shipped_bad_rows_file_is_refused_on_its_first_bad_row():
    with pytest.raises(ValueError, match="Row 1 of alpaca_bad_rows.jsonl"):
        load_alpaca_jsonl(DATA_DIR / "alpaca_bad_rows.jsonl")
    problems = [row_problem(r) for r in read_jsonl(DATA_DIR / "alpaca_bad_rows.jsonl")]
    assert sum(p is not None for p in problems) >= 4


def test_invalid_json_line_and_missing_file_are_reported(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"instruction": "a", "output": "b"}\n{"instruction": \n')
    with pytest.raises(ValueError, match="Line 2 of broken.jsonl is not valid JSON"):
        read_jsonl(broken)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_shipped_data_loads_through_the_json_loader():
    dataset = load_alpaca_jsonl(OFFLINE_FILE)
    assert len(dataset) >= 300
    assert set(dataset.column_names) >= {"instruction", "input", "output"}
    assert all(isinstance(x, str) for x in dataset["input"])
    empty = sum(has_empty_input(r) for r in dataset)
    assert 0.5 < empty / len(dataset) < 0.95


def test_missing_input_column_is_added(tmp_path):
    path = tmp_path / "no_input.jsonl"
    path.write_text("\n".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) for i in range(3)))
    assert load_alpaca_jsonl(path)["input"] == ["", "", ""]


def test_batched_map_builds_prompt_and_completion():
    batch = {"instruction": ["Hi", "Translate"], "input": ["", "안녕"], "output": ["Hello", "Hello" + EOS]}
    out = to_prompt_completion(batch, EOS)
    assert out["prompt"] == [alpaca_prompt("Hi"), alpaca_prompt("Translate", "안녕")]
    assert out["completion"] == ["Hello" + EOS, "Hello" + EOS]


def test_too_long_rows_are_counted_and_reported_not_silently_dropped(tokenizer):
    rows = Dataset.from_dict({
        "prompt": [alpaca_prompt("Hi")] * 3, "completion": ["Hello" + EOS, ("word " * 300) + EOS, "Bye" + EOS],
    })
    kept, report = drop_too_long(rows, tokenizer, max_length=64)
    assert len(kept) == 2 and report.too_long == 1 and report.total == 3
    assert report.longest > 300
    assert "1 of 3 rows are longer than max_length=64" in str(report)


def test_eval_fraction_keeps_the_seeds_one_percent_for_large_data():
    assert eval_fraction(50_000) == 0.01
    assert eval_fraction(200) == 0.1
    assert eval_fraction(10) == 0.5


def test_pipeline_on_shipped_data_is_deterministic_and_fits(tokenizer):
    raw = load_alpaca_jsonl(OFFLINE_FILE)
    splits, report = alpaca_splits(raw, tokenizer, max_length=256)
    again, _ = alpaca_splits(raw, tokenizer, max_length=256)
    assert splits["test"]["prompt"] == again["test"]["prompt"]
    assert len(splits["test"]) >= 20
    assert report.total == sum(has_empty_input(r) for r in raw)
    assert len(splits["train"]) + len(splits["test"]) == report.total - report.too_long
    assert all("### Input:" not in p for p in splits["train"]["prompt"])
    assert all(c.endswith(EOS) and c.count(EOS) == 1 for c in splits["train"]["completion"])
