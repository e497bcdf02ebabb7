"""Long shots in overlapping windows: where the windows fall, how their outputs crossfade at the
seams, and conforming the blended frames to the requested count and size.

A pipeline generates at most its frame window per call, so the diffusion generator covers a shot
with evenly spread windows overlapping by at least a quarter window and blends them with linear
ramps over each overlap.
"""

from __future__ import annotations

import math

import numpy as np

#: Half-open frame ranges [start, end) of a shot, one per pipeline call.
Windows = list[tuple[int, int]]


def plan_windows(n_frames: int, window: int, overlap: int) -> Windows:
    """Cover [0, n_frames) with windows of `window` frames overlapping by at least `overlap`.

    One window when n_frames <= window; otherwise the fewest windows whose starts are spread
    evenly, the first at 0 and the last ending at n_frames.
    """
    if n_frames <= window:
        return [(0, n_frames)]
    overlap = min(max(1, overlap), window - 1)
    count = math.ceil((n_frames - overlap) / (window - overlap))
    starts = [round(i * (n_frames - window) / (count - 1)) for i in range(count)]
    return [(s, s + window) for s in starts]


def window_weights(windows: Windows) -> list[np.ndarray]:
    """Per-window frame weights: linear ramps across each overlap with a neighbour, 1 elsewhere."""
    weights = []
    for i, (start, end) in enumerate(windows):
        w = np.ones(end - start, dtype=np.float32)
        if i > 0 and windows[i - 1][1] > start:
            n = windows[i - 1][1] - start
            w[:n] = np.minimum(w[:n], (np.arange(n) + 1) / (n + 1))
        if i + 1 < len(windows) and windows[i + 1][0] < end:
            n = end - windows[i + 1][0]
            w[-n:] = np.minimum(w[-n:], 1.0 - (np.arange(n) + 1) / (n + 1))
        weights.append(w)
    return weights


def blend_windows(chunks: list[np.ndarray], windows: Windows, n_frames: int) -> np.ndarray:
    """Crossfade window outputs (each (len, H, W, 3) uint8) into one (n_frames, H, W, 3) uint8."""
    if len(chunks) == 1:
        return chunks[0]
    acc = np.zeros((n_frames, *chunks[0].shape[1:]), dtype=np.float32)
    total = np.zeros(n_frames, dtype=np.float32)
    for chunk, (start, end), w in zip(chunks, windows, window_weights(windows), strict=False):
        acc[start:end] += chunk.astype(np.float32) * w[:, None, None, None]
        total[start:end] += w
    return np.clip(acc / total[:, None, None, None] + 0.5, 0, 255).astype(np.uint8)


def resample_index(m: int, n: int) -> list[int]:
    """Indices of n frames sampled evenly (nearest) from m; the first and last are kept."""
    if n == 1 or m == 1:
        return [0] * n
    return [int(i) for i in np.floor(np.arange(n) * (m - 1) / (n - 1) + 0.5)]


def resample_frames(frames: np.ndarray, n: int) -> np.ndarray:
    """Nearest-frame resampling in time to exactly n frames."""
    return frames if len(frames) == n else frames[resample_index(len(frames), n)]


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """Resize every frame to size (width, height); area filter when shrinking."""
    import cv2

    w, h = size
    if frames.shape[1:3] == (h, w):
        return [np.ascontiguousarray(f) for f in frames]
    shrink = w * h < frames.shape[1] * frames.shape[2]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return [cv2.resize(f, (w, h), interpolation=interp) for f in frames]


def round_size(size: tuple[float, float], multiple: int) -> tuple[int, int]:
    """Round (width, height) to the nearest multiples of `multiple` (at least one multiple)."""
    w, h = (max(multiple, int(round(v / multiple)) * multiple) for v in size)
    return w, h


def native_gen_size(
    native: tuple[int, int], size: tuple[int, int], multiple: int
) -> tuple[int, int]:
    """The native pixel count at the aspect ratio of `size`, rounded to `multiple`."""
    area = native[0] * native[1]
    aspect = size[0] / size[1]
    return round_size((math.sqrt(area * aspect), math.sqrt(area / aspect)), multiple)
