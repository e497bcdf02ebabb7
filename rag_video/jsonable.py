"""One JSON coercion for every JSON document rag-video writes (CLI --json, manifests, SQL rows).

A hand function rather than `pydantic_core.to_jsonable_python`: that one writes UTC datetimes
with `Z`, durations as ISO 8601 text and decimals as strings, which would change the documents.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import os
from decimal import Decimal
from typing import Any


def to_jsonable(value: Any, *, finite: bool = False, strict: bool = False) -> Any:
    """`value` as plain JSON values, recursively: datetimes, dates and times ISO 8601, durations
    in seconds, decimals as floats, bytes base64, paths as text, numpy scalars and arrays as
    numbers and lists, tuples and sets as lists, Arrow month-day-nano intervals as objects.

    Works both as a whole-document converter and as `json.dumps(default=...)`. `finite`: NaN
    and infinities become None (else they are left to json.dumps' `allow_nan`). Anything else
    becomes its `str()`, or with `strict` a TypeError naming its type."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if finite and not math.isfinite(value) else value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "months") and hasattr(value, "nanoseconds"):  # MonthDayNano (a tuple)
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, finite=finite, strict=strict) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, finite=finite, strict=strict) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return to_jsonable(value.tolist(), finite=finite, strict=strict)
    if strict:
        raise TypeError(
            f"value of type {type(value).__name__} is not JSON-serialisable: {value!r}"[:200]
        )
    return str(value)  # UUID and anything else without a JSON form
