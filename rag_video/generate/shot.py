"""One planned shot of a make, in one shape from planning to the manifest: what it shows, its
decision and why, the source clips it draws on, and how it was rendered.

`ShotJob` is filled in stage by stage (planned and decided by :mod:`jobs`, rendered by
:mod:`render`, placed in the output by :mod:`record`); its dump, in field order, is the
manifest's shot entry (keys in DESIGN.md, "Manifest"), and reading a manifest validates each
entry back into one (extra keys ignored). `source` is the list of clips a shot shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

Decision = Literal["reuse", "restyle", "fill"]
DECISIONS: tuple[str, ...] = get_args(Decision)


class Record(BaseModel):
    """A manifest record: validated on read, unknown keys ignored, read-only."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Reason(Record):
    """Why a shot got its decision: its score against the thresholds, runner-up, override."""

    score: float | None = None
    reuse_threshold: float | None = None
    fill_threshold: float | None = None
    runner_up: float | None = None
    override: str | None = None
    text: str = ""
    coverage: dict[str, Any] | None = None  # {method, why}: how footage covers the planned duration
    licence: str | None = None  # what the sources' licences changed (generate/rights.py)


class Candidate(Record):
    """One retrieved candidate of a shot."""

    shot_id: str
    score: float
    path: str = ""
    start_s: float | None = None


class SourceClip(Record):
    """One clip a planned shot shows: a range of a retrieved source shot (seconds), its speed and
    crop.

    ``duration_s`` is what the clip lasts in the output (``(out_s - in_s) / speed``, plus any held
    frames); ``crop`` is its crop track (:mod:`rag_video.generate.reframe`), None for a letterbox or
    an old manifest; ``shot_start_s``/``shot_end_s`` the span of the source shots it is cut from
    (the handles are what lies either side of the clip); ``out_start_s``/``out_end_s`` where it
    lands in the output (reuse shots only: absent from the manifest until placed)."""

    shot_id: str
    shot_ids: list[str] = []
    path: str
    in_s: float = Field(ge=0)
    out_s: float = Field(ge=0)
    speed: float = Field(default=1.0, gt=0, le=1)
    duration_s: float | None = None
    crop: dict[str, Any] | None = None
    fps: float = Field(gt=0)
    source_duration_s: float = Field(gt=0)
    shot_start_s: float | None = None
    shot_end_s: float | None = None
    handle_before_s: float = 0.0
    handle_after_s: float = 0.0
    out_start_s: float | None = None
    out_end_s: float | None = None
    license: str | None = None  # its source's licence (SPDX id when known; generate/rights.py)

    @property
    def length_s(self) -> float:
        """What the clip lasts in the output: ``duration_s``, else its range at its speed."""
        return (
            self.duration_s
            if self.duration_s is not None
            else (self.out_s - self.in_s) / self.speed
        )

    @model_serializer(mode="wrap")
    def _placed_only(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """A clip not (yet) placed in the output has no output times in the manifest."""
        data: dict[str, Any] = handler(self)
        for key in ("out_start_s", "out_end_s"):
            if data.get(key, 0) is None:
                del data[key]
        return data


class ShotJob(BaseModel):
    """A planned shot with its decision, the media it draws on and how it was rendered (the
    manifest's shot entry). Mutable: the render stage fills in its segment and spend."""

    model_config = ConfigDict(extra="ignore")

    index: int
    text: str
    caption: str | None = None
    duration_s: float = Field(gt=0)
    style: str | None = None
    decision: Decision
    score: float | None = None
    reason: Reason = Reason()
    candidates: list[Candidate] = []
    source: list[SourceClip] = []  # the clips shown, in order
    reference: dict[str, Any] | None = None  # {shot_id, path, time_s, role}: a fill's start frame
    dropped: list[dict[str, Any]] = []  # candidates not eligible, with why
    too_short: list[dict[str, Any]] = []  # candidates no coverage could stretch
    strength: float | None = None
    segment: str | None = None
    generator: str = "source"
    model: str | None = None
    steps: int = 0
    seed: int | None = None
    seconds: float = 0.0
    latent_frames: int = 0
    cached: bool = False
    fallback: str | None = None
    # where it lands in the output, once placed (a manifest's shots must be: `manifest.Manifest`)
    out_start_s: float = Field(default=0.0, ge=0)
    out_end_s: float = Field(default=0.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _clip_list(cls, data: Any) -> Any:
        """One clip (manifests before coverage) or none is a list of clips too; a lone clip lasts
        the whole shot at its own speed, uncropped."""
        if not isinstance(data, Mapping) or isinstance(data.get("source", []), list):
            return data
        clip = data.get("source")
        if clip is None:
            return {**data, "source": []}
        if isinstance(clip, Mapping):
            clip = {"speed": 1.0, "crop": None, "duration_s": data.get("duration_s"), **clip}
            return {**data, "source": [clip]}
        return data

    def media_shot_ids(self) -> list[str]:
        """The source shots this shot shows or draws on: its clips' and its reference frame's."""
        return [c.shot_id for c in self.source] + (
            [self.reference["shot_id"]] if self.reference else []
        )
