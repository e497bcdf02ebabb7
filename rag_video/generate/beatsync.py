"""Cuts on the beat: move each cut between planned shots to the nearest beat of the music.

:func:`snap_cuts` takes the planned shot durations, the least duration each shot may have (its
speech and breath when narrated, else 0) and the beat times (:func:`rag_video.media.beats.
beat_times`, in output seconds), and returns new durations whose cuts sit on beats where the
rules allow:

- Cut ``i`` ends shot ``i``. Its planned time is the running sum of the planned durations (a
  duration under its floor counts as its floor), so moving one cut never drifts the later ones.
- It may move to a beat within ``tolerance`` × the shot (from its start, as already snapped, to
  its planned end) of that planned time; the nearest such beat wins, the earlier on a tie.
- A beat is refused where shot ``i`` would end up shorter than its floor or than
  :data:`MIN_SHOT_S` (and one frame), or where the following shot, running to its planned end,
  would. So no narrated shot is ever cut into its speech, and snapping never pushes a later cut
  or the end of the video: the last shot ends where the plan ends it.
- With ``fps``, each beat first becomes the frame boundary nearest to it (a half frame rounds
  up, the one rule of :mod:`rag_video.media.timecode`), so a snapped cut starts the new shot on
  the frame that shows the beat.

The result is a fixed point: snapping it again with the same beats returns the same durations
(moving a cut can let the cut before it reach a beat it could not; :func:`snap_cuts` repeats
until nothing moves, twice in the usual case). The cut times are the left-to-right float running
sum of the returned durations, exactly; a snapped cut is on its beat (or frame boundary) to float
precision (within 1e-9 s: not every float time is a float sum away from the previous cut).
"""

from __future__ import annotations

import bisect
import logging
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate

log = logging.getLogger(__name__)

MIN_SHOT_S = 0.1
"""No snapped cut leaves a shot shorter than this (or than one frame, with ``fps``)."""
MAX_TOLERANCE = 0.5
_EPS_S = 1e-9  # slack on the tolerance window, the no-push test, a beat a hair under a floor


@dataclass(frozen=True)
class Cut:
    """One cut between planned shots, before and after snapping."""

    index: int
    """The planned shot this cut ends (0-based)."""
    planned_s: float
    """Where the cut falls without snapping (output seconds)."""
    snapped_s: float
    """Where it falls after snapping (``planned_s`` when no beat qualified)."""
    beat: bool
    """Whether it landed on a beat."""


@dataclass
class _Pass:
    durations: list[float]
    planned: list[float]
    ends: list[float]
    on_beat: list[bool]


def snap_cuts(
    durations: Iterable[float],
    floors: Iterable[float],
    beats: Iterable[float],
    *,
    tolerance: float = 0.2,
    fps: float | Fraction | None = None,
) -> tuple[list[float], list[Cut]]:
    """New shot durations with the cuts between shots moved onto ``beats``, and the cuts.

    ``durations`` are the planned shot durations (s, > 0), ``floors[i]`` the least duration of
    shot ``i`` (s, >= 0), ``beats`` beat times (s, >= 0, any order; a list or the array
    :func:`~rag_video.media.beats.beat_times` returns), ``tolerance`` the largest
    move as a fraction of the shot (0 to 0.5), ``fps`` the output frame rate (beats go to the
    frame grid first; ``29.97`` means 30000/1001 as everywhere in rag-video). Every returned
    duration is at least its floor; there is one :class:`Cut` per pair of consecutive shots.

    Raises ``ValueError`` naming the argument for a duration that is not a positive finite
    number, a floor or beat that is negative or not finite, ``floors`` of another length than
    ``durations``, a ``tolerance`` outside [0, 0.5] and an ``fps`` that is not a positive rate.
    """
    planned = _seconds("durations", durations, positive=True)
    least = _seconds("floors", floors)
    if len(least) != len(planned):
        raise ValueError(f"floors must have one value per shot ({len(planned)}), got {len(least)}")
    times = _seconds("beats", beats)
    tol = _tolerance(tolerance)
    grid, shortest = _grid(times, fps)
    plan = [max(d, f) for d, f in zip(planned, least, strict=True)]
    first = result = _snap(plan, least, grid, tol, shortest)
    rounds = 1
    while result.durations != plan and rounds <= len(plan):
        plan = result.durations
        result = _snap(plan, least, grid, tol, shortest)
        rounds += 1
    cuts = [
        Cut(
            index=i,
            planned_s=first.planned[i] if result.on_beat[i] else result.ends[i],
            snapped_s=result.ends[i],
            beat=result.on_beat[i],
        )
        for i in range(len(plan) - 1)
    ]
    log.debug(
        "beat sync: %d of %d cuts on a beat (%d beats, %d rounds)",
        sum(c.beat for c in cuts),
        len(cuts),
        len(grid),
        rounds,
    )
    return result.durations, cuts


