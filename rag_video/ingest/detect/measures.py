"""Per-frame measures of the ``adaptive`` detector: thumbnails, brightness, blur, detail, and the
motion-compensated (shift, and shift with zoom) residual between two small frames."""

from __future__ import annotations

import math

import numpy as np

from rag_video.media.timecode import frames_of

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
    longest = max(6, frames_of(longest_s, fps))
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
    """The lightly blurred float32 frame that :func:`_shift_match` compares (made once per
    frame)."""
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

    sx, sy = _margins(cur, reach)
    template = _centre(cur, reach)
    scores = cv2.matchTemplate(prev, template, cv2.TM_SQDIFF) / float(template.size)
    return math.sqrt(max(float(scores.min()), 0.0)), math.sqrt(max(float(scores[sy, sx]), 0.0))


_ZOOMS: tuple[float, ...] = (
    0.8,
    0.89,
    1.12,
    1.25,
)  # magnifications tried first (1: the shift match)
_ZOOM_REFINE: tuple[float, ...] = (
    1.055,
    1.027,
)  # then the best one times / divided by each in turn


def _margins(frame: np.ndarray, reach: float) -> tuple[int, int]:
    """(x, y) margins around :func:`_centre`: ``reach`` of the width, ``reach * 2 / 3`` of the
    height."""
    h, w = frame.shape[:2]
    return max(1, int(w * reach)), max(1, int(h * reach * 2 / 3))


def _centre(frame: np.ndarray, reach: float = 0.25) -> np.ndarray:
    """The middle of a frame that :func:`_shift_match` and :func:`_zoom_match` look for."""
    h, w = frame.shape[:2]
    sx, sy = _margins(frame, reach)
    return np.ascontiguousarray(frame[sy : h - sy, sx : w - sx])


