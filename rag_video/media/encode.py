"""Write H.264 + AAC mp4 files with PyAV (no ffmpeg binary), atomically and tagged as rag-video's.

:class:`VideoWriter` encodes RGB frames at an exact constant frame rate (frame ``n`` has pts ``n``
in a ``1/fps`` time base, so ``n`` frames last exactly ``n / fps`` seconds) and, optionally, an
AAC track fed with float sample blocks. It writes to a hidden temporary file in the destination
folder and renames it over the destination only when :meth:`VideoWriter.close` succeeds; leaving
the ``with`` block by an exception deletes the temporary file, so a failed write leaves nothing.

Every file carries container tags saying it is a rag-video output (``comment`` starting with
``rag-video`` and a ``rag_video`` key, kept in mp4/mov through ``movflags=use_metadata_tags``),
so re-ingesting one marks its source ``generated``.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.error
import numpy as np

from rag_video.media.probe import MediaError
from rag_video.media.timecode import frames_of

log = logging.getLogger(__name__)

#: Value of the ``rag_video`` container tag and prefix of the ``comment`` tag of every output.
OUTPUT_TAG = "rag-video"
_MP4_LIKE = frozenset({".mp4", ".m4v", ".mov"})
_DEFAULT_SAMPLE_RATE = 48000
_DEFAULT_AUDIO_BITRATE = 160_000


def frame_rate(fps: float | int | Fraction | str) -> Fraction:
    """Exact frame rate: ``29.97`` → 30000/1001 (NTSC family), ``25`` → 25, ``"24000/1001"`` kept.

    Raises ``ValueError`` naming ``fps`` when it is not a positive rate up to 1000.
    """
    try:
        if isinstance(fps, float):
            ntsc = round(fps * 1.001)
            if abs(fps - ntsc / 1.001) < 0.005 and abs(fps - round(fps)) > 0.005:
                rate = Fraction(ntsc * 1000, 1001)
            else:
                rate = Fraction(fps).limit_denominator(1001)
        else:
            rate = Fraction(fps).limit_denominator(1001)
    except (TypeError, ValueError, ZeroDivisionError):
        raise ValueError(f"fps must be a number, got {fps!r}") from None
    if not 0 < rate <= 1000:
        raise ValueError(f"fps must be in (0, 1000], got {fps!r}")
    return rate


def output_tags(metadata: dict[str, str] | None = None) -> dict[str, str]:
    """Container tags of a rag-video output: ``metadata`` plus the rag-video markers.

    ``comment`` always starts with ``rag-video`` (a caller's comment is appended after it) and the
    ``rag_video`` key holds the caller's value or the package version.
    """
    from rag_video import __version__

    tags = {str(k): str(v) for k, v in (metadata or {}).items()}
    comment = tags.get("comment", "")
    if not comment.lower().startswith(OUTPUT_TAG):
        tags["comment"] = f"{OUTPUT_TAG} {__version__} output" + (f": {comment}" if comment else "")
    tags.setdefault("rag_video", __version__)
    tags.setdefault("encoder_app", f"{OUTPUT_TAG} {__version__}")
    return tags


def temporary_path(path: Path) -> Path:
    """A hidden, unique file name beside ``path`` with the same suffix (so formats still guess)."""
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}")


class VideoWriter:
    """Encode RGB frames (and optionally audio) into ``path``; a context manager.

    Args:
        path: destination file (``.mp4`` normally); its folder must exist and be writable.
        fps: output frame rate (see :func:`frame_rate`).
        size: ``(width, height)``; both even (yuv420p). Frames of another size raise ``ValueError``.
        crf / preset: libx264 quality (0–51, lower is better) and speed preset.
        audio: write an AAC track (feed it with :meth:`write_audio`).
        sample_rate / channels: of the audio track (float samples, ``(channels, n)``).
        metadata: extra container tags (see :func:`output_tags`).
        gop: keyframe interval in frames (default: 2 seconds).

    ``close()`` flushes the encoders, finishes the file and renames it into place; ``abort()``
    (called on an exception inside ``with``) deletes the temporary file. ``frames`` counts video
    frames written, ``samples`` audio samples, ``encode_seconds`` the time spent encoding.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | int | Fraction,
        size: tuple[int, int],
        crf: int = 20,
        preset: str = "veryfast",
        audio: bool = False,
        sample_rate: int = _DEFAULT_SAMPLE_RATE,
        channels: int = 2,
        metadata: dict[str, str] | None = None,
        gop: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.rate = frame_rate(fps)
        self.size = _check_size(size)
        if not 0 <= int(crf) <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf!r}")
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels!r}")
        self._check_folder()
        self.tmp_path = temporary_path(self.path)
        self.frames = 0
        self.samples = 0
        self.encode_seconds = 0.0
        self.sample_rate = int(sample_rate)
        self.channels = channels
        self._closed = False
        self._container = self._open(output_tags(metadata))
        try:
            self._video = self._add_video(int(crf), preset, gop or max(1, frames_of(2, self.rate)))
            self._audio = self._add_audio() if audio else None
        except BaseException:
            self.abort()
            raise

    # ------------------------------------------------------------------ setup

    def _check_folder(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            raise MediaError(f"output folder does not exist: {folder}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise MediaError(f"output folder is not writable: {folder}")

    def _open(self, tags: dict[str, str]) -> av.container.OutputContainer:
        options = (
            {"movflags": "use_metadata_tags+faststart"}
            if self.path.suffix.lower() in _MP4_LIKE
            else {}
        )
        try:
            container = av.open(str(self.tmp_path), mode="w", options=options)
        except (av.error.FFmpegError, OSError) as exc:
            self.tmp_path.unlink(missing_ok=True)
            raise MediaError(f"cannot write {self.path}: {exc}") from None
        container.metadata.update(tags)
        return container

    def _add_video(self, crf: int, preset: str, gop: int) -> av.VideoStream:
        options = {"crf": str(crf), "preset": preset, "g": str(gop)}
        stream = self._container.add_stream("libx264", rate=self.rate, options=options)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / self.rate
        return stream

    def _add_audio(self) -> av.AudioStream:
        layout = "stereo" if self.channels == 2 else "mono"
        stream = self._container.add_stream("aac", rate=self.sample_rate, layout=layout)
        stream.bit_rate = _DEFAULT_AUDIO_BITRATE
        self._fifo = av.AudioFifo()
        return stream

    # ------------------------------------------------------------------ writing

    @property
    def has_audio(self) -> bool:
        """Whether this file gets an audio track."""
        return self._audio is not None

    @property
    def duration_s(self) -> float:
        """Duration of the video written so far (``frames / fps``)."""
        return float(self.frames / self.rate)

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 ``height×width×3`` frame."""
        self._check_open()
        if rgb.shape != (self.size[1], self.size[0], 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"frame must be {self.size[1]}x{self.size[0]}x3 uint8, got "
                f"{'x'.join(map(str, rgb.shape))} {rgb.dtype}"
            )
        t0 = time.perf_counter()
        frame = av.VideoFrame.from_ndarray(_rgb_to_i420(rgb), format="yuv420p")
        frame.pts, frame.time_base = self.frames, 1 / self.rate
        self._mux(self._video.encode(frame))
        self.frames += 1
        self.encode_seconds += time.perf_counter() - t0

    def write_audio(self, samples: np.ndarray) -> None:
        """Append ``(channels, n)`` float samples in [-1, 1] (mono input is copied to both
        channels)."""
        self._check_open()
        if self._audio is None:
            raise ValueError("write_audio: this writer was opened with audio=False")
        block = _as_channels(samples, self.channels)
        if block.shape[1] == 0:
            return
        t0 = time.perf_counter()
        layout = "stereo" if self.channels == 2 else "mono"
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block), format="fltp", layout=layout
        )
        frame.sample_rate = self.sample_rate
        frame.pts = self.samples
        frame.time_base = Fraction(1, self.sample_rate)
        self._fifo.write(frame)
        self.samples += block.shape[1]
        self._drain_audio(final=False)
        self.encode_seconds += time.perf_counter() - t0

    def _drain_audio(self, *, final: bool) -> None:
        audio = self._audio
        if audio is None:
            return
        size = audio.codec_context.frame_size or 1024
        while self._fifo.samples >= size or (final and self._fifo.samples > 0):
            chunk = self._fifo.read(min(size, self._fifo.samples))
            self._mux(audio.encode(chunk))

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"VideoWriter for {self.path} is closed")

    # ------------------------------------------------------------------ finishing

    def close(self) -> Path:
        """Flush, finish the file and rename it to ``path``; returns ``path``.

        Raises :class:`MediaError` (and removes the temporary file) when nothing was written or
        the container cannot be finished.
        """
        self._check_open()
        if self.frames == 0:
            self.abort()
            raise MediaError(f"no video frames written to {self.path}")
        try:
            t0 = time.perf_counter()
            self._mux(self._video.encode(None))
            if self._audio is not None:
                self._drain_audio(final=True)
                self._mux(self._audio.encode(None))
            self._container.close()
            self.encode_seconds += time.perf_counter() - t0
            self._closed = True
            os.replace(self.tmp_path, self.path)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, (av.error.FFmpegError, OSError)):
                raise MediaError(f"cannot finish {self.path}: {exc}") from None
            raise
        log.debug(
            "wrote %s: %d frames at %s fps, %d audio samples",
            self.path,
            self.frames,
            self.rate,
            self.samples,
        )
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the temporary file (safe to call more than once)."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                log.debug(
                    "ignoring error while closing an aborted %s", self.tmp_path, exc_info=True
                )
        self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._closed:
            self.close()


def _rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """Planar I420 (BT.601 limited range, as swscale's default) of an RGB frame; ~5x faster."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height), got {size!r}") from None
    if w < 2 or h < 2 or w % 2 or h % 2:
        raise ValueError(f"size must be even and at least 2x2 for yuv420p, got {size!r}")
    return w, h


def _as_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    block = np.asarray(samples, dtype=np.float32)
    if block.ndim == 1:
        block = block[None, :]
    if block.ndim != 2:
        raise ValueError(f"samples must be (channels, n), got shape {block.shape}")
    if block.shape[0] == channels:
        return np.clip(block, -1.0, 1.0)
    if block.shape[0] == 1:
        return np.clip(np.repeat(block, channels, axis=0), -1.0, 1.0)
    return np.clip(
        block[:channels] if channels > 1 else block.mean(axis=0, keepdims=True), -1.0, 1.0
    )
