"""Choose which part of a source shot to reuse: the sharpest stretch without a cut-like jolt.

A reused shot is usually longer than the planned duration. Instead of always taking its start,
:func:`best_window` scores every window of ``n`` frames by mean sharpness (variance of the
Laplacian, normalised by the shot's sharpest frame) minus a penalty for frame-to-frame changes
that are extreme for this shot (whip pans, flashes) and a heavier one for a cut-like spike inside
the window (the window would straddle a boundary the detector missed).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from rag_video.media.timecode import frames_of

log = logging.getLogger(__name__)

#: Motion above this many times the shot's median counts as a cut-like spike.
SPIKE_FACTOR = 4.0
#: ... and only when it is also above this absolute change (mean abs difference, 0..1 scale).
SPIKE_FLOOR = 0.06
#: Weight of the extreme-motion penalty (per unit of motion above the extreme level).
MOTION_WEIGHT = 4.0
#: Motion above this absolute level (mean abs difference, 0..1) is extreme.
MOTION_EXTREME = 0.08
#: Penalty per cut-like spike inside a window (normalised sharpness is in 0..1).
SPIKE_PENALTY = 1.0
#: Frames are measured at this width (height follows the aspect).
MEASURE_WIDTH = 160


def frame_sharpness(gray: np.ndarray) -> float:
    """Sharpness of a grey (h×w) picture: the variance of its Laplacian (higher is sharper)."""
    import cv2

    img = np.asarray(gray)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(img.astype(np.float32), cv2.CV_32F).var())


def frame_motion(prev_gray: np.ndarray, gray: np.ndarray) -> float:
    """Change between two grey pictures: mean absolute difference on a 0..1 scale."""
    return float(np.mean(np.abs(gray.astype(np.float32) - prev_gray.astype(np.float32)))) / 255.0


def clip_measures(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(sharpness, motion)`` arrays for RGB frames; ``motion[0] == 0``, ``motion[i]`` is i-1→i."""
    import cv2

    sharp = np.zeros(len(frames), dtype=np.float64)
    motion = np.zeros(len(frames), dtype=np.float64)
    prev = None
    for i, rgb in enumerate(frames):
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        sharp[i] = frame_sharpness(gray)
        motion[i] = frame_motion(prev, gray) if prev is not None else 0.0
        prev = gray
    return sharp, motion


def _spikes(motion: np.ndarray) -> np.ndarray:
    """1.0 where the change into a frame is cut-like (far above the shot's typical motion)."""
    typical = float(np.median(motion[1:])) if motion.size > 1 else 0.0
    return ((motion > SPIKE_FACTOR * typical) & (motion > SPIKE_FLOOR)).astype(np.float64)


def window_scores(sharpness: np.ndarray, motion: np.ndarray, n: int) -> np.ndarray:
    """Score of every window start ``0 .. len - n`` (see :func:`best_window`)."""
    sharp = np.asarray(sharpness, dtype=np.float64)
    move = np.asarray(motion, dtype=np.float64)
    if sharp.shape != move.shape or sharp.ndim != 1:
        raise ValueError(
            f"sharpness and motion must be 1-d of equal length, got {sharp.shape} and {move.shape}"
        )
    if not 1 <= n <= sharp.size:
        raise ValueError(f"n must be in 1..{sharp.size}, got {n!r}")
    peak = float(sharp.max())
    norm = sharp / peak if peak > 0 else np.zeros_like(sharp)
    excess = np.maximum(0.0, move - MOTION_EXTREME)
    spikes = _spikes(move)
    c_sharp = np.concatenate([[0.0], np.cumsum(norm)])
    c_excess = np.concatenate([[0.0], np.cumsum(excess)])
    c_spike = np.concatenate([[0.0], np.cumsum(spikes)])
    starts = np.arange(sharp.size - n + 1)
    mean_sharp = (c_sharp[starts + n] - c_sharp[starts]) / n
    mean_excess = (
        c_excess[starts + n] - c_excess[starts + 1]
    ) / n  # change *into* frame s is outside
    inner_spikes = c_spike[starts + n] - c_spike[starts + 1]
    return mean_sharp - MOTION_WEIGHT * mean_excess - SPIKE_PENALTY * inner_spikes


def best_window(sharpness: np.ndarray, motion: np.ndarray, n: int) -> int:
    """Start offset of the best ``n``-frame window of a shot measured by ``sharpness``/``motion``.

    Maximises mean normalised sharpness minus ``MOTION_WEIGHT`` × mean motion above
    ``MOTION_EXTREME`` minus ``SPIKE_PENALTY`` per cut-like spike inside the window (the change
    into the window's first frame does not count). Ties go to the earliest start; ``n`` at or above
    the shot's length gives 0.
    """
    length = int(np.asarray(sharpness).size)
    if n <= 0:
        raise ValueError(f"n must be positive, got {n!r}")
    if n >= length:
        return 0
    return int(np.argmax(window_scores(sharpness, motion, n)))


def sample_range(
    path: str | os.PathLike[str],
    in_s: float,
    out_s: float,
    *,
    sample_fps: float = 8.0,
    rotation: int | None = None,
) -> tuple[list[np.ndarray], Fraction]:
    """``[in_s, out_s)`` of ``path`` decoded once at ``sample_fps`` and measuring size:
    (frames, rate). The trim window and the reframe track are both measured on these frames."""
    from rag_video.media.clip import read_clip

    rate = Fraction(sample_fps).limit_denominator(1001)
    return read_clip(
        path, in_s, out_s, fps=rate, size=_measure_size(path), fit="crop", rotation=rotation
    ), rate


def best_trim_start(
    path: str | os.PathLike[str],
    in_s: float,
    out_s: float,
    duration_s: float,
    *,
    sample_fps: float = 8.0,
    rotation: int | None = None,
    sampled: tuple[list[np.ndarray], Fraction] | None = None,
) -> float:
    """Where to start reusing ``duration_s`` seconds of the shot ``[in_s, out_s)`` of ``path``.

    Measures sharpness and motion on the shot sampled at ``sample_fps`` (or on ``sampled``, what
    :func:`sample_range` returned for the same range) and returns ``in_s`` plus the best window's
    offset (``in_s`` when the shot is not longer than needed, without decoding anything).
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s!r}")
    spare = (out_s - in_s) - duration_s
    if spare <= 1e-6:
        return in_s
    frames, rate = sampled or sample_range(
        path, in_s, out_s, sample_fps=sample_fps, rotation=rotation
    )
    sharp, motion = clip_measures(frames)
    n = max(1, frames_of(duration_s, rate))
    offset = best_window(sharp, motion, n) / float(rate)
    return float(min(in_s + offset, in_s + spare))


def _measure_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``MEASURE_WIDTH`` wide (or the source width when smaller), even, at the display aspect."""
    from rag_video.media.probe import probe

    info = probe(path)
    w = min(MEASURE_WIDTH, info.width) // 2 * 2 or 2
    return w, max(2, round(info.height * w / info.width / 2) * 2)
