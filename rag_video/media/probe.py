"""Read what a video file is (size, rate, length, rotation, tags) without decoding it all.

Also home of :class:`MediaError` and :func:`open_video`, the one way the media layer opens a file,
so that every unreadable input fails with the same one-line messages.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error

from rag_video.errors import RagVideoError
from rag_video.media.frames import display_size, rotation_of
from rag_video.media.timecode import frames_of

log = logging.getLogger(__name__)

# Demuxers that open files which are not footage: ANSI/text art and single still images.
_TEXT_FORMATS = frozenset({"tty"})
_IMAGE_FORMATS = frozenset({"image2"})
_MAX_SANE_FPS = 1000.0
_DEFAULT_FPS = 25.0


class MediaError(RagVideoError):
    """A file cannot be read as video; the message is one line naming the file and the reason."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video file.

    ``width``/``height`` are the display size: sample aspect ratio applied and, for 90/270
    rotations, swapped. ``rotation`` is the clockwise angle (0/90/180/270) to apply to decoded
    frames for display. ``frames`` is the container's estimate; the decode pass counts the real
    number. ``tags`` are the container's metadata with lower-cased keys.
    """

    duration_s: float
    fps: float
    frames: int
    width: int
    height: int
    rotation: int
    video_codec: str
    pix_fmt: str
    has_audio: bool
    tags: dict[str, str] = field(default_factory=dict)
    coded_width: int = 0
    coded_height: int = 0
    container_format: str = ""


def check_readable(path: str | os.PathLike[str]) -> Path:
    """Fail with :class:`MediaError` unless ``path`` is an existing, non-empty regular file."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MediaError(f"cannot open: {p}: no such file") from None
    except PermissionError:
        raise MediaError(f"cannot open: {p}: permission denied") from None
    except OSError as exc:
        raise MediaError(f"cannot open: {p}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaError(f"cannot open: {p}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(f"cannot open: {p}: not a regular file")
    if st.st_size == 0:
        raise MediaError(f"empty file: {p}")
    if not os.access(p, os.R_OK):
        raise MediaError(f"cannot open: {p}: permission denied")
    return p


def open_video(
    path: str | os.PathLike[str], *, hwaccel: av.codec.hwaccel.HWAccel | None = None
) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open ``path`` and return ``(container, first real video stream)``.

    The caller closes the container. Raises :class:`MediaError` for missing, empty, non-media,
    text, still-image and audio-only files. ``hwaccel``: decode on that device (media.hwdecode).
    """
    p = check_readable(path)
    try:
        container = av.open(str(p), mode="r", hwaccel=hwaccel)
    except av.error.FFmpegError as exc:
        raise MediaError(_open_failure_message(p, exc)) from None
    try:
        _reject_non_footage(container, p)
        return container, _video_stream(container, p)
    except BaseException:
        container.close()
        raise


def _open_failure_message(p: Path, exc: av.error.FFmpegError) -> str:
    if isinstance(exc, (av.error.InvalidDataError, av.error.EOFError)):
        return f"not a media file (or damaged): {p}"
    if isinstance(exc, PermissionError):
        return f"cannot open: {p}: permission denied"
    return f"cannot open: {p}: {exc.strerror or exc}"


def _reject_non_footage(container: av.container.InputContainer, p: Path) -> None:
    name = container.format.name
    if name in _TEXT_FORMATS:
        raise MediaError(f"not a video file (text): {p}")
    if name in _IMAGE_FORMATS or name.endswith("_pipe"):
        raise MediaError(f"not a video file (still image): {p}")


def _video_stream(container: av.container.InputContainer, p: Path) -> av.VideoStream:
    """First video stream that is not cover art."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if container.streams.audio:
        raise MediaError(f"no video stream (audio only): {p}")
    raise MediaError(f"no video stream: {p}")


def first_frame(
    container: av.container.InputContainer, stream: av.VideoStream, p: Path
) -> av.VideoFrame:
    """Decode the first frame of ``stream`` (probe uses it for rotation and pixel format)."""
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise MediaError(f"decode failed at the first frame: {p}: {exc.strerror or exc}") from None
    raise MediaError(f"no video frames decoded: {p}")


def average_fps(stream: av.VideoStream, frames: int, duration_s: float) -> float:
    """The stream's average frame rate, falling back to guessed/base rate, then frames/duration."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < float(rate) <= _MAX_SANE_FPS:
            return float(rate)
    if frames > 0 and duration_s > 0:
        return frames / duration_s
    log.warning("no frame rate in %s; assuming %.0f fps", stream.container.name, _DEFAULT_FPS)
    return _DEFAULT_FPS


def stream_duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    """Duration in seconds: the stream's own, else the container's, else 0."""
    if stream.duration is not None and stream.time_base and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return 0.0


def _frame_count(stream: av.VideoStream, duration_s: float, fps: float) -> int:
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    return frames_of(duration_s, fps) if duration_s > 0 else 0


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the video at ``path``; decodes only its first frame. Raises :class:`MediaError`."""
    container, stream = open_video(path)
    p = Path(path)
    try:
        frame = first_frame(container, stream, p)
        rotation = rotation_of(frame, stream)
        cc = stream.codec_context
        coded_w, coded_h = cc.width or frame.width, cc.height or frame.height
        width, height = display_size(coded_w, coded_h, stream.sample_aspect_ratio, rotation)
        duration = stream_duration(container, stream)
        fps = average_fps(stream, stream.frames or 0, duration)
        frames = _frame_count(stream, duration, fps)
        if duration <= 0 and frames > 0:
            duration = frames / fps
        return VideoInfo(
            duration_s=duration,
            fps=fps,
            frames=frames,
            width=width,
            height=height,
            rotation=rotation,
            video_codec=cc.name,
            pix_fmt=cc.pix_fmt or frame.format.name,
            has_audio=bool(container.streams.audio),
            tags={str(k).lower(): str(v) for k, v in container.metadata.items()},
            coded_width=coded_w,
            coded_height=coded_h,
            container_format=container.format.name,
        )
    finally:
        container.close()
