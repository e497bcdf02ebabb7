"""Writing ingest results with the sources row as commit marker.

Order per batch of sources: (1) drop leftover shots with their source_ids, (2) append their
shots (and store their encoder's config in the table's schema metadata if it is not there yet),
(3) upsert their `sources` rows (the commit), (4) retire whatever sources previously lived at the
same paths. A crash between any two steps leaves rows that no query sees (shots without an ok
source) or an extra source row at a path; `cleanup()` at the start of the next run removes both.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa

from rag_video import hooks, schema
from rag_video.embed.config import EncoderConfig
from rag_video.errors import one_line
from rag_video.ingest.analyze import FileResult
from rag_video.ingest.sidecar import clean_text
from rag_video.schema import SourceRow
from rag_video.store import Store, sql_in, sql_str

log = logging.getLogger(__name__)


def _rows_reader(table: pa.Table) -> pa.RecordBatchReader:
    """Stream the shots write in two batches, so a crash can land inside one Lance write."""

    def batches() -> Iterator[pa.RecordBatch]:
        half = max(1, table.num_rows // 2)
        for i, batch in enumerate(table.to_batches(max_chunksize=half)):
            hooks.fire("commit.shots_chunk", index=i)
            yield batch

    return pa.RecordBatchReader.from_batches(table.schema, batches())


@dataclass(frozen=True)
class Ready:
    """A file's results ready to commit: its rows, its shots' vectors (None: embedding deferred)
    and the encoder that made them."""

    result: FileResult
    vectors: np.ndarray | None = None
    encoder: EncoderConfig | None = None

    @property
    def source(self) -> SourceRow:
        return self.result.source


def write_shots(store: Store, batch: list[Ready], dim: int) -> None:
    """Replace the shots of the batch's sources with their new rows (not yet visible: no commit)."""
    store.delete("shots", sql_in("source_id", [r.source.source_id for r in batch]))
    keys = iter(store.allocate_row_keys(sum(len(r.result.shots) for r in batch)).tolist())
    rows = []
    for ready in batch:
        vectors, encoder = ready.vectors, ready.encoder
        for i, shot in enumerate(ready.result.shots):
            vec = None if vectors is None else vectors[i].astype(np.float32).tolist()
            rows.append(
                {
                    **shot,
                    "row_key": next(keys),
                    "embedding": vec,
                    "embed_model": encoder.model_id if vec is not None and encoder else None,
                }
            )
    table = schema.to_table(rows, schema.shots_schema(dim))
    store.add("shots", _rows_reader(table), schema.shots_schema(dim))
    encoders = [r.encoder for r in batch if r.vectors is not None and r.encoder is not None]
    if encoders:
        record_encoder(store, encoders[0])


def record_encoder(store: Store, encoder: EncoderConfig) -> None:
    """Store `encoder` in the shots table's schema metadata unless it is there already (the
    caller holds the write lock and has just written vectors made by it)."""
    ds = store.dataset("shots")
    if ds is None or EncoderConfig.from_metadata(ds.schema.metadata) == encoder:
        return
    ds.update_schema_metadata(encoder.to_metadata())


def commit(store: Store, batch: list[Ready], dim: int = schema.DEFAULT_DIM) -> list[Ready]:
    """Land a batch of files' results in three writes: all their shots first, then their sources
    rows (the commit), then retire whatever they replaced at their paths.

    A batch that fails to land never takes its good files with it: its files are committed one
    by one, and a file that still fails gets a `failed` sources row saying why. Returns those
    (as failed results)."""
    try:
        _commit_batch(store, batch, dim)
        return []
    except Exception as exc:  # noqa: BLE001 - one bad row must not lose the batch
        if len(batch) == 1:
            return [_record_failure(store, batch[0], exc, dim)]
        log.warning(
            "committing %d files at once failed (%s: %s); committing them one by one",
            len(batch),
            type(exc).__name__,
            _one_line(exc),
        )
        failures = []
        for ready in batch:
            failures += commit(store, [ready], dim)
        return failures


def _commit_batch(store: Store, batch: list[Ready], dim: int) -> None:
    with_shots = [ready for ready in batch if ready.result.ok and ready.result.shots]
    if with_shots:
        write_shots(store, with_shots, dim)
        hooks.fire("commit.shots_written")
    sources = [ready.source for ready in batch]
    store.upsert("sources", "source_id", schema.sources_table(sources), schema.SOURCES)
    retire_paths(store, {src.path: src.source_id for src in sources})
    for src in sources:
        hooks.fire("commit.source_committed", source_id=src.source_id)


