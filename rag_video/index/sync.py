"""Keeping the FAISS index in step with the shots table (the table is the truth).

A search on a stale index first updates it incrementally: visible embedded shots missing from the
index are added, keys no longer visible are tombstoned, and once tombstones pass their share (or
the encoder changed) the index is rebuilt from the table. What "stale" means (the state version)
and the table reads are :mod:`rag_video.index.state`'s.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from rag_video import config
from rag_video.errors import UsageError
from rag_video.index.engine import IndexUnavailable, ShotIndex
from rag_video.index.state import TableState, TableVersions, embedding_matrix, load_state
from rag_video.store import Store

log = logging.getLogger(__name__)
INDEX_TYPES = config.INDEX_TYPES


def default_memory_budget() -> int:
    """Memory an `auto` index may take: half the machine's physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 4 << 30


@dataclass
class SyncReport:
    """What the last `ensure()` did: "fresh" | "updated" | "built", with counts."""

    action: str
    added: int = 0
    removed: int = 0
    reason: str | None = None


class IndexManager:
    """Loads, builds and updates the library's shot index; hands out the current TableState."""

    def __init__(
        self,
        store: Store,
        *,
        index_type: str = "auto",
        rebuild_share: float = 0.2,
        memory_budget_bytes: int | None = None,
    ):
        if index_type not in INDEX_TYPES:
            raise UsageError(f"index type {index_type!r} is not one of {', '.join(INDEX_TYPES)}")
        self.store, self.index_type, self.rebuild_share = store, index_type, rebuild_share
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget()
        self._index: ShotIndex | None = None
        self._versions = TableVersions(store)
        self._state: TableState | None = None
        self.last_sync: SyncReport | None = None

    @property
    def directory(self) -> Path:
        return self.store.index_dir

    # ---- state -------------------------------------------------------------------------
    def state(self) -> TableState:
        """The current library state (re-read only when a table's version moved)."""
        version, _, _ = self._versions.state_version()
        if self._state is None or self._state.version != version:
            self._state = load_state(self._versions)
        return self._state

    # ---- index -------------------------------------------------------------------------
    def load(self) -> ShotIndex | None:
        """The saved index, or None when there is none (or it is unreadable: it will be rebuilt)."""
        if self._index is None and (self.directory / "shots.index.json").exists():
            try:
                self._index = ShotIndex.load(self.directory, rebuild_share=self.rebuild_share)
            except IndexUnavailable as exc:
                log.warning("rebuilding the index: %s", exc)
        return self._index

    def build(
        self,
        index_type: str | None = None,
        *,
        state: TableState | None = None,
        reason: str | None = None,
        must_save: bool = True,
    ) -> ShotIndex:
        """Build the index from every visible embedded shot and save it (a search on a read-only
        library passes `must_save=False`: the index then lives in memory, with a warning)."""
        state = state or self.state()
        if state.model_id is None or state.dataset is None:
            raise UsageError(
                "no embedded shots to index: run `rag-video ingest` or `rag-video embed`"
            )
        rows = state.dataset.to_table(columns=["row_key", "embedding"]).filter(
            pa.array(state.searchable, pa.bool_())
        )
        rows = rows.filter(rows.column("embedding").is_valid())
        index = ShotIndex.build(
            rows.column("row_key").to_numpy(),
            embedding_matrix(rows),
            index_type=index_type or self.index_type,
            table_version=state.version,
            model_id=state.model_id,
            rebuild_share=self.rebuild_share,
            memory_budget_bytes=self.memory_budget_bytes,
        )
        if must_save:
            self._save(index)
        else:
            self._save_if_writable(index)
        self.last_sync = SyncReport("built", added=rows.num_rows, reason=reason)
        return index

    def _save(self, index: ShotIndex) -> None:
        index.save(self.directory)  # creates the folder; any failure is an IndexUnavailable
        self._index = index

    def ensure(self, state: TableState | None = None) -> ShotIndex:
        """An index that reflects the current table, updated (or rebuilt) first when stale."""
        state = state or self.state()
        index = self.load()
        if index is None:
            return self.build(state=state, reason="no index yet", must_save=False)
        if not index.is_stale(state.version):
            self.last_sync = SyncReport("fresh")
            return index
        if state.model_id is None:
            raise UsageError(
                "no embedded shots to search: run `rag-video ingest` or `rag-video embed`"
            )
        try:
            index.check_compatible(model_id=state.model_id, dim=state.dim or index.dim)
        except IndexUnavailable as exc:
            log.info("%s", exc)
            return self.build(state=state, reason=str(exc), must_save=False)
        return self._update(index, state)

    def _update(self, index: ShotIndex, state: TableState) -> ShotIndex:
        diff = index.diff_keys(state.searchable_keys())
        if len(diff.revived):
            return self.build(
                index.requested_type, state=state, reason="removed shots came back", must_save=False
            )
        index.remove(diff.stale)
        added = 0
        if len(diff.missing):
            keys, vectors = state.vectors(diff.missing)
            index.add(keys, vectors)
            added = len(keys)
        if index.needs_rebuild:
            log.info("rebuilding the index: %s", index.rebuild_reason)
            return self.build(
                index.requested_type, state=state, reason=index.rebuild_reason, must_save=False
            )
        index.update_version(state.version)
        self._save_if_writable(index)
        self.last_sync = SyncReport("updated", added=added, removed=len(diff.stale))
        return index

    def _save_if_writable(self, index: ShotIndex) -> None:
        try:
            self._save(index)
        except IndexUnavailable as exc:  # a read-only library still gets a correct in-memory index
            log.warning("index updated in memory only: %s", exc)
            self._index = index

    def info(self) -> dict:
        """The index's own report plus whether it reflects the current table state."""
        state = self.state()
        index = self.load()
        common = {
            "state_version": state.version,
            "searchable": int(state.searchable.sum()),
            "deferred": state.deferred,
        }
        if index is None:
            return {"built": False, "stale": True, **common}
        out = index.info()
        out.update(built=True, stale=index.is_stale(state.version), **common)
        if self.last_sync is not None:
            out["last_sync"] = self.last_sync.action
        return out
