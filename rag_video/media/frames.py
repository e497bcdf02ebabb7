"""Decoded video frames as upright RGB pictures: display geometry and the one swscale conversion.

Every reader of source pictures — the ingest decode pass (:mod:`rag_video.media.decode`), the clip
reader (:mod:`rag_video.media.clip`) and the seek reader (:mod:`rag_video.media.seek`) — goes
through here, so they agree on:

- the display size: the coded size with the sample aspect ratio applied, turned by the rotation;
- the display rotation, read from the frame's display matrix (or an old ``rotate`` tag);
- the colour conversion: one swscale call with area interpolation, full-range ("JPEG") YUV read
  as full range and limited as limited, at any bit depth (10-bit input gives 8-bit RGB).
"""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import numpy as np

log = logging.getLogger(__name__)

AVCOL_RANGE_JPEG = 2
"""FFmpeg's AVColorRange for full-range ("JPEG") YUV."""


def rotation_of(frame: av.VideoFrame, stream: av.VideoStream) -> int:
    """Clockwise display rotation (0/90/180/270) from the frame's display matrix.

    PyAV reports ``frame.rotation`` counter-clockwise; an old-style ``rotate`` stream tag
    (clockwise) is the fallback when the frame carries no matrix.
    """
    ccw = frame.rotation or 0
    if ccw:
        return int(round(-ccw / 90.0)) % 4 * 90
    tag = stream.metadata.get("rotate")
    try:
        return int(round(float(tag) / 90.0)) % 4 * 90 if tag else 0
    except ValueError:
        log.warning("ignoring unreadable rotate tag %r", tag)
        return 0


def display_size(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[int, int]:
    """Display size of a ``width``×``height`` coded picture after sample aspect and rotation."""
    if sar and sar > 0 and sar != 1:
        width = max(1, int(round(width * sar)))
    return (height, width) if rotation in (90, 270) else (width, height)


def short_side_size(display: tuple[int, int], short_side: int) -> tuple[int, int]:
    """``display`` (w, h) scaled so its short side is ``short_side``, keeping its aspect ratio."""
    dw, dh = display
    if dw <= dh:
        return short_side, max(1, round(dh * short_side / dw))
    return max(1, round(dw * short_side / dh)), short_side


def coded_size(size: tuple[int, int], rotation: int) -> tuple[int, int]:
    """Size (w, h) to scale a coded picture to so that, turned by ``rotation``, it is ``size``."""
    return (size[1], size[0]) if rotation % 360 in (90, 270) else size


def upright(img: np.ndarray, rotation: int) -> np.ndarray:
    """``img`` turned by ``rotation`` degrees clockwise (as :func:`rotation_of` reports it)."""
    k = -(rotation // 90) % 4  # np.rot90 turns counter-clockwise
    return np.ascontiguousarray(np.rot90(img, k=k)) if k else img


def is_full_range(frame: av.VideoFrame) -> bool:
    """Whether ``frame`` holds full-range ("JPEG", 0..255) YUV rather than limited (16..235)."""
    return frame.color_range == AVCOL_RANGE_JPEG or frame.format.name.startswith("yuvj")


def to_rgb(frame: av.VideoFrame, size: tuple[int, int], *, threads: int = 1) -> np.ndarray:
    """``frame`` scaled to ``size`` = (w, h) as h×w×3 uint8 RGB, in coded orientation.

    One swscale call: area interpolation, the frame's colour range honoured. ``threads`` is
    swscale's thread count (0 = automatic; one is fastest at small sizes).
    """
    w, h = size
    return frame.to_ndarray(
        width=w,
        height=h,
        format="rgb24",
        interpolation="AREA",
        threads=threads,
        src_color_range="JPEG" if is_full_range(frame) else None,
    )


def upright_rgb(
    frame: av.VideoFrame, size: tuple[int, int], rotation: int, *, threads: int = 1
) -> np.ndarray:
    """``frame`` as an upright h×w×3 uint8 RGB picture of display size ``size`` = (w, h).

    ``rotation`` is the clockwise display rotation (:func:`rotation_of`); scaling and colour
    conversion happen in coded orientation (:func:`to_rgb`), the turn after.
    """
    return upright(to_rgb(frame, coded_size(size, rotation), threads=threads), rotation)


__all__ = [
    "AVCOL_RANGE_JPEG",
    "coded_size",
    "display_size",
    "is_full_range",
    "rotation_of",
    "short_side_size",
    "to_rgb",
    "upright",
    "upright_rgb",
]
