"""The field types of a script's plan and storyboard, each with its check: shot text, optional
text, durations (seconds, not true/false, within ``[MIN_SHOT_S, MAX_SHOT_S]``), frame rates,
aspects (``W:H``) and reference files (resolved against the script's folder, which must hold
them). A failed check raises ``ValueError`` for pydantic to report with the field's place.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

MAX_SHOT_S = 60.0  # the longest single shot a script may ask for
MIN_SHOT_S = 0.1  # the shortest (a couple of frames at any common rate)
MAX_FPS = 240.0
COMMON_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "21:9")


def _stripped(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _optional_stripped(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


_ASPECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$", re.ASCII)


def _aspect(value: str | None) -> str | None:
    """Normalise "W:H" (W, H positive numbers); the common ones are listed in the error."""
    if value is None:
        return None
    match = _ASPECT.match(value)
    if not match or float(match[1]) <= 0 or float(match[2]) <= 0:
        raise ValueError(f"must be W:H with positive numbers, e.g. {', '.join(COMMON_ASPECTS)}")
    return f"{match[1]}:{match[2]}"


def _existing_path(value: Path | None, info: ValidationInfo) -> Path | None:
    """Resolve a reference path relative to the script's folder (validation context
    ``base_dir``) and require the file to exist."""
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    path = value.expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    path = path.resolve()
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


ShotText = Annotated[str, AfterValidator(_stripped)]
OptionalText = Annotated[str | None, AfterValidator(_optional_stripped)]


def _not_bool(value: Any) -> Any:
    """YAML's `true` is not a number of seconds (pydantic would read it as 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")  # noqa: TRY004 - pydantic wants ValueError
    return value


def _min_duration(value: float) -> float:
    if value < MIN_SHOT_S:
        raise ValueError(f"must be at least {MIN_SHOT_S:g} seconds")
    return value


Duration = Annotated[
    float, BeforeValidator(_not_bool), Field(gt=0, le=MAX_SHOT_S), AfterValidator(_min_duration)
]
Fps = Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=MAX_FPS)]
Aspect = Annotated[str | None, AfterValidator(_aspect)]
ExistingPath = Annotated[Path | None, AfterValidator(_existing_path)]
