"""Keyframe choice, per-shot picture statistics and thumbnails (numpy, OpenCV, Pillow; no torch).

The decode pass only converts sampled frames to RGB, so keyframes are chosen among those
(:func:`pick_keyframes`). Statistics are made per frame (:func:`frame_stats`, small and
mergeable) and combined per shot (:func:`combine_stats`), so a pipeline can keep the stats of
sampled frames instead of their pictures; :func:`shot_stats` does both in one call.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag_video.ingest.shots import FrameTimes

# Keyframe count by shot length (seconds): < 3 s one, < 8 s two, else three.
_ONE_KEYFRAME_S = 3.0
_TWO_KEYFRAMES_S = 8.0
_POSITIONS = {1: ((1, 2),), 2: ((1, 3), (2, 3)), 3: ((1, 6), (1, 2), (5, 6))}  # (num, den)

# Dominant colours: a coarse RGB histogram on a downscaled picture.
_STATS_SIZE = (64, 36)  # (w, h) the stats are computed at (area-downscaled; keeps them cheap)
_LEVELS = 4  # histogram levels per channel (64 bins of 64 values each)
_MIN_SHARE = 0.03  # a colour must cover at least this share of the pixels to be reported
_MERGE_DISTANCE = 48.0  # bins whose mean colours are this close (RGB units) are one colour
_MAX_COLORS = 3
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # Rec. 601 weights on R, G, B
_TIME_EPS = 1e-6  # seconds: a keyframe moment this close to a frame's start is that frame


def keyframe_positions(
    start: int, end: int, fps: float, *, times: FrameTimes | None = None
) -> list[int]:
    """Target keyframe frames for the shot ``[start, end)``: 1, 2 or 3 by its length in seconds.

    Under 3 s: the middle. Under 8 s: at 1/3 and 2/3. Otherwise at 1/6, 1/2 and 5/6. Positions
    are distinct frames inside the shot (a very short shot may get fewer). Without ``times`` the
    frames are taken to last ``1 / fps`` each; with them (the frames' timestamps, also for
    variable frame rate) the length is the shot's duration and each position is the frame on
    screen at that moment of the shot.
    """
    if end <= start:
        raise ValueError(f"end must be greater than start, got start={start}, end={end}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    length = end - start
    if times is None:
        seconds = length / fps
        count = _keyframe_count(seconds)
        positions = (start + min(length - 1, length * num // den) for num, den in _POSITIONS[count])
        return sorted(set(positions))
    if end > len(times):
        raise ValueError(f"end must be <= the {len(times)} frames of times, got {end}")
    t0, seconds = times.at(start), times.seconds(start, end)
    targets = [t0 + seconds * num / den for num, den in _POSITIONS[_keyframe_count(seconds)]]
    shown = np.searchsorted(times.starts, np.asarray(targets) + _TIME_EPS, side="right") - 1
    return sorted({int(min(max(f, start), end - 1)) for f in shown})


def _keyframe_count(seconds: float) -> int:
    return 1 if seconds < _ONE_KEYFRAME_S else 2 if seconds < _TWO_KEYFRAMES_S else 3


def pick_keyframes(
    start: int,
    end: int,
    fps: float,
    sampled_indices: Sequence[int],
    *,
    times: FrameTimes | None = None,
) -> list[int]:
    """The sampled frames (those the decode pass made RGB for) nearest to the keyframe positions.

    ``sampled_indices`` must be ascending. Frames inside ``[start, end)`` are preferred; only
    when the shot holds no sampled frame at all is the nearest sampled frame outside it used, so
    the result always has at least one frame. Returned ascending and without duplicates.
    With ``times`` (see :func:`keyframe_positions`) positions and nearness are measured in time.
    """
    sampled = np.asarray(sampled_indices, dtype=np.int64)
    if sampled.ndim != 1 or sampled.size == 0:
        raise ValueError(
            f"sampled_indices must be a non-empty sequence, got {len(sampled_indices)} items"
        )
    if sampled.size > 1 and not np.all(np.diff(sampled) > 0):
        raise ValueError("sampled_indices must be strictly ascending")
    targets = keyframe_positions(start, end, fps, times=times)
    lo, hi = np.searchsorted(sampled, [start, end])
    pool = sampled[lo:hi] if hi > lo else sampled
    if times is None:
        return sorted({_nearest(pool, t) for t in targets})
    pool_s = times.starts[pool]
    return sorted({int(pool[_nearest_index(pool_s, times.at(t))]) for t in targets})


def _nearest(pool: np.ndarray, target: int) -> int:
    """Element of the ascending ``pool`` closest to ``target`` (the earlier one on a tie)."""
    return int(pool[_nearest_index(pool, target)])


def _nearest_index(pool: np.ndarray, target: float) -> int:
    """Index in the ascending ``pool`` of the value closest to ``target`` (the earlier on a tie)."""
    i = int(np.searchsorted(pool, target))
    lo = max(0, i - 1)
    candidates = pool[lo : i + 1]
    return lo + int(np.argmin(np.abs(candidates - target)))


@dataclass(frozen=True, eq=False)
class FrameStats:
    """Statistics of one RGB frame: luma mean/std and mean HSV saturation (0..1), and a coarse
    colour histogram (``counts`` per bin, ``sums`` of the RGB values falling in each bin)."""

    brightness: float
    contrast: float
    saturation: float
    counts: np.ndarray  # (_LEVELS**3,) int64
    sums: np.ndarray  # (_LEVELS**3, 3) float64


def frame_stats(rgb: np.ndarray) -> FrameStats:
    """Statistics of one h×w×3 uint8 RGB frame, computed on an area-downscaled copy."""
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(
            f"rgb must be an h×w×3 uint8 array, got shape {rgb.shape} dtype {rgb.dtype}"
        )
    img = _downscale(rgb, _STATS_SIZE)
    luma = img.astype(np.float32) @ _LUMA / 255.0
    sat = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float32) / 255.0
    pixels = img.reshape(-1, 3)
    q = (pixels // (256 // _LEVELS)).astype(np.int64)
    bins = (q[:, 0] * _LEVELS + q[:, 1]) * _LEVELS + q[:, 2]
    n_bins = _LEVELS**3
    counts = np.bincount(bins, minlength=n_bins)
    sums = np.stack(
        [np.bincount(bins, weights=pixels[:, c], minlength=n_bins) for c in range(3)], axis=1
    )
    return FrameStats(float(luma.mean()), float(luma.std()), float(sat.mean()), counts, sums)


def _downscale(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    w, h = size
    if rgb.shape[1] <= w and rgb.shape[0] <= h:
        return np.ascontiguousarray(rgb)
    scale = min(w / rgb.shape[1], h / rgb.shape[0])
    out = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, out, interpolation=cv2.INTER_AREA)


def combine_stats(frames: Sequence[FrameStats], motion: np.ndarray | Sequence[float]) -> dict:
    """Shot statistics from per-frame ones and the shot's per-frame motion values.

    Returns ``brightness``, ``contrast``, ``saturation`` (means over the frames, 0..1),
    ``dominant_colors`` (up to 3 ``#rrggbb``, most common first) and ``motion`` (mean of
    ``motion``, 0..1; 0 when it is empty).
    """
    if not frames:
        raise ValueError("rgb_frames must hold at least one frame, got 0")
    counts = np.sum([f.counts for f in frames], axis=0)
    sums = np.sum([f.sums for f in frames], axis=0)
    motion_arr = np.asarray(motion, dtype=np.float64).ravel()
    return {
        "brightness": float(np.mean([f.brightness for f in frames])),
        "contrast": float(np.mean([f.contrast for f in frames])),
        "saturation": float(np.mean([f.saturation for f in frames])),
        "dominant_colors": dominant_colors(counts, sums),
        "motion": float(np.clip(motion_arr.mean(), 0.0, 1.0)) if motion_arr.size else 0.0,
    }


def shot_stats(rgb_frames: Sequence[np.ndarray], motion: np.ndarray | Sequence[float]) -> dict:
    """Statistics of a shot from its sampled RGB frames and its per-frame motion values.

    ``motion`` holds :func:`motion_value` of each frame of the shot against the previous frame —
    the caller leaves out the shot's first frame, whose difference spans the cut. See
    :func:`combine_stats` for the keys. Raises ``ValueError`` when ``rgb_frames`` is empty.
    """
    return combine_stats([frame_stats(f) for f in rgb_frames], motion)


def dominant_colors(
    counts: np.ndarray, sums: np.ndarray, max_colors: int = _MAX_COLORS
) -> list[str]:
    """Up to ``max_colors`` hex colours from a coarse histogram, most common first.

    Each bin's colour is the mean of its pixels; bins with close colours are merged; colours
    covering less than 3 % of the pixels are left out (the most common one always stays).
    """
    total = counts.sum()
    if total == 0:
        return []
    kept: list[list[float]] = []  # [count, r_sum, g_sum, b_sum]
    for b in np.argsort(-counts, kind="stable"):
        if counts[b] == 0:
            break
        mean = sums[b] / counts[b]
        for k in kept:
            if np.linalg.norm(np.array(k[1:]) / k[0] - mean) < _MERGE_DISTANCE:
                k[0] += counts[b]
                k[1:] = list(np.array(k[1:]) + sums[b])
                break
        else:
            kept.append([float(counts[b]), *map(float, sums[b])])
    kept.sort(key=lambda k: -k[0])
    chosen = [k for i, k in enumerate(kept) if i == 0 or k[0] / total >= _MIN_SHARE][:max_colors]
    return [_hex(np.array(k[1:]) / k[0]) for k in chosen]


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (int(v) for v in np.clip(np.rint(rgb), 0, 255))
    return f"#{r:02x}{g:02x}{b:02x}"


def motion_value(prev_small_bgr: np.ndarray | None, small_bgr: np.ndarray) -> float:
    """Mean absolute luma difference between two small BGR frames, scaled to 0..1.

    ``prev_small_bgr`` ``None`` (first frame) gives 0.0.
    """
    if prev_small_bgr is None:
        return 0.0
    if prev_small_bgr.shape != small_bgr.shape:
        raise ValueError(
            "prev_small_bgr and small_bgr differ in shape: "
            f"{prev_small_bgr.shape} vs {small_bgr.shape}"
        )
    weights = _LUMA[::-1]  # B, G, R order
    diff = (small_bgr.astype(np.float32) - prev_small_bgr.astype(np.float32)) @ weights
    return float(np.abs(diff).mean() / 255.0)


def motion_values(prev_small_bgr: np.ndarray | None, frames_bgr: np.ndarray) -> list[float]:
    """:func:`motion_value` of every frame of a block (n×h×w×3 uint8 BGR) against the frame
    before it (``prev_small_bgr`` for the first; ``None``: the first frame of a video, 0.0).
    The same floats, one vectorised pass."""
    if frames_bgr.shape[0] == 0:
        return []
    if prev_small_bgr is not None and prev_small_bgr.shape != frames_bgr.shape[1:]:
        raise ValueError(
            "prev_small_bgr and frames_bgr differ in frame shape: "
            f"{prev_small_bgr.shape} vs {frames_bgr.shape[1:]}"
        )
    f = frames_bgr.astype(np.float32)
    before = f[:-1] if prev_small_bgr is None else np.concatenate([prev_small_bgr[None], f[:-1]])
    diff = (f[1:] if prev_small_bgr is None else f) - before
    values = (np.abs(diff @ _LUMA[::-1]).mean(axis=(1, 2)) / 255.0).tolist()
    return [0.0, *values] if prev_small_bgr is None else values


def thumbnail_jpeg(rgb: np.ndarray, width: int = 160, quality: int = 80) -> bytes:
    """JPEG bytes of ``rgb`` (h×w×3 uint8) scaled to ``width`` pixels wide, aspect kept."""
    from PIL import Image

    if width < 1:
        raise ValueError(f"width must be positive, got {width}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(
            f"rgb must be an h×w×3 uint8 array, got shape {rgb.shape} dtype {rgb.dtype}"
        )
    img = Image.fromarray(np.ascontiguousarray(rgb))
    height = max(1, round(img.height * width / img.width))
    img = img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()
