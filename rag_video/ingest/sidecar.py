"""Sidecar metadata beside a video: `name.json`, `name.txt`, `name.srt`.

`name.json` may hold title, description, tags (list or comma string), license, creator.
`name.txt` is a description (its first line the title when the JSON gives none).
`name.srt` gives timed text; each shot's `text` gets the cues that overlap it.

A sidecar never fails its video: one that cannot be read, is not UTF-8 JSON, nests too deeply,
has fields of the wrong type (`tags: 5`) or is over MAX_FILE_BYTES is ignored with a warning.
Text is sanitised (lone UTF-16 surrogates, which no UTF-8 writer accepts, become U+FFFD) and
capped at MAX_TEXT_BYTES per field (a warning says so), since it is copied into every shot.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_video.media.subtitles import Cue, SubtitleError, parse_srt

log = logging.getLogger(__name__)
FIELDS = ("title", "description", "license", "creator")
MAX_TEXT_BYTES = 64 * 1024  # per field (and per subtitle cue); longer text is cut, with a warning
MAX_SHOT_TEXT_BYTES = 4 * MAX_TEXT_BYTES  # a shot's whole searchable text
MAX_FILE_BYTES = 64 * 2**20  # a sidecar file larger than this is ignored
_SURROGATES = re.compile("[\ud800-\udfff]")


class SidecarError(ValueError):
    """A sidecar that is ignored; the message says why in one line."""


def clean_text(text: str, *, limit: int = MAX_TEXT_BYTES) -> tuple[str, bool, bool]:
    """(`text` with lone surrogates replaced by U+FFFD and cut to `limit` UTF-8 bytes,
    whether surrogates were replaced, whether it was cut)."""
    fixed = _SURROGATES.sub("\ufffd", text)
    data = fixed.encode("utf-8")
    if len(data) <= limit:
        return fixed, fixed != text, False
    return data[:limit].decode("utf-8", errors="ignore"), fixed != text, True


@dataclass
class Sidecar:
    title: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    license: str | None = None
    creator: str | None = None
    cues: list[Cue] = field(default_factory=list)

    def text_for(self, start_s: float, end_s: float) -> str | None:
        """Searchable text of a shot: the source's title and description plus overlapping cues."""
        parts = [self.title, self.description, " ".join(self.tags) or None]
        parts += [c.plain for c in self.cues if c.start_s < end_s and c.end_s > start_s]
        text = " ".join(p for p in parts if p)
        if not text:
            return None
        return clean_text(text, limit=MAX_SHOT_TEXT_BYTES)[0]


class _Cleaner:
    """Sanitises and caps the text of one sidecar file, warning once per problem."""

    def __init__(self, path: Path):
        self.path, self.replaced = path, False
        self.cut: set[str] = set()

    def __call__(self, name: str, text: str) -> str:
        fixed, replaced, cut = clean_text(text)
        self.replaced |= replaced
        if cut:
            self.cut.add(name)
        return fixed

    def warn(self) -> None:
        if self.replaced:
            log.warning(
                "sidecar %s: invalid characters (lone surrogates) replaced with U+FFFD", self.path
            )
        if self.cut:
            log.warning(
                "sidecar %s: %s cut to %d KB",
                self.path,
                ", ".join(sorted(self.cut)),
                MAX_TEXT_BYTES // 1024,
            )


def _why(exc: Exception) -> object:
    """What a warning says about an ignored sidecar: an OSError's reason, else the error."""
    return getattr(exc, "strerror", None) or exc


def _read(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SidecarError(f"{size / 2**20:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit")
    return path.read_text(encoding="utf-8", errors="replace")


def _scalar(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SidecarError(f"{name} must be text (got {type(value).__name__})")
    return str(value).strip() or None


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if not isinstance(value, list):
        raise SidecarError(
            f"tags must be a list or a comma-separated string (got {type(value).__name__})"
        )
    return [t for t in (_scalar(v, "each tag") for v in value) if t]


def parse_json_sidecar(text: str, clean: _Cleaner | None = None) -> dict[str, Any]:
    """The fields of a JSON sidecar's text (raises SidecarError for anything it cannot use)."""
    clean = clean or _Cleaner(Path("sidecar"))
    try:
        data = json.loads(text)
    except RecursionError:
        raise SidecarError("nested too deeply") from None
    except ValueError as exc:
        raise SidecarError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SidecarError("not a JSON object")
    fields = {name: _scalar(data.get(name), name) for name in FIELDS}
    tags = _tags(data.get("tags"))
    out: dict[str, Any] = {k: (clean(k, v) if v else None) for k, v in fields.items()}
    out["tags"] = [clean("tags", t) for t in tags]
    if sum(len(t.encode("utf-8")) for t in out["tags"]) > MAX_TEXT_BYTES:
        kept, used = [], 0
        for tag in out["tags"]:
            used += len(tag.encode("utf-8")) + 1
            if used > MAX_TEXT_BYTES:
                break
            kept.append(tag)
        out["tags"] = kept
        clean.cut.add("tags")
    return out


def _read_json(path: Path, car: Sidecar) -> None:
    clean = _Cleaner(path)
    try:
        fields = parse_json_sidecar(_read(path), clean)
    except (OSError, SidecarError) as exc:
        log.warning("ignoring sidecar %s: %s", path, _why(exc))
        return
    clean.warn()
    for name in FIELDS:
        if fields[name] is not None:
            setattr(car, name, fields[name])
    car.tags = fields["tags"]


def read_sidecar(video: Path) -> Sidecar:
    """Metadata from the files that share the video's name (missing files are fine)."""
    car = Sidecar()
    if (json_path := video.with_suffix(".json")).is_file():
        _read_json(json_path, car)
    if (txt := video.with_suffix(".txt")).is_file():
        clean = _Cleaner(txt)
        try:
            body = clean("text", _read(txt).strip())
        except (OSError, SidecarError) as exc:
            log.warning("ignoring sidecar %s: %s", txt, _why(exc))
            body = ""
        clean.warn()
        if body:
            car.title = car.title or body.splitlines()[0].strip()
            car.description = car.description or " ".join(body.split())
    if (srt := video.with_suffix(".srt")).is_file():
        clean = _Cleaner(srt)
        try:
            cues = parse_srt(_read(srt))
            car.cues = [Cue(c.index, c.start_s, c.end_s, clean("cues", c.text)) for c in cues]
        except (OSError, SidecarError, SubtitleError) as exc:
            log.warning("ignoring subtitles %s: %s", srt, _why(exc))
        clean.warn()
    return car
