"""Plain-text tables for CLI output (no third-party dependency)."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["table", "cell"]


def cell(value: Any) -> str:
    """A value as table text: '-' for missing, timestamps to the minute."""
    if value is None or value != value:  # None, NaN, NaT
        return "-"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    """Left-aligned columns separated by two spaces; long cells are cut with an ellipsis."""
    text = [[_cut(cell(v), max_width) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in text]
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
