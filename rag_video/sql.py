"""Read-only SQL over the library (DuckDB in-process, scanning the Lance tables through Arrow).

The connection is sandboxed: external access (files, network, ATTACH) and extension install and
autoload are off, then the configuration is locked so no statement can turn them back on. Only
one statement per query, of a read-only kind, is accepted.
"""

from __future__ import annotations

import logging
import threading

import pyarrow as pa

from rag_video.errors import UsageError
from rag_video.store import TABLES, Store

log = logging.getLogger(__name__)

ALLOWED = {"SELECT", "EXPLAIN"}  # DuckDB parses DESCRIBE, SHOW, SUMMARIZE and WITH as SELECT
DEFAULT_TIMEOUT_S = 60.0
HIDDEN_COLUMNS = ("embedding", "thumbnail")  # left out of table output unless selected by name

SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
}

VIEWS = {
    "shots": "SELECT * FROM _shots WHERE source_id IN (SELECT source_id FROM _sources WHERE status = 'ok')",
    "sources": "SELECT * FROM _sources",
    "renders": "SELECT * FROM _renders",
    "shots_with_source": (
        "SELECT s.*, src.title, src.description, src.tags, src.license, src.creator, "
        "src.duration_s AS source_duration_s, src.video_codec, src.generated "
        "FROM shots s JOIN sources src USING (source_id)"),
}


class SqlError(UsageError):
    """A refused or failed statement (exit 2); the message says why in one line."""


def connect(store: Store):
    """A sandboxed DuckDB connection with the library's tables as views."""
    import duckdb

    con = duckdb.connect(":memory:", config=dict(SANDBOX))
    for name in TABLES:
        tbl = store.table(name)
        source = tbl.to_lance() if tbl is not None else store.read(name)
        con.register(f"_{name}", source)
    for name, body in VIEWS.items():
        con.execute(f"CREATE TEMP VIEW {name} AS {body}")
    con.execute("SET lock_configuration = true")
    return con


def check_statement(con, query: str) -> None:
    """Refuse anything but one read-only statement."""
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise SqlError(f"SQL syntax error: {_one_line(exc)}") from None
    if len(statements) != 1:
        raise SqlError(f"exactly one statement per query, got {len(statements)}")
    kind = statements[0].type.name
    if kind in ALLOWED:
        return
    raise SqlError(f"refused: {kind} statements are not allowed (the library is read-only; "
                   "use SELECT, WITH, EXPLAIN, DESCRIBE, SHOW or SUMMARIZE)")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def run_sql(store: Store, query: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> pa.Table:
    """Result of one read-only statement as an Arrow table."""
    import duckdb

    con = connect(store)
    check_statement(con, query)
    timer = threading.Timer(timeout, con.interrupt)
    timer.start()
    try:
        return con.sql(query).to_arrow_table()
    except duckdb.InterruptException:
        raise SqlError(f"query cancelled after the {timeout:g}s timeout") from None
    except duckdb.Error as exc:
        raise SqlError(_one_line(exc)) from None
    finally:
        timer.cancel()
        con.close()


def display_columns(table: pa.Table, query: str) -> pa.Table:
    """Drop vector and thumbnail columns from table output unless the query names them."""
    lowered = query.lower()
    keep = [c for c in table.column_names if c not in HIDDEN_COLUMNS or c in lowered]
    return table.select(keep)
