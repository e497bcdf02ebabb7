"""The shot index's key <-> position map with tombstones.

FAISS stores vectors at internal positions; the shots table names them by ``row_key``. `KeyMap`
holds the key of every stored position (in insertion order, as ``IndexIDMap2`` does), a sorted
view for lookups, and which positions are tombstoned (removed from results but still stored:
HNSW cannot delete). It knows nothing about vectors or FAISS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag_video.index.inputs import KeySet, as_keys


@dataclass(frozen=True)
class KeyDiff:
    """What the index lacks compared with the table's current keys (see
    :meth:`ShotIndex.diff_keys`).

    ``missing``: keys in the table, not in the index (fetch their vectors and ``add`` them).
    ``stale``: live keys in the index, gone from the table (``remove`` them).
    ``revived``: tombstoned keys that are back in the table; row keys are never reused, so
    a non-empty array means the index cannot be patched and must be rebuilt.
    """

    missing: np.ndarray
    stale: np.ndarray
    revived: np.ndarray


class KeyMap:
    """The key at each stored position, looked up both ways, and the tombstoned keys."""

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.asarray(keys, dtype=np.int64)  # key at each position
        self._order = np.argsort(self.keys, kind="stable")
        self._sorted = self.keys[self._order]
        self._live = np.ones(len(self.keys), dtype=bool)
        self._tombstones: set[int] = set()

    @property
    def n_total(self) -> int:
        """Positions stored, tombstoned ones included."""
        return len(self.keys)

    @property
    def tombstones(self) -> frozenset[int]:
        """Keys removed from results but still stored."""
        return frozenset(self._tombstones)

    def live_keys(self) -> np.ndarray:
        """Live keys, ascending (a copy)."""
        live = self._sorted
        if self._tombstones:
            live = live[self._live[self._order]]
        return live.copy()

    def append(self, keys: np.ndarray) -> None:
        """Record `keys` (new, live) at the next positions."""
        self.keys = np.concatenate([self.keys, keys])
        self._live = np.concatenate([self._live, np.ones(len(keys), dtype=bool)])
        self._order = np.argsort(self.keys, kind="stable")
        self._sorted = self.keys[self._order]

    def tombstone(self, keys: np.ndarray) -> int:
        """Tombstone the stored live `keys` (others are ignored); returns how many."""
        positions = self.positions(keys)
        positions = positions[self._live[positions]]
        self._live[positions] = False
        self._tombstones.update(int(k) for k in self.keys[positions])
        return len(positions)

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """Positions of the stored `keys` (unknown keys are dropped)."""
        if not len(keys) or not self.n_total:
            return np.empty(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, keys), self.n_total - 1)
        found = self._sorted[at] == keys
        return self._order[at[found]]

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of `keys` is stored (live or tombstoned)."""
        if not self.n_total:
            return np.zeros(len(keys), dtype=bool)
        at = np.minimum(np.searchsorted(self._sorted, keys), self.n_total - 1)
        return self._sorted[at] == keys

    def diff(self, table_keys: np.ndarray) -> KeyDiff:
        """Compare the table's current keys with the stored ones (see :class:`KeyDiff`)."""
        table_keys = np.unique(as_keys(table_keys, "table_keys"))
        present = np.isin(table_keys, self._sorted, assume_unique=True)
        tomb = np.fromiter(self._tombstones, dtype=np.int64, count=len(self._tombstones))
        live = self.live_keys()
        return KeyDiff(
            missing=table_keys[~present],
            stale=live[~np.isin(live, table_keys, assume_unique=True)],
            revived=np.sort(tomb[np.isin(tomb, table_keys)]),
        )

    def candidate_mask(self, allowed: KeySet, exclude: KeySet) -> np.ndarray | None:
        """Positions a search may return, or None when every stored position may be."""
        if allowed is None and exclude is None and not self._tombstones:
            return None
        if allowed is None:
            mask = self._live.copy()
        else:
            mask = np.zeros(self.n_total, dtype=bool)
            mask[self.positions(as_keys(allowed, "allowed"))] = True
            mask &= self._live
        if exclude is not None:
            mask[self.positions(as_keys(exclude, "exclude"))] = False
        return mask
