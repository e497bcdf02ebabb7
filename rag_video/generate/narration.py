"""Narration of a plan: which shots speak what, their speech (cached), and the shot lengths the
voice needs.

A shot speaks its ``narration``. ``make --narrate`` gives every shot without one its ``text``
(a plain-text paragraph or an SRT cue is both what the shot shows and what is said);
``--no-narrate`` silences every shot; by default a storyboard's ``narration:`` fields speak.

The speech of a shot starts :data:`LEAD_S` after its first frame and is followed by a breath, so
a narrated shot lasts at least ``LEAD_S + speech + breath_s`` (:func:`floors`); a shot planned
longer keeps its length.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag_video.generate.plan import Plan, plan_from_dict, plan_to_dict
from rag_video.voice.base import Speech, Voice
from rag_video.voice.cache import SpeechCache, cache_key

log = logging.getLogger(__name__)

LEAD_S = 0.1
"""Seconds from a narrated shot's first frame to its first sound."""
DEFAULT_BREATH_S = 0.4
"""Seconds of quiet after a shot's narration before the next cut (``--breath``)."""


@dataclass(frozen=True)
class Spoken:
    """One shot's narration: the text said, its speech and the cached WAV that holds it."""

    shot: int
    text: str
    speech: Speech
    path: Path

    @property
    def seconds(self) -> float:
        """How long the speech lasts."""
        return self.speech.duration_s


def with_narration(plan: Plan, narrate: bool | None) -> Plan:
    """`plan` with each shot's narration decided: ``True`` fills every missing one with the
    shot's text, ``False`` removes them all, ``None`` keeps the script's."""
    if narrate is None:
        return plan
    shots = [
        s.model_copy(update={"narration": (s.narration or s.text) if narrate else None})
        for s in plan.shots
    ]
    return plan.model_copy(update={"shots": shots})


def is_narrated(plan: Plan) -> bool:
    """Whether any shot of `plan` speaks."""
    return any(s.narration for s in plan.shots)


def speak(plan: Plan, voice: Voice, cache: SpeechCache, *, rate: float = 1.0) -> list[Spoken]:
    """The speech of every narrated shot, from `cache` when it holds it (in shot order)."""
    from rag_video import progress

    todo = [s for s in plan.shots if s.narration]
    out: list[Spoken] = []
    with progress.bar(len(todo), "narrate") as advance:
        for shot in todo:
            assert shot.narration is not None
            speech = cache.synthesize(voice, shot.narration, rate=rate)
            wav = cache.paths(cache_key(voice, shot.narration, rate))[0]
            out.append(Spoken(shot.index, shot.narration, speech, wav))
            advance()
    log.info(
        "narration: %d shots, %.1f s of speech (%s)",
        len(out),
        math.fsum(s.seconds for s in out),
        voice.name,
    )
    return out


def floors(plan: Plan, spoken: Sequence[Spoken], breath_s: float) -> list[float]:
    """The shortest each shot may be: ``LEAD_S + speech + breath_s`` when narrated, else 0."""
    if not (math.isfinite(breath_s) and 0 <= breath_s <= 10):
        raise ValueError(f"breath_s must be 0 to 10 seconds, got {breath_s!r}")
    need = [0.0] * len(plan.shots)
    for s in spoken:
        need[s.shot] = round(LEAD_S + s.seconds + breath_s, 6)
    return need


def retimed(plan: Plan, durations: Sequence[float]) -> Plan:
    """`plan` with new shot durations (start times laid again back to back)."""
    if len(durations) != len(plan.shots):
        raise ValueError(f"durations: {len(durations)} for {len(plan.shots)} shots")
    data = plan_to_dict(plan)
    for shot, d in zip(data["shots"], durations, strict=True):
        shot["duration_s"] = round(float(d), 6)
    return plan_from_dict(data)


__all__ = [
    "DEFAULT_BREATH_S",
    "LEAD_S",
    "Spoken",
    "floors",
    "is_narrated",
    "retimed",
    "speak",
    "with_narration",
]
