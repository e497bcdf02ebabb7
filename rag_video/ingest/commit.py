"""Writing ingest results with the sources row as commit marker.

Order per source: (1) drop leftover shots with the same source_id, (2) append its shots,
(3) upsert its `sources` row (the commit), (4) retire whatever source previously lived at the same
path. A crash between any two steps leaves rows that no query sees (shots without an ok source)
or an extra source row at a path; `cleanup()` at the start of the next run removes both.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from rag_video import schema
from rag_video.ingest.analyze import FileResult
from rag_video.store import Store, sql_in, sql_str

log = logging.getLogger(__name__)
CRASH_ENV = "RAG_VIDEO_TEST_CRASH"  # test hook: after_sources=N | between_writes | inside_write


class _CrashHook:
    """Kills the process at a named point, for crash-and-resume tests. Inert unless the env is set."""

    def __init__(self) -> None:
        self.spec = os.environ.get(CRASH_ENV, "")
        self.commits = 0

    def at(self, point: str) -> None:
        if not self.spec:
            return
        name, _, count = self.spec.partition("=")
        if point == "after_source":
            self.commits += 1
            if name == "after_sources" and self.commits >= int(count or 1):
                os._exit(137)
        elif name == point:
            os._exit(137)


crash = _CrashHook()


def _rows_reader(table: pa.Table) -> pa.RecordBatchReader:
    """Stream the shots write in two batches, so a crash can land inside one Lance write."""
    def batches() -> Iterator[pa.RecordBatch]:
        half = max(1, table.num_rows // 2)
        for i, batch in enumerate(table.to_batches(max_chunksize=half)):
            if i == 1:
                crash.at("inside_write")
            yield batch

    return pa.RecordBatchReader.from_batches(table.schema, batches())


def write_shots(store: Store, result: FileResult, vectors: np.ndarray | None,
                model_id: str | None, dim: int) -> None:
    """Replace the shots of `result`'s source with its new rows (not yet visible: no commit)."""
    sid = result.source["source_id"]
    store.delete("shots", f"source_id = {sql_str(sid)}")
    keys = store.allocate_row_keys(len(result.shots))
    rows = []
    for i, shot in enumerate(result.shots):
        vec = None if vectors is None else vectors[i].astype(np.float32).tolist()
        rows.append({**shot, "row_key": int(keys[i]), "embedding": vec,
                     "embed_model": model_id if vec is not None else None})
    table = schema.to_table(rows, schema.shots_schema(dim))
    store.add("shots", _rows_reader(table), schema.shots_schema(dim))


def commit(store: Store, result: FileResult, vectors: np.ndarray | None = None,
           model_id: str | None = None, dim: int = schema.DEFAULT_DIM) -> None:
    """Land one file's result: shots first, then its sources row, then retire what it replaced."""
    if result.ok and result.shots:
        write_shots(store, result, vectors, model_id, dim)
        crash.at("between_writes")
    store.upsert("sources", "source_id", schema.to_table([result.source], schema.SOURCES),
                 schema.SOURCES)
    retire_path(store, result.source["path"], keep=result.source["source_id"])
    crash.at("after_source")


def _source_rows(store: Store, where: str) -> list[dict]:
    return store.read("sources", where=where).to_pylist()


def drop_sources(store: Store, source_ids: list[str]) -> None:
    """Remove sources and then their shots (the sources row goes first: the shots vanish at once)."""
    if source_ids:
        store.delete("sources", sql_in("source_id", source_ids))
        store.delete("shots", sql_in("source_id", source_ids))


def set_path(store: Store, row: dict, path: str, aliases: list[str]) -> None:
    """Move a source to `path` (and its shots' copied path column)."""
    row = {**row, "path": path, "aliases": sorted(set(aliases) - {path})}
    store.upsert("sources", "source_id", schema.to_table([row], schema.SOURCES), schema.SOURCES)
    store.update("shots", f"source_id = {sql_str(row['source_id'])}", {"path": path})


def retire_path(store: Store, path: str, *, keep: str) -> None:
    """`path` now holds source `keep`: other sources there move to a surviving alias or go."""
    gone = []
    for row in _source_rows(store, f"path = {sql_str(path)} AND source_id != {sql_str(keep)}"):
        alive = [a for a in row["aliases"] or [] if a != path and Path(a).is_file()]
        if alive and row["status"] == "ok":
            set_path(store, row, alive[0], row["aliases"])
        else:
            gone.append(row["source_id"])
    drop_sources(store, gone)
    for row in _source_rows(store, f"array_has_any(aliases, [{sql_str(path)}])"):
        if row["source_id"] != keep:
            set_path(store, row, row["path"], [a for a in row["aliases"] if a != path])


def cleanup(store: Store) -> int:
    """Finish what a crashed run left: duplicate rows at one path, then orphan shots."""
    sources = store.read("sources", columns=["source_id", "path", "ingested_at"]).to_pylist()
    by_path: dict[str, list[dict]] = {}
    for row in sources:
        by_path.setdefault(row["path"], []).append(row)
    for rows in by_path.values():
        if len(rows) > 1:
            newest = max(rows, key=lambda r: r["ingested_at"])
            retire_path(store, newest["path"], keep=newest["source_id"])
    shot_sources = set(store.read("shots", columns=["source_id"]).column("source_id").to_pylist())
    orphans = sorted(shot_sources - store.ok_source_ids())
    if orphans:
        log.info("removing shots of %d unfinished sources", len(orphans))
        store.delete("shots", sql_in("source_id", orphans))
    return len(orphans)
