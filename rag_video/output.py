"""Human output on stdout: tables, and the small text helpers they use."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

ELLIPSIS = "…"
OTHER_MIN_WIDTH = 12  # a wrappable column is never squeezed below this (or its widest cell)


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 result`, `2 results` (`many` for irregular plurals)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def clip(text: Any, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when something was cut."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def print_table(
    rows: list[dict],
    title: str | None = None,
    columns: list[str] | None = None,
    whole: Iterable[str] | None = None,
) -> None:
    """A human table on stdout.

    Columns in `whole` (default: every column named ``shot_id`` or ``*_id``) are never wrapped or
    cut, so an id can be copied from the table (into ``search --like``); the table widens instead.
    Other columns wrap."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    columns = columns or (list(rows[0]) if rows else [])
    whole = set(whole) if whole is not None else {c for c in columns if str(c).endswith("_id")}
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    need = 1
    for i, name in enumerate(columns):
        longest = max([len(str(name))] + [len(r[i]) for r in cells])
        if name in whole:
            table.add_column(str(name), no_wrap=True, overflow="ignore", min_width=longest)
            need += longest + 3
        else:
            table.add_column(str(name), overflow="fold")
            need += min(longest, OTHER_MIN_WIDTH) + 3
    for row in cells:
        table.add_row(*row)
    width = max(100, min(200, Console().width), need)
    Console(file=sys.stdout, width=width).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)
