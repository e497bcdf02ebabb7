"""The ``adaptive`` detector (the default): several signals combined, built to hold up on real
footage (64×36).


1. **Hard cuts.** Two candidate sources:

   - PySceneDetect's AdaptiveDetector (recomputed over blocks, bit for bit, in
     :mod:`.content`): frames whose HSV content change is large
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

Everything is computed streaming, over blocks of frames (:mod:`.signals`): cheap vectorised
scores on every frame, the motion-compensated, flash and dissolve checks only where a cheap
score rises; the last ~2 s of small frames, a few floats per frame and sparse events are kept,
so memory stays small on long files.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from rag_video.ingest.detect.base import (
    _DARK_LUMA,
    _TIME_EPS,
    BLOCK_FRAMES,
    SMALL_SIZE,
    Boundary,
    FrameTimes,
    ShotDetector,
    _finalise,
    _OrderedInput,
    _runs,
)
from rag_video.ingest.detect.measures import _shift_ratio, _window_lengths
from rag_video.ingest.detect.signals import SignalCollector
from rag_video.media.timecode import frames_of

logger = logging.getLogger(__name__)


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
    black_shot_s: float = (
        1.0  # dark frames lasting this long (and >= min_shot_s) are a shot of black
    )
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


class CombinedDetector(ShotDetector):
    """The ``adaptive`` detector: AdaptiveDetector cuts + motion and flash checks + fades +
    dissolves.

    See the module docstring for the algorithm.
    """

    frame_size = SMALL_SIZE

    def __init__(self, *, fps: float, min_shot_s: float, params: _Params | None = None) -> None:
        self.fps, self.min_shot_s = fps, min_shot_s
        self.p = params or _Params()
        self._input = _OrderedInput(self.frame_size, fps)
        self.lengths = _window_lengths(fps, self.p.dissolve_max_s)
        self.transient_frames = max(2, frames_of(self.p.transient_s, fps))
        self._collector = SignalCollector(self.p, self.lengths, self.transient_frames)
        self.signals = self._collector.signals
        self._queued: list[np.ndarray] = []  # frames given one at a time, measured as a block

    # ---- streaming

    def process(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> None:
        self._queued.append(self._input.accept(index, frame_bgr, time_s))
        if len(self._queued) >= BLOCK_FRAMES:
            self._flush()

    def process_block(self, first: int, frames_bgr: np.ndarray, times_s: np.ndarray) -> None:
        self._flush()
        self._collector.add(self._input.accept_block(first, frames_bgr, times_s))

    def _flush(self) -> None:
        if self._queued:
            block, self._queued = np.stack(self._queued), []
            self._collector.add(block)

    # ---- decision

    def finish(self, n_frames: int, end_s: float | None = None) -> list[Boundary]:
        self._flush()
        self._collector.finish()
        times = self._input.frame_times(n_frames, end_s)
        fades = self._fades(times)
        cuts = self._cuts(fades)
        dissolves = self._dissolves(fades, cuts)
        found = [b for fade in fades for b in fade.boundaries] + [(f, "cut") for f in cuts]
        found += [(f, "dissolve") for f in dissolves]
        result = _finalise(found, times, self.min_shot_s)
        logger.debug(
            "adaptive: %d fades, %d cuts, %d dissolves -> %d boundaries",
            len(fades),
            len(cuts),
            len(dissolves),
            len(result),
        )
        return result

    def _fades(self, times: FrameTimes) -> list[_Fade]:
        """Every dip to black, with the extent of its ramps: one ``fade`` boundary in the middle
        of the dark frames, or — when they last at least ``black_shot_s`` (and ``min_shot_s``) —
        a shot of black of its own, entered and left by a ``fade`` (a ramp of two frames or more)
        or a ``cut``."""
        luma = np.asarray(self.signals.luma, dtype=np.float32)
        ramp_max = max(4, frames_of(2, self.fps))
        longest_dip = max(self.p.black_shot_s, self.min_shot_s)
        fades: list[_Fade] = []
        for start, end in _runs(luma < self.p.dark_luma):
            if start == 0 or end == len(luma):
                continue  # black at the head or tail of the video
            first = _ramp(luma, start - 1, -1, ramp_max, self.p.bright_luma)
            last = _ramp(luma, end, +1, ramp_max, self.p.bright_luma)
            if (
                max(luma[first:start]) < self.p.bright_luma
                or max(luma[end : last + 1]) < self.p.bright_luma
            ):
                continue  # a dark shot getting darker, not a dip between two shots
            if times.seconds(start, end) < longest_dip - _TIME_EPS:
                fades.append(_Fade((((start + end) // 2, "fade"),), first, last + 1))
            else:
                kinds = (
                    "fade" if start - first >= 2 else "cut",
                    "fade" if last - end >= 1 else "cut",
                )
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
            neighbours = np.concatenate(
                [compensated[max(1, t - w) : t], compensated[t + 1 : t + 1 + w]]
            )
            if neighbours.size and compensated[t] >= self.p.adaptive_threshold * float(
                neighbours.mean()
            ):
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
        near = unshifted[max(1, f - 3) : f] + unshifted[f + 1 : f + 4]
        return bool(near) and float(np.median(near)) >= 0.5 * unshifted[f]

    def _is_transient(self, f: int) -> bool:
        """A flash (or any brief spike) at ``f``: the picture comes back to what it was, *and* a
        second jump (into or out of the spike) lies within the transient window around ``f``. A
        cut to a similar framing of the same scene also "comes back", but both shots run smoothly
        on either side of it: there is no second jump."""
        shifted, window = self.signals.shifted, self.transient_frames + 1
        if self.signals.returns.get(f, math.inf) > self.p.transient_ratio * shifted[f]:
            return False
        around = shifted[max(1, f - window) : f] + shifted[f + 1 : f + window + 1]
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
            if any(fade.first <= at < fade.end for fade in fades) or any(
                abs(c - at) <= 3 for c in cuts
            ):
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
