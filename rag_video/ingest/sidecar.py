"""Sidecar metadata beside a video: `name.json`, `name.txt`, `name.srt`.

`name.json` may hold title, description, tags (list or comma string), license, creator.
`name.txt` is a description (its first line the title when the JSON gives none).
`name.srt` gives timed text; each shot's `text` gets the cues that overlap it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rag_video.media.subtitles import Cue, SubtitleError, parse_srt

log = logging.getLogger(__name__)
FIELDS = ("title", "description", "license", "creator")


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
        return text or None


def _read_json(path: Path, car: Sidecar) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("ignoring sidecar %s: %s", path, exc)
        return
    if not isinstance(data, dict):
        log.warning("ignoring sidecar %s: not a JSON object", path)
        return
    for name in FIELDS:
        if data.get(name) is not None:
            setattr(car, name, str(data[name]).strip() or None)
    tags = data.get("tags") or []
    car.tags = [t.strip() for t in (tags.split(",") if isinstance(tags, str) else tags) if str(t).strip()]


def read_sidecar(video: Path) -> Sidecar:
    """Metadata from the files that share the video's name (missing files are fine)."""
    car = Sidecar()
    if (json_path := video.with_suffix(".json")).is_file():
        _read_json(json_path, car)
    if (txt := video.with_suffix(".txt")).is_file():
        try:
            body = txt.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            body = ""
        if body:
            car.title = car.title or body.splitlines()[0].strip()
            car.description = car.description or " ".join(body.split())
    if (srt := video.with_suffix(".srt")).is_file():
        try:
            car.cues = parse_srt(srt.read_text(encoding="utf-8", errors="replace"))
        except SubtitleError as exc:
            log.warning("ignoring subtitles %s: %s", srt, exc)
    return car
