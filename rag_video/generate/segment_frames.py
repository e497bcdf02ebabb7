"""The frames of one planned segment for `assemble`: a source range decoded and conformed (its
handles used for crossfades, retimed, cropped along its track, its last frame held where the
range is short), a drafted or generated file, frames held in memory, or frames streamed from a
frame source as they are made."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from rag_video.media.clip import (
    clip_duration_frames,
    conform_frame,
    iter_clip,
)
from rag_video.media.probe import MediaError
from rag_video.media.timecode import frames_within

if TYPE_CHECKING:
    from rag_video.generate.timing import SegmentPlan


def _held(
    frames: Iterator[np.ndarray], before: int, after: int
) -> Generator[np.ndarray, None, None]:
    """``frames`` with its first frame repeated ``before`` times ahead and its last ``after``
    behind."""
    last = None
    for k, frame in enumerate(frames):
        if k == 0:
            for _ in range(before):
                yield frame
        last = frame
        yield frame
    if last is None:
        raise MediaError("segment produced no frames")
    for _ in range(after):
        yield last


def _available(want: int, handle_s: float, rate: Fraction) -> int:
    return max(0, min(want, frames_within(handle_s, rate)))


def _file_frames(
    plan: SegmentPlan, rate: Fraction, size: tuple[int, int], fit: str
) -> Generator[np.ndarray, None, None]:
    seg = plan.seg
    src_rate = rate / Fraction(seg.speed).limit_denominator(
        10_000
    )  # source ticks per output second
    content = plan.n
    if seg.kind == "source" and seg.out_s is not None:
        content = min(plan.n, max(1, clip_duration_frames(seg.in_s, seg.out_s, src_rate)))
    short = plan.n - content  # a range shorter than planned holds its last frame
    pre = _available(plan.pre, min(seg.handle_before_s, seg.in_s), src_rate)
    post = _available(plan.post, seg.handle_after_s, src_rate) if short == 0 else 0
    plan.held = (plan.pre - pre) + (plan.post - post) + short
    rotation = (
        seg.rotation if seg.rotation is not None else (plan.info.rotation if plan.info else 0)
    )
    start = max(0.0, seg.in_s - float(pre / src_rate))
    clip = iter_clip(
        seg.file_path,
        start,
        pre + content + post,
        fps=src_rate,
        size=size,
        fit=fit,
        rotation=rotation,
        crop=seg.crop,
        crop_origin_s=seg.in_s,
    )
    return _held(clip, plan.pre - pre, plan.post - post + short)


def _memory_frames(
    plan: SegmentPlan, size: tuple[int, int], fit: str
) -> Generator[np.ndarray, None, None]:
    frames = plan.seg.frames
    if frames is None:  # Segment.__post_init__ requires frames for kind="frames"
        raise ValueError(f"segment {plan.index}: frames is required")
    plan.held = plan.pre + plan.post
    picks: Iterator[np.ndarray]
    if isinstance(frames, Sequence):
        if len(frames) == 0:
            raise ValueError(f"segment {plan.index}: frames is empty")
        picks = (frames[min(len(frames) - 1, k * len(frames) // plan.n)] for k in range(plan.n))
    else:
        picks = _take_or_hold(iter(frames), plan.n, plan.index)
    return _held(
        (conform_frame(_check_frame(f, plan.index), size, fit) for f in picks), plan.pre, plan.post
    )


def _stream_frames(
    plan: SegmentPlan, size: tuple[int, int], fit: str
) -> Generator[np.ndarray, None, None]:
    source = plan.seg.stream
    if source is None:  # Segment.__post_init__ requires stream for kind="stream"
        raise ValueError(f"segment {plan.index}: stream is required")
    plan.held = plan.pre + plan.post
    return _closing_stream(source, plan, size, fit)


def _closing_stream(
    source: Callable[[], Iterable[np.ndarray]], plan: SegmentPlan, size: tuple[int, int], fit: str
) -> Generator[np.ndarray, None, None]:
    """The frame source's frames (it is called on the first frame asked for), closed after."""
    it = iter(source())
    try:
        picks = _take_or_hold(it, plan.n, plan.index)
        yield from _held(
            (conform_frame(_check_frame(f, plan.index), size, fit) for f in picks),
            plan.pre,
            plan.post,
        )
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def _take_or_hold(it: Iterator[np.ndarray], n: int, index: int) -> Iterator[np.ndarray]:
    last: np.ndarray | None = None
    for _ in range(n):
        nxt = next(it, None)
        if nxt is not None:
            last = nxt
        elif last is None:
            raise ValueError(f"segment {index}: frames is empty")
        yield last


def _check_frame(frame: np.ndarray, index: int) -> np.ndarray:
    if (
        not isinstance(frame, np.ndarray)
        or frame.ndim != 3
        or frame.shape[2] != 3
        or frame.dtype != np.uint8
    ):
        desc = (
            f"{frame.shape} {frame.dtype}"
            if isinstance(frame, np.ndarray)
            else type(frame).__name__
        )
        raise ValueError(f"segment {index}: frames must be HxWx3 uint8 RGB, got {desc}")
    return frame


def segment_frames(
    plan: SegmentPlan, rate: Fraction, size: tuple[int, int], fit: str
) -> Generator[np.ndarray, None, None]:
    """``pre + n + post`` conformed frames of the plan's segment (a generator: close it)."""
    if plan.seg.kind == "frames":
        return _memory_frames(plan, size, fit)
    if plan.seg.kind == "stream":
        return _stream_frames(plan, size, fit)
    return _file_frames(plan, rate, size, fit)


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    import cv2

    return cv2.addWeighted(a, 1.0 - alpha, b, alpha, 0.0)
