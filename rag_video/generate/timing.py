"""Where each planned segment lands in the output of `assemble`: frame spans and crossfade seams.

Timing is exact. Segment ``i`` owns output frames ``[b[i-1], b[i])`` where
``b[i] = round((d_0 + … + d_i) * fps)`` — rounding is carried, so the output has exactly
``round(sum(durations) * fps)`` frames and no segment drifts. A crossfade of ``F`` frames is centred
on a seam: ``F // 2`` frames before it, the rest after. Over it the outgoing segment continues past
its out point and the incoming one starts before its in point, using their *handles* (source time
available beyond ``in_s``/``out_s``); where a handle is short the segment's first or last frame is
held. So a crossfade never shortens the video.

A :class:`SegmentPlan` is what the pieces of assembly share: `segment_frames` renders its frames,
`soundtrack` its sound, `assemble` streams them in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from rag_video.media.encode import frame_rate
from rag_video.media.probe import VideoInfo, probe
from rag_video.media.timecode import exact, frames_of

if TYPE_CHECKING:
    from rag_video.generate.assemble import Segment


@dataclass
class SegmentPlan:
    """A segment resolved against the output: frame span, seams, probe facts."""

    index: int
    seg: Segment
    start: int
    n: int
    info: VideoInfo | None = None
    pre: int = 0  # frames of the crossfade before the seam (shown from before in_s)
    post: int = 0  # frames of the crossfade after the next seam (shown from after out_s)
    xfade_in: int = 0
    held: int = 0

    @property
    def end(self) -> int:
        """The output frame just after the span."""
        return self.start + self.n


def frame_boundaries(durations: Sequence[float], fps: float | Fraction) -> list[int]:
    """Cumulative frame boundaries ``b[i] = round((d_0 + … + d_i) * fps)`` (half up; rounding
    carried)."""
    rate = frame_rate(fps)
    total = Fraction(0)
    out: list[int] = []
    for d in durations:
        total += exact(d, "duration")
        out.append(frames_of(total, rate))
    return out


def probe_all(segments: Sequence[Segment]) -> dict[str, VideoInfo]:
    """Probe every distinct file once (fails early with MediaError, before anything is written)."""
    infos: dict[str, VideoInfo] = {}
    for seg in segments:
        if seg.path is not None and str(seg.path) not in infos:
            infos[str(seg.path)] = probe(seg.path)
    return infos


def segment_durations(
    segments: Sequence[Segment],
    fps: float | Fraction | None = None,
    infos: dict[str, VideoInfo] | None = None,
) -> list[float]:
    """Planned duration of each segment (see :class:`Segment` for the defaults)."""
    out: list[float] = []
    for i, seg in enumerate(segments):
        if seg.duration_s is not None:
            out.append(float(seg.duration_s))
        elif seg.out_s is not None:
            out.append(float(seg.out_s - seg.in_s))
        elif seg.kind == "file":
            info = (infos or {}).get(str(seg.path)) or probe(seg.file_path)
            out.append(max(0.0, info.duration_s - seg.in_s))
        elif isinstance(seg.frames, Sequence) and fps is not None:
            out.append(len(seg.frames) / float(frame_rate(fps)))
        else:
            raise ValueError(f"segment {i}: duration_s is required for kind={seg.kind!r} here")
        if not out[-1] > 0:
            raise ValueError(f"segment {i}: duration must be positive, got {out[-1]!r}")
    return out


def plan_segments(
    segments: Sequence[Segment],
    rate: Fraction,
    transition: str,
    crossfade_s: float,
    infos: dict[str, VideoInfo],
) -> list[SegmentPlan]:
    """Each segment's frame span at ``rate`` and, for ``crossfade``, the seams' frames (a
    crossfade ``crossfade_s`` long, capped by both neighbours' lengths)."""
    bounds = frame_boundaries(segment_durations(segments, rate, infos), rate)
    plans: list[SegmentPlan] = []
    start = 0
    for i, (seg, end) in enumerate(zip(segments, bounds, strict=True)):
        plans.append(
            SegmentPlan(
                i,
                seg,
                start,
                end - start,
                infos.get(str(seg.path)) if seg.path is not None else None,
            )
        )
        start = end
    if transition == "crossfade":
        want = frames_of(crossfade_s, rate)
        for a, b in zip(plans, plans[1:], strict=False):
            f = min(want, a.n, b.n)
            a.post, b.pre, b.xfade_in = f - f // 2, f // 2, f
    return plans


__all__ = ["SegmentPlan", "frame_boundaries", "plan_segments", "probe_all", "segment_durations"]
