# Just over 400 lines, kept whole: one class, ShotIndex, whose methods each delegate to a helper
# module (keymap, policy, tuning, search, gpu, persist); splitting it would split its API.
"""The shot index: a FAISS index keyed by the shots table's stable ``row_key``.

The Lance ``shots`` table is the truth; this index is a rebuildable accelerator built and updated
*from* it, never the other way round. This package knows nothing about Lance: it works on int64
keys and float32 vectors. The caller (:mod:`rag_video.index.sync`) compares
:attr:`ShotIndex.table_version` with the table's version, fetches the missing vectors
(:meth:`ShotIndex.diff_keys`), calls :meth:`ShotIndex.add` / :meth:`ShotIndex.remove` /
:meth:`ShotIndex.update_version`, and rebuilds when :attr:`ShotIndex.needs_rebuild` says so.

Similarity is inner product on L2-normalised vectors, i.e. cosine similarity. The index type
is chosen by :mod:`~rag_video.index.policy`, its search parameter tuned by
:mod:`~rag_video.index.tuning`; :mod:`~rag_video.index.search` and :mod:`~rag_video.index.gpu`
run the searches, :mod:`~rag_video.index.persist` saves and loads.

Removals are tombstones for every type (HNSW cannot delete), kept by the key <-> position map
(:mod:`~rag_video.index.keymap`): tombstoned keys are filtered out of every search with a FAISS
``IDSelectorBitmap`` and results are refilled to ``k``; once the tombstoned share passes
``rebuild_share`` (20 % by default) :attr:`ShotIndex.needs_rebuild` turns true. Searches run on
the inner index with internal positions; the ``IndexIDMap2`` wrapper is the persisted position ->
row_key map.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from rag_video.index.errors import IndexUnavailable
from rag_video.index.gpu import GPU_MAX_K, UseGpu, gpu_search, to_gpu, want_gpu
from rag_video.index.inputs import KeySet, as_keys, as_unit_vectors, check_unique
from rag_video.index.keymap import KeyDiff, KeyMap
from rag_video.index.persist import IndexMeta, load_index, save_index, utc_now
from rag_video.index.policy import (
    check_type,
    choose_index_type,
    estimate_memory_bytes,
    new_base,
)
from rag_video.index.runtime import load_faiss, omp_threads
from rag_video.index.search import InnerIndex
from rag_video.index.tuning import tune as tune_search_param

__all__ = ["IndexUnavailable", "ShotIndex"]

logger = logging.getLogger(__name__)

EXACT_CANDIDATES_MAX = 8192  # scanning 8k x 512-d vectors takes ~3 ms on one core
DEFAULT_REBUILD_SHARE = 0.2


class ShotIndex:
    """A FAISS index over shot embeddings, keyed by the shots table's ``row_key``.

    Create with :meth:`build` or :meth:`load`. Search results never contain tombstoned keys.
    Filtered searches with at most ``exact_candidates_max`` candidate keys (an instance
    attribute, default :data:`EXACT_CANDIDATES_MAX`) scan just those vectors exactly; larger
    candidate sets go through the approximate structure with a selector, and any row left with
    fewer than ``k`` results is refilled by an exhaustive scan.
    """

    def __init__(
        self,
        index: Any,
        *,
        index_type: str,
        requested_type: str,
        table_version: int,
        model_id: str,
        params: dict[str, Any],
        tombstones: set[int] | None = None,
        created_at: str | None = None,
        rebuild_share: float = DEFAULT_REBUILD_SHARE,
        use_gpu: UseGpu = "auto",
    ) -> None:
        """Wrap an existing ``IndexIDMap2``; prefer :meth:`build` and :meth:`load`."""
        faiss = load_faiss()
        check_type(index_type, allow_auto=False)
        if not 0 < rebuild_share <= 1:
            raise ValueError(f"rebuild_share must be in (0, 1], got rebuild_share={rebuild_share}")
        self._idmap = index
        self._base = faiss.downcast_index(index.index)
        self.index_type = index_type
        self.requested_type = requested_type
        self.table_version = int(table_version)
        self.model_id = model_id
        self.params: dict[str, Any] = dict(params)
        self.created_at = created_at or utc_now()
        self.rebuild_share = rebuild_share
        self.exact_candidates_max = EXACT_CANDIDATES_MAX
        self._keys = KeyMap(faiss.vector_to_array(index.id_map).astype(np.int64))
        self._gpu: Any = None
        if tombstones:
            self.remove(np.fromiter(tombstones, dtype=np.int64, count=len(tombstones)))
        if want_gpu(use_gpu, index_type):
            self._gpu = to_gpu(self._base, index_type, self.params)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        keys: np.ndarray,
        vectors: np.ndarray,
        *,
        index_type: str = "auto",
        table_version: int,
        model_id: str,
        use_gpu: UseGpu = "auto",
        memory_budget_bytes: int | None = None,
        rebuild_share: float = DEFAULT_REBUILD_SHARE,
        tune: bool = True,
    ) -> ShotIndex:
        """Build an index over ``vectors`` (n, dim) keyed by ``keys`` (n,) int64.

        ``index_type="auto"`` asks :func:`choose_index_type`; approximate types get their search
        parameter (efSearch / nprobe) tuned on :func:`tuning_queries` so recall@10 reaches
        :data:`TUNE_RECALL` (``tune=False`` keeps the defaults). ``use_gpu="auto"`` copies flat
        and IVF indexes to the GPU when faiss sees one; ``True`` requires one.
        """
        faiss = load_faiss()
        check_type(index_type, allow_auto=True)
        keys = as_keys(keys, "keys")
        vectors = as_unit_vectors(vectors, None, "vectors")
        if len(keys) != len(vectors):
            raise ValueError(f"keys and vectors differ in length: {len(keys)} != {len(vectors)}")
        check_unique(keys, "keys")
        n, dim = vectors.shape
        kind = index_type
        if index_type == "auto":
            kind = choose_index_type(n, dim, memory_budget_bytes=memory_budget_bytes)
        gpu = want_gpu(use_gpu, kind)
        base, params = new_base(kind, dim, n)
        if not base.is_trained:
            base.train(vectors)
        idmap = faiss.IndexIDMap2(base)
        idmap.own_fields = True
        base.this.disown()
        if n:
            idmap.add_with_ids(vectors, keys)
        index = cls(
            idmap,
            index_type=kind,
            requested_type=index_type,
            table_version=table_version,
            model_id=model_id,
            params=params,
            rebuild_share=rebuild_share,
            use_gpu=False,
        )
        if tune:
            tune_search_param(
                index._base,
                kind,
                index.params,
                vectors,
                lambda queries, k: index._search_positions(queries, k, None),
            )
        if gpu:
            index._gpu = to_gpu(index._base, kind, index.params)
        logger.info("built %s index: n=%d dim=%d params=%s", kind, n, dim, index.params)
        return index

    # -- size and state --------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._idmap.d)

    @property
    def n_total(self) -> int:
        """Vectors stored, tombstoned ones included."""
        return self._keys.n_total

    @property
    def n_live(self) -> int:
        """Vectors that searches can return."""
        return self.n_total - len(self._keys.tombstones)

    def __len__(self) -> int:
        return self.n_live

    @property
    def tombstones(self) -> frozenset[int]:
        """Keys removed from results but still stored."""
        return self._keys.tombstones

    @property
    def tombstone_share(self) -> float:
        """Share of stored vectors that are tombstoned (0 for an empty index)."""
        return len(self._keys.tombstones) / self.n_total if self.n_total else 0.0

    @property
    def needs_rebuild(self) -> bool:
        """True when the index should be rebuilt from the table (see :attr:`rebuild_reason`)."""
        return self.rebuild_reason is not None

    @property
    def rebuild_reason(self) -> str | None:
        """Why a rebuild is due, or None: tombstones above ``rebuild_share``, or an ``auto`` index
        whose live size now calls for another type."""
        if self.tombstone_share > self.rebuild_share:
            return (
                f"tombstones are {self.tombstone_share:.0%} of the index "
                f"(> {self.rebuild_share:.0%})"
            )
        if self.requested_type == "auto":
            wanted = choose_index_type(self.n_live, self.dim)
            if wanted != self.index_type and not (wanted == "flat" and self.index_type != "flat"):
                return (
                    f"{self.n_live} shots call for a {wanted} index, this one is {self.index_type}"
                )
        return None

    @property
    def device(self) -> str:
        """``gpu`` when searches run on a GPU copy, else ``cpu``."""
        return "gpu" if self._gpu is not None else "cpu"

    def keys(self) -> np.ndarray:
        """Live keys, ascending."""
        return self._keys.live_keys()

    def update_version(self, table_version: int) -> None:
        """Record that the index now reflects ``table_version`` of the shots table."""
        if not isinstance(table_version, int | np.integer) or table_version < 0:
            raise ValueError(
                f"table_version must be an int >= 0, got table_version={table_version!r}"
            )
        self.table_version = int(table_version)

    def is_stale(self, table_version: int) -> bool:
        """True when the table has moved past the version this index reflects."""
        return int(table_version) != self.table_version

    def check_compatible(self, *, model_id: str, dim: int) -> None:
        """Raise :class:`IndexUnavailable` when the table's encoder differs from the index's
        (incremental updates cannot fix that: the index must be rebuilt)."""
        if model_id != self.model_id or dim != self.dim:
            raise IndexUnavailable(
                f"index holds {self.model_id} ({self.dim}-d) vectors, "
                f"table has {model_id} ({dim}-d); rebuild it with `rag-video index build`"
            )

    def diff_keys(self, table_keys: np.ndarray) -> KeyDiff:
        """Compare the table's current keys with the index (see :class:`KeyDiff`)."""
        return self._keys.diff(table_keys)

    # -- updates ---------------------------------------------------------------------------

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add new shots. Keys must be new: row keys are never reused, so a key already stored
        (live or tombstoned) raises ``ValueError``."""
        keys = as_keys(keys, "keys")
        vectors = as_unit_vectors(vectors, self.dim, "vectors")
        if len(keys) != len(vectors):
            raise ValueError(f"keys and vectors differ in length: {len(keys)} != {len(vectors)}")
        if not len(keys):
            return
        check_unique(keys, "keys")
        clash = keys[self._keys.contains(keys)]
        if clash.size:
            raise ValueError(
                f"keys already in the index (row keys are never reused): {clash[:5].tolist()}"
            )
        self._idmap.add_with_ids(vectors, keys)
        if self._gpu is not None:
            self._gpu.add(vectors)
        self._keys.append(keys)

    def remove(self, keys: np.ndarray | set[int] | list[int]) -> int:
        """Tombstone ``keys`` (unknown and already removed keys are ignored); returns how many
        keys were newly tombstoned."""
        return self._keys.tombstone(as_keys(keys, "keys"))

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: KeySet = None,
        exclude: KeySet = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` shots per query by cosine similarity.

        ``allowed`` restricts results to those keys (a metadata pre-filter), ``exclude`` removes
        keys; tombstoned keys never appear. Every row holds ``min(k, candidates)`` results, the
        rest is padding (key ``-1``, score ``-inf``). Returns ``(scores (q, k) float32,
        keys (q, k) int64)``.
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an int >= 1, got k={k!r}")
        queries = as_unit_vectors(queries, self.dim, "queries")
        mask = self._keys.candidate_mask(allowed, exclude)
        with omp_threads(len(queries)):
            scores, positions = self._search_positions(queries, int(k), mask)
        valid = positions >= 0
        keys = np.full(positions.shape, -1, dtype=np.int64)
        keys[valid] = self._keys.keys[positions[valid]]
        scores = np.where(positions >= 0, scores, -np.inf).astype(np.float32)
        return scores, keys

    def _search_positions(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Search on internal positions; every row gets ``min(k, candidates)`` results."""
        q = len(queries)
        candidates = self.n_total if mask is None else int(mask.sum())
        if candidates == 0:
            return np.full((q, k), -np.inf, np.float32), np.full((q, k), -1, np.int64)
        if candidates == self.n_total:
            mask = None  # nothing filtered out: no selector needed
        want = min(k, candidates)
        inner = InnerIndex(self._base, self.index_type, self.params)
        if self._gpu is not None and k + self.n_total - candidates <= GPU_MAX_K:
            scores, pos = gpu_search(self._gpu, queries, k, mask, self.n_total)
        elif self.index_type == "flat" or (
            mask is not None and candidates <= self.exact_candidates_max
        ):
            scores, pos = inner.exhaustive(queries, k, mask)
        else:
            share = candidates / self.n_total
            scores, pos = inner.approximate(queries, k, mask, share)
        short = np.flatnonzero((pos >= 0).sum(axis=1) < want)
        if short.size:
            scores[short], pos[short] = inner.exhaustive(queries[short], k, mask)
        return scores, pos

    # -- persistence -----------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index into ``directory`` atomically; returns the sidecar path.

        The FAISS file gets a fresh name, then the JSON sidecar naming it replaces the old sidecar
        (the commit point), then older index files are deleted. A crash at any point leaves the
        previous index loadable (see :func:`rag_video.index.persist.save_index`).
        """
        return save_index(directory, self._idmap, self._meta)

    def _meta(self, index_file: str, index_bytes: int) -> IndexMeta:
        return IndexMeta(
            index_file=index_file,
            index_bytes=index_bytes,
            index_type=self.index_type,
            requested_type=self.requested_type,
            dim=self.dim,
            n=self.n_total,
            table_version=self.table_version,
            model_id=self.model_id,
            tombstones=sorted(self._keys.tombstones),
            rebuild_share=self.rebuild_share,
            params=self.params,
            created_at=self.created_at,
            saved_at=utc_now(),
            faiss_version=load_faiss().__version__,
        )

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        use_gpu: UseGpu = "auto",
        rebuild_share: float | None = None,
    ) -> ShotIndex:
        """Load the index saved in ``directory``; raises :class:`IndexUnavailable` when it is
        missing, corrupt or inconsistent with its sidecar."""
        idmap, meta = load_index(directory)
        return cls(
            idmap,
            index_type=meta.index_type,
            requested_type=meta.requested_type,
            table_version=meta.table_version,
            model_id=meta.model_id,
            params=dict(meta.params),
            tombstones=set(meta.tombstones),
            created_at=meta.created_at,
            rebuild_share=meta.rebuild_share if rebuild_share is None else rebuild_share,
            use_gpu=use_gpu,
        )

    # -- report ----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """A JSON-ready summary for ``rag-video index info``."""
        faiss = load_faiss()
        return {
            "type": self.index_type,
            "requested_type": self.requested_type,
            "n": self.n_live,
            "n_total": self.n_total,
            "dim": self.dim,
            "tombstones": len(self._keys.tombstones),
            "tombstone_share": round(self.tombstone_share, 4),
            "needs_rebuild": self.needs_rebuild,
            "rebuild_reason": self.rebuild_reason,
            "table_version": self.table_version,
            "model_id": self.model_id,
            "device": self.device,
            "memory_bytes": estimate_memory_bytes(self.index_type, self.n_total, self.dim),
            "params": dict(self.params),
            "threads": faiss.omp_get_max_threads(),
            "created_at": self.created_at,
            "faiss_version": faiss.__version__,
        }

    def __repr__(self) -> str:
        return (
            f"ShotIndex(type={self.index_type}, n={self.n_live}, dim={self.dim}, "
            f"tombstones={len(self._keys.tombstones)}, table_version={self.table_version})"
        )
