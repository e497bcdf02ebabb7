"""Decode a few frames at given times (for embedding shots whose ingest deferred it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import av.error
import numpy as np

from rag_video.media.frames import display_size, rotation_of, short_side_size, upright_rgb
from rag_video.media.probe import MediaError, open_video


def frames_at(
    path: str | Path, times: Sequence[float], *, short_side: int = 224
) -> list[np.ndarray]:
    """RGB frames (short side ``short_side``, upright, display aspect) at each time in ``times``
    (seconds from the stream start), each the first frame whose timestamp reaches that time.

    The pictures are the ones the ingest decode pass makes (:mod:`rag_video.media.frames`), so a
    shot embedded later gets the vector it would have got during ingest.
    """
    container, stream = open_video(path)
    with container:
        time_base = stream.time_base
        if time_base is None:
            raise MediaError(f"{path}: the video stream has no time base")
        start = float(stream.start_time * time_base) if stream.start_time else 0.0
        half = 0.5 / float(stream.average_rate or 25)
        rotation: int | None = None
        out = []
        try:
            for t in times:
                container.seek(int((t + start) / time_base), stream=stream, backward=True)
                frame = None
                for frame in container.decode(stream):
                    if frame.time is not None and frame.time - start >= t - half:
                        break
                if frame is None:
                    raise MediaError(f"{path}: no frame at {t:.3f}s")
                if rotation is None:
                    rotation = rotation_of(frame, stream)
                display = display_size(
                    frame.width, frame.height, stream.sample_aspect_ratio, rotation
                )
                out.append(upright_rgb(frame, short_side_size(display, short_side), rotation))
        except av.error.FFmpegError as exc:
            raise MediaError(f"decode failed: {path}: {exc.strerror or exc}") from None
        return out
