"""The manifest contract: what `make` decided and rendered for each planned shot (pydantic
models, validated on read; a shot is a :class:`rag_video.generate.shot.ShotJob`), and the
helpers every exporter shares. Keys in DESIGN.md, "Manifest".
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError
from pydantic_core import PydanticCustomError

from rag_video.errors import UsageError
from rag_video.generate.shot import Record, ShotJob
from rag_video.jsonable import to_jsonable

log = logging.getLogger(__name__)


class ManifestError(UsageError):
    """A manifest that does not follow the contract; the message names the field."""


# ---------------------------------------------------------------- the manifest contract


def _placed(shot: ShotJob) -> ShotJob:
    """A manifest's shot has its place in the output."""
    for key in ("out_start_s", "out_end_s"):
        if key not in shot.model_fields_set:
            raise PydanticCustomError("missing", f"{key}: Field required")
    return shot


PlacedShot = Annotated[ShotJob, AfterValidator(_placed)]


class Credit(Record):
    """Attribution of one source file."""

    path: str
    title: str | None = None
    license: str | None = None
    creator: str | None = None


class Cue(Record):
    """One subtitle cue: ``text`` (lines joined by "\\n") on screen from ``start_s`` to
    ``end_s`` (output seconds)."""

    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    text: str


class AudioClip(Record):
    """A piece of one stem: ``path`` from ``in_s`` to ``out_s`` (seconds of that file) heard
    from ``start_s`` to ``end_s`` of the output. ``path`` is a speech cache WAV (narration), the
    music file, or a source file (its own sound); ``text`` is what a narration clip says."""

    path: str
    in_s: float = Field(ge=0)
    out_s: float = Field(ge=0)
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    text: str | None = None
    shot: int | None = None  # the planned shot's index


STEMS = ("narration", "music", "sources")
"""The stems of a make's mix, in track order."""


class Stem(Record):
    """One stem of the mix: its clips, its loudness before the mix (None: silent), and the WAV
    written with ``--stems`` (None otherwise)."""

    name: str
    clips: list[AudioClip] = []
    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    path: str | None = None


class Sound(Record):
    """The mix of a make: its stems, how they were mixed, and the loudness of the result."""

    stems: list[Stem] = []
    voice: str | None = None
    source_audio: str = "duck"  # keep | duck | mute
    duck_db: float = 12.0
    target_lufs: float | None = None  # None: not normalised
    max_true_peak_dbtp: float | None = None
    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None


class Manifest(Record):
    """A `make` run: output format, shots in output order, credits, sound and subtitles."""

    run_id: str = ""
    script: str = ""
    library: str = ""
    created_at: str = ""
    fps: float = Field(gt=0)
    size: tuple[int, int]
    aspect: str = ""
    duration_s: float = Field(ge=0)
    output: str = ""
    title: str | None = None
    shots: list[PlacedShot]
    credits: list[Credit] = []
    sound: Sound | None = None  # None: a manifest from before narration (issue 13)
    subtitles: list[Cue] | None = None  # None: one cue per captioned shot


def parse_manifest(manifest: Mapping[str, Any] | Manifest) -> Manifest:
    """Validate a manifest dict against the contract; `ManifestError` names the first bad field."""
    if isinstance(manifest, Manifest):
        return manifest
    try:
        return Manifest.model_validate(dict(manifest))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "manifest"
        got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
        raise ManifestError(f"manifest: {where}: {err['msg']}{got}"[:300]) from None
    except TypeError as exc:
        raise ManifestError(f"manifest: not a mapping (got {type(manifest).__name__})") from exc


def write_exact(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to exactly `path` (UTF-8, "\\n" line ends) and return it."""
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return path


# ---------------------------------------------------------------- manifest JSON


def manifest_json(manifest: Mapping[str, Any]) -> str:
    """The manifest dict as given (extra keys kept), as JSON with indent 2 and a final newline."""
    try:
        return (
            json.dumps(
                dict(manifest),
                indent=2,
                ensure_ascii=False,
                allow_nan=False,
                default=partial(to_jsonable, strict=True),
            )
            + "\n"
        )
    except ValueError as exc:
        raise ManifestError(f"manifest: {exc}") from None


def write_manifest(manifest: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write `manifest_json(manifest)` to exactly `path`."""
    return write_exact(path, manifest_json(manifest))


def title_of(m: Manifest) -> str:
    return m.title or (Path(m.script).stem if m.script else "") or "rag-video"


def generation_spend(manifest: Mapping[str, Any] | Manifest) -> dict[str, float]:
    """What restyle/fill shots cost: segment count, denoiser steps and render seconds summed."""
    m = parse_manifest(manifest)
    made = [s for s in m.shots if s.decision != "reuse"]
    return {
        "segments": len(made),
        "steps": sum(s.steps for s in made),
        "seconds": sum(s.seconds for s in made),
    }
