"""Writing SQL results: a terminal table, JSON rows, CSV."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pyarrow as pa

TABLE_ROW_LIMIT = 1000


def plain(value):
    """A JSON-friendly form of an Arrow value (timestamps ISO 8601, bytes as a size note)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    return value


def to_json_rows(table: pa.Table) -> str:
    return json.dumps([plain(r) for r in table.to_pylist()], ensure_ascii=False)


def to_csv(table: pa.Table) -> str:
    import pyarrow.csv as pcsv

    simple = table.select([c for c in table.column_names
                           if not pa.types.is_nested(table.schema.field(c).type)
                           and not pa.types.is_binary(table.schema.field(c).type)])
    buf = io.BytesIO()
    pcsv.write_csv(simple, buf)
    return buf.getvalue().decode()


def write_result(table: pa.Table, query: str, fmt: str, output: str | None) -> None:
    """Write `table` in `fmt` to `output` (atomically) or stdout."""
    from rag_video.sql import display_columns

    if fmt == "json":
        text = to_json_rows(table) + "\n"
    elif fmt == "csv":
        text = to_csv(table)
    else:
        text = None
    if output:
        from rag_video.store import atomic_write_text

        atomic_write_text(Path(output), text if text is not None else to_csv(table))
        return
    if text is not None:
        sys.stdout.write(text)
        return
    from rag_video.output import print_table

    shown = display_columns(table, query)
    rows = [plain(r) for r in shown.slice(0, TABLE_ROW_LIMIT).to_pylist()]
    print_table(rows, columns=shown.column_names)
    if table.num_rows > TABLE_ROW_LIMIT:
        print(f"({table.num_rows} rows; first {TABLE_ROW_LIMIT} shown)", file=sys.stderr)
