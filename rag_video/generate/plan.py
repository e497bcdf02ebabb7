# Over 450 lines, kept whole for now (issue 11): the plan models and their validation; next cut:
# validation rules apart from models.
"""Scripts for `rag-video make`: plain text, YAML/JSON storyboards and SRT validated into a `Plan`
(the files are read by `generate.script`; this module holds the plan models and their checks).

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
  ``music`` and ``shots:``; per shot ``text`` (required: what the shot shows, used for retrieval
  and generation), ``duration`` (seconds), ``caption`` (on-screen text), ``image`` (reference
  picture, relative to the script's folder), ``style`` and ``decision`` (``reuse|restyle|fill``,
  overrides the score thresholds). A shot may be written as a bare string (its text); a top-level
  list is read as the shots. YAML is read with a ``yaml.SafeLoader`` subclass that does not turn
  ``16:9`` into the sexagesimal integer 969 (YAML 1.1), so ``aspect: 16:9`` needs no quotes.
- SRT (``.srt``): each cue is a shot; its timing gives the duration, its text (as written) the
  caption, and its text without markup (``<i>``, ``{\\an8}``) the query. Gaps and overlaps
  between cues are ignored: shots are laid back to back, so the plan starts at 0 and lasts the
  sum of the cue durations.

Shots without a duration get `default_duration(text)`.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    computed_field,
    model_validator,
)
from pydantic_core import ErrorDetails

from rag_video.generate.script import (
    MAX_SCRIPT_BYTES,
    MAX_YAML_NODES,
    SRT_EXTENSIONS,
    STORYBOARD_EXTENSIONS,
    SUPPORTED,
    TEXT_EXTENSIONS,
    ScriptError,
    parse_structured,
    read_script,
    split_sentences,
    srt_raw,
    storyboard_raw,
    text_raw,
)

log = logging.getLogger(__name__)

__all__ = [
    "Decision",
    "Plan",
    "PlannedShot",
    "ScriptError",
    "default_duration",
    "load_plan",
    "plan_from_dict",
    "plan_to_dict",
    "split_sentences",
    "BASE_S",
    "WORDS_PER_S",
    "MIN_DEFAULT_S",
    "MAX_DEFAULT_S",
    "MAX_SHOT_S",
    "MIN_SHOT_S",
    "MAX_SHOTS",
    "MAX_PLAN_S",
    "MAX_SCRIPT_BYTES",
    "MAX_YAML_NODES",
    "COMMON_ASPECTS",
    "TEXT_EXTENSIONS",
    "STORYBOARD_EXTENSIONS",
    "SRT_EXTENSIONS",
]

# Default shot length: a base for the eye to settle plus reading/narration time at about
# 2.5 words per second (a relaxed narration pace), clamped so that a one-word shot is not a
# flash and a long paragraph is not a still life. Rounded to 0.1 s.
BASE_S = 1.0
WORDS_PER_S = 2.5
MIN_DEFAULT_S = 2.0
MAX_DEFAULT_S = 8.0
MAX_SHOT_S = 60.0  # the longest single shot a script may ask for
MIN_SHOT_S = 0.1  # the shortest (a couple of frames at any common rate)
MAX_FPS = 240.0
# Bounds on what one script may ask for: retrieval and the plan-wide assignment grow with the
# number of shots (a 2 000-shot plan assigns over ~24 000 candidates), rendering with the length.
MAX_SHOTS = 2000
MAX_PLAN_S = 3 * 3600.0
COMMON_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "21:9")


Decision = Literal["reuse", "restyle", "fill"]


# ----------------------------------------------------------------------------- field validators


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


# ----------------------------------------------------------------------------- the plan


class PlannedShot(BaseModel):
    """One shot of a plan: what it shows (`text`), for how long, and the author's overrides."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)  # 0-based position in the plan
    text: ShotText
    duration_s: Duration
    caption: OptionalText = None
    image: ExistingPath = None  # absolute once validated
    style: OptionalText = None
    decision: Decision | None = None
    start_s: float = Field(default=0.0, ge=0)  # recomputed by Plan: sum of earlier durations


class Plan(BaseModel):
    """A validated script: shots back to back from 0, plus output hints (aspect, fps, music)."""

    model_config = ConfigDict(extra="forbid")

    title: OptionalText = None
    aspect: Aspect = None
    fps: Fps | None = None
    music: ExistingPath = None
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
    shots: list[_ShotSpec]


# ----------------------------------------------------------------------------- durations, sentences


def default_duration(text: str) -> float:
    """Seconds for a shot with no explicit duration: ``BASE_S + words / WORDS_PER_S``, clamped to
    ``[MIN_DEFAULT_S, MAX_DEFAULT_S]`` and rounded to 0.1 s."""
    words = len(text.split())
    seconds = BASE_S + words / WORDS_PER_S
    return round(min(MAX_DEFAULT_S, max(MIN_DEFAULT_S, seconds)), 1)


# ----------------------------------------------------------------------------- error messages

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


def _from_validation(
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


# ----------------------------------------------------------------------------- building the plan


def _validate_spec(raw: dict[str, Any], source: str, base_dir: Path) -> _StoryboardSpec:
    try:
        return _StoryboardSpec.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _from_validation(exc, source, top=_StoryboardSpec, shot=_ShotSpec) from exc


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
        "shots": shots,
        "source": str(resolved),
    }
    return _validate_plan(raw, source)


def _validate_plan(raw: dict[str, Any], source: str) -> Plan:
    base_dir = Path(str(raw.get("source", "."))).parent
    try:
        return Plan.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _from_validation(exc, source, top=Plan, shot=PlannedShot) from exc


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
