"""Decode a few frames at given times (for embedding shots whose ingest deferred it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from rag_video.media.probe import MediaError


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """`rgb` turned by `rotation` degrees clockwise (as probe() reports it), for display."""
    return np.ascontiguousarray(np.rot90(rgb, k=-(rotation // 90) % 4)) if rotation % 360 else rgb


def frames_at(
    path: str | Path, times: Sequence[float], *, short_side: int = 224, rotation: int = 0
) -> list[np.ndarray]:
    """RGB frames (short side `short_side`, upright) at each time in `times` (seconds from the
    stream start), each the first frame whose timestamp reaches that time."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot open {path}: {exc}") from None
    with container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        if time_base is None:
            raise MediaError(f"{path}: the video stream has no time base")
        start = float(stream.start_time * time_base) if stream.start_time else 0.0
        half = 0.5 / float(stream.average_rate or 25)
        out = []
        for t in times:
            container.seek(int((t + start) / time_base), stream=stream, backward=True)
            frame = None
            for frame in container.decode(stream):
                if frame.time is not None and frame.time - start >= t - half:
                    break
            if frame is None:
                raise MediaError(f"{path}: no frame at {t:.3f}s")
            w, h = frame.width, frame.height
            scale = short_side / min(w, h)
            rgb = frame.to_ndarray(
                width=round(w * scale) // 2 * 2, height=round(h * scale) // 2 * 2, format="rgb24"
            )
            out.append(upright(rgb, rotation))
        return out
