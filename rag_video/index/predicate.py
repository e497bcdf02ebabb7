"""The `--where` predicate: one Lance filter expression over shot columns, checked before Lance
reads it, and Lance's errors about it shortened to one line."""

from __future__ import annotations

import re

from rag_video.errors import UsageError, one_line


def predicate_error(where: str, exc: Exception) -> UsageError:
    """A one-line usage error naming a bad `--where` predicate, without Lance's internals."""
    text = one_line(exc)
    text = re.sub(r",?\s*/\S+\.rs:\d+:\d+", "", text)
    text = text.replace("Invalid user input: ", "")
    text = re.sub(r",?\s*_rowid,.*?(?=\.|$)", "", text)
    text = re.sub(
        r"Error parsing statement: SELECT 1 FROM t WHERE .*? \((sql parser error: .*)\)$",
        r"\1",
        text,
    )
    return UsageError(f"bad --where predicate {where!r}: {text[:240]}")


def check_predicate(where: str) -> str:
    """A `--where` predicate as Lance must read it: exactly one expression.

    Lance parses ``SELECT 1 FROM t WHERE <predicate>`` and keeps the first expression it reads,
    ignoring the rest (``false; drop table shots``, ``duration_s > 2)`` and ``x > 1 limit 2`` are
    all accepted today). So quotes, comments and parentheses are checked here, a ``;`` outside
    quotes is refused, and the predicate is returned wrapped in parentheses: Lance's own parser
    must then consume all of it before the closing one, or it fails. Raises UsageError."""
    if not isinstance(where, str):
        raise UsageError(f"bad --where predicate {where!r}: must be text")
    if not where.strip():
        raise UsageError("bad --where predicate '': empty")

    def bad(why: str) -> UsageError:
        return UsageError(f"bad --where predicate {where!r}: {why}")

    depth, i, n = 0, 0, len(where)
    while i < n:
        c = where[i]
        if c in "'\"`":
            j = i + 1
            while True:
                j = where.find(c, j)
                if j < 0:
                    raise bad(f"unterminated {c}...{c} starting at character {i + 1}")
                if where.startswith(c * 2, j):  # a doubled quote is the quote itself
                    j += 2
                    continue
                break
            i = j + 1
            continue
        if where.startswith("--", i):
            j = where.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if where.startswith("/*", i):
            j = where.find("*/", i + 2)
            if j < 0:
                raise bad(f"unterminated /* comment starting at character {i + 1}")
            i = j + 2
            continue
        if c == ";":
            raise bad(f"';' at character {i + 1}: give one predicate, not statements")
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise bad(f"unbalanced parentheses: ')' at character {i + 1} closes nothing")
        i += 1
    if depth:
        raise bad(f"unbalanced parentheses: {depth} '(' not closed")
    return f"({where}\n)"
