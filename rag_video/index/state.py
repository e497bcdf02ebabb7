"""The shots table at one library state, read once and cached (the table is the truth).

The index records the library state it reflects as one int: the shots table version in the high
32 bits and the sources table version in the low 32 (a source's ok row decides whether its shots
are visible, so both matter).

Reads go through a :class:`TableState`: the shots table pinned at one version, with per-row arrays
(row_key, visible, embedded, source) read once per state version. Checking whether the state moved
costs two manifest lookups (microseconds), so a query on an unchanged library pays no scan:
result rows are fetched with Lance ``take`` by row offset, filters and exclusions resolve against
the cached arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from rag_video.index.predicate import check_predicate, predicate_error
from rag_video.store import Store

VERSION_SHIFT = 32
# the shot columns of a search result row, in output order (retrieve/query.py's result tables)
RESULT_COLUMNS = [
    "shot_id",
    "path",
    "start_s",
    "end_s",
    "duration_s",
    "source_id",
    "row_key",
    "start_frame",
    "end_frame",
    "fps",
    "width",
    "height",
    "transition_in",
    "text",
    "brightness",
    "motion",
    "dominant_colors",
    "thumbnail",
]
# its small columns, held in memory per state (~180 bytes a shot): result rows are assembled
# from them with an Arrow take (microseconds) instead of a Lance take per column (~0.13 ms each)
LARGE_COLUMNS = ("text", "dominant_colors", "thumbnail")
CACHED_COLUMNS = tuple(c for c in RESULT_COLUMNS if c not in LARGE_COLUMNS)


def embedding_matrix(table: pa.Table) -> np.ndarray:
    """The non-null `embedding` values of `table` as a float32 (n, dim) array."""
    col = table.column("embedding").combine_chunks()
    dim = col.type.list_size
    return np.asarray(col.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, dim)


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

    def keys_of_shots(self, shot_ids: Iterable[str]) -> np.ndarray:
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

    def take(self, keys: Sequence[int] | np.ndarray, columns: list[str]) -> pa.Table:
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

    def vectors(self, keys: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(keys, vectors) of the given searchable keys that have an embedding."""
        rows = self.take(keys, ["row_key", "embedding"])
        rows = rows.filter(rows.column("embedding").is_valid())
        return rows.column("row_key").to_numpy(), embedding_matrix(rows)


class TableVersions:
    """Cheap reads of the tables' latest versions (a manifest lookup, no scan)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._datasets: dict[str, Any] = {}

    def dataset(self, name: str) -> Any:
        """The Lance dataset of table `name` (opened once; None before the table exists)."""
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
        """(one int naming the library state an index reflects, ``shots version << 32 |
        sources version``; the shots version; the sources version)."""
        shots, sources = self.latest("shots"), self.latest("sources")
        return (shots << VERSION_SHIFT) | sources, shots, sources


def load_state(versions: TableVersions) -> TableState:
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
