"""Keeping the FAISS index in step with the shots table (the table is the truth).

The index records the library state it reflects as one int: the shots table version in the high
32 bits and the sources table version in the low 32 (a source's ok row decides whether its shots
are visible, so both matter). A search on a stale index first updates it incrementally: visible
embedded shots missing from the index are added, keys no longer visible are tombstoned, and once
tombstones pass their share (or the encoder changed) the index is rebuilt from the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from rag_video.errors import UsageError
from rag_video.index.faiss_index import IndexUnavailable, ShotIndex
from rag_video.store import Store, sql_in

log = logging.getLogger(__name__)
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf", "ivfpq")


def state_version(store: Store) -> int:
    """One int naming the library state an index reflects."""
    return (store.version("shots") << 32) | store.version("sources")


def _embedded(store: Store, columns: list[str], where: str | None = None) -> pa.Table:
    pred = "embedding IS NOT NULL" + (f" AND ({where})" if where else "")
    return store.visible_shots(columns=columns, where=pred)


def _vectors(table: pa.Table) -> np.ndarray:
    col = table.column("embedding").combine_chunks()
    dim = col.type.list_size
    return np.asarray(col.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, dim)


@dataclass
class SyncReport:
    action: str  # "fresh" | "updated" | "built"
    added: int = 0
    removed: int = 0
    reason: str | None = None


class IndexManager:
    """Loads, builds and updates the library's shot index."""

    def __init__(self, store: Store, *, index_type: str = "auto", rebuild_share: float = 0.2):
        if index_type not in INDEX_TYPES:
            raise UsageError(f"index type {index_type!r} is not one of {', '.join(INDEX_TYPES)}")
        self.store, self.index_type, self.rebuild_share = store, index_type, rebuild_share
        self._index: ShotIndex | None = None
        self.last_sync: SyncReport | None = None

    @property
    def directory(self):
        return self.store.index_dir

    def load(self) -> ShotIndex | None:
        """The saved index, or None when there is none (or it is unreadable: it will be rebuilt)."""
        if self._index is None and (self.directory / "shots.index.json").exists():
            try:
                self._index = ShotIndex.load(self.directory, rebuild_share=self.rebuild_share)
            except IndexUnavailable as exc:
                log.warning("rebuilding the index: %s", exc)
        return self._index

    def build(self, index_type: str | None = None) -> ShotIndex:
        """Build the index from every visible embedded shot and save it."""
        model = self.store.embed_model()
        if model is None:
            raise UsageError("no embedded shots to index: run `rag-video ingest` or `rag-video embed`")
        version = state_version(self.store)
        rows = _embedded(self.store, ["row_key", "embedding"])
        index = ShotIndex.build(rows.column("row_key").to_numpy(), _vectors(rows),
                                index_type=index_type or self.index_type, table_version=version,
                                model_id=model, rebuild_share=self.rebuild_share)
        self._save(index)
        self.last_sync = SyncReport("built", added=rows.num_rows)
        return index

    def _save(self, index: ShotIndex) -> None:
        self.directory.mkdir(exist_ok=True)
        index.save(self.directory)
        self._index = index

    def ensure(self) -> ShotIndex:
        """An index that reflects the current table, updated (or rebuilt) first when stale."""
        index = self.load()
        if index is None:
            return self.build()
        version = state_version(self.store)
        if not index.is_stale(version):
            self.last_sync = SyncReport("fresh")
            return index
        model, dim = self.store.embed_model(), self.store.shots_dim()
        try:
            index.check_compatible(model_id=model or index.model_id, dim=dim or index.dim)
        except IndexUnavailable as exc:
            log.info("%s", exc)
            return self.build()
        return self._update(index, version)

    def _update(self, index: ShotIndex, version: int) -> ShotIndex:
        keys = _embedded(self.store, ["row_key"]).column("row_key").to_numpy()
        diff = index.diff_keys(keys)
        if len(diff.revived):
            return self.build()
        index.remove(diff.stale)
        if len(diff.missing):
            rows = _embedded(self.store, ["row_key", "embedding"], sql_in("row_key", diff.missing.tolist()))
            index.add(rows.column("row_key").to_numpy(), _vectors(rows))
        if index.needs_rebuild:
            log.info("rebuilding the index: %s", index.rebuild_reason)
            return self.build(index.requested_type)
        index.update_version(version)
        self._save_if_writable(index)
        self.last_sync = SyncReport("updated", added=len(diff.missing), removed=len(diff.stale))
        return index

    def _save_if_writable(self, index: ShotIndex) -> None:
        try:
            self._save(index)
        except IndexUnavailable as exc:  # a read-only library still gets a correct in-memory index
            log.warning("index updated in memory only: %s", exc)
            self._index = index

    def info(self) -> dict:
        index = self.load()
        if index is None:
            return {"built": False, "state_version": state_version(self.store)}
        out = index.info()
        out.update(built=True, stale=index.is_stale(state_version(self.store)))
        return out


def deferred_count(store: Store) -> int:
    """Visible shots without an embedding (not searchable until `rag-video embed`)."""
    shots = store.visible_shots(columns=["row_key"], where="embedding IS NULL")
    return shots.num_rows


def keys_matching(store: Store, where: str) -> np.ndarray:
    """row_keys of visible embedded shots matching a Lance predicate (a usage error if it is bad)."""
    try:
        rows = _embedded(store, ["row_key"], where)
    except (ValueError, RuntimeError, OSError) as exc:
        raise UsageError(f"bad --where predicate {where!r}: {' '.join(str(exc).split())[:200]}") from None
    return rows.column("row_key").to_numpy()

