# Over 400 lines, kept whole for now (issue 11): the one decode loop with prefetch and seek; next
# cut: sampling policy apart from decoding.
"""The one decode pass of ingest: every frame as a tiny upright BGR picture, some also as RGB.

Performance is the point. The tiny ``small`` frame (shot detection, motion) is read from the
decoder's YUV planes in place — a strided view of each plane, an area resize at the tiny size and a
3×3 colour matrix on a few thousand pixels — so it costs next to nothing beside decoding. Formats
without a fast path (RGB, paletted, …) go through swscale straight to the tiny size. Full-size RGB
is never made; ``rgb`` (embedding, thumbnails, stats) is produced by swscale at embedding size and
only for sampled frames.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from rag_video.media.frames import (
    display_size,
    is_full_range,
    rotation_of,
    short_side_size,
    upright,
    upright_rgb,
)
from rag_video.media.hwdecode import open_for_decode
from rag_video.media.probe import MediaError, average_fps, stream_duration

log = logging.getLogger(__name__)

# Planar YUV formats read in place, with their bit depth (little-endian above 8 bits).
_PLANAR_YUV_BITS: dict[str, int] = {
    **{f: 8 for f in ("yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuv410p")},
    **{f: 8 for f in ("yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p", "yuvj411p")},
    **{f"yuv{s}p{b}le": b for s in ("420", "422", "444") for b in (9, 10, 12, 14, 16)},
}
# Semi-planar 8-bit formats: (index of U, index of V) inside the interleaved chroma plane.
_SEMI_PLANAR_UV: dict[str, tuple[int, int]] = {"nv12": (0, 1), "nv21": (1, 0)}

# Luma weights (Kr, Kb) by FFmpeg AVColorSpace; unspecified follows swscale's default (BT.601).
_BT601 = (0.299, 0.114)
_KR_KB: dict[int, tuple[float, float]] = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: _BT601,  # BT.470BG
    6: _BT601,  # SMPTE 170M
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant
    10: (0.2627, 0.0593),  # BT.2020 constant (approximated)
}
# The strided view keeps about this many source rows / columns per output pixel for the area
# resize to average (aliasing control at almost no cost).
_OVERSAMPLE_ROWS = 2
_OVERSAMPLE_COLS = 4
# Frames a stream may fall short of its announced count (edit lists, dropped leading B-frames)
# before it counts as truncated; also at least 2 % of the count.
_SHORT_TOLERANCE = 3
_TIME_SLACK = 2e-3  # seconds: timestamps of some containers (Matroska) are rounded to 1 ms


@dataclass
class DecodedFrame:
    """One decoded frame.

    ``index`` counts decoded frames from 0 (also for variable frame rate); ``time_s`` comes from
    the frame's pts relative to the stream start. ``small`` is h×w×3 uint8 BGR, upright, at the
    requested ``detect_size``. ``rgb`` is upright h×w×3 uint8 RGB with short side
    ``rgb_short_side`` for sampled frames, else ``None``.
    """

    index: int
    time_s: float
    small: np.ndarray
    rgb: np.ndarray | None = None


def decode(
    path: str | os.PathLike[str],
    *,
    detect_size: tuple[int, int] = (64, 36),
    rgb_short_side: int = 224,
    rgb_every: int = 8,
    threads: bool | int = True,
    strict: bool = True,
    rgb_every_s: float | None = None,
) -> Iterator[DecodedFrame]:
    """Decode ``path`` once, yielding a :class:`DecodedFrame` per frame.

    ``detect_size`` is ``(width, height)`` of ``small`` in display orientation. Frame 0 and every
    ``rgb_every``-th frame carry ``rgb``; with ``rgb_every_s`` (seconds) instead, frame 0 and then
    the first frame at least ``rgb_every_s`` after the last one that did (by timestamps, so a
    variable-frame-rate file is sampled evenly in time). ``threads``: ``True`` = FFmpeg
    frame+slice threading with an automatic thread count, an int = that many threads, ``False`` =
    single-threaded. 10-bit and other high-depth input gives 8-bit output. Display rotation is
    applied to both pictures.

    Arguments are checked at call time (``ValueError``); the file is opened on first iteration and
    every failure to read it — including one in the middle of the stream — raises ``MediaError``.
    A stream that ends early without an error (its data cut off) is caught when the container's
    index announces more frames than were decoded: ``MediaError`` after the last frame, or only a
    logged warning with ``strict=False``.
    """
    size = _check_size(detect_size)
    if not isinstance(rgb_short_side, int) or rgb_short_side < 1:
        raise ValueError(f"rgb_short_side must be a positive int, got {rgb_short_side!r}")
    if not isinstance(rgb_every, int) or rgb_every < 1:
        raise ValueError(f"rgb_every must be a positive int, got {rgb_every!r}")
    if rgb_every_s is not None and (
        isinstance(rgb_every_s, bool)
        or not isinstance(rgb_every_s, (int, float))
        or not 0 < rgb_every_s < math.inf
    ):
        raise ValueError(f"rgb_every_s must be a positive number of seconds, got {rgb_every_s!r}")
    sampler = _Sampler(rgb_every, rgb_every_s)
    return _decode_frames(Path(path), size, rgb_short_side, sampler, threads, strict)


def _check_size(detect_size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in detect_size)
    except (TypeError, ValueError):
        raise ValueError(f"detect_size must be (width, height), got {detect_size!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"detect_size must be positive, got {detect_size!r}")
    return w, h


def _configure_threads(stream: av.VideoStream, threads: bool | int) -> None:
    cc = stream.codec_context
    if threads is False:
        cc.thread_count = 1
        return
    cc.thread_type = "AUTO"
    cc.thread_count = 0 if threads is True else max(1, int(threads))


def _decode_frames(
    p: Path,
    detect_size: tuple[int, int],
    rgb_short_side: int,
    sampler: _Sampler,
    threads: bool | int,
    strict: bool,
) -> Iterator[DecodedFrame]:
    container, stream = open_for_decode(p)  # NVDEC when configured (media.hwdecode)
    try:
        _configure_threads(stream, threads)
        clock = _Clock(container, stream)
        convert: _Converter | None = None
        n = 0
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                raise MediaError(_failure_message(p, n, clock.last, exc)) from None
            if convert is None:
                convert = _Converter(frame, stream, detect_size, rgb_short_side)
            small = convert.small(frame)
            time_s = clock.time_of(frame)
            rgb = convert.rgb(frame) if sampler.take(n, time_s) else None
            yield DecodedFrame(index=n, time_s=time_s, small=small, rgb=rgb)
            n += 1
        if n == 0:
            raise MediaError(f"no video frames decoded: {p}")
        _check_complete(p, n, clock.last, stream, strict)
    finally:
        container.close()


def _failure_message(p: Path, n: int, last_time: float, exc: av.error.FFmpegError) -> str:
    reason = exc.strerror or str(exc)
    if n == 0:
        return f"decode failed at the first frame: {p}: {reason}"
    return f"decode failed after {n} frames ({last_time:.2f} s): {p}: {reason}"


def _check_complete(
    p: Path, n: int, last_time: float, stream: av.VideoStream, strict: bool
) -> None:
    """Fail (or warn) when the container's index announces clearly more frames than decoded."""
    announced = stream.frames or 0  # exact sample count from the index (mp4/mov/avi), else 0
    if not announced or n >= announced - max(_SHORT_TOLERANCE, announced // 50):
        return
    if strict:
        raise MediaError(
            f"decode failed after {n} frames ({last_time:.2f} s): {p}: "
            f"stream ends early ({announced} frames announced; truncated?)"
        )
    log.warning("decoded %d of the %d frames announced by %s (truncated file?)", n, announced, p)


class _Sampler:
    """Which frames carry ``rgb``: every ``every``-th one, or one per ``every_s`` seconds."""

    def __init__(self, every: int, every_s: float | None) -> None:
        self.every, self.every_s = every, every_s
        self._slack = min(_TIME_SLACK, 0.05 * every_s) if every_s else 0.0
        self._due = -math.inf

    def take(self, index: int, time_s: float) -> bool:
        if self.every_s is None:
            return index % self.every == 0
        if time_s < self._due - self._slack:
            return False
        self._due = time_s + self.every_s
        return True


class _Clock:
    """Frame times in seconds from pts, relative to the stream start, never going backwards."""

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream) -> None:
        self._tb = float(stream.time_base) if stream.time_base else 0.0
        self._start = stream.start_time
        self._origin: int | None = None
        self._step = 1.0 / average_fps(
            stream, stream.frames or 0, stream_duration(container, stream)
        )
        self.last = 0.0
        self._seen = False
        self._backwards = False

    def time_of(self, frame: av.VideoFrame) -> float:
        """Seconds since the stream start; frames without pts continue from the previous one, and
        a pts going backwards (a broken file) is held at the previous frame's time."""
        pts = frame.pts
        if pts is None or not self._tb:
            t = self.last + self._step if self._seen else 0.0
        else:
            if self._origin is None:
                self._origin = pts if self._start is None else min(self._start, pts)
            t = (pts - self._origin) * self._tb
            if self._seen and t < self.last:
                if not self._backwards:
                    log.warning(
                        "frame timestamps go backwards (%.3f s after %.3f s); holding them",
                        t,
                        self.last,
                    )
                self._backwards, t = True, self.last
        self.last, self._seen = t, True
        return t