def _snap(
    plan: list[float], floors: list[float], grid: list[float], tol: float, shortest: float
) -> _Pass:
    """One pass over the cuts of ``plan`` (durations already at least their floors)."""
    planned = list(accumulate(plan))
    out = _Pass([], [], [], [])
    start = 0.0
    for i, (duration, floor) in enumerate(zip(plan, floors, strict=True)):
        emitted = _unsnapped(start, planned[i], duration, floor)
        end = start + emitted  # where the cut falls unsnapped
        out.planned.append(end)
        on_beat = False
        if i + 1 < len(plan):
            nxt = (planned[i + 1], plan[i + 1], floors[i + 1])
            reach = end + _unsnapped(end, *nxt)  # where the next shot ends if this cut stays
            for cut in _candidates(grid, end, tol * (end - start)):
                length = _emit(start, cut, duration)
                need = max(floor, shortest)
                if length < need:
                    if need - length > _EPS_S:
                        continue
                    length = need  # a float hair short: the cut lands on the floor
                at = start + length
                following = _unsnapped(at, *nxt)
                if following < max(nxt[2], shortest) or at + following > reach + _EPS_S:
                    continue
                emitted, on_beat = length, True
                break
        end = start + emitted
        out.durations.append(emitted)
        out.ends.append(end)
        out.on_beat.append(on_beat)
        start = end
    return out


def _unsnapped(start: float, planned_end: float, duration: float, floor: float) -> float:
    """The duration a shot starting at ``start`` gets to end at ``planned_end``, at least
    ``floor``."""
    length = max(_emit(start, planned_end, duration), floor)
    return length if length > 0 else duration


def _emit(start: float, end: float, hint: float) -> float:
    """A duration ``d`` with ``start + d == end`` in floats (``hint`` if it is one), so the
    running sum of the durations gives the cut times back exactly; ``end - start`` when no float
    does."""
    if start + hint == end:
        return hint
    length = end - start
    for d in (length, math.nextafter(length, math.inf), math.nextafter(length, -math.inf)):
        if start + d == end:
            return d
    return length


def _candidates(grid: list[float], target: float, radius: float) -> list[float]:
    """The beats within ``radius`` of ``target``, nearest first (earlier on a tie)."""
    lo = bisect.bisect_left(grid, target - radius - _EPS_S)
    hi = bisect.bisect_right(grid, target + radius + _EPS_S)
    return sorted(grid[lo:hi], key=lambda t: (abs(t - target), t))


def _grid(beats: list[float], fps: float | Fraction | None) -> tuple[list[float], float]:
    """Candidate cut times (beats, or the frame boundaries nearest them) and the shortest shot
    a snap may leave."""
    if fps is None:
        return sorted(set(beats)), MIN_SHOT_S
    if isinstance(fps, bool):
        raise ValueError(f"fps must be a number, got {fps!r}")
    from rag_video.media.encode import frame_rate
    from rag_video.media.timecode import frames_of

    rate = frame_rate(fps)
    frames = sorted({frames_of(t, rate) for t in beats})
    return [float(k / rate) for k in frames], max(MIN_SHOT_S, float(1 / rate))


def _seconds(name: str, values: Iterable[float], *, positive: bool = False) -> list[float]:
    try:
        items = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of seconds, got {values!r}") from None
    out: list[float] = []
    for i, v in enumerate(items):
        ok = (
            isinstance(v, numbers.Real)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and (v > 0 if positive else v >= 0)
        )
        if not ok:
            bound = "> 0" if positive else ">= 0"
            raise ValueError(f"{name}[{i}] must be a finite number {bound} (s), got {v!r}")
        out.append(float(v))
    return out


def _tolerance(tolerance: float) -> float:
    ok = (
        isinstance(tolerance, numbers.Real)
        and not isinstance(tolerance, bool)
        and 0 <= tolerance <= MAX_TOLERANCE
    )
    if not ok:  # NaN fails the range test
        raise ValueError(f"tolerance must be in [0, {MAX_TOLERANCE}], got {tolerance!r}")
    return float(tolerance)


__all__ = ["MIN_SHOT_S", "Cut", "snap_cuts"]
