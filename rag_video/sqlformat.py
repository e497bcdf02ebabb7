"""Writing SQL results: a terminal table, JSON rows, CSV, Parquet and Arrow IPC files.

Files are written under a temporary name next to the target, flushed, then renamed over it, so a
reader never sees half a file. Table output shows at most a row limit and hides vector and
thumbnail columns unless the query names them; exports are complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from rag_video.errors import UsageError, one_line
from rag_video.jsonable import to_jsonable
from rag_video.store import atomic_path as store_atomic_path

log = logging.getLogger(__name__)

FORMATS = ("table", "json", "csv", "parquet", "arrow")
FILE_ONLY = ("parquet", "arrow")
SUFFIXES = {
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
TABLE_ROW_LIMIT = 1000
LIST_PREVIEW = 6


# ---- JSON ------------------------------------------------------------------------------------


def write_json(table: pa.Table, fh: IO[str]) -> None:
    """Stream `table` into `fh` as a JSON array of row objects, one batch at a time."""
    fh.write("[")
    first = True
    for batch in table.to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            fh.write("" if first else ",\n")
            fh.write(json.dumps(to_jsonable(row, finite=True), ensure_ascii=False, allow_nan=False))
            first = False
    fh.write("]\n")


# ---- CSV ------------------------------------------------------------------------------------


def csv_ready(table: pa.Table) -> pa.Table:
    """Columns CSV can hold: timestamps as ISO 8601 text, nested values as JSON text, bytes
    base64."""
    import pyarrow.compute as pc

    columns = []
    for f, column in zip(table.schema, table.columns, strict=False):
        kind = f.type
        if pa.types.is_timestamp(kind):
            fmt = "%Y-%m-%dT%H:%M:%S%Ez" if kind.tz else "%Y-%m-%dT%H:%M:%S"
            column = pc.strftime(column, format=fmt)
        elif pa.types.is_nested(kind) or _is_binary(kind) or pa.types.is_interval(kind):
            column = pa.array([_csv_cell(v) for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _csv_cell(value: Any) -> str | None:
    if value is None:
        return None
    value = to_jsonable(value, finite=True)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _is_binary(kind: pa.DataType) -> bool:
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def to_csv(table: pa.Table) -> str:
    """`table` as CSV text with a header row."""
    import pyarrow.csv as pcsv

    buf = io.BytesIO()
    pcsv.write_csv(csv_ready(table), buf)
    return buf.getvalue().decode()


# ---- files ----------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to `path`; renamed over `path` when the block succeeds."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"-o {path}: folder {path.parent} does not exist")
    with store_atomic_path(path) as tmp:
        yield tmp


def write_file(table: pa.Table, fmt: str, path: str | os.PathLike) -> None:
    """Write all of `table` to `path` in `fmt` (json, csv, parquet or arrow), atomically."""
    with atomic_path(Path(path)) as tmp:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif fmt == "arrow":
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(csv_ready(table), str(tmp))
        elif fmt == "json":
            with open(tmp, "w", encoding="utf-8") as fh:
                write_json(table, fh)
        else:
            raise UsageError(
                f"--format {fmt}: cannot be written to a file (use one of "
                f"{', '.join(f for f in FORMATS if f != 'table')})"
            )


def resolve_format(fmt: str | None, output: str | None) -> str:
    """The output format: as given, else from the -o suffix, else table."""
    if fmt is None:
        if output is None:
            return "table"
        suffix = Path(output).suffix.lower()
        if suffix not in SUFFIXES:
            raise UsageError(
                f"-o {output}: cannot tell the format from {suffix or 'no suffix'!r}; "
                f"add --format {'|'.join(f for f in FORMATS if f != 'table')}"
            )
        return SUFFIXES[suffix]
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: not one of {', '.join(FORMATS)}")
    if fmt == "table" and output is not None:
        raise UsageError(
            f"-o {output}: --format table prints to the terminal; choose json, csv, "
            f"parquet or arrow for files"
        )
    if fmt in FILE_ONLY and output is None:
        raise UsageError(f"--format {fmt} writes a binary file: add -o FILE")
    return fmt


# ---- terminal table ------------------------------------------------------------------------


def cell(value: Any) -> Any:
    """A short human form of a value for a terminal table."""
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)) and len(value) > LIST_PREVIEW:
        head = ", ".join(_short(v) for v in value[:LIST_PREVIEW])
        return f"[{head}, … {len(value)} values]"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return value


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def print_result(table: pa.Table, query: str, *, max_rows: int = TABLE_ROW_LIMIT) -> None:
    """A terminal table of at most `max_rows` rows, vector/thumbnail columns hidden unless named.

    Pass a table with one row more than `max_rows` to get a note that the output was cut.
    """
    from rag_video.output import print_table
    from rag_video.sql import display_columns, hidden_columns

    shown = display_columns(table, query)
    hidden = hidden_columns(table, shown)
    rows = [{k: cell(v) for k, v in r.items()} for r in shown.slice(0, max_rows).to_pylist()]
    print_table(rows, columns=shown.column_names)
    if hidden:
        log.info("columns %s hidden; select them by name to see them", ", ".join(hidden))
    if table.num_rows > max_rows:
        log.warning(
            "more than %d rows: the first %d are shown (raise --max-rows, or export with "
            "--format json|csv|parquet|arrow for all)",
            max_rows,
            max_rows,
        )


def write_result(
    table: pa.Table, query: str, fmt: str, output: str | None, *, max_rows: int = TABLE_ROW_LIMIT
) -> None:
    """Write `table` in `fmt` to `output` (atomically) or stdout (table, json, csv). A value the
    format cannot hold (a date past Python's year 9999, an interval in Parquet) is a one-line
    usage error naming the format."""
    try:
        _write_result(table, query, fmt, output, max_rows=max_rows)
    except (OverflowError, ValueError, pa.ArrowException) as exc:
        if isinstance(exc, UsageError):
            raise
        where = f"-o {output}" if output is not None else f"--format {fmt}"
        text = one_line(exc)[:200]
        column = _unconvertible_column(table) if fmt in ("table", "json", "csv") else None
        named = f"column {column!r}" if column else "the column"
        raise UsageError(
            f"{where}: cannot write the result ({type(exc).__name__}: {text}); cast "
            f"{named} to VARCHAR in the query, or choose another format"
        ) from None


def _unconvertible_column(table: pa.Table) -> str | None:
    """The first column whose values Python cannot hold (found after a conversion failed)."""
    for name, column in zip(table.column_names, table.columns, strict=False):
        try:
            column.to_pylist()
        except (OverflowError, ValueError, pa.ArrowException):
            return name
    return None


def _write_result(
    table: pa.Table, query: str, fmt: str, output: str | None, *, max_rows: int = TABLE_ROW_LIMIT
) -> None:
    if output is not None:
        write_file(table, fmt, output)
    elif fmt == "json":
        write_json(table, sys.stdout)
    elif fmt == "csv":
        sys.stdout.write(to_csv(table))
    elif fmt == "table":
        print_result(table, query, max_rows=max_rows)
    else:
        raise UsageError(f"--format {fmt} writes a binary file: add -o FILE")
