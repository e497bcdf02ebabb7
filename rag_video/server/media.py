"""Media the server streams: files with byte ranges (Starlette's FileResponse),
which sources a browser plays as they are, and low-resolution H.264 proxies of the rest, built
once per source in a background thread into ``<library>/cache/proxies/`` (PyAV)."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException
from fastapi.responses import FileResponse, Response

log = logging.getLogger(__name__)

PROXY_SHORT_SIDE = 480
PROXY_FOLDER = ("cache", "proxies")
AUDIO_BLOCK_S = 5.0
# what Chromium, Firefox and Safari all play without a proxy: codec -> containers (by suffix)
PLAYABLE = {
    "h264": (".mp4", ".m4v", ".mov"),
    "vp8": (".webm",),
    "vp9": (".webm", ".mp4"),
    "av1": (".webm", ".mp4"),
}
MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm"}


def browser_plays(path: str, codec: str | None) -> bool:
    """Whether browsers play `path` (its video codec `codec`) as it is."""
    return Path(path).suffix.lower() in PLAYABLE.get((codec or "").lower(), ())


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def file_response(path: Path, kind: str | None = None, *, attachment: bool = False) -> Response:
    """`path` for the browser: Starlette's FileResponse, which honours ``Range`` (206 with
    Content-Range, several ranges as multipart/byteranges, 416 outside the file, 400 for a
    malformed header) and sends ETag and Last-Modified. 404 when the file is gone."""
    if not path.is_file():
        raise HTTPException(404, "the file is gone from disk")
    return FileResponse(
        path,
        media_type=kind or media_type(path),
        headers={"Cache-Control": "private, max-age=3600"},
        filename=path.name if attachment else None,
        content_disposition_type="attachment",
    )


@dataclass
class ProxyState:
    """One proxy: ``building`` (``done`` of ``total`` frames), ``ready`` or ``failed`` (why)."""

    status: str
    done: int = 0
    total: int = 0
    error: str | None = None

    def to_json(self) -> dict:
        progress = self.done / self.total if self.total else 0.0
        return {**vars(self), "progress": round(progress, 3)}


class Proxies:
    """Proxies of one library: `state(source_id, path)` starts a build on first request and
    returns at once; builds run one at a time in a background thread."""

    def __init__(self, root: Path, workers: int = 1):
        self.folder = root.joinpath(*PROXY_FOLDER)
        self._states: dict[str, ProxyState] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="rag-video-proxy")

    def path(self, source_id: str) -> Path:
        return self.folder / f"{source_id}.mp4"

    def state(self, source_id: str, source_path: str, frames: int) -> ProxyState:
        """The proxy's state, starting its build when there is none yet; `frames` is the
        source's decoded frame count (the container's estimate can be off by one)."""
        with self._lock:
            state = self._states.get(source_id)
            if state is None:
                if self.path(source_id).is_file():
                    state = ProxyState("ready")
                else:
                    state = ProxyState("building")
                    self._pool.submit(self._build, source_id, Path(source_path), frames, state)
                self._states[source_id] = state
            return state

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _build(self, source_id: str, source: Path, frames: int, state: ProxyState) -> None:
        try:
            build_proxy(source, self.path(source_id), frames, state)
            state.status = "ready"
            log.info("proxy of %s ready", source)
        except Exception as exc:  # noqa: BLE001 - any failure is the proxy's state, shown to the user
            from rag_video.errors import one_line

            state.status, state.error = "failed", one_line(exc)
            log.warning("proxy of %s failed: %s", source, state.error)


def build_proxy(source: Path, out: Path, frames: int, state: ProxyState | None = None) -> Path:
    """Encode the `frames` frames of `source` as a small H.264/AAC MP4 at `out` (short side
    PROXY_SHORT_SIDE at most, upright, the source's frame rate), written under a temporary name
    and renamed into place."""
    from rag_video.media.audio import read_audio
    from rag_video.media.clip import iter_clip
    from rag_video.media.encode import VideoWriter
    from rag_video.media.frames import short_side_size
    from rag_video.media.probe import probe
    from rag_video.media.timecode import frames_of

    info = probe(source)
    short = min(PROXY_SHORT_SIDE, min(info.width, info.height))
    w, h = short_side_size((info.width, info.height), short)
    size = (w - w % 2, h - h % 2)
    total = frames
    if state is not None:
        state.total = total
    out.parent.mkdir(parents=True, exist_ok=True)
    block = max(1, frames_of(AUDIO_BLOCK_S, info.fps))

    with VideoWriter(
        out, fps=info.fps, size=size, crf=28, preset="veryfast", audio=info.has_audio
    ) as writer:
        for k, rgb in enumerate(iter_clip(source, 0.0, total, fps=info.fps, size=size)):
            if info.has_audio and k % block == 0:
                start = k / info.fps
                end = min(total, k + block) / info.fps
                samples = read_audio(source, start, end, writer.sample_rate, channels=2)
                if samples is not None:
                    writer.write_audio(samples)
            writer.write(rgb)
            if state is not None:
                state.done = k + 1
    os.chmod(out, 0o644)
    return out
