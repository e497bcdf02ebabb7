"""Reframe: where a crop window sits inside a source clip, chosen from its content, over time.

A landscape shot is a valid candidate for a portrait output: instead of cutting the centre, the
window follows what matters in the picture (the idea of Google's AutoFlip). For the frames of the
chosen range only, sampled at a few per second and small, each sample gets a saliency map — the
spectral residual of its luma (Hou & Zhang, CVPR 2007) plus where it moves (frame difference) —
and the window position that holds the most saliency. The positions are smoothed over time
(median, then Gaussian), their speed is bounded so the virtual camera pans rather than jumps, and
when they barely move the camera stays still.

The result is a *crop track*, stored in the manifest and the OTIO clip and applied by assembly:
``{"mode", "w", "h", "track": [[t, x, y], ...]}`` where ``w``/``h`` are the window's share of the
source's display width/height, ``x``/``y`` its left/top edge as a share of the same, and ``t``
seconds from the clip's in point (linear in between, held at the ends).
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction

import numpy as np

log = logging.getLogger(__name__)

FITS = ("auto", "crop", "letterbox", "reframe")
REFRAME_BELOW = 0.6  # --fit auto: reframe when a centre crop keeps less than this share of the area
SAMPLE_FPS = 6.0
MEASURE_WIDTH = 96  # saliency is measured this wide
SMOOTH_S = 0.35  # Gaussian sigma of the path over time
MAX_PAN = 0.6  # bound on the window's speed, in source widths (or heights) per second
STILL_RANGE = 0.04  # a path that moves less than this share stays still at its median


def window_share(src: tuple[float, float], out: tuple[float, float]) -> tuple[float, float]:
    """(w, h): the share of a ``src`` (w, h) picture a cover-crop to the ``out`` aspect keeps."""
    r_src, r_out = src[0] / src[1], out[0] / out[1]
    return (r_out / r_src, 1.0) if r_src > r_out else (1.0, r_src / r_out)


def kept_area(src: tuple[float, float], out: tuple[float, float]) -> float:
    """Share of the source's area a cover-crop to the ``out`` aspect keeps (1.0 for equal
    aspects)."""
    w, h = window_share(src, out)
    return w * h


def resolve_fit(fit: str, src: tuple[int, int], out: tuple[int, int]) -> str:
    """The fit one clip gets: ``auto`` is ``reframe`` below REFRAME_BELOW of the area kept, else
    ``crop``."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    if fit != "auto":
        return fit
    return "reframe" if kept_area(src, out) < REFRAME_BELOW else "crop"


def centre_crop(src: tuple[int, int], out: tuple[int, int], mode: str = "crop") -> dict:
    """A still window at the centre (the crop track of ``--fit crop``)."""
    w, h = window_share(src, out)
    return {
        "mode": mode,
        "w": round(w, 6),
        "h": round(h, 6),
        "track": [[0.0, round((1 - w) / 2, 6), round((1 - h) / 2, 6)]],
    }


def spectral_residual(gray: np.ndarray) -> np.ndarray:
    """Saliency map of a small grey picture (float, same shape, sums to 1)."""
    import cv2

    img = gray.astype(np.float32)
    spectrum = np.fft.fft2(img)
    log_amp = np.log(np.abs(spectrum) + 1e-6).astype(np.float32)
    residual = log_amp - cv2.blur(log_amp, (3, 3))
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = cv2.GaussianBlur(sal.astype(np.float32), (0, 0), max(1.0, gray.shape[1] / 40))
    total = float(sal.sum())
    return sal / total if total > 0 else np.full_like(sal, 1.0 / sal.size)


