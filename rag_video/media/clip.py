"""Read a time range of a source as frames conformed to an output rate and size (its audio:
:mod:`rag_video.media.audio`).

Only the range is decoded: the reader seeks to the keyframe before the start and decodes forward.
Times are seconds from the video stream's start, as everywhere in rag-video. The output is a
constant-rate sequence of *ticks* ``start_s + k / fps``; each tick shows the decoded frame whose
timestamp is nearest to it (ties go to the later frame), so a 25 fps source conformed to 24 or
30 fps gives exactly ``(out_s - in_s) * fps`` frames rounded to the nearest, halves up
(:func:`clip_duration_frames`). Ticks after the last frame of the file hold the last frame.

Frames are conformed to ``size`` (width, height) with ``fit``:

- ``crop``: scale to cover the output, then cut the centre (no bars; edges lost);
- ``letterbox``: scale to fit inside the output, then pad with black bars.

A ``crop`` track (see :mod:`rag_video.generate.reframe`) moves the crop window over time instead
of cutting the centre. ``rotation=None`` (the default) applies the file's own display rotation:
every read of source frames goes through this reader, so rotated phone footage is upright.

Scaling and YUV→RGB conversion are one swscale call at the scaled size, display rotation is
applied after it (both :mod:`rag_video.media.frames`, as for every reader); crop and pad are array
slices.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from rag_video.media.encode import frame_rate
from rag_video.media.frames import display_size, rotation_of, upright_rgb
from rag_video.media.probe import MediaError, open_video
from rag_video.media.timecode import exact, frames_of

log = logging.getLogger(__name__)

FITS = ("crop", "letterbox")
_TIE_S = 1e-6  # a tick this close to halfway between two frames is a tie (goes to the later)


def check_fit(fit: str) -> str:
    """Return ``fit`` when it is ``crop`` or ``letterbox``; else raise ``ValueError`` naming it."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, got {fit!r}")
    return fit


