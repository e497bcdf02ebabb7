"""Read-only SQL over the library (DuckDB in-process, scanning the Lance tables through Arrow).

The Lance datasets are registered with DuckDB as Arrow datasets (`_sources`, `_shots`, `_renders`,
`_runs`), never loaded whole: DuckDB hands the scan its projection and the filters Arrow can
express, and Lance reads only those columns and rows. (DuckDB keeps range filters on floating-point
columns for itself, because NaN orders differently in Arrow; equality, IN, IS NULL and
integer/string ranges reach Lance.) Views on top: `sources`, `shots` (only shots whose source has an
`ok` row — the commit marker), `renders`, `runs`, `shots_with_source`.

The connection is sandboxed: external access (files, network), extension install and autoload,
community and unsigned extensions, Python variable lookups and spilling to disk are off, then the
configuration is locked so no statement can turn them back on. On top of that, only one read-only
statement per query is accepted (:mod:`rag_video.sqlcheck`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from typing import Any

import pyarrow as pa

from rag_video.errors import one_line
from rag_video.sqlcheck import CheckedQuery, SqlError, check_statement, walk
from rag_video.store import TABLES, Store

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
HIDDEN_COLUMNS = ("embedding", "thumbnail")  # left out of table output unless selected by name
BATCH_ROWS = 65_536

SANDBOX: dict[str, Any] = {
    "enable_external_access": False,  # no files, network, ATTACH of files
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "python_enable_replacements": False,  # no scanning of Python variables by name
    "temp_directory": "",  # never spill to disk
}
MEMORY_SHARE = 0.5  # DuckDB may use this share of physical memory; past it a query fails (one line)

VIEWS = {
    "sources": "SELECT * FROM _sources",
    "shots": (
        "SELECT * FROM _shots "
        "WHERE source_id IN (SELECT source_id FROM _sources WHERE status = 'ok')"
    ),
    "renders": "SELECT * FROM _renders",
    "runs": "SELECT * FROM _runs",
    "shots_with_source": (
        "SELECT s.*, src.title, src.description, src.tags, src.license, src.creator, "
        "src.duration_s AS source_duration_s, src.video_codec, src.generated "
        "FROM shots s JOIN sources src USING (source_id)"
    ),
}


# ---- the connection ------------------------------------------------------------------------


def default_memory_limit() -> str:
    """DuckDB's memory limit: MEMORY_SHARE of physical memory (DuckDB's own default is 80 %, and
    with spilling off a query past the limit fails instead of the machine swapping or an OOM
    kill)."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return f"{max(64, int(total * MEMORY_SHARE) >> 20)}MB"


def connect(store: Store, *, memory_limit: str | None = None):
    """A sandboxed DuckDB connection with the library's tables registered and its views created."""
    import duckdb

    config = {**SANDBOX, "memory_limit": memory_limit or default_memory_limit()}
    con = duckdb.connect(":memory:", config=config)
    register_tables(con, store)
    for name, body in VIEWS.items():
        con.execute(f"CREATE TEMP VIEW {name} AS {body}")
    con.execute("SET lock_configuration = true")
    return con


def register_tables(con, store: Store) -> None:
    """(Re-)register the latest snapshot of each table as `_name` (the views read through them)."""
    for name in TABLES:
        con.register(f"_{name}", _table_source(store, name))


def _table_source(store: Store, name: str):
    """The Lance dataset of table `name` (scanned lazily), or an empty table with its schema."""
    ds = store.dataset(name)
    if ds is not None:
        return _filter_safe(ds)
    return store.table_schema(name).empty_table()