def _one_line(exc: BaseException) -> str:
    """errors.one_line, made storable (lone surrogates replaced) and capped at 300 characters."""
    return clean_text(one_line(exc), limit=300)[0]


def _record_failure(store: Store, ready: Ready, exc: Exception, dim: int) -> Ready:
    """Record a file whose results could not be written as `failed`, with the reason."""
    src = ready.source
    error = f"could not be committed: {type(exc).__name__}: {_one_line(exc)}"
    row = SourceRow.failed(
        source_id=src.source_id,
        path=src.path,
        aliases=src.aliases,
        size_bytes=src.size_bytes,
        mtime=src.mtime,
        error=error,
        pipeline_version=src.pipeline_version,
    )
    failed = Ready(FileResult(source=row))
    log.warning("%s: %s", src.path, error)
    try:
        _commit_batch(store, [failed], dim)
    except Exception as again:  # noqa: BLE001 - e.g. a path that is not valid UTF-8
        log.warning(
            "%s: not recorded either: %s: %s", src.path, type(again).__name__, _one_line(again)
        )
    return failed


def _source_rows(store: Store, where: str) -> list[SourceRow]:
    return [SourceRow.from_row(r) for r in store.read("sources", where=where).to_pylist()]


def drop_sources(store: Store, source_ids: list[str]) -> None:
    """Remove sources and then their shots (the sources row goes first: the shots vanish at
    once)."""
    if source_ids:
        store.delete("sources", sql_in("source_id", source_ids))
        store.delete("shots", sql_in("source_id", source_ids))


def set_path(store: Store, row: SourceRow, path: str, aliases: list[str]) -> None:
    """Move a source to `path` (and its shots' copied path column)."""
    row = replace(row, path=path, aliases=sorted(set(aliases) - {path}))
    store.upsert("sources", "source_id", schema.sources_table([row]), schema.SOURCES)
    store.update("shots", f"source_id = {sql_str(row.source_id)}", {"path": path})


def retire_paths(store: Store, keepers: dict[str, str]) -> None:
    """Each path in `keepers` now holds the source named there: other sources at those paths move
    to a surviving alias or go, and the paths leave other sources' aliases."""
    if not keepers:
        return
    gone = []
    for row in _source_rows(store, sql_in("path", keepers)):
        if row.source_id == keepers[row.path]:
            continue
        alive = [a for a in row.aliases or [] if a not in keepers and Path(a).is_file()]
        if alive and row.ok:
            set_path(store, row, alive[0], row.aliases)
        else:
            gone.append(row.source_id)
    drop_sources(store, gone)
    listed = ", ".join(sql_str(p) for p in keepers)
    for row in _source_rows(store, f"array_has_any(aliases, [{listed}])"):
        kept = [a for a in row.aliases if keepers.get(a, row.source_id) == row.source_id]
        if kept != row.aliases:
            set_path(store, row, row.path, kept)


def cleanup(store: Store) -> int:
    """Finish what a crashed run left: duplicate rows at one path, then orphan shots."""
    sources = store.read("sources", columns=["source_id", "path", "ingested_at"]).to_pylist()
    by_path: dict[str, list[dict]] = {}
    for row in sources:
        by_path.setdefault(row["path"], []).append(row)
    for rows in by_path.values():
        if len(rows) > 1:
            newest = max(rows, key=lambda r: r["ingested_at"])
            retire_paths(store, {newest["path"]: newest["source_id"]})
    shot_sources = set(store.read("shots", columns=["source_id"]).column("source_id").to_pylist())
    orphans = sorted(shot_sources - store.ok_source_ids())
    if orphans:
        log.info("removing shots of %d unfinished sources", len(orphans))
        store.delete("shots", sql_in("source_id", orphans))
    return len(orphans)


def prune(store: Store) -> dict:
    """Drop sources whose files (and every alias) are gone, move ones whose path went to a live
    alias, and clean orphaned shots; the caller holds the write lock. Returns the report
    `rag-video prune --json` prints."""
    dropped, moved = [], 0
    for row in store.read("sources").to_pylist():
        if Path(row["path"]).is_file():
            continue
        alive = [a for a in row["aliases"] or [] if Path(a).is_file()]
        if alive and row["status"] == "ok":
            set_path(store, SourceRow.from_row(row), alive[0], row["aliases"])
            moved += 1
        else:
            dropped.append(row)
    drop_sources(store, [r["source_id"] for r in dropped])
    return {
        "pruned": len(dropped),
        "moved": moved,
        "orphan_sources_cleaned": cleanup(store),
        "paths": [r["path"] for r in dropped],
    }
