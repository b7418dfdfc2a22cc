"""Reading the course's JSON Lines files and checking their rows: every error names the file and line in one sentence."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .environment import DATA_DIR


def _numbered_rows(path: str | Path) -> list[tuple[int, object]]:
    """(line number, parsed value) for every non-blank line, so later checks can name the line a learner must fix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: check the path (the course's data lives in {DATA_DIR}).")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not UTF-8 text: save it again as UTF-8 (e.g. Save as > Encoding: UTF-8).") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            raise ValueError(f"Line {number} of {path.name} is not valid JSON ({error.msg}): fix or remove that line.") from None
    return rows


def read_jsonl(path: str | Path) -> list:
    """The rows of a JSON Lines file; blank lines are skipped, a line that is not JSON is named with its number."""
    return [row for _, row in _numbered_rows(path)]


def row_problem(row: object, required: Sequence[str], optional: Sequence[str] = ()) -> str | None:
    """What is wrong with one row, or None: `required` fields must be non-empty text, `optional` ones text or absent."""
    if not isinstance(row, dict):
        return f"is a {type(row).__name__}, not an object with fields {', '.join([*required, *optional])}"
    for key in required:
        if row.get(key) is None:
            return f"has no '{key}' field"
        if not isinstance(row[key], str):
            return f"has a non-string '{key}' ({type(row[key]).__name__})"
        if not row[key].strip():
            return f"has an empty '{key}'"
    for key in optional:
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"has a non-string '{key}' ({type(row[key]).__name__})"
    return None


RowCheck = Callable[[dict], "str | None"]


def check_rows(
    rows: Iterable, required: Sequence[str], optional: Sequence[str] = (), source: str = "the dataset",
    extra_check: RowCheck | None = None, where: str = "Row", numbers: Sequence[int] | None = None,
) -> list:
    """The rows, once every one passes `row_problem` (and `extra_check`); else one sentence naming the row and field."""
    rows = list(rows)
    if not rows:
        raise ValueError(f"{source} has no rows: check the file path and that the file is not empty.")
    numbers = range(1, len(rows) + 1) if numbers is None else numbers
    for number, row in zip(numbers, rows):
        problem = row_problem(row, required, optional) or (extra_check(row) if extra_check else None)
        if problem:
            raise ValueError(f"{where} {number} of {source} {problem}: fix or remove that {where.lower()} and load the data again.")
    return rows


def read_rows(
    path: str | Path, required: Sequence[str], optional: Sequence[str] = (), extra_check: RowCheck | None = None
) -> list[dict]:
    """A JSON Lines file's rows, checked field by field; an error names the file and the line to fix."""
    numbered = _numbered_rows(path)
    return check_rows(
        [row for _, row in numbered], required, optional, source=Path(path).name, extra_check=extra_check,
        where="Line", numbers=[number for number, _ in numbered],
    )