def _needs_arrow_filter(kind: pa.DataType) -> bool:
    """Column types Lance cannot filter on when DuckDB pushes a filter down: Lance hands pushed
    filters to Substrait, which has no fixed-size list (the embedding) or extension types."""
    if pa.types.is_fixed_size_list(kind) or isinstance(kind, pa.BaseExtensionType):
        return True
    if pa.types.is_struct(kind):
        return any(_needs_arrow_filter(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _needs_arrow_filter(kind.value_type)
    return False


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _filter_safe(ds):
    """The dataset, its `scanner` evaluating in Arrow the pushed-down filters that touch a column
    Lance cannot filter on (`embedding IS NOT NULL` would fail otherwise): Lance scans the needed
    columns unfiltered, Arrow filters and projects them. Other filters still reach Lance.

    DuckDB looks `scanner` up on the type, so the dataset's class is swapped for a subclass."""
    if not any(_needs_arrow_filter(f.type) for f in ds.schema):
        return ds
    ds.__class__ = _filter_safe_class(type(ds))
    return ds


@functools.cache
def _filter_safe_class(base: type) -> type:
    def scanner(self, *args, columns=None, filter=None, **kwargs):  # pyarrow's keywords
        names = self.schema.names
        used = set(_IDENTIFIER.findall(str(filter))) & set(names) if filter is not None else set()
        if not any(_needs_arrow_filter(self.schema.field(n).type) for n in used):
            return base.scanner(self, *args, columns=columns, filter=filter, **kwargs)
        import pyarrow.dataset as pds

        shown = list(names if columns is None else columns)
        inner = base.scanner(self, columns=[n for n in names if n in set(shown) | used])
        return pds.Scanner.from_batches(inner.to_reader(), filter=filter, columns=shown)

    return type(f"FilterSafe{base.__name__}", (base,), {"scanner": scanner})


# ---- running queries -----------------------------------------------------------------------


class SqlSession:
    """One sandboxed connection over a snapshot of the library, for one or more queries.

    with SqlSession(store, timeout=10) as session:
        table = session.query("select count(*) from shots")
    """

    def __init__(
        self, store: Store, *, timeout: float = DEFAULT_TIMEOUT_S, memory_limit: str | None = None
    ):
        if not timeout > 0:
            raise SqlError(f"timeout={timeout!r}: must be a positive number of seconds")
        self.timeout = float(timeout)
        self.store = store
        self.con = connect(store, memory_limit=memory_limit)

    def __enter__(self) -> SqlSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the DuckDB connection."""
        self.con.close()

    def check(self, query: str) -> CheckedQuery:
        """The read-only check alone (raises SqlError)."""
        return check_statement(self.con, query)

    def setting(self, name: str) -> Any:
        """A DuckDB setting's current value, as the engine sees it."""
        return self.con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]

    def scans(self, query: str) -> list[dict[str, list[str]]]:
        """The Arrow scans of the query's plan: for each, the `filters` and `projections` DuckDB
        hands to the Lance scanner (EXPLAIN, nothing is run)."""
        plan = self.query(f"EXPLAIN (FORMAT json) {query}")
        nodes = [
            n
            for n in walk(json.loads(plan.column("explain_value")[0].as_py()))
            if str(n.get("name", "")).endswith("ARROW_SCAN")
        ]
        return [
            {
                "filters": _as_list(n["extra_info"].get("Filters")),
                "projections": _as_list(n["extra_info"].get("Projections")),
            }
            for n in nodes
        ]

    def query(self, query: str, *, max_rows: int | None = None) -> pa.Table:
        """The result of one read-only statement; at most `max_rows` rows when given.

        The session reads the snapshot of each table it registered; when another process has
        compacted a table since (`optimize` deletes the old fragments), the statement fails with
        a missing file: the session then re-registers the latest snapshots and runs it once more."""
        import duckdb

        checked = self.check(query)
        for attempt in (1, 2):
            try:
                return self._run(checked, max_rows)
            except duckdb.Error as exc:
                if attempt == 2 or not _is_vanished_snapshot(exc):
                    raise SqlError(one_line(exc)) from None
                log.info(
                    "a table changed under the session (%s); reading its latest version",
                    one_line(exc)[:200],
                )
                register_tables(self.con, self.store)
        raise AssertionError("unreachable")

    def _run(self, checked: CheckedQuery, max_rows: int | None) -> pa.Table:
        import duckdb

        timer = threading.Timer(self.timeout, self.con.interrupt)
        timer.start()
        try:
            return _fetch(self.con.sql(checked.text), max_rows)
        except duckdb.InterruptException:
            raise SqlError(
                f"query cancelled after the {self.timeout:g}s timeout (raise --timeout)"
            ) from None
        except duckdb.PermissionException as exc:
            raise SqlError(f"refused: {_permission_message(exc)}") from None
        except duckdb.OutOfMemoryException as exc:
            detail = (
                one_line(exc)
                .split(" Database is launched")[0]
                .removeprefix("Out of Memory Error: ")
            )
            raise SqlError(
                f"query ran out of memory (limit {self.setting('memory_limit')}): {detail[:300]}"
            ) from None
        except MemoryError:
            raise SqlError(
                "query ran out of memory converting its result (select fewer rows or "
                "columns, or export with -o)"
            ) from None
        finally:
            timer.cancel()


def _fetch(relation, max_rows: int | None) -> pa.Table:
    if relation is None:
        return pa.table({})
    if max_rows is None:
        return relation.to_arrow_table()
    if max_rows < 0:
        raise SqlError(f"max_rows={max_rows}: must be >= 0")
    reader = relation.to_arrow_reader(min(BATCH_ROWS, max(max_rows, 1)))
    batches, rows = [], 0
    while rows < max_rows:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        batches.append(batch.slice(0, max_rows - rows))
        rows += batches[-1].num_rows
    reader.close()
    return pa.Table.from_batches(batches, schema=reader.schema)


_VANISHED = re.compile(
    r"Not found: \S*\.lance\b|LanceError\(IO\).*(?:not found|No such file)", re.IGNORECASE
)


def _is_vanished_snapshot(exc: Exception) -> bool:
    """A scan failed because a file of the registered table snapshot is gone (compacted away)."""
    return bool(_VANISHED.search(str(exc)))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _permission_message(exc: Exception) -> str:
    text = one_line(exc).removeprefix("Permission Error: ")
    return text.replace(
        "file system operations are disabled by configuration",
        "rag-video sql reads only the library's tables",
    )


def run_sql(
    store: Store, query: str, *, timeout: float = DEFAULT_TIMEOUT_S, max_rows: int | None = None
) -> pa.Table:
    """Result of one read-only statement as an Arrow table (at most `max_rows` rows when given)."""
    with SqlSession(store, timeout=timeout) as session:
        return session.query(query, max_rows=max_rows)


# ---- table output --------------------------------------------------------------------------


def selected_names(query: str) -> CheckedQuery | None:
    """What the top-level select list of `query` names (None when it does not parse as SELECT)."""
    import duckdb

    con = duckdb.connect(":memory:", config=dict(SANDBOX))
    try:
        return check_statement(con, query)
    except SqlError:
        return None
    finally:
        con.close()


def is_bulky(field_: pa.Field) -> bool:
    """Vector or binary (thumbnail-like) columns, hidden from table output unless named."""
    kind = field_.type
    return (
        field_.name in HIDDEN_COLUMNS
        or pa.types.is_fixed_size_list(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def display_columns(table: pa.Table, query: str) -> pa.Table:
    """Drop vector and thumbnail columns from table output unless the query selects them by name."""
    checked = selected_names(query)
    named = checked.named if checked else frozenset()
    has_star = checked.has_star if checked else True
    keep = [
        i
        for i, f in enumerate(table.schema)
        if not (has_star and is_bulky(f) and f.name not in named)
    ]
    return table.select(keep)


def hidden_columns(table: pa.Table, shown: pa.Table) -> list[str]:
    """Column names of `table` left out of `shown`."""
    kept = set(shown.column_names)
    return [c for c in table.column_names if c not in kept]
