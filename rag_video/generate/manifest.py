"""The manifest contract: what `make` decided and rendered for each planned shot (pydantic
models, validated on read), and the helpers every exporter shares. Keys in DESIGN.md,
"Manifest"; `source` is the list of clips a shot shows.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rag_video.errors import UsageError

log = logging.getLogger(__name__)

Decision = Literal["reuse", "restyle", "fill"]
DECISIONS: tuple[str, ...] = ("reuse", "restyle", "fill")


class ManifestError(UsageError):
    """A manifest that does not follow the contract; the message names the field."""


# ---------------------------------------------------------------- the manifest contract


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reason(_Record):
    """Why a shot got its decision: its score against the thresholds, runner-up, override."""

    score: float | None = None
    reuse_threshold: float | None = None
    fill_threshold: float | None = None
    runner_up: float | None = None
    override: str | None = None
    text: str = ""
    coverage: dict[str, Any] | None = None  # {method, why}: how footage covers the planned duration


class Source(_Record):
    """One clip a planned shot shows: a range of a source file (seconds), its speed and crop.

    ``duration_s`` is what the clip lasts in the output (``(out_s - in_s) / speed``, plus any held
    frames); ``crop`` is its crop track (:mod:`rag_video.generate.reframe`), None for a letterbox or
    an old manifest; ``out_start_s``/``out_end_s`` where it lands in the output."""

    shot_id: str
    path: str
    in_s: float = Field(ge=0)
    out_s: float = Field(ge=0)
    fps: float = Field(gt=0)
    source_duration_s: float = Field(gt=0)
    speed: float = Field(default=1.0, gt=0, le=1)
    duration_s: float | None = None
    crop: dict[str, Any] | None = None
    shot_ids: list[str] = []
    out_start_s: float | None = None
    out_end_s: float | None = None


class Candidate(_Record):
    """One retrieved candidate of a shot."""

    shot_id: str
    score: float
    path: str = ""
    start_s: float | None = None


class ManifestShot(_Record):
    """One planned shot of the output and how it was rendered."""

    index: int
    text: str
    caption: str | None = None
    duration_s: float = Field(gt=0)
    out_start_s: float = Field(ge=0)
    out_end_s: float = Field(gt=0)
    decision: Decision
    score: float | None = None
    reason: Reason = Reason()
    source: list[Source] = []
    reference: dict[str, Any] | None = None
    dropped: list[dict[str, Any]] = []
    too_short: list[dict[str, Any]] = []
    segment: str | None = None
    generator: str = ""
    model: str | None = None
    steps: int = 0
    strength: float | None = None
    seed: int | None = None
    seconds: float = 0.0
    candidates: list[Candidate] = []
    fallback: str | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _clip_list(cls, value: Any) -> Any:
        """One clip (manifests before coverage) or none is a list of clips too."""
        if value is None:
            return []
        return [value] if isinstance(value, Mapping) else value


class Credit(_Record):
    """Attribution of one source file."""

    path: str
    title: str | None = None
    license: str | None = None
    creator: str | None = None


class Manifest(_Record):
    """A `make` run: output format, shots in output order, credits."""

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
    shots: list[ManifestShot]
    credits: list[Credit] = []


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


def _json_default(value: Any) -> Any:
    """Paths and numpy scalars/arrays as plain JSON values."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(
        f"manifest: value of type {type(value).__name__} is not JSON-serialisable: {value!r}"[:200]
    )


def manifest_json(manifest: Mapping[str, Any]) -> str:
    """The manifest dict as given (extra keys kept), as JSON with indent 2 and a final newline."""
    try:
        return (
            json.dumps(
                dict(manifest), indent=2, ensure_ascii=False, allow_nan=False, default=_json_default
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
