"""The read-only check of `rag-video sql`: one statement per query, and only a read-only one.

Accepted: SELECT (also WITH, FROM-first, VALUES, TABLE, DESCRIBE, SHOW, SUMMARIZE, which DuckDB
parses as SELECT) or EXPLAIN of one, with no data-modifying CTE inside and no function that runs
a SQL string. The check reads DuckDB's own parse tree (json_serialize_sql), so it sees the
statement as the engine will run it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag_video.errors import UsageError, one_line

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection, Statement

ALLOWED_WORDS = "SELECT, WITH, FROM, VALUES, TABLE, EXPLAIN, DESCRIBE, SHOW or SUMMARIZE"
READ_ONLY_NODES = {"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"}
UNCHECKABLE_FUNCTIONS = {"query"}  # runs a SQL string that the statement check cannot see

_EXPLAIN_PREFIX = re.compile(
    r"^\s*explain\b\s*(?:analy[sz]e\b\s*)?(?:\([^)]*\)\s*)?", re.IGNORECASE
)


class SqlError(UsageError):
    """A refused or failed statement (exit 2); the message says why in one line."""


@dataclass(frozen=True)
class CheckedQuery:
    """A statement that passed the read-only check.

    `kind` is SELECT or EXPLAIN; `named` holds the output names the top-level select list spells
    out (aliases and plain column references), `has_star` whether it expands a `*`.
    """

    text: str
    kind: str
    named: frozenset[str] = field(default_factory=frozenset)
    has_star: bool = True


def check_statement(con: DuckDBPyConnection, query: str) -> CheckedQuery:
    """Refuse anything but one read-only statement; raise SqlError saying why in one line."""
    stmt = _single_statement(con, query)
    kind, text = _kind(stmt), stmt.query.strip()
    if kind == "EXPLAIN":
        inner = _single_statement(con, _EXPLAIN_PREFIX.sub("", text, count=1))
        if _kind(inner) != "SELECT":
            raise SqlError(
                f"refused: EXPLAIN {_first_word(inner.query)} is not allowed (the library is "
                f"read-only; EXPLAIN only a SELECT)"
            )
        _check_tree(_parse_tree(con, inner.query))
        return CheckedQuery(text=text, kind=kind)
    if kind != "SELECT":
        raise SqlError(
            f"refused: {_first_word(text)} statements are not allowed (the library is "
            f"read-only; use {ALLOWED_WORDS})"
        )
    tree = _parse_tree(con, text)
    _check_tree(tree)
    named, has_star = _select_list_names(tree)
    return CheckedQuery(text=text, kind=kind, named=named, has_star=has_star)


def _single_statement(con: DuckDBPyConnection, query: str) -> Statement:
    try:
        statements = con.extract_statements(query)
    except (
        Exception
    ) as exc:  # duckdb.ParserException, or ValueError for statement kinds Python lacks
        raise SqlError(f"refused: cannot parse the statement: {one_line(exc)}") from None
    if len(statements) != 1:
        raise SqlError(f"refused: exactly one statement per query, got {len(statements)}")
    return statements[0]


def _kind(stmt: Statement) -> str:
    """The statement type's name (UNKNOWN for types this duckdb's Python enum does not list)."""
    try:
        return stmt.type.name
    except ValueError:
        return "UNKNOWN"


def _first_word(text: str) -> str:
    words = text.split(None, 1)
    return words[0].upper() if words else "empty"


def _parse_tree(con: DuckDBPyConnection, text: str) -> dict:
    """DuckDB's own parse tree of a SELECT statement (json_serialize_sql)."""
    raw = con.execute("SELECT json_serialize_sql(?)", [text]).fetchall()[0][0]
    tree = json.loads(raw)
    if tree.get("error"):
        message = " ".join(str(tree.get("error_message", "")).split())
        raise SqlError(f"refused: cannot parse the statement: {message}")
    return tree


def _check_tree(tree: Any) -> None:
    """Refuse data-modifying CTEs/subqueries and functions that run SQL strings."""
    for node in walk(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE") and kind not in READ_ONLY_NODES:
            verb = kind.removesuffix("_NODE").removesuffix("_QUERY")
            raise SqlError(
                f"refused: {verb} inside a query is not allowed (the library is read-only)"
            )
        name = node.get("function_name") if node.get("class") == "FUNCTION" else None
        if kind == "TABLE_FUNCTION":
            name = (node.get("function") or {}).get("function_name")
        if name in UNCHECKABLE_FUNCTIONS:
            raise SqlError(
                f"refused: function {name}() is not allowed (it runs SQL that cannot be checked)"
            )


def walk(tree: Any) -> Iterator[dict]:
    """Every dict of a parse tree (or EXPLAIN plan), depth first."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _select_list_names(tree: dict) -> tuple[frozenset[str], bool]:
    """Output names a top-level select list spells out, and whether it has a `*`."""
    node = tree["statements"][0]["node"]
    while node.get("type") == "SET_OPERATION_NODE":
        node = (node.get("children") or [node.get("left")])[0] or {}
    names, star = set(), False
    for expr in node.get("select_list") or []:
        if expr.get("class") in ("STAR", "COLUMNS") or expr.get("type") in ("STAR", "COLUMNS"):
            star = True
        elif expr.get("alias"):
            names.add(expr["alias"])
        elif expr.get("class") == "COLUMN_REF":
            names.add(expr["column_names"][-1])
    if node.get("type") != "SELECT_NODE" or not node.get("select_list"):
        star = True
    return frozenset(names), star
