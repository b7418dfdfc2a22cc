"""Markdown tables for notebook output: cells are escaped so a table never breaks."""
from course_utils.tables import markdown_table


def test_markdown_table_escapes_cells():
    table = markdown_table(["a", "b"], [["x|y", "line1\nline2"], [0.12345, 3]])
    assert table.splitlines()[0] == "| a | b |"
    assert "x\\|y" in table and "line1<br>line2" in table and "0.123" in table
