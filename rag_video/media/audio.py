"""Read the audio of a time range of a file: float32 samples at a chosen rate, zero-padded.

Only the range is decoded: the reader seeks to the keyframe before ``in_s`` and decodes forward,
resampling (and down/up-mixing) to the requested rate and channels as it goes. Times are seconds
from the video stream's start, as everywhere in rag-video (from the audio stream's own start for
audio-only files such as music).
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import av.error
import numpy as np

from rag_video.media.clip import _frame_time, _seek, _stream_start
from rag_video.media.probe import MediaError, check_readable


def _open(p: Path) -> av.container.InputContainer:
    try:
        return av.open(str(p))
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot open: {p}: {exc.strerror or exc}") from None


def read_audio(
    path: str | os.PathLike[str],
    in_s: float,
    out_s: float,
    sample_rate: int = 48000,
    *,
    channels: int | None = None,
) -> np.ndarray | None:
    """Float32 samples ``(channels, n)`` of ``path`` from ``in_s`` to ``out_s``, or None without
    audio.

    ``n == round((out_s - in_s) * sample_rate)`` exactly: the range is zero-padded where the audio
    does not reach. Times are seconds from the video stream's start (from the audio stream's own
    start for audio-only files such as music). ``channels`` (1 or 2) down/up-mixes; default keeps
    the source's channel count (more than two are mixed to stereo).
    """
    if not out_s > in_s:
        raise ValueError(f"out_s must be after in_s, got in_s={in_s!r} out_s={out_s!r}")
    if in_s < 0:
        raise ValueError(f"in_s must be >= 0, got {in_s!r}")
    p = check_readable(path)
    container = _open(p)
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        clock = container.streams.video[0] if container.streams.video else stream
        start = _stream_start(clock)
        n_out = int(round((out_s - in_s) * sample_rate))
        n_ch = channels or min(2, stream.codec_context.channels or 2)
        layout = "stereo" if n_ch == 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        out = np.zeros((n_ch, n_out), dtype=np.float32)
        _fill_audio(container, stream, resampler, out, in_s, start, sample_rate, p)
        return out


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Seconds of the first audio stream of ``path`` (from its container's metadata), 0 without
    audio."""
    p = check_readable(path)
    container = _open(p)
    with container:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / 1e6 if container.duration else 0.0


def _fill_audio(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    resampler: av.AudioResampler,
    out: np.ndarray,
    in_s: float,
    start: float,
    sample_rate: int,
    path: Path,
) -> None:
    """Decode from the seek point and copy the samples that fall in ``out``'s range into it."""
    _seek(container, stream, in_s, start)
    position: int | None = None  # output index of the next resampled sample
    n_out = out.shape[1]
    try:
        for frame in container.decode(stream):
            if position is None:
                t = _frame_time(frame, start)
                position = int(round(((t if t is not None else 0.0) - in_s) * sample_rate))
            for chunk in resampler.resample(frame):
                position = _place(out, chunk.to_ndarray(), position)
            if position >= n_out:
                return
        for chunk in resampler.resample(None):
            position = _place(out, chunk.to_ndarray(), position if position is not None else 0)
    except av.error.FFmpegError as exc:
        raise MediaError(f"audio decode failed: {path}: {exc.strerror or exc}") from None


def _place(out: np.ndarray, data: np.ndarray, position: int) -> int:
    """Copy ``data`` (channels, m) to ``out`` at ``position`` (clipped to its range); next
    position."""
    m = data.shape[1]
    lo, hi = max(0, position), min(out.shape[1], position + m)
    if hi > lo:
        out[:, lo:hi] = data[: out.shape[0], lo - position : hi - position]
    return position + m


__all__ = ["audio_duration", "read_audio"]