def fit_geometry(
    src: tuple[int, int], size: tuple[int, int], fit: str
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Scaled size and offset for conforming a ``src`` (w, h) picture to ``size`` (w, h).

    Returns ``((scaled_w, scaled_h), (x, y))``: for ``crop`` the scaled picture covers ``size``
    and ``(x, y)`` is where the output window starts inside it; for ``letterbox`` it fits inside
    and ``(x, y)`` is where it sits on the black canvas.
    """
    check_fit(fit)
    (sw, sh), (w, h) = src, size
    if fit == "crop":
        scale = max(w / sw, h / sh)
        scaled = (max(w, round(sw * scale)), max(h, round(sh * scale)))
    else:
        scale = min(w / sw, h / sh)
        scaled = (min(w, max(1, round(sw * scale))), min(h, max(1, round(sh * scale))))
    x, y = abs(scaled[0] - w) // 2, abs(scaled[1] - h) // 2
    return scaled, (x, y)


def place(
    scaled_rgb: np.ndarray, size: tuple[int, int], fit: str, offset: tuple[int, int]
) -> np.ndarray:
    """Cut (``crop``) or pad (``letterbox``) an already scaled picture to ``size``."""
    w, h = size
    x, y = offset
    if fit == "crop":
        return np.ascontiguousarray(scaled_rgb[y : y + h, x : x + w])
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    sh, sw = scaled_rgb.shape[:2]
    canvas[y : y + sh, x : x + sw] = scaled_rgb
    return canvas


def conform_frame(rgb: np.ndarray, size: tuple[int, int], fit: str = "crop") -> np.ndarray:
    """``rgb`` (h×w×3 uint8) conformed to ``size`` (w, h): centre crop or letterbox, then resize."""
    import cv2

    size = (int(size[0]), int(size[1]))
    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    scaled, offset = fit_geometry((rgb.shape[1], rgb.shape[0]), size, fit)
    shrink = scaled[0] < rgb.shape[1]
    resized = cv2.resize(rgb, scaled, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return place(resized, size, fit, offset)


def window_at(crop: dict, t: float) -> tuple[float, float]:
    """(x, y) of a crop track's window (left/top edge, as shares of the picture) at ``t`` seconds
    from the clip's in point: linear between the track's points, held at its ends. The tracks are
    made by :mod:`rag_video.generate.reframe`."""
    track = crop["track"]
    if len(track) == 1 or t <= track[0][0]:
        return track[0][1], track[0][2]
    if t >= track[-1][0]:
        return track[-1][1], track[-1][2]
    times = [p[0] for p in track]
    return (
        float(np.interp(t, times, [p[1] for p in track])),
        float(np.interp(t, times, [p[2] for p in track])),
    )


class _Conformer:
    """Turns decoded frames into upright RGB at the output size, one swscale call each.

    With a ``crop`` track the picture is scaled so the track's window covers ``size`` and the
    window's offset follows the track at each frame's time from ``origin`` (seconds)."""

    def __init__(
        self,
        stream: av.VideoStream,
        size: tuple[int, int] | None,
        fit: str,
        rotation: int,
        crop: dict | None = None,
        origin: float = 0.0,
    ) -> None:
        cc = stream.codec_context
        self.rotation = rotation % 360
        display = display_size(cc.width, cc.height, stream.sample_aspect_ratio, self.rotation)
        self.size = size or (display[0] // 2 * 2 or display[0], display[1] // 2 * 2 or display[1])
        self.fit = fit
        self.crop, self.origin = None, origin
        if crop is not None and crop.get("mode") == "letterbox":
            self.fit = "letterbox"
        elif crop is not None:
            self.fit, self.crop = "crop", crop
        self.scaled, self.offset = fit_geometry(display, self.size, self.fit)
        if self.crop is not None:
            cw, ch = float(self.crop["w"]), float(self.crop["h"])
            self.scaled = (
                max(self.size[0], round(self.size[0] / cw)),
                max(self.size[1], round(self.size[1] / ch)),
            )

    def _offset(self, t: float | None) -> tuple[int, int]:
        if self.crop is None:
            return self.offset
        x, y = window_at(self.crop, (t if t is not None else self.origin) - self.origin)
        span_x, span_y = self.scaled[0] - self.size[0], self.scaled[1] - self.size[1]
        return (
            min(span_x, max(0, round(x * self.scaled[0]))),
            min(span_y, max(0, round(y * self.scaled[1]))),
        )

    def __call__(self, frame: av.VideoFrame, t: float | None = None) -> np.ndarray:
        # output-sized pictures: swscale picks its thread count
        rgb = upright_rgb(frame, self.scaled, self.rotation, threads=0)
        return place(rgb, self.size, self.fit, self._offset(t))


_Conform = Callable[[av.VideoFrame, "float | None"], np.ndarray]


def _conformer(
    stream: av.VideoStream,
    size: tuple[int, int] | None,
    fit: str,
    rotation: int | None,
    crop: dict | None,
    origin: float,
) -> _Conform:
    """A :class:`_Conformer`; with ``rotation`` None it is built on the first decoded frame, with
    that frame's display rotation (as :func:`probe` reads it), so the file is opened only once."""
    if rotation is not None:
        return _Conformer(stream, size, fit, rotation, crop, origin)
    built: list[_Conformer] = []

    def conform(frame: av.VideoFrame, t: float | None = None) -> np.ndarray:
        if not built:
            built.append(_Conformer(stream, size, fit, rotation_of(frame, stream), crop, origin))
        return built[0](frame, t)

    return conform


def _frame_time(frame: av.frame.Frame, start: float) -> float | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * frame.time_base) - start


def _stream_start(stream: av.stream.Stream) -> float:
    return (
        float(stream.start_time * stream.time_base)
        if stream.start_time and stream.time_base
        else 0.0
    )


def _seek(
    container: av.container.InputContainer, stream: av.stream.Stream, t: float, start: float
) -> None:
    if t <= 0:
        container.seek(0, stream=stream, backward=True, any_frame=False)
        return
    if stream.time_base is None:
        raise MediaError(f"cannot seek a stream without a time base (stream {stream.index})")
    container.seek(max(0, int((t + start) / stream.time_base)), stream=stream, backward=True)


def _timed_frames(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    start: float,
    seek_s: float,
    path: Path,
) -> Iterator[tuple[float, av.VideoFrame]]:
    """Decoded frames with their times, from the keyframe at or before ``seek_s``.

    If the seek lands after ``seek_s`` (a file without a usable index), decoding restarts from
    the beginning of the file.
    """
    fallback_fps = float(stream.average_rate or 25)
    for attempt in (seek_s, 0.0):
        _seek(container, stream, attempt, start)
        last = None
        try:
            for frame in container.decode(stream):
                t = _frame_time(frame, start)
                t = (
                    t
                    if t is not None
                    else (last + 1 / fallback_fps if last is not None else attempt)
                )
                if last is None and t > seek_s + 0.5 / fallback_fps and attempt > 0:
                    log.debug(
                        "%s: seek to %.3fs landed at %.3fs; decoding from the start",
                        path,
                        seek_s,
                        t,
                    )
                    break
                last = t
                yield t, frame
            else:
                return
        except av.error.FFmpegError as exc:
            raise MediaError(f"decode failed: {path}: {exc.strerror or exc}") from None


