# Over 450 lines, kept whole for now (issue 11): keeping the FAISS index in step with the table;
# next cut: the column cache apart.
"""Keeping the FAISS index in step with the shots table (the table is the truth).

The index records the library state it reflects as one int: the shots table version in the high
32 bits and the sources table version in the low 32 (a source's ok row decides whether its shots
are visible, so both matter). A search on a stale index first updates it incrementally: visible
embedded shots missing from the index are added, keys no longer visible are tombstoned, and once
tombstones pass their share (or the encoder changed) the index is rebuilt from the table.

Reads go through a :class:`TableState`: the shots table pinned at one version, with per-row arrays
(row_key, visible, embedded, source) read once per state version. Checking whether the state moved
costs two manifest lookups (microseconds), so a query on an unchanged library pays no scan:
result rows are fetched with Lance ``take`` by row offset, filters and exclusions resolve against
the cached arrays.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from rag_video import config
from rag_video.errors import UsageError, one_line
from rag_video.index.engine import IndexUnavailable, ShotIndex
from rag_video.store import Store

log = logging.getLogger(__name__)
INDEX_TYPES = config.INDEX_TYPES
VERSION_SHIFT = 32
# small per-shot columns held in memory per state (~180 bytes a shot): result rows are assembled
# from them with an Arrow take (microseconds) instead of a Lance take per column (~0.13 ms each)
CACHED_COLUMNS = (
    "row_key",
    "shot_id",
    "source_id",
    "path",
    "start_s",
    "end_s",
    "duration_s",
    "start_frame",
    "end_frame",
    "fps",
    "width",
    "height",
    "transition_in",
    "brightness",
    "motion",
)


def state_version(store: Store) -> int:
    """One int naming the library state an index reflects:
    ``shots version << 32 | sources version``."""
    return (store.version("shots") << VERSION_SHIFT) | store.version("sources")


def embedding_matrix(table: pa.Table) -> np.ndarray:
    """The non-null `embedding` values of `table` as a float32 (n, dim) array."""
    col = table.column("embedding").combine_chunks()
    dim = col.type.list_size
    return np.asarray(col.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, dim)


def predicate_error(where: str, exc: Exception) -> UsageError:
    """A one-line usage error naming a bad `--where` predicate, without Lance's internals."""
    text = one_line(exc)
    text = re.sub(r",?\s*/\S+\.rs:\d+:\d+", "", text)
    text = text.replace("Invalid user input: ", "")
    text = re.sub(r",?\s*_rowid,.*?(?=\.|$)", "", text)
    text = re.sub(
        r"Error parsing statement: SELECT 1 FROM t WHERE .*? \((sql parser error: .*)\)$",
        r"\1",
        text,
    )
    return UsageError(f"bad --where predicate {where!r}: {text[:240]}")


def check_predicate(where: str) -> str:
    """A `--where` predicate as Lance must read it: exactly one expression.

    Lance parses ``SELECT 1 FROM t WHERE <predicate>`` and keeps the first expression it reads,
    ignoring the rest (``false; drop table shots``, ``duration_s > 2)`` and ``x > 1 limit 2`` are
    all accepted today). So quotes, comments and parentheses are checked here, a ``;`` outside
    quotes is refused, and the predicate is returned wrapped in parentheses: Lance's own parser
    must then consume all of it before the closing one, or it fails. Raises UsageError."""
    if not isinstance(where, str):
        raise UsageError(f"bad --where predicate {where!r}: must be text")
    if not where.strip():
        raise UsageError("bad --where predicate '': empty")

    def bad(why: str) -> UsageError:
        return UsageError(f"bad --where predicate {where!r}: {why}")

    depth, i, n = 0, 0, len(where)
    while i < n:
        c = where[i]
        if c in "'\"`":
            j = i + 1
            while True:
                j = where.find(c, j)
                if j < 0:
                    raise bad(f"unterminated {c}...{c} starting at character {i + 1}")
                if where.startswith(c * 2, j):  # a doubled quote is the quote itself
                    j += 2
                    continue
                break
            i = j + 1
            continue
        if where.startswith("--", i):
            j = where.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if where.startswith("/*", i):
            j = where.find("*/", i + 2)
            if j < 0:
                raise bad(f"unterminated /* comment starting at character {i + 1}")
            i = j + 2
            continue
        if c == ";":
            raise bad(f"';' at character {i + 1}: give one predicate, not statements")
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise bad(f"unbalanced parentheses: ')' at character {i + 1} closes nothing")
        i += 1
    if depth:
        raise bad(f"unbalanced parentheses: {depth} '(' not closed")
    return f"({where}\n)"