def _zoomed_region(
    prev: np.ndarray, size: tuple[int, int], zoom: float, offset: tuple[float, float]
) -> np.ndarray:
    """The ``size`` = (w, h) middle of ``prev`` magnified ``zoom`` times about its centre and moved
    by ``offset`` pixels (of the magnified picture)."""
    import cv2

    h, w = prev.shape[:2]
    (ow, oh), (ox, oy) = size, offset
    m = np.array(
        [[zoom, 0, ow / 2 - zoom * w / 2 - ox], [0, zoom, oh / 2 - zoom * h / 2 - oy]], np.float32
    )
    return cv2.warpAffine(
        prev, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _zoom_fit(
    prev: np.ndarray, template: np.ndarray, zoom: float, slack: tuple[int, int]
) -> tuple[float, int, int]:
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
    grey_prev, grey_cur = (
        cv2.cvtColor(
            cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
        )
        for f in (prev, cur)
    )
    template, slack = _centre(grey_cur), (max(1, w // 16), max(1, round(h * 0.05)))
    best = min(_zoom_fit(grey_prev, template, z, slack) + (z,) for z in _ZOOMS)
    for step in _ZOOM_REFINE:
        best = min(
            [
                best,
                *(
                    _zoom_fit(grey_prev, template, z, slack) + (z,)
                    for z in (best[3] * step, best[3] / step)
                ),
            ]
        )
    _, x, y, zoom = best
    middle = _centre(cur)
    th, tw = middle.shape[:2]
    region = _zoomed_region(prev, (tw + 2, th + 2), zoom, (2.0 * x, 2.0 * y))
    score = min(
        cv2.norm(region[dy : dy + th, dx : dx + tw], middle, cv2.NORM_L2SQR)
        for dy in range(3)
        for dx in range(3)
    )
    return math.sqrt(score / middle.size)


def _detail(frame_bgr: np.ndarray) -> float:
    """RMS of the fine detail (frame minus its blur), 0..255 scale."""
    import cv2

    f = frame_bgr.astype(np.float32)
    return math.sqrt(float(np.mean((f - cv2.GaussianBlur(f, (0, 0), 1.5)) ** 2)))


# ---- block measures: one vectorised call per block of frames (n×h×w×3 uint8 BGR)


def block_luma(frames_bgr: np.ndarray) -> list[float]:
    """:func:`_luma` of every frame of a block (the same floats)."""
    n = frames_bgr.shape[0]
    count = frames_bgr.shape[1] * frames_bgr.shape[2]
    b, g, r = (frames_bgr.reshape(n, -1, 3).sum(axis=1, dtype=np.int64) * (1.0 / count)).T
    return (0.114 * b + 0.587 * g + 0.299 * r).tolist()


def block_descriptors(frames_bgr: np.ndarray) -> np.ndarray:
    """:func:`_descriptor` of every frame of a block, as uint8 (n×9×16×3).

    One area resize of the frames stacked on top of each other; when the frame height is a
    multiple of the descriptor's, no output pixel straddles two frames, so it equals the
    per-frame resize."""
    import cv2

    n, h, w = frames_bgr.shape[:3]
    dw, dh = DESCRIPTOR_SIZE
    if h % dh or w % dw:
        return np.stack(
            [cv2.resize(f, DESCRIPTOR_SIZE, interpolation=cv2.INTER_AREA) for f in frames_bgr]
        )
    stacked = cv2.resize(
        frames_bgr.reshape(n * h, w, 3), (dw, n * dh), interpolation=cv2.INTER_AREA
    )
    return stacked.reshape(n, dh, dw, 3)


def block_shift_bounds(previous: np.ndarray | None, frames_bgr: np.ndarray) -> np.ndarray:
    """An upper bound of the unshifted change of :func:`_shift_match` (and so of its shifted one)
    for every frame of a block against the frame before it (``previous`` before the first; 0
    for the very first frame of a video).

    The blur of :func:`_blur` averages each pixel with its 3×3 neighbours (weights summing to 1),
    so the squared blurred difference over the centre is at most the squared raw difference over
    the centre grown by one pixel (Jensen). No blur, no template match: a few numpy operations.
    """
    n, h, w = frames_bgr.shape[:3]
    sx, sy = _margins(frames_bgr[0], 0.25)
    template_size = (h - 2 * sy) * (w - 2 * sx) * 3
    region = frames_bgr[:, sy - 1 : h - sy + 1, sx - 1 : w - sx + 1].astype(np.int32)
    if previous is None:
        before = np.concatenate([region[:1], region[:-1]])
    else:
        prev = previous[sy - 1 : h - sy + 1, sx - 1 : w - sx + 1].astype(np.int32)
        before = np.concatenate([prev[None], region[:-1]])
    d = region - before
    return np.sqrt((d * d).sum(axis=(1, 2, 3), dtype=np.int64) / float(template_size))


def window_scores(
    descs: np.ndarray, first: int, lengths: tuple[int, ...]
) -> tuple[np.ndarray, ...]:
    """``change`` and ``residual`` (as :func:`_mad` measures them) of every dissolve window ending
    at ``descs[first:]``, one column per length: ``change`` = |A - B|, ``residual`` =
    |M - (A+B)/2| for ``A = t-L``, ``M = t-L//2``, ``B = t``; NaN where the window reaches before
    ``descs[0]``. ``descs`` are uint8 descriptors; every sum is an exact integer, so the values
    are those of :func:`_mad`."""
    d = descs.reshape(descs.shape[0], -1).astype(np.int32)
    size = d.shape[1]
    t = np.arange(first, d.shape[0])
    change = np.full((t.size, len(lengths)), np.nan)
    residual = np.full((t.size, len(lengths)), np.nan)
    for j, length in enumerate(lengths):
        ok = t - length >= 0
        if not ok.any():
            continue
        tt = t[ok]
        a, m, b = d[tt - length], d[tt - length // 2], d[tt]
        change[ok, j] = np.abs(a - b).sum(axis=1) / size
        residual[ok, j] = np.abs(2 * m - a - b).sum(axis=1) / (2.0 * size)
    return change, residual