def saliency(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Per sampled RGB frame: spectral residual plus motion (difference to the previous sample)."""
    import cv2

    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames]
    out = []
    for k, g in enumerate(grays):
        sal = spectral_residual(g)
        diff = np.abs(g - grays[k - 1] if k else g - grays[min(1, len(grays) - 1)])
        diff = cv2.GaussianBlur(diff, (0, 0), max(1.0, g.shape[1] / 40))
        moved = float(diff.sum())
        out.append(sal + diff / moved if moved > 1e-3 * g.size else sal)
    return out


def best_offset(profile: np.ndarray, share: float) -> float:
    """Left edge (share of the length) of the window of ``share`` holding the most of
    ``profile``."""
    n = profile.size
    width = max(1, min(n, round(share * n)))
    sums = np.convolve(profile, np.ones(width), mode="valid")
    peak = np.flatnonzero(sums >= sums.max() - 1e-12)
    return float(peak[len(peak) // 2]) / n  # the middle of a plateau, not its left end


def smooth_path(raw: np.ndarray, dt: float, span: float) -> np.ndarray:
    """Median 3, Gaussian (SMOOTH_S), speed bounded by MAX_PAN, still when it barely moves."""
    from scipy.ndimage import gaussian_filter1d, median_filter

    if raw.size == 0:
        return raw
    path = median_filter(raw, size=3, mode="nearest") if raw.size >= 3 else raw.copy()
    path = gaussian_filter1d(path, sigma=max(SMOOTH_S / dt, 1e-3), mode="nearest")
    if float(path.max() - path.min()) < STILL_RANGE:
        return np.full_like(path, float(np.median(path)))
    step = MAX_PAN * dt
    for k in range(1, path.size):  # bounded speed, forwards then backwards (no lag at either end)
        path[k] = np.clip(path[k], path[k - 1] - step, path[k - 1] + step)
    for k in range(path.size - 2, -1, -1):
        path[k] = np.clip(path[k], path[k + 1] - step, path[k + 1] + step)
    return np.clip(path, 0.0, span)


def reframe_track(
    path: str | os.PathLike[str],
    in_s: float,
    out_s: float,
    src: tuple[int, int],
    out: tuple[int, int],
    *,
    sample_fps: float = SAMPLE_FPS,
    sampled: tuple[list[np.ndarray], Fraction] | None = None,
) -> dict:
    """The crop track of ``[in_s, out_s)`` of ``path`` (display size ``src``) for an ``out`` aspect,
    measured on ``sampled`` (frames of that range from ``in_s`` at a rate, already decoded for the
    trim) or on the range decoded at ``sample_fps``."""
    import cv2

    from rag_video.media.clip import read_clip

    w, h = window_share(src, out)
    if w >= 0.999 and h >= 0.999:
        return centre_crop(src, out, "reframe")
    mw = MEASURE_WIDTH
    mh = max(2, round(src[1] * mw / src[0] / 2) * 2)
    if sampled is not None and sampled[0]:
        frames, rate = (
            [cv2.resize(f, (mw, mh), interpolation=cv2.INTER_AREA) for f in sampled[0]],
            sampled[1],
        )
    else:
        rate = Fraction(sample_fps).limit_denominator(1001)
        frames = read_clip(
            path, in_s, max(out_s, in_s + 1.0 / sample_fps), fps=rate, size=(mw, mh), fit="crop"
        )
    maps = saliency(frames)
    horizontal = w < 1.0
    share = w if horizontal else h
    raw = np.asarray([best_offset(m.sum(axis=0 if horizontal else 1), share) for m in maps])
    dt = 1.0 / float(rate)
    path_ = smooth_path(raw, dt, 1.0 - share)
    times = np.arange(path_.size) * dt
    fixed = (1.0 - (h if horizontal else w)) / 2
    points = [
        [round(float(t), 4), round(float(p), 5), round(fixed, 5)]
        if horizontal
        else [round(float(t), 4), round(fixed, 5), round(float(p), 5)]
        for t, p in zip(times, path_, strict=False)
    ]
    if len({tuple(p[1:]) for p in points}) == 1:
        points = points[:1]
    return {"mode": "reframe", "w": round(w, 6), "h": round(h, 6), "track": points}


def crop_for(
    path: str | os.PathLike[str],
    in_s: float,
    out_s: float,
    src: tuple[int, int],
    out: tuple[int, int],
    fit: str,
    *,
    sampled: tuple[list[np.ndarray], Fraction] | None = None,
) -> dict:
    """The crop of one clip for ``fit`` (auto | crop | letterbox | reframe); ``sampled``: see
    :func:`reframe_track`."""
    mode = resolve_fit(fit, src, out)
    if mode == "letterbox":
        return {"mode": "letterbox", "w": 1.0, "h": 1.0, "track": [[0.0, 0.0, 0.0]]}
    if mode == "crop":
        return centre_crop(src, out)
    from rag_video.media.probe import MediaError

    try:
        return reframe_track(path, in_s, out_s, src, out, sampled=sampled)
    except (MediaError, ValueError) as exc:  # a measure that fails must not fail the make
        log.warning(
            "reframe of %s %.2f-%.2f s failed (%s); using a centre crop", path, in_s, out_s, exc
        )
        return centre_crop(src, out)
