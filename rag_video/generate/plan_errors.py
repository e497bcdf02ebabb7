"""Pydantic's validation errors of a script as one-line `ScriptError`s: the first error, then up
to three more, each with its place (1-based shot number and field) and a short human message,
e.g. ``script.yaml: shot 3: duration: must be greater than 0 (got -1)``.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from rag_video.generate.script import ScriptError

_MESSAGES = {
    "missing": "is required",
    "string_type": "must be text",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "path_type": "must be a file path",
    "list_type": "must be a list",
    "model_type": "must be a mapping of fields",
    "dict_type": "must be a mapping of fields",
    "model_attributes_type": "must be a mapping of fields",
}


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    shown = repr(value) if isinstance(value, str) else str(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _describe(error: ErrorDetails, allowed: tuple[str, ...]) -> str:
    """A short human message for one pydantic error dict."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
        return f"unknown field ({hint})"
    if kind == "greater_than":
        message = f"must be greater than {_show(ctx['gt'])}"
    elif kind == "less_than_equal":
        message = f"must be at most {_show(ctx['le'])}"
    elif kind == "greater_than_equal":
        message = f"must be at least {_show(ctx['ge'])}"
    elif kind == "too_short":
        message = f"must have at least {ctx['min_length']} item(s)"
    elif kind == "literal_error":
        message = f"must be {ctx['expected']}"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    else:
        message = _MESSAGES.get(kind, error["msg"].removeprefix("Input ").lower())
    if kind == "missing" or "file not found" in message or not error["loc"]:
        return message
    return f"{message} (got {_show(error.get('input'))})"


def from_validation(
    exc: ValidationError, source: str, *, top: type[BaseModel], shot: type[BaseModel]
) -> ScriptError:
    """Turn a pydantic ValidationError into a one-line ScriptError: its first error, then up to
    three more, each with its place (``also: shot 2: duration: …``)."""
    errors = exc.errors(include_url=False)

    def place(error: ErrorDetails) -> tuple[int | None, str | None, str]:
        loc = list(error["loc"])
        allowed = tuple(top.model_fields)
        shot_no = None
        if len(loc) >= 2 and loc[0] == "shots" and isinstance(loc[1], int):
            shot_no, loc, allowed = loc[1] + 1, loc[2:], tuple(shot.model_fields)
        return shot_no, ".".join(str(part) for part in loc) or None, _describe(error, allowed)

    shot_no, field, detail = place(errors[0])
    others = []
    for error in errors[1:4]:
        n, f, d = place(error)
        others.append(": ".join(x for x in (f"shot {n}" if n else None, f, d) if x))
    if others:
        more = f"; and {len(errors) - 4} more" if len(errors) > 4 else ""
        detail += f" (also: {'; '.join(others)}{more})"
    return ScriptError(source, detail, shot=shot_no, field=field)
