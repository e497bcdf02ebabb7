"""What the server does with the library, independent of HTTP: searches (one at a time: the
query encoder and index load once per process, on the first search), reads of shots, sources and
runs, files by id, and re-renders as background jobs. Every file it hands out is found from a
table row by id, never from a path a client sent."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

from rag_video.errors import UsageError
from rag_video.jsonable import to_jsonable
from rag_video.library import Library
from rag_video.server.filters import SearchRequest, has_colour, predicate
from rag_video.server.jobs import Job, Jobs
from rag_video.server.media import Proxies, browser_plays
from rag_video.store import sql_str

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
IMAGE_MAGIC = {b"\xff\xd8\xff": ".jpg", b"\x89PNG\r\n\x1a\n": ".png", b"RIFF": ".webp"}
COLOUR_POOL = 8  # a colour filter searches this many times the limit, then keeps the matches
HIDDEN = ("embedding", "thumbnail", "row_key")
RUN_FILES = {  # what /media/run/{id}/{kind} serves: the suffix beside OUT.mp4
    "video": ".mp4",
    "manifest": ".manifest.json",
    "otio": ".otio",
    "srt": ".srt",
    "html": ".html",
    "credits": ".credits.txt",
}


class NotFound(LookupError):
    """No such shot, source, run, job or file (a 404)."""


def image_suffix(data: bytes) -> str:
    """The suffix of an uploaded image by its first bytes; UsageError for anything else."""
    for magic, suffix in IMAGE_MAGIC.items():
        if data.startswith(magic) and (suffix != ".webp" or data[8:12] == b"WEBP"):
            return suffix
    raise UsageError("image: only JPEG, PNG or WebP images are accepted")


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return to_jsonable({k: v for k, v in row.items() if k not in HIDDEN}, finite=True)


class ServerState:
    """One library behind the server."""

    def __init__(self, library: Library):
        self.library = library
        self.root = Path(library.path)
        self.outputs = self.root / "outputs"
        self.proxies = Proxies(self.root)
        self.jobs = Jobs()
        self._search_lock = threading.Lock()
        self._sources: dict[str, dict[str, Any]] = {}
        self._sources_version = -1

    def close(self) -> None:
        self.proxies.close()
        self.jobs.close()

    # ---- search --------------------------------------------------------------------------
    def search(self, req: SearchRequest, image: bytes | None = None) -> dict[str, Any]:
        """Results of one search (best first) as JSON-ready rows with their media URLs."""
        if not (req.q or req.like or image):
            raise UsageError("search: give a text query q, an image or like=SHOT_ID")
        if req.like and (req.q or image):
            raise UsageError("search: like=SHOT_ID goes alone, without q or an image")
        if image is not None and len(image) > MAX_UPLOAD_BYTES:
            raise UsageError(f"image: larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
        where = predicate(req, self.library.store)
        fetch = req.limit * (COLOUR_POOL if req.colour else 1)
        with self._search_lock, tempfile.TemporaryDirectory(prefix="rag-video-upload-") as tmp:
            upload = None
            if image is not None:
                upload = Path(tmp) / f"query{image_suffix(image)}"
                upload.write_bytes(image)
            query = self.library.search(req.q or None, image=upload, like=req.like)
            query = query.where(where).limit(fetch)
            if req.diverse:
                query = query.diversify(0.5)
            rows = query.to_list()
        if req.colour:
            rows = [r for r in rows if has_colour(r, req.colour)][: req.limit]
        return {"results": [self._result(r) for r in rows], "where": where}

    def _result(self, row: dict[str, Any]) -> dict[str, Any]:
        out = _row(row)
        out["thumb_url"] = f"/media/thumb/{row['shot_id']}"
        out["video_url"] = f"/media/source/{row['source_id']}"
        return out

    # ---- reads ---------------------------------------------------------------------------
    def shot(self, shot_id: str) -> dict[str, Any]:
        rows = self.library.store.visible_shots(where=f"shot_id = {sql_str(shot_id)}").to_pylist()
        if not rows:
            raise NotFound(f"no shot {shot_id!r}")
        return self._result(rows[0])

    def thumbnail(self, shot_id: str) -> bytes:
        rows = self.library.store.read(
            "shots", columns=["thumbnail"], where=f"shot_id = {sql_str(shot_id)}"
        ).to_pylist()
        if not rows or not rows[0]["thumbnail"]:
            raise NotFound(f"no thumbnail of shot {shot_id!r}")
        return bytes(rows[0]["thumbnail"])

    def sources(self) -> list[dict[str, Any]]:
        rows = self.library.sources().to_pylist()
        counts: dict[str, int] = {}
        for sid in self.library.store.read("shots", columns=["source_id"]).column(0).to_pylist():
            counts[sid] = counts.get(sid, 0) + 1
        out = []
        for row in sorted(rows, key=lambda r: (r["status"] != "failed", r["path"] or "")):
            item = _row(row)
            item["shots"] = counts.get(row["source_id"], 0)
            out.append(item)
        return out

    def source(self, source_id: str) -> dict[str, Any]:
        """A source's row; cached by id until the sources table changes (a browser asks for
        byte ranges of the same source many times)."""
        version = self.library.store.version("sources")
        if version != self._sources_version:
            self._sources, self._sources_version = {}, version
        row = self._sources.get(source_id)
        if row is None:
            rows = self.library.store.read(
                "sources", where=f"source_id = {sql_str(source_id)}"
            ).to_pylist()
            if not rows:
                raise NotFound(f"no source {source_id!r}")
            row = self._sources[source_id] = _row(rows[0])
        return row

    def source_shots(self, source_id: str) -> list[dict[str, Any]]:
        self.source(source_id)
        shots = self.library.store.visible_shots(where=f"source_id = {sql_str(source_id)}")
        return [self._result(r) for r in sorted(shots.to_pylist(), key=lambda r: r["start_s"])]

    def runs(self) -> list[dict[str, Any]]:
        rows = self.library.store.read("runs").to_pylist()
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        return [
            {**to_jsonable(r, finite=True), "available": Path(r["output"]).is_file()} for r in rows
        ]

    def _run_row(self, run_id: str) -> dict[str, Any]:
        rows = self.library.store.read("runs", where=f"run_id = {sql_str(run_id)}").to_pylist()
        if not rows:
            raise NotFound(f"no run {run_id!r}")
        return rows[0]

    def run(self, run_id: str) -> dict[str, Any]:
        """A run's manifest (as make wrote it) with the URLs of its files."""
        row = self._run_row(run_id)
        try:
            manifest = json.loads(Path(row["manifest"]).read_text())
        except (OSError, ValueError) as exc:
            raise NotFound(f"run {run_id!r}: its manifest cannot be read ({exc})") from None
        files = {
            kind: f"/media/run/{run_id}/{kind}"
            for kind in RUN_FILES
            if self._run_path(row, kind).is_file()
        }
        return {"run": to_jsonable(row, finite=True), "manifest": manifest, "files": files}

    def _run_path(self, row: dict[str, Any], kind: str) -> Path:
        out = Path(row["output"])
        return out if kind == "video" else Path(f"{out.with_suffix('')}{RUN_FILES[kind]}")

    def run_file(self, run_id: str, kind: str) -> Path:
        if kind not in RUN_FILES:
            raise NotFound(f"no run file {kind!r}")
        path = self._run_path(self._run_row(run_id), kind)
        if not path.is_file():
            raise NotFound(f"run {run_id!r}: its {kind} file is gone")
        return path

    # ---- media ---------------------------------------------------------------------------
    def source_media(self, source_id: str) -> tuple[Path | None, dict[str, Any]]:
        """The file to stream for a source (itself, or its proxy once built) and the proxy's
        state (None: no proxy needed)."""
        row = self.source(source_id)
        if row["status"] != "ok" or not row["path"]:
            raise NotFound(f"source {source_id!r} failed to ingest: nothing to play")
        if browser_plays(row["path"], row["video_codec"]):
            return Path(row["path"]), {"status": "direct"}
        state = self.proxies.state(source_id, row["path"], row["frames"])
        ready = state.status == "ready"
        return (self.proxies.path(source_id) if ready else None), state.to_json()

    # ---- re-render -----------------------------------------------------------------------
    def job(self, job_id: str) -> Job:
        found = self.jobs.get(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r}")
        return found

    def rerender(self, run_id: str, changes: dict[int, Any]) -> Job:
        """Queue a draft render of run `run_id` with `changes` (ShotChange by shot index);
        the new output goes into ``<library>/outputs/``."""
        from rag_video import progress
        from rag_video.generate.options import MakeOptions
        from rag_video.generate.revise import revise

        run = self.run(run_id)
        opts = self.library.make_options(**MakeOptions.replayed(run["manifest"].get("options")))
        revised = revise(self.library.store, run["manifest"], changes, opts.fit)
        stem = Path(run["run"]["output"]).stem.split(".r-")[0]

        def work(job: Job) -> dict[str, Any]:
            self.outputs.mkdir(exist_ok=True)
            out = self.outputs / f"{stem}.r-{job.job_id[:8]}.mp4"

            def report(task: str, done: int, total: int, item: str | None) -> None:
                job.emit(type="progress", task=task, done=done, total=total, item=item)

            with tempfile.TemporaryDirectory(prefix="rag-video-rerender-") as tmp:
                saved = Path(tmp) / "manifest.json"
                saved.write_text(json.dumps(to_jsonable(revised, strict=True)))
                with progress.observe(report):
                    manifest = self.library.make(None, out, opts, from_manifest=saved)
            return {"run_id": manifest["run_id"], "output": str(out)}

        return self.jobs.submit("rerender", work)