class _Converter:
    """Makes the upright ``small`` BGR and ``rgb`` pictures of frames of one stream."""

    def __init__(
        self,
        first: av.VideoFrame,
        stream: av.VideoStream,
        detect_size: tuple[int, int],
        rgb_short_side: int,
    ) -> None:
        self.rotation = rotation_of(first, stream)
        w, h = detect_size
        self._small_coded = (h, w) if self.rotation in (90, 270) else (w, h)
        self._sar = stream.sample_aspect_ratio
        self._short = rgb_short_side

    def small(self, frame: av.VideoFrame) -> np.ndarray:
        """Tiny upright BGR picture at ``detect_size``."""
        return upright(small_bgr(frame, self._small_coded), self.rotation)

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """Upright RGB picture with short side ``rgb_short_side`` (display aspect)."""
        display = display_size(frame.width, frame.height, self._sar, self.rotation)
        # one swscale thread: more only add overhead here
        return upright_rgb(frame, short_side_size(display, self._short), self.rotation, threads=1)


def small_bgr(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """``frame`` as a ``size`` = (w, h) BGR uint8 picture, without rotation.

    8- to 16-bit planar YUV and NV12/NV21 are read in place from the decoder's planes; other
    formats are scaled and converted by swscale at the tiny size.
    """
    name = frame.format.name
    planes = frame.planes
    if name in _PLANAR_YUV_BITS and _positive_strides(planes, 3):
        bits = _PLANAR_YUV_BITS[name]
        dtype = np.uint8 if bits == 8 else np.dtype("<u2")
        y, u, v = (_shrink(_plane_view(planes[i], dtype), size) for i in range(3))
        return yuv_to_bgr(
            y, u, v, bits=bits, full_range=is_full_range(frame), colorspace=frame.colorspace
        )
    if name in _SEMI_PLANAR_UV and _positive_strides(planes, 2):
        iu, iv = _SEMI_PLANAR_UV[name]
        y = _shrink(_plane_view(planes[0], np.uint8), size)
        uv = _shrink(_plane_view(planes[1], np.uint8, channels=2), size)
        return yuv_to_bgr(
            y,
            uv[..., iu],
            uv[..., iv],
            bits=8,
            full_range=is_full_range(frame),
            colorspace=frame.colorspace,
        )
    w, h = size
    return frame.to_ndarray(width=w, height=h, format="bgr24", interpolation="AREA", threads=1)


def _positive_strides(planes: tuple[av.video.plane.VideoPlane, ...], n_planes: int) -> bool:
    """True when the first ``n_planes`` planes exist and are stored top-down (positive stride)."""
    return len(planes) >= n_planes and all(planes[i].line_size > 0 for i in range(n_planes))


def _plane_view(
    plane: av.video.plane.VideoPlane, dtype: np.dtype | type, channels: int = 1
) -> np.ndarray:
    """Zero-copy (rows, cols[, channels]) view of a plane's pixels (padding cut off)."""
    itemsize = np.dtype(dtype).itemsize
    row = plane.line_size // itemsize
    # a VideoPlane is a buffer, which PyAV's stubs do not declare
    arr = np.frombuffer(plane, dtype, count=row * plane.height)  # type: ignore[call-overload]
    arr = arr.reshape(plane.height, row)
    arr = arr[:, : plane.width * channels]
    return arr.reshape(plane.height, plane.width, channels) if channels > 1 else arr


def _shrink(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Strided subsample of ``plane`` (rows to about ``_OVERSAMPLE_ROWS``×, columns to about
    ``_OVERSAMPLE_COLS``× the target size), then an area resize to ``size`` = (w, h).

    Skipping rows is what saves memory traffic (a skipped column shares its cache line with the
    kept ones), so rows are sampled more sparsely than columns.
    """
    import cv2

    w, h = size
    sy = max(1, plane.shape[0] // (h * _OVERSAMPLE_ROWS))
    sx = max(1, plane.shape[1] // (w * _OVERSAMPLE_COLS))
    sub = np.ascontiguousarray(plane[::sy, ::sx])
    if sub.shape[1] == w and sub.shape[0] == h:
        return sub
    down = sub.shape[1] >= w and sub.shape[0] >= h
    return cv2.resize(sub, (w, h), interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR)


def yuv_to_bgr(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    *,
    bits: int = 8,
    full_range: bool = False,
    colorspace: int = 2,
) -> np.ndarray:
    """Convert same-sized Y, U, V arrays of ``bits`` depth to 8-bit BGR.

    ``colorspace`` is FFmpeg's AVColorSpace number (1 = BT.709, 9 = BT.2020, …; unspecified means
    BT.601 as in swscale). One ``cv2.transform`` with a cached 3×4 matrix, rounding and
    saturating.
    """
    import cv2

    yuv = cv2.merge((y, u, v))
    out = cv2.transform(yuv, _yuv_matrix(bits, full_range, _KR_KB.get(int(colorspace), _BT601)))
    # uint8 input saturates in cv2; 16-bit input keeps a 16-bit result that may exceed 255.
    return out if out.dtype == np.uint8 else np.minimum(out, 255).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def _yuv_matrix(bits: int, full_range: bool, kr_kb: tuple[float, float]) -> np.ndarray:
    """3×4 affine matrix taking (Y, U, V, 1) code values to 0..255 (B, G, R)."""
    kr, kb = kr_kb
    kg = 1.0 - kr - kb
    scale = float(1 << (bits - 8))
    luma_off, luma_range, chroma_range = (0.0, 255.0, 255.0) if full_range else (16.0, 219.0, 224.0)
    # (Yn, Cb, Cr) = D @ (Y, U, V) + o : normalised luma 0..1 and chroma -0.5..0.5
    d = np.diag([1 / (luma_range * scale), 1 / (chroma_range * scale), 1 / (chroma_range * scale)])
    o = np.array([-luma_off / luma_range, -128.0 / chroma_range, -128.0 / chroma_range])
    # (B, G, R) = A @ (Yn, Cb, Cr)
    a = np.array(
        [
            [1.0, 2.0 * (1.0 - kb), 0.0],
            [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
            [1.0, 0.0, 2.0 * (1.0 - kr)],
        ]
    )
    m = np.hstack([a @ d, (a @ o)[:, None]]) * 255.0
    return m.astype(np.float32)


def prefetched(frames: Iterator[DecodedFrame], depth: int = 32) -> Iterator[DecodedFrame]:
    """Decode ahead in a background thread while the caller works on earlier frames.

    The caller's per-frame work (detection, statistics) holds the GIL; decoding mostly does not, so
    the decoder's threads stay busy instead of waiting for the caller. Errors raised while decoding
    are re-raised here, in order; closing this generator stops the decoder thread.
    """
    import queue
    import threading

    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        buffer.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            buffer.put(exc)

    worker = threading.Thread(target=produce, name="rag-video-decode", daemon=True)
    worker.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
