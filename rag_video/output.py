"""Human output on stdout: tables."""

from __future__ import annotations

import sys
from typing import Any


def print_table(rows: list[dict], title: str | None = None, columns: list[str] | None = None) -> None:
    """A human table on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    columns = columns or (list(rows[0]) if rows else [])
    for name in columns:
        table.add_column(str(name), overflow="fold")
    for row in rows:
        table.add_row(*[_cell(row[c]) for c in columns])
    Console(file=sys.stdout, width=max(100, min(200, Console().width))).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)
