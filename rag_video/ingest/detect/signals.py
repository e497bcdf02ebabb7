"""What the ``adaptive`` detector measures, block by block: a few floats per frame plus sparse
events, for :class:`~rag_video.ingest.detect.combined.CombinedDetector` to decide on.

Cheap scores are vectorised over each block of frames: brightness, the 16×9 descriptors and
the dissolve windows' change and blend residual, PySceneDetect's AdaptiveDetector
(:mod:`.content`), and an upper bound of every frame's change (:func:`block_shift_bounds`). The
expensive checks run only where a cheap score rises: the motion-compensated match (and the zoom
match) only at frames whose bound reaches the smallest threshold it is compared with, at the
frames around a large change and around every cut candidate; the flash test only after a
spike; detail and the remaining dissolve tests only for windows that passed the cheap ones.
Elsewhere the bound is stored: below every threshold, it leads to the same decisions as the
exact value would, so the boundaries are the same as measuring everything on every frame.

Frames are settled (their motion measures made final) a few frames behind the newest one, once
every candidate that could need them exactly is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag_video.ingest.detect.content import AdaptiveScores
from rag_video.ingest.detect.measures import (
    _blur,
    _crossing,
    _detail,
    _mad,
    _normalised,
    _shift_match,
    _zoom_match,
    block_descriptors,
    block_luma,
    block_shift_bounds,
    window_scores,
)

_MARGIN = 0.95  # a bound below this fraction of a threshold is surely below it (float slack)


class _Tuning(Protocol):
    """The parameters of the combined detector that the measures use."""

    adaptive_threshold: float
    min_content_val: float
    window_width: int
    min_compensated: float
    zoom_min: float
    transient_min: float
    dark_luma: float
    dissolve_min_change: float
    dissolve_min_norm_change: float
    dissolve_blend: float
    dissolve_max_residual: float
    dissolve_detail: float


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
    """What the detector keeps for ``finish``: a few floats per frame plus sparse events."""

    luma: list[float] = field(default_factory=list)
    shifted: list[float] = field(default_factory=list)  # RMS change t-1→t at the best global shift
    compensated: list[float] = field(default_factory=list)  # ... at the best global shift or zoom
    unshifted: list[float] = field(default_factory=list)  # RMS change t-1→t
    candidates: set[int] = field(default_factory=set)  # AdaptiveDetector's cut candidates
    returns: dict[int, float] = field(default_factory=dict)  # spike → closest return (RMS)
    windows: list[_Window] = field(default_factory=list)  # dissolve windows that passed


class SignalCollector:
    """Turns blocks of small BGR frames into :class:`_Signals` (see the module docstring)."""

    def __init__(self, p: _Tuning, lengths: tuple[int, ...], transient_frames: int) -> None:
        self.p, self.lengths, self.transient_frames = p, lengths, transient_frames
        self.signals = _Signals()
        self._scores = AdaptiveScores(
            threshold=p.adaptive_threshold,
            window_width=p.window_width,
            min_content_val=p.min_content_val,
        )
        self._near = max(p.window_width, 3)  # frames around a candidate read exactly
        self._lag = self._near + p.window_width  # a frame's needs are known this much later
        self._keep = max(max(lengths), self._lag + transient_frames + 3) + 1
        self._exact_from = _MARGIN * min(p.zoom_min, p.transient_min, p.min_compensated)
        self._wide_from = _MARGIN * p.min_compensated
        self.count = 0  # frames added
        self._settled = 0  # frames whose motion measures are final
        self._frames = np.zeros((0, 1, 1, 3), np.uint8)  # the last frames, from index _start
        self._descs = np.zeros((0, 1, 1, 3), np.uint8)
        self._start = 0
        self._bounds: list[float] = []
        self._exact: set[int] = set()
        self._blurred: dict[int, np.ndarray] = {}
        self._details: dict[int, float] = {}
        self._pending: dict[int, np.ndarray] = {}  # spike frame → the frame before it

    def add(self, frames_bgr: np.ndarray) -> None:
        """Measure a block of frames (n×h×w×3 uint8, the frames after the previous block)."""
        n = frames_bgr.shape[0]
        if n == 0:
            return
        first = self.count
        previous = self._frames[-1] if self._frames.shape[0] else None
        self.signals.luma.extend(block_luma(frames_bgr))
        self._frames = (
            np.concatenate([self._frames, frames_bgr]) if self._frames.shape[0] else frames_bgr
        )
        descs = block_descriptors(frames_bgr)
        self._descs = np.concatenate([self._descs, descs]) if self._descs.shape[0] else descs
        self.count += n
        bounds = block_shift_bounds(previous, frames_bgr).tolist()
        self._bounds.extend(bounds)
        for k, bound in enumerate(bounds):
            if bound >= self._wide_from:
                self._mark(first + k - self._near, first + k + self._near)
            elif bound >= self._exact_from:
                self._exact.add(first + k)
        for c in self._scores.add(frames_bgr):
            self.signals.candidates.add(c)
            self._mark(c - self._near, c + self._near)
        self._test_windows(first)
        self._settle(self.count - self._lag)
        self._trim()

    def finish(self) -> _Signals:
        """Settle the last frames; the signals of every frame added."""
        self._settle(self.count)
        return self.signals

    # ---- motion measures, exact only where needed

    def _mark(self, lo: int, hi: int) -> None:
        self._exact.update(range(max(1, lo), hi + 1))

    def _frame(self, i: int) -> np.ndarray:
        return self._frames[i - self._start]

    def _blur_of(self, i: int) -> np.ndarray:
        if i not in self._blurred:
            self._blurred[i] = _blur(self._frame(i))
        return self._blurred[i]

    def _settle(self, until: int) -> None:
        s, p = self.signals, self.p
        for t in range(self._settled, min(until, self.count)):
            if t == 0:
                shifted = unshifted = compensated = 0.0
            elif t in self._exact:
                prev, cur = self._blur_of(t - 1), self._blur_of(t)
                shifted, unshifted = _shift_match(prev, cur)
                compensated = (
                    min(shifted, _zoom_match(prev, cur)) if shifted >= p.zoom_min else shifted
                )
            else:
                shifted = unshifted = compensated = self._bounds[t]
            s.shifted.append(shifted)
            s.compensated.append(compensated)
            s.unshifted.append(unshifted)
            self._track_returns(t, shifted)
            self._exact.discard(t)
            self._settled = t + 1

    def _track_returns(self, t: int, shifted: float) -> None:
        """For every recent spike, how close (motion-compensated) the picture comes back to it.

        A spike at ``s`` returns if a frame soon after matches frame ``s-1`` (into a flash) or
        if frame ``s`` matches a frame shortly before ``s-1`` (out of a flash).
        """
        returns = self.signals.returns
        for s in [s for s in self._pending if t - s > self.transient_frames]:
            del self._pending[s]
        for s, before in self._pending.items():
            returns[s] = min(returns[s], _shift_match(before, self._blur_of(t), reach=1 / 3)[0])
        if shifted < self.p.transient_min or t == 0:
            return
        frame = self._blur_of(t)
        reach = min(t, self.transient_frames + 1)
        returns[t] = min(
            (
                _shift_match(self._blur_of(t - k), frame, reach=1 / 3)[0]
                for k in range(2, reach + 1)
            ),
            default=math.inf,
        )
        self._pending[t] = self._blur_of(t - 1)

    def _trim(self) -> None:
        """Forget frames no later step can read."""
        drop = self.count - self._keep - self._start
        if drop > 0:
            self._frames, self._descs = self._frames[drop:], self._descs[drop:]
            self._start += drop
        oldest_blur = self._settled - self.transient_frames - 2
        for i in [i for i in self._blurred if i < oldest_blur]:
            del self._blurred[i]
        oldest_detail = self.count - max(self.lengths) - 1
        for i in [i for i in self._details if i < oldest_detail]:
            del self._details[i]

    # ---- dissolve windows

    def _detail_of(self, i: int) -> float:
        if i not in self._details:
            self._details[i] = _detail(self._frame(i))
        return self._details[i]

    def _test_windows(self, first: int) -> None:
        """Test every dissolve window ending in the block that starts at frame ``first``."""
        p, luma = self.p, self.signals.luma
        change, residual = window_scores(self._descs, first - self._start, self.lengths)
        with np.errstate(invalid="ignore"):
            passing = (change >= p.dissolve_min_change) & (
                residual <= np.minimum(p.dissolve_blend * change, p.dissolve_max_residual)
            )
        for row, j in np.argwhere(passing).tolist():
            t, length = first + row, self.lengths[j]
            if min(luma[t - length], luma[t - length // 2], luma[t]) < p.dark_luma:
                continue  # a dip to black is a fade
            a = self._descs[t - length - self._start].astype(np.float32)
            b = self._descs[t - self._start].astype(np.float32)
            if _mad(_normalised(a), _normalised(b)) < p.dissolve_min_norm_change:
                continue  # the same picture, lit differently
            if self._detail_of(t - length // 2) > p.dissolve_detail * 0.5 * (
                self._detail_of(t - length) + self._detail_of(t)
            ):
                continue  # the middle is as sharp as the ends: motion or zoom, not a double image
            ring = [
                d.astype(np.float32)
                for d in self._descs[t - length - self._start : t + 1 - self._start]
            ]
            crossing = t - length + _crossing(ring)
            self.signals.windows.append(
                _Window(t, length, float(change[row, j]), float(residual[row, j]), crossing)
            )
