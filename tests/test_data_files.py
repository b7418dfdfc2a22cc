"""Reading JSON Lines and checking rows: every bad line or row is named with its file and number, in one sentence."""
import json

import pytest

from course_utils.data_files import check_rows, read_jsonl, read_rows, row_problem

REQUIRED, OPTIONAL = ("instruction", "output"), ("input",)


@pytest.mark.parametrize("row,problem", [
    ({"instruction": "Hi", "input": ""}, "has no 'output' field"),
    ({"input": "", "output": "x"}, "has no 'instruction' field"),
    ({"instruction": "Hi", "output": "   "}, "has an empty 'output'"),
    ({"instruction": "Hi", "output": 144}, "has a non-string 'output' (int)"),
    ({"instruction": "Hi", "input": ["a"], "output": "x"}, "has a non-string 'input' (list)"),
    (["not", "a", "row"], "is a list"),
])
def test_row_problem_names_the_field(row, problem):
    assert problem in row_problem(row, REQUIRED, OPTIONAL)


def test_good_rows_pass_and_optional_fields_may_be_missing_or_none():
    assert row_problem({"instruction": "Hi", "output": "Hello"}, REQUIRED, OPTIONAL) is None
    assert row_problem({"instruction": "Hi", "input": None, "output": "Hello"}, REQUIRED, OPTIONAL) is None
    assert len(check_rows([{"instruction": "a", "output": "b"}] * 3, REQUIRED, OPTIONAL)) == 3


def test_check_rows_names_the_row_and_field_in_one_sentence():
    rows = [{"instruction": "a", "output": "b"}, {"instruction": "c", "input": ""}]
    with pytest.raises(ValueError, match=r"^Row 2 of demo.jsonl has no 'output' field: fix or remove that row") as error:
        check_rows(rows, REQUIRED, OPTIONAL, source="demo.jsonl")
    assert ". " not in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match="no rows"):
        check_rows([], REQUIRED, source="empty.jsonl")


def test_read_rows_names_the_file_and_the_line_not_the_row(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n\n" + json.dumps({"instruction": "c"}) + "\n")
    with pytest.raises(ValueError, match=r"^Line 3 of rows.jsonl has no 'output' field: fix or remove that line"):
        read_rows(path, REQUIRED, OPTIONAL)


def test_extra_check_adds_a_rule_and_keeps_the_line_number(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n" + json.dumps({"instruction": "a", "output": "z"}))
    shout = lambda row: "has an output that is not 'b'" if row["output"] != "b" else None
    with pytest.raises(ValueError, match="^Line 2 of rows.jsonl has an output that is not 'b'"):
        read_rows(path, REQUIRED, extra_check=shout)


def test_invalid_json_line_and_missing_file_are_reported(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"instruction": "a", "output": "b"}\n{"instruction": \n')
    with pytest.raises(ValueError, match="^Line 2 of broken.jsonl is not valid JSON"):
        read_jsonl(broken)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_a_file_not_saved_as_utf8_is_one_sentence(tmp_path):
    """Korean Windows and Excel save CP949; the learner needs the file name and the fix, not a codec traceback."""
    path = tmp_path / "rows.jsonl"
    path.write_bytes(json.dumps({"instruction": "안녕", "output": "네"}, ensure_ascii=False).encode("cp949"))
    with pytest.raises(ValueError, match=r"rows.jsonl is not UTF-8 text: save it again as UTF-8") as error:
        read_jsonl(path)
    assert "\n" not in str(error.value)
