"""Tables for a notebook's output without pandas: Markdown that IPython.display renders."""
from __future__ import annotations


def markdown_table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table for IPython.display.Markdown; floats get three decimals, newlines and pipes in cells are escaped."""
    def cell(value) -> str:
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