@dataclass
class TableState:
    """The shots table at one library state: which rows are visible, embedded and where they are.

    Arrays are indexed by row offset (scan order of the pinned dataset, what Lance ``take`` reads).
    A row is *visible* when its source has an ok row, *searchable* when it is also embedded.
    """

    version: int
    dataset: Any  # lance dataset pinned at the shots version (None when there is no shots table)
    keys: np.ndarray
    visible: np.ndarray
    embedded: np.ndarray
    source_codes: np.ndarray
    source_ids: list[str]
    model_id: str | None
    dim: int | None
    cached: pa.Table | None = None  # CACHED_COLUMNS by row offset (one chunk)
    _order: np.ndarray = field(init=False, repr=False)
    _sorted: np.ndarray = field(init=False, repr=False)
    _shot_offsets: dict[str, int] | None = field(default=None, init=False, repr=False)
    searchable: np.ndarray = field(init=False, repr=False)  # visible and embedded
    deferred: int = field(init=False)  # visible shots without an embedding (not searchable yet)
    _cached_names: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._order = np.argsort(self.keys, kind="stable")
        self._sorted = self.keys[self._order]
        self.searchable = self.visible & self.embedded
        self.deferred = int((self.visible & ~self.embedded).sum())
        self._cached_names = (
            frozenset(self.cached.column_names) if self.cached is not None else frozenset()
        )

    def searchable_keys(self) -> np.ndarray:
        return self.keys[self.searchable]

    def offsets(self, keys: np.ndarray) -> np.ndarray:
        """Row offset per key, -1 for keys not in the table."""
        keys = np.asarray(keys, np.int64)
        if not len(self._sorted) or not len(keys):
            return np.full(len(keys), -1, np.int64)
        at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        return np.where(self._sorted[at] == keys, self._order[at], -1)

    def is_searchable(self, keys: np.ndarray) -> np.ndarray:
        off = self.offsets(keys)
        return (off >= 0) & self.searchable[np.maximum(off, 0)]

    def shot_offset(self, shot_id: str) -> int | None:
        """Row offset of a visible shot, or None."""
        if self._shot_offsets is None:
            if self.dataset is None:
                return None
            table = (
                self.cached
                if "shot_id" in self._cached_names
                else self.dataset.to_table(columns=["shot_id"])
            )
            assert table is not None  # names are only cached together with their table
            ids = table.column("shot_id").to_pylist()
            self._shot_offsets = {sid: i for i, sid in enumerate(ids) if self.visible[i]}
        return self._shot_offsets.get(shot_id)

    def keys_of_shots(self, shot_ids) -> np.ndarray:
        """row_keys of the visible shots among `shot_ids` (unknown ids are ignored)."""
        offs = [o for o in (self.shot_offset(s) for s in shot_ids) if o is not None]
        return self.keys[np.asarray(offs, np.int64)] if offs else np.empty(0, np.int64)

    def keys_of_sources(self, codes: np.ndarray) -> np.ndarray:
        """row_keys of every searchable shot of the sources with these codes."""
        return self.keys[self.searchable & np.isin(self.source_codes, codes)]

    def matching(self, where: str) -> np.ndarray:
        """row_keys of searchable shots matching a Lance predicate (a usage error if it is bad)."""
        wrapped = check_predicate(where)
        if self.dataset is None:
            return np.empty(0, np.int64)
        try:
            rows = self.dataset.to_table(columns=["row_key"], filter=wrapped)
        except (ValueError, RuntimeError, OSError, TypeError) as exc:
            raise predicate_error(where, exc) from None
        keys = rows.column("row_key").to_numpy()
        return keys[self.is_searchable(keys)]

    def take(self, keys, columns: list[str]) -> pa.Table:
        """The visible rows of `keys`, in the order given (keys not visible are dropped)."""
        keys = np.asarray(keys, np.int64)
        off = self.offsets(keys)
        off = off[(off >= 0) & self.visible[np.maximum(off, 0)]]
        if self.dataset is None or not len(off):
            fields = self.dataset.schema if self.dataset is not None else None
            return pa.table(
                {c: pa.array([], fields.field(c).type if fields else pa.null()) for c in columns}
            )
        from_lance = [c for c in columns if c not in self._cached_names]
        if len(from_lance) == len(columns):
            return self.dataset.take(off, columns=columns)
        fetched = self.dataset.take(off, columns=from_lance) if from_lance else None
        assert self.cached is not None  # some column is cached, so the cache is loaded
        near = self.cached.take(pa.array(off))
        return pa.table(
            {
                c: fetched.column(c) if fetched is not None and c in from_lance else near.column(c)
                for c in columns
            }
        )

    def vectors(self, keys) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of the given searchable keys that have an embedding."""
        rows = self.take(keys, ["row_key", "embedding"])
        rows = rows.filter(rows.column("embedding").is_valid())
        return rows.column("row_key").to_numpy(), embedding_matrix(rows)


class _Versions:
    """Cheap reads of the tables' latest versions (a manifest lookup, no scan)."""

    def __init__(self, store: Store):
        self.store = store
        self._datasets: dict[str, Any] = {}

    def dataset(self, name: str):
        if name not in self._datasets:
            ds = self.store.dataset(name)
            if ds is None:
                return None
            self._datasets[name] = ds
        return self._datasets[name]

    def latest(self, name: str) -> int:
        ds = self.dataset(name)
        if ds is None:
            return 0
        try:
            return int(ds.latest_version)
        except (OSError, ValueError, RuntimeError):  # the table was dropped and re-created
            self._datasets.pop(name, None)
            ds = self.dataset(name)
            return 0 if ds is None else int(ds.latest_version)

    def state_version(self) -> tuple[int, int, int]:
        shots, sources = self.latest("shots"), self.latest("sources")
        return (shots << VERSION_SHIFT) | sources, shots, sources


