"""Scripts for `rag-video make`: plain text, YAML/JSON storyboards and SRT validated into a `Plan`
(the files are read by `generate.script`; this module holds the plan models and builds them;
the field checks are in `generate.plan_fields`, the error messages in `generate.plan_errors`).

Every format is first turned into the same raw storyboard (a mapping with a `shots:` list), then
validated once by pydantic, so every mistake gets the same kind of message: one line naming the
script, the 1-based shot number (for shot fields) and the field, e.g.
``script.yaml: shot 3: duration: must be greater than 0 (got -1)``.

Formats (chosen by the file extension):

- plain text (``.txt``, ``.md``): blank-line-separated paragraphs, one shot each (lines of a
  paragraph are joined with single spaces). ``by_sentence=True`` makes each sentence a shot. In
  ``.md`` files, lines starting with ``#`` are headings, not shots; the first heading, when it
  comes before any shot, becomes the plan's title.
- storyboard (``.yaml``, ``.yml``, ``.json``): top-level ``title``, ``aspect``, ``fps``,
  ``music``, ``voice`` (``ENGINE:VOICE``, see `rag_video.voice`) and ``shots:``; per shot
  ``text`` (required: what the shot shows, used for retrieval and generation), ``narration``
  (what is spoken over it), ``duration`` (seconds), ``caption`` (on-screen text), ``image``
  (reference picture, relative to the script's folder), ``style`` and ``decision``
  (``reuse|restyle|fill``, overrides the score thresholds). A shot may be written as a bare
  string (its text); a top-level list is read as the shots. YAML is read with a
  ``yaml.SafeLoader`` subclass that does not turn ``16:9`` into the sexagesimal integer 969
  (YAML 1.1), so ``aspect: 16:9`` needs no quotes.
- SRT (``.srt``): each cue is a shot; its timing gives the duration, its text (as written) the
  caption, and its text without markup (``<i>``, ``{\\an8}``) the query. Gaps and overlaps
  between cues are ignored: shots are laid back to back, so the plan starts at 0 and lasts the
  sum of the cue durations.

Shots without a duration get `default_duration(text)`. With ``make --narrate`` a plain-text
paragraph or an SRT cue is also the shot's narration (`generate.narration`), and a narrated shot
lasts at least its speech.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from rag_video.generate.plan_errors import from_validation
from rag_video.generate.plan_fields import (
    Aspect,
    Duration,
    ExistingPath,
    Fps,
    OptionalText,
    ShotText,
)
from rag_video.generate.script import (
    SRT_EXTENSIONS,
    SUPPORTED,
    TEXT_EXTENSIONS,
    ScriptError,
    parse_structured,
    read_script,
    srt_raw,
    storyboard_raw,
    text_raw,
)
from rag_video.generate.shot import Decision

log = logging.getLogger(__name__)

# Default shot length: a base for the eye to settle plus reading/narration time at about
# 2.5 words per second (a relaxed narration pace), clamped so that a one-word shot is not a
# flash and a long paragraph is not a still life. Rounded to 0.1 s.
BASE_S = 1.0
WORDS_PER_S = 2.5
MIN_DEFAULT_S = 2.0
MAX_DEFAULT_S = 8.0
# Bounds on what one script may ask for: retrieval and the plan-wide assignment grow with the
# number of shots (a 2 000-shot plan assigns over ~24 000 candidates), rendering with the length.
MAX_SHOTS = 2000
MAX_PLAN_S = 3 * 3600.0


# ----------------------------------------------------------------------------- the plan


class PlannedShot(BaseModel):
    """One shot of a plan: what it shows (`text`), for how long, and the author's overrides."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)  # 0-based position in the plan
    text: ShotText
    duration_s: Duration
    caption: OptionalText = None
    narration: OptionalText = None  # spoken over the shot (None: silent)
    image: ExistingPath = None  # absolute once validated
    style: OptionalText = None
    decision: Decision | None = None
    start_s: float = Field(default=0.0, ge=0)  # recomputed by Plan: sum of earlier durations


class Plan(BaseModel):
    """A validated script: shots back to back from 0, plus output hints (aspect, fps, music,
    voice)."""

    model_config = ConfigDict(extra="forbid")

    title: OptionalText = None
    aspect: Aspect = None
    fps: Fps | None = None
    music: ExistingPath = None
    voice: OptionalText = None
    shots: list[PlannedShot] = Field(min_length=1)
    source: str  # the script's path

    @model_validator(mode="after")
    def _number_and_time(self) -> Plan:
        """Check indices follow file order and lay the shots back to back (start_s)."""
        if len(self.shots) > MAX_SHOTS:
            raise ValueError(f"{len(self.shots)} shots: a script may have at most {MAX_SHOTS}")
        elapsed: list[float] = []
        for position, shot in enumerate(self.shots):
            if shot.index != position:
                raise ValueError(
                    f"shot {position + 1}: index: must be {position} (got {shot.index})"
                )
            shot.start_s = round(math.fsum(elapsed), 6)
            elapsed.append(shot.duration_s)
        total = math.fsum(elapsed)
        if total > MAX_PLAN_S:
            raise ValueError(
                f"the shots last {total / 60:.0f} min: a script may last at most "
                f"{MAX_PLAN_S / 3600:g} hours"
            )
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_s(self) -> float:
        """Total length in seconds: the sum of the shot durations."""
        return round(math.fsum(s.duration_s for s in self.shots), 6)


