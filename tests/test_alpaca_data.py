"""Loading and checking Alpaca rows: bad rows are named, long rows are counted, the pipeline keeps the seed's steps."""
import json

import pytest
from datasets import Dataset
from transformers import AutoTokenizer

from course_utils.alpaca_data import (
    ALPACA_OPTIONAL, ALPACA_REQUIRED, OFFLINE_FILE, alpaca_prompt_completion, alpaca_splits, drop_too_long,
    eval_fraction, has_empty_input, load_alpaca_jsonl,
)
from course_utils.data_files import read_jsonl, row_problem
from course_utils.environment import DATA_DIR
from course_utils.offline_model import offline_model_path
from course_utils.prompts import alpaca_prompt

EOS = "<|im_end|>"


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(offline_model_path())


def test_shipped_bad_rows_file_is_refused_on_its_first_bad_row():
    with pytest.raises(ValueError, match=r"^Line 1 of alpaca_bad_rows.jsonl .*: fix or remove that line"):
        load_alpaca_jsonl(DATA_DIR / "alpaca_bad_rows.jsonl")
    problems = [row_problem(r, ALPACA_REQUIRED, ALPACA_OPTIONAL) for r in read_jsonl(DATA_DIR / "alpaca_bad_rows.jsonl")]
    assert sum(p is not None for p in problems) >= 4


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
    out = alpaca_prompt_completion(batch, EOS)
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
