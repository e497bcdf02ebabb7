"""The search page's filters as one typed request: duration, aspect, source, date, colour,
motion and a free ``where``; turned into one Lance predicate over shot columns (date by the source
file's modification time) and, for colour, a check of each shot's dominant colours."""

from __future__ import annotations

import colorsys
from datetime import UTC, date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag_video.store import Store, sql_in, sql_str

Aspect = Literal["landscape", "portrait", "square"]
COLOURS = (
    "red",
    "orange",
    "yellow",
    "green",
    "cyan",
    "blue",
    "purple",
    "pink",
    "white",
    "grey",
    "black",
)
Colour = Literal[
    "red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "white", "grey", "black"
]
_HUES = (  # upper hue bound (degrees) of each chromatic family
    (15, "red"),
    (45, "orange"),
    (70, "yellow"),
    (165, "green"),
    (195, "cyan"),
    (255, "blue"),
    (290, "purple"),
    (335, "pink"),
    (360, "red"),
)
# w/h (or h/w) at most 1.05 is square; in integer form, as Lance will not compare Int32 to a float
SQUARE_PERCENT = 105


class SearchRequest(BaseModel):
    """One search: a text query, an uploaded image or a shot to find more like (the image comes
    as a file part, not here), and filters."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=500)
    like: str | None = Field(default=None, max_length=200)
    min_duration: float | None = Field(default=None, ge=0)
    max_duration: float | None = Field(default=None, ge=0)
    aspect: Aspect | None = None
    source_id: str | None = Field(default=None, max_length=200)
    since: date | None = None
    until: date | None = None
    colour: Colour | None = None
    min_motion: float | None = Field(default=None, ge=0)
    max_motion: float | None = Field(default=None, ge=0)
    where: str | None = Field(default=None, max_length=1000)
    limit: int = Field(default=24, ge=1, le=200)
    diverse: bool = False


def colour_family(hex_colour: str) -> str:
    """The colour family (one of COLOURS) of ``#rrggbb``."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, light, sat = colorsys.rgb_to_hls(r, g, b)
    if light < 0.12:
        return "black"
    if light > 0.9:
        return "white"
    if sat < 0.18 or (light < 0.2 and sat < 0.4):
        return "grey"
    degrees = hue * 360
    return next(name for bound, name in _HUES if degrees <= bound)


def has_colour(row: dict, colour: str) -> bool:
    """Whether one of the shot's dominant colours is in the family `colour`."""
    return any(colour_family(c) == colour for c in row.get("dominant_colors") or [])


def _epoch(day: date, end: bool) -> float:
    return datetime.combine(day, time.max if end else time.min, UTC).timestamp()


def predicate(req: SearchRequest, store: Store) -> str | None:
    """The Lance predicate of every filter but colour (None: no filter). The date range selects
    the sources whose file was modified in it."""
    parts = []
    if req.min_duration is not None:
        parts.append(f"duration_s >= {req.min_duration!r}")
    if req.max_duration is not None:
        parts.append(f"duration_s <= {req.max_duration!r}")
    wide = f"width * 100 > height * {SQUARE_PERCENT}"
    tall = f"height * 100 > width * {SQUARE_PERCENT}"
    if req.aspect == "landscape":
        parts.append(wide)
    elif req.aspect == "portrait":
        parts.append(tall)
    elif req.aspect == "square":
        parts.append(f"NOT ({wide}) AND NOT ({tall})")
    if req.source_id:
        parts.append(f"source_id = {sql_str(req.source_id)}")
    if req.since or req.until:
        sources = store.read("sources", columns=["source_id", "mtime"]).to_pylist()
        low = _epoch(req.since, False) if req.since else float("-inf")
        high = _epoch(req.until, True) if req.until else float("inf")
        ids = [s["source_id"] for s in sources if low <= (s["mtime"] or float("nan")) <= high]
        parts.append(sql_in("source_id", ids) if ids else "false")
    if req.min_motion is not None:
        parts.append(f"motion >= {req.min_motion!r}")
    if req.max_motion is not None:
        parts.append(f"motion <= {req.max_motion!r}")
    if req.where:
        from rag_video.index.predicate import check_predicate

        parts.append(check_predicate(req.where))
    return " AND ".join(f"({p})" for p in parts) if parts else None