def iter_clip(
    path: str | os.PathLike[str],
    start_s: float,
    n_frames: int,
    *,
    fps: float | Fraction,
    size: tuple[int, int] | None = None,
    fit: str = "crop",
    rotation: int | None = None,
    crop: dict | None = None,
    crop_origin_s: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``n_frames`` RGB frames of ``path`` at ticks ``start_s + k / fps`` (nearest frame).

    ``rotation`` None applies the file's display rotation; ``crop`` is a crop track whose times
    count from ``crop_origin_s`` (default ``start_s``). Streams: only the current and previous
    decoded frame are held. Raises :class:`MediaError` for unreadable files and when no frame
    exists at or after the seek point.
    """
    check_fit(fit)
    if start_s < 0:
        raise ValueError(f"start_s must be >= 0, got {start_s!r}")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames!r}")
    if n_frames == 0:
        return
    rate = frame_rate(fps)
    p = Path(path)
    container, stream = open_video(p)
    with container:
        stream.thread_type = "AUTO"
        origin = start_s if crop_origin_s is None else crop_origin_s
        yield from _ticks(
            _timed_frames(container, stream, _stream_start(stream), start_s, p),
            _conformer(stream, size, fit, rotation, crop, origin),
            start_s,
            n_frames,
            rate,
            p,
        )


def _ticks(
    frames: Iterator[tuple[float, av.VideoFrame]],
    conform: _Conform,
    start_s: float,
    n_frames: int,
    rate: Fraction,
    path: Path,
) -> Iterator[np.ndarray]:
    """Map decoded frames onto output ticks; converts each chosen frame once."""
    prev: tuple[float, av.VideoFrame] | None = None
    cache: tuple[int, np.ndarray] | None = None
    k = 0

    def emit(item: tuple[float, av.VideoFrame]) -> np.ndarray:
        nonlocal cache
        if cache is None or cache[0] != id(item[1]):
            cache = (id(item[1]), conform(item[1], item[0]))
        return cache[1]

    for t, frame in frames:
        cur = (t, frame)
        while k < n_frames:
            tick = start_s + float(k / rate)
            if t < tick:
                break
            nearest = prev if prev is not None and tick - prev[0] < t - tick - _TIE_S else cur
            yield emit(nearest)
            k += 1
        if k >= n_frames:
            return
        prev = cur
    if prev is None:
        raise MediaError(f"no video frames at or after {start_s:.3f}s: {path}")
    while k < n_frames:  # past the end of the file: hold the last frame
        yield emit(prev)
        k += 1


def read_clip(
    path: str | os.PathLike[str],
    in_s: float,
    out_s: float,
    *,
    fps: float | Fraction | None = None,
    size: tuple[int, int] | None = None,
    fit: str = "crop",
    rotation: int | None = None,
    crop: dict | None = None,
) -> list[np.ndarray]:
    """RGB frames of ``path`` from ``in_s`` to ``out_s`` at ``fps`` (default: the source's rate).

    Exactly :func:`clip_duration_frames` frames, conformed to ``size`` (w, h; default: the
    display size, rounded down to even) with ``fit`` (``crop`` | ``letterbox``) or a ``crop``
    track, with ``rotation`` (clockwise degrees, as :func:`probe` reports; None: the file's)
    applied.
    """
    if not out_s > in_s:
        raise ValueError(f"out_s must be after in_s, got in_s={in_s!r} out_s={out_s!r}")
    if fps is None:
        fps = source_rate(path)
    rate = frame_rate(fps)
    n = clip_duration_frames(in_s, out_s, rate)
    return list(
        iter_clip(path, in_s, n, fps=rate, size=size, fit=fit, rotation=rotation, crop=crop)
    )


def source_rate(path: str | os.PathLike[str]) -> Fraction:
    """The video stream's average frame rate as a fraction (25 when the file does not say)."""
    container, stream = open_video(path)
    with container:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return Fraction(rate) if rate and 0 < rate <= 1000 else Fraction(25)


def clip_duration_frames(in_s: float, out_s: float, fps: float | Fraction) -> int:
    """Frames ``read_clip(in_s, out_s, fps)`` returns: ``out_s - in_s`` in whole frames at
    ``fps``, a half frame rounding up (:func:`~rag_video.media.timecode.frames_of`)."""
    return frames_of(exact(out_s, "out_s") - exact(in_s, "in_s"), frame_rate(fps))


__all__ = [
    "FITS",
    "check_fit",
    "clip_duration_frames",
    "conform_frame",
    "fit_geometry",
    "iter_clip",
    "place",
    "read_clip",
    "source_rate",
    "window_at",
]