# ----------------------------------------------------------------------------- what users write


class _ShotSpec(BaseModel):
    """One storyboard shot as the user writes it (a bare string is shorthand for its text)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    text: ShotText
    duration: Duration | None = None
    caption: OptionalText = None
    narration: OptionalText = None
    image: ExistingPath = None
    style: OptionalText = None
    decision: Decision | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_text(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str) else data


class _StoryboardSpec(BaseModel):
    """A storyboard as the user writes it."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    title: OptionalText = None
    aspect: Aspect = None
    fps: Fps | None = None
    music: ExistingPath = None
    voice: OptionalText = None
    shots: list[_ShotSpec]


# ----------------------------------------------------------------------------- durations, sentences


def default_duration(text: str) -> float:
    """Seconds for a shot with no explicit duration: ``BASE_S + words / WORDS_PER_S``, clamped to
    ``[MIN_DEFAULT_S, MAX_DEFAULT_S]`` and rounded to 0.1 s."""
    words = len(text.split())
    seconds = BASE_S + words / WORDS_PER_S
    return round(min(MAX_DEFAULT_S, max(MIN_DEFAULT_S, seconds)), 1)


# ----------------------------------------------------------------------------- building the plan


def _validate_spec(raw: dict[str, Any], source: str, base_dir: Path) -> _StoryboardSpec:
    try:
        return _StoryboardSpec.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise from_validation(exc, source, top=_StoryboardSpec, shot=_ShotSpec) from exc


def _plan_from_spec(
    spec: _StoryboardSpec, source: str, resolved: Path, default_fps: float | None
) -> Plan:
    if not spec.shots:
        raise ScriptError(source, "script has no shots")
    shots = [
        {
            "index": i,
            "text": s.text,
            "caption": s.caption,
            "narration": s.narration,
            "image": s.image,
            "style": s.style,
            "decision": s.decision,
            "duration_s": s.duration if s.duration is not None else default_duration(s.text),
        }
        for i, s in enumerate(spec.shots)
    ]
    raw = {
        "title": spec.title,
        "aspect": spec.aspect,
        "fps": spec.fps or default_fps,
        "music": spec.music,
        "voice": spec.voice,
        "shots": shots,
        "source": str(resolved),
    }
    return _validate_plan(raw, source)


def _validate_plan(raw: dict[str, Any], source: str) -> Plan:
    base_dir = Path(str(raw.get("source", "."))).parent
    try:
        return Plan.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise from_validation(exc, source, top=Plan, shot=PlannedShot) from exc


def load_plan(
    path: str | Path, *, by_sentence: bool = False, default_fps: float | None = None
) -> Plan:
    """Read a script into a validated Plan, choosing the format by extension.

    `by_sentence` (plain text only) makes every sentence a shot. `default_fps` fills `Plan.fps`
    when the script sets none. Raises `ScriptError` (one line, exit code 2) for anything wrong:
    unknown extension, missing file, syntax error, no shots, or a bad field.
    """
    path = Path(path)
    source = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise ScriptError(
            source,
            f"unknown script extension {path.suffix or '(none)'!r} "
            f"(supported: {', '.join(SUPPORTED)})",
        )
    if by_sentence and suffix not in TEXT_EXTENSIONS:
        raise ScriptError(
            source, "applies to plain-text scripts (.txt, .md) only", field="by_sentence"
        )
    content = read_script(path, source)
    if suffix in TEXT_EXTENSIONS:
        raw = text_raw(content, suffix, by_sentence)
    elif suffix in SRT_EXTENSIONS:
        raw = srt_raw(content, source)
    else:
        raw = storyboard_raw(parse_structured(content, suffix, source), source)
    if not raw["shots"]:
        raise ScriptError(source, "script has no shots")
    resolved = path.resolve()
    spec = _validate_spec(raw, source, resolved.parent)
    plan = _plan_from_spec(spec, source, resolved, default_fps)
    log.debug("%s: %d shots, %.2fs", source, len(plan.shots), plan.duration_s)
    return plan


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """JSON-ready dict of a plan (paths as strings, `duration_s` included), for manifests."""
    return plan.model_dump(mode="json")


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """Rebuild a Plan saved by `plan_to_dict` (e.g. from a manifest, for ``make --from``).

    The saved `duration_s` and `start_s` values are recomputed, not trusted. Relative image and
    music paths resolve against the folder of the plan's `source`. Raises `ScriptError`.
    """
    if not isinstance(data, dict):
        raise ScriptError("plan", f"must be a mapping of fields (got {type(data).__name__})")
    raw = {k: v for k, v in data.items() if k != "duration_s"}
    return _validate_plan(raw, str(raw.get("source") or "plan"))