def load_state(versions: _Versions) -> TableState:
    """Read the per-row arrays of the current library state."""
    version, shots_v, sources_v = versions.state_version()
    shots = versions.dataset("shots")
    sources = versions.dataset("sources")
    ok: set[str] = set()
    if sources is not None:
        src = sources.checkout_version(sources_v) if sources_v != sources.version else sources
        ok = set(
            src.to_table(columns=["source_id"], filter="status = 'ok'")
            .column("source_id")
            .to_pylist()
        )
    if shots is None:
        empty = np.empty(0, np.int64)
        return TableState(
            version, None, empty, empty.astype(bool), empty.astype(bool), empty, [], None, None
        )
    ds = shots.checkout_version(shots_v) if shots_v != shots.version else shots
    available = set(ds.schema.names)
    cached = [c for c in CACHED_COLUMNS if c in available]
    rows = ds.to_table(columns=[*cached, "embed_model"]).combine_chunks()
    encoded = rows.column("source_id").combine_chunks().dictionary_encode()
    source_ids = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    ok_codes = np.asarray([s in ok for s in source_ids], bool)
    model_col = rows.column("embed_model")
    embedded = model_col.is_valid().to_numpy(zero_copy_only=False)
    models = model_col.drop_null()
    return TableState(
        version=version,
        dataset=ds,
        keys=rows.column("row_key").to_numpy().astype(np.int64),
        visible=ok_codes[codes] if len(codes) else np.zeros(0, bool),
        embedded=embedded,
        source_codes=codes,
        source_ids=source_ids,
        model_id=models[0].as_py() if len(models) else None,
        dim=ds.schema.field("embedding").type.list_size,
        cached=rows.select(cached),
    )


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
        self._versions = _Versions(store)
        self._state: TableState | None = None
        self.last_sync: SyncReport | None = None

    @property
    def directory(self):
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
