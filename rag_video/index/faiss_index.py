"""FAISS accelerator for shot search, keyed by the shots table's stable ``row_key``.

The Lance ``shots`` table is the truth; this index is a rebuildable accelerator built and updated
*from* it, never the other way round. This module knows nothing about Lance: it works on int64
keys and float32 vectors. The caller (the store wiring) compares :attr:`ShotIndex.table_version`
with the table's version, fetches the missing vectors (:meth:`ShotIndex.diff_keys`), calls
:meth:`ShotIndex.add` / :meth:`ShotIndex.remove` / :meth:`ShotIndex.update_version`, and rebuilds
when :attr:`ShotIndex.needs_rebuild` says so.

Similarity is inner product on L2-normalised vectors, i.e. cosine similarity.

Index types (:func:`choose_index_type` picks one by size and memory budget):

``flat``
    Exact (``IndexFlatIP``). Chosen for ``n <= FLAT_MAX_N`` (50 000): a single query scans
    ``n * dim`` floats, a few milliseconds at 50k x 512-d on one core.
``hnsw``
    ``IndexHNSWFlat`` (inner product, ``M = 32``), ``efSearch`` tuned at build time so that
    recall@10 against exact search reaches :data:`TUNE_RECALL` on :func:`tuning_queries` drawn
    from the data. Chosen for ``FLAT_MAX_N < n <= HNSW_MAX_N`` when it fits the memory budget.
``ivf``
    ``IndexIVFFlat`` with ``nlist ~ 4 sqrt(n)``, ``nprobe`` tuned like ``efSearch``. Chosen above
    ``HNSW_MAX_N`` (faster to build than a graph) or when the HNSW graph does not fit the budget.
``ivfpq``
    ``IndexIVFPQ`` (``dim / 8`` bytes per vector): the memory-bound choice when full vectors
    do not fit the budget. Lossy: its recall is below the other types' (reported by ``info()``).

Removals are tombstones for every type (HNSW cannot delete): tombstoned keys are filtered out of
every search with a FAISS ``IDSelectorBitmap`` and results are refilled to ``k``; once the
tombstoned share passes ``rebuild_share`` (20 % by default) :attr:`ShotIndex.needs_rebuild`
turns true. Searches run on the inner index with internal positions; the ``IndexIDMap2`` wrapper
is the persisted position -> row_key map.

Why one module of ~1 050 lines for now: most of it is `ShotIndex` (~570 lines), whose build,
tune, search, tombstone and persistence methods share one index's state; the split the project
plans (issue 11: `index/{engine,policy,tuning,persist,gpu}.py`) takes that class apart and is done
there, with its tests, rather than beside the make and ingest work of issue 10.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag_video.errors import RagVideoError

logger = logging.getLogger(__name__)

INDEX_TYPES: tuple[str, ...] = ("flat", "hnsw", "ivf", "ivfpq")
FLAT_MAX_N = 50_000
HNSW_MAX_N = 2_000_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
DEFAULT_EF_SEARCH = 64
EF_SEARCH_CAP = 2048
TUNE_RECALL = 0.97  # the 0.95 target plus a margin for the sampling error of the estimate
TUNE_K = 10
TUNE_QUERIES = 300
NOISE_RATIO = (
    2.5  # tan(angle) between a noisy tuning query and its vector: ~68 degrees, cosine ~0.37
)
EF_SEARCH_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
EXACT_CANDIDATES_MAX = 8192  # scanning 8k x 512-d vectors takes ~3 ms on one core
SERIAL_QUERIES = 8  # smaller batches search on one OpenMP thread (see _omp_threads)
GPU_MAX_K = 2048  # faiss GPU indexes return at most this many neighbours
DEFAULT_REBUILD_SHARE = 0.2
IVF_MIN_POINTS_PER_LIST = 39
SIDECAR_NAME = "shots.index.json"
INDEX_PREFIX = "shots-"
INDEX_SUFFIX = ".faiss"
FORMAT_VERSION = 1

UseGpu = bool | Literal["auto"]
KeySet = set[int] | frozenset[int] | np.ndarray | list[int] | None


class IndexUnavailable(RagVideoError):
    """The index cannot be built, loaded, saved or used; the message says why in one line."""


@dataclass(frozen=True)
class KeyDiff:
    """What the index lacks compared with the table's current keys (see :meth:`ShotIndex.diff_keys`).

    ``missing``: keys in the table, not in the index (fetch their vectors and ``add`` them).
    ``stale``: live keys in the index, gone from the table (``remove`` them).
    ``revived``: tombstoned keys that are back in the table; row keys are never reused, so
    a non-empty array means the index cannot be patched and must be rebuilt.
    """

    missing: np.ndarray
    stale: np.ndarray
    revived: np.ndarray


class IndexMeta(BaseModel):
    """The JSON sidecar written next to the FAISS file; its atomic replace commits a save."""

    model_config = ConfigDict(extra="ignore")

    format: int = FORMAT_VERSION
    index_file: str
    index_bytes: int = Field(ge=0)
    index_type: str
    requested_type: str
    dim: int = Field(ge=1)
    n: int = Field(ge=0)
    table_version: int
    model_id: str
    tombstones: list[int]
    rebuild_share: float = Field(gt=0, le=1)
    params: dict[str, float | int | None]
    created_at: str
    saved_at: str
    faiss_version: str


# ---------------------------------------------------------------------------------------------
# Sizing


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for ``n`` vectors: ``~4 sqrt(n)``, at most ``n / 39`` (k-means needs
    about 39 points per centroid), at least 1."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got n={n}")
    return max(1, min(int(round(4 * math.sqrt(n))), n // IVF_MIN_POINTS_PER_LIST, 65_536))


def pq_subquantizers(dim: int) -> int:
    """PQ sub-quantizer count: one byte per 8 dimensions (the largest divisor of ``dim`` <= dim/8)."""
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got dim={dim}")
    target = max(1, dim // 8)
    return next(m for m in range(target, 0, -1) if dim % m == 0)


def estimate_memory_bytes(index_type: str, n: int, dim: int) -> int:
    """Rough resident size of an index of ``index_type`` holding ``n`` vectors of ``dim`` floats,
    including the row_key map (about 48 bytes per vector for ``IndexIDMap2``)."""
    _check_type(index_type, allow_auto=False)
    ids = n * 48
    if index_type == "flat":
        return ids + n * dim * 4
    if index_type == "hnsw":
        # level 0 keeps 2M int32 links per node, upper levels add ~M/(M-1) of M links in total
        links = n * (2 * HNSW_M + HNSW_M / (HNSW_M - 1)) * 4
        return ids + n * dim * 4 + int(links) + n * 12
    nlist = ivf_nlist(n)
    if index_type == "ivf":
        return ids + n * (dim * 4 + 8) + nlist * dim * 4
    return ids + n * (pq_subquantizers(dim) + 8) + nlist * dim * 4 + 256 * dim * 4


def choose_index_type(n: int, dim: int, *, memory_budget_bytes: int | None = None) -> str:
    """Pick the index type for ``n`` vectors of ``dim`` floats.

    ``flat`` (exact) up to :data:`FLAT_MAX_N` vectors, ``hnsw`` up to :data:`HNSW_MAX_N`, ``ivf``
    above; each only if :func:`estimate_memory_bytes` fits ``memory_budget_bytes`` (``None`` =
    no limit), else the next, smaller type; ``ivfpq`` when even full vectors do not fit.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got n={n}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got dim={dim}")
    if memory_budget_bytes is not None and memory_budget_bytes <= 0:
        raise ValueError(
            f"memory_budget_bytes must be > 0, got memory_budget_bytes={memory_budget_bytes}"
        )

    def fits(kind: str) -> bool:
        return (
            memory_budget_bytes is None
            or estimate_memory_bytes(kind, n, dim) <= memory_budget_bytes
        )

    if n <= FLAT_MAX_N and fits("flat"):
        return "flat"
    if n <= HNSW_MAX_N and fits("hnsw"):
        return "hnsw"
    if fits("ivf"):
        return "ivf"
    if not fits("ivfpq"):
        logger.warning(
            "even ivfpq (%d bytes) exceeds memory_budget_bytes=%d; using ivfpq",
            estimate_memory_bytes("ivfpq", n, dim),
            memory_budget_bytes,
        )
    return "ivfpq"


# ---------------------------------------------------------------------------------------------
# Threads and devices


_threads_configured = False


def cpu_budget() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup v2 CPU quota, and by
    ``RAG_VIDEO_FAISS_THREADS`` when set."""
    env = os.environ.get("RAG_VIDEO_FAISS_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"RAG_VIDEO_FAISS_THREADS must be an integer, got {env!r}") from None
    cpus = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _faiss() -> Any:
    """Import faiss and set its OpenMP thread count once (oversubscribed threads ruin latency)."""
    global _threads_configured
    import faiss

    if not _threads_configured:
        faiss.omp_set_num_threads(cpu_budget())
        _threads_configured = True
    return faiss


@contextlib.contextmanager
def _omp_threads(n_queries: int):
    """Run a search of fewer than SERIAL_QUERIES queries on one OpenMP thread. FAISS parallelises
    over queries, so a single query gains nothing from a thread team, and waking one costs: on a
    loaded 2-core machine a 1-query flat search at 20k x 512-d took 20 ms p50 with 2 threads and
    1.4 ms with one."""
    if n_queries >= SERIAL_QUERIES:
        yield
        return
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _gpu_count() -> int:
    faiss = _faiss()
    try:
        return int(faiss.get_num_gpus())
    except AttributeError:  # a CPU-only faiss build
        return 0


def _want_gpu(use_gpu: UseGpu, index_type: str) -> bool:
    if use_gpu not in (True, False, "auto"):
        raise ValueError(f"use_gpu must be True, False or 'auto', got use_gpu={use_gpu!r}")
    if use_gpu is False:
        return False
    gpus = _gpu_count()
    if use_gpu is True and gpus == 0:
        raise IndexUnavailable("use_gpu=True but faiss sees no GPU (faiss.get_num_gpus() == 0)")
    if index_type == "hnsw":
        if use_gpu is True:
            logger.info("hnsw indexes stay on the CPU (faiss has no GPU HNSW)")
        return False
    return gpus > 0


# ---------------------------------------------------------------------------------------------
# Input checks


def _check_type(index_type: str, *, allow_auto: bool) -> None:
    allowed = (*INDEX_TYPES, "auto") if allow_auto else INDEX_TYPES
    if index_type not in allowed:
        raise ValueError(
            f"index_type must be one of {', '.join(allowed)}; got index_type={index_type!r}"
        )


def _as_keys(keys: Any, name: str) -> np.ndarray:
    """A 1-d int64 array of non-negative keys (``-1`` marks padding in results)."""
    arr = np.asarray(list(keys) if isinstance(keys, set | frozenset) else keys)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {int(arr.min())}")
    return arr


def _as_unit_vectors(vectors: Any, dim: int | None, name: str) -> np.ndarray:
    """A C-contiguous float32 (n, dim) copy, L2-normalised; rejects non-finite and zero rows."""
    arr = np.array(vectors, dtype=np.float32, order="C", copy=True)
    if arr.ndim == 1 and name == "queries":
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-d (n, dim), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} must have dim {dim}, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    if arr.shape[0] and norms.min() == 0:
        raise ValueError(f"{name} row {int(np.argmin(norms))} is all zeros (cosine undefined)")
    arr /= norms[:, None]
    return arr


# ---------------------------------------------------------------------------------------------
# Construction of the raw FAISS index


def _new_base(index_type: str, dim: int, n: int) -> tuple[Any, dict[str, Any]]:
    """An empty (untrained) inner-product index and its parameters."""
    faiss = _faiss()
    ip = faiss.METRIC_INNER_PRODUCT
    if index_type == "flat":
        return faiss.IndexFlatIP(dim), {}
    if index_type == "hnsw":
        base = faiss.IndexHNSWFlat(dim, HNSW_M, ip)
        base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        base.hnsw.efSearch = DEFAULT_EF_SEARCH
        return base, {
            "M": HNSW_M,
            "efConstruction": HNSW_EF_CONSTRUCTION,
            "efSearch": DEFAULT_EF_SEARCH,
        }
    if n < 1:
        raise IndexUnavailable(f"index_type={index_type!r} needs training vectors, got n=0")
    nlist = ivf_nlist(n)
    quantizer = faiss.IndexFlatIP(dim)
    if index_type == "ivf":
        base = faiss.IndexIVFFlat(quantizer, dim, nlist, ip)
        params: dict[str, Any] = {"nlist": nlist}
    else:
        pq_m = pq_subquantizers(dim)
        nbits = max(1, min(8, int(math.log2(max(2, n // IVF_MIN_POINTS_PER_LIST)))))
        base = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, nbits, ip)
        params = {"nlist": nlist, "pq_m": pq_m, "pq_nbits": nbits}
    base.own_fields = True
    quantizer.this.disown()  # owned by the IVF index from now on
    nprobe = max(1, min(nlist, nlist // 32 or 1))
    base.nprobe = nprobe
    params["nprobe"] = nprobe
    return base, params


def _set_search_param(base: Any, index_type: str, params: dict[str, Any], value: int) -> None:
    if index_type == "hnsw":
        base.hnsw.efSearch = value
        params["efSearch"] = value
    elif index_type in ("ivf", "ivfpq"):
        base.nprobe = value
        params["nprobe"] = value


def _search_param_steps(index_type: str, params: dict[str, Any]) -> list[int]:
    if index_type == "hnsw":
        return list(EF_SEARCH_STEPS)
    if index_type in ("ivf", "ivfpq"):
        nlist = int(params["nlist"])
        steps = sorted({min(nlist, 2**i) for i in range(0, 17)} | {nlist})
        return steps
    return []


# ---------------------------------------------------------------------------------------------


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
        faiss = _faiss()
        _check_type(index_type, allow_auto=False)
        if not 0 < rebuild_share <= 1:
            raise ValueError(f"rebuild_share must be in (0, 1], got rebuild_share={rebuild_share}")
        self._idmap = index
        self._base = faiss.downcast_index(index.index)
        self.index_type = index_type
        self.requested_type = requested_type
        self.table_version = int(table_version)
        self.model_id = model_id
        self.params: dict[str, Any] = dict(params)
        self.created_at = created_at or _now()
        self.rebuild_share = rebuild_share
        self.exact_candidates_max = EXACT_CANDIDATES_MAX
        self._keys = faiss.vector_to_array(index.id_map).astype(np.int64)
        self._sorted_keys = np.sort(self._keys)
        self._order = np.argsort(self._keys, kind="stable")
        self._tombstones: set[int] = set()
        self._live = np.ones(len(self._keys), dtype=bool)
        self._gpu: Any = None
        if tombstones:
            self.remove(np.fromiter(tombstones, dtype=np.int64, count=len(tombstones)))
        if _want_gpu(use_gpu, index_type):
            self._to_gpu()

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
        faiss = _faiss()
        _check_type(index_type, allow_auto=True)
        keys = _as_keys(keys, "keys")
        vectors = _as_unit_vectors(vectors, None, "vectors")
        if len(keys) != len(vectors):
            raise ValueError(f"keys and vectors differ in length: {len(keys)} != {len(vectors)}")
        _check_unique(keys, "keys")
        n, dim = vectors.shape
        kind = index_type
        if index_type == "auto":
            kind = choose_index_type(n, dim, memory_budget_bytes=memory_budget_bytes)
        gpu = _want_gpu(use_gpu, kind)
        base, params = _new_base(kind, dim, n)
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
            index._tune(vectors)
        if gpu:
            index._to_gpu()
        logger.info("built %s index: n=%d dim=%d params=%s", kind, n, dim, index.params)
        return index

    def _tune(self, vectors: np.ndarray) -> None:
        """Choose the smallest efSearch/nprobe whose recall@10 on :func:`tuning_queries` reaches
        :data:`TUNE_RECALL` (stopping early when a larger setting no longer helps, as with PQ).

        ``vectors`` are the indexed vectors in position order (what :meth:`build` added).
        """
        steps = _search_param_steps(self.index_type, self.params)
        n = len(vectors)
        if not steps or n <= TUNE_K + 1:
            return
        faiss = _faiss()
        queries, self_pos = tuning_queries(vectors, TUNE_QUERIES, seed=0)
        _, truth = faiss.knn(queries, vectors, TUNE_K + 1, metric=faiss.METRIC_INNER_PRODUCT)
        truth_sets = [_drop_self(row, int(pos)) for row, pos in zip(truth, self_pos, strict=True)]
        total = max(1, sum(len(t) for t in truth_sets))
        chosen, recall = steps[-1], 0.0
        for i, value in enumerate(steps):
            _set_search_param(self._base, self.index_type, self.params, value)
            _, found = self._search_positions(queries, TUNE_K + 1, None)
            hits = sum(
                len(t & _drop_self(row, int(p)))
                for t, row, p in zip(truth_sets, found, self_pos, strict=True)
            )
            previous, recall = recall, hits / total
            if recall >= TUNE_RECALL:
                chosen = value
                break
            if i > 0 and recall - previous < 0.002:
                chosen, recall = steps[i - 1], previous
                logger.warning("%s recall@%d plateaus at %.3f", self.index_type, TUNE_K, recall)
                break
        else:
            logger.warning(
                "%s recall@%d reached only %.3f at its largest setting",
                self.index_type,
                TUNE_K,
                recall,
            )
        _set_search_param(self._base, self.index_type, self.params, chosen)
        self.params["tuned_recall"] = round(recall, 4)

    # -- size and state --------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._idmap.d)

    @property
    def n_total(self) -> int:
        """Vectors stored, tombstoned ones included."""
        return len(self._keys)

    @property
    def n_live(self) -> int:
        """Vectors that searches can return."""
        return self.n_total - len(self._tombstones)

    def __len__(self) -> int:
        return self.n_live

    @property
    def tombstones(self) -> frozenset[int]:
        """Keys removed from results but still stored."""
        return frozenset(self._tombstones)

    @property
    def tombstone_share(self) -> float:
        """Share of stored vectors that are tombstoned (0 for an empty index)."""
        return len(self._tombstones) / self.n_total if self.n_total else 0.0

    @property
    def needs_rebuild(self) -> bool:
        """True when the index should be rebuilt from the table (see :attr:`rebuild_reason`)."""
        return self.rebuild_reason is not None

    @property
    def rebuild_reason(self) -> str | None:
        """Why a rebuild is due, or None: tombstones above ``rebuild_share``, or an ``auto`` index
        whose live size now calls for another type."""
        if self.tombstone_share > self.rebuild_share:
            return f"tombstones are {self.tombstone_share:.0%} of the index (> {self.rebuild_share:.0%})"
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
        live = self._sorted_keys
        if self._tombstones:
            live = live[self._live[self._order]]
        return live.copy()

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
                f"index holds {self.model_id} ({self.dim}-d) vectors, table has {model_id} ({dim}-d); "
                "rebuild it with `rag-video index build`"
            )

    def diff_keys(self, table_keys: np.ndarray) -> KeyDiff:
        """Compare the table's current keys with the index (see :class:`KeyDiff`)."""
        table_keys = np.unique(_as_keys(table_keys, "table_keys"))
        present = np.isin(table_keys, self._sorted_keys, assume_unique=True)
        tomb = np.fromiter(self._tombstones, dtype=np.int64, count=len(self._tombstones))
        live = self.keys()
        return KeyDiff(
            missing=table_keys[~present],
            stale=live[~np.isin(live, table_keys, assume_unique=True)],
            revived=np.sort(tomb[np.isin(tomb, table_keys)]),
        )

    # -- updates ---------------------------------------------------------------------------

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add new shots. Keys must be new: row keys are never reused, so a key already stored
        (live or tombstoned) raises ``ValueError``."""
        keys = _as_keys(keys, "keys")
        vectors = _as_unit_vectors(vectors, self.dim, "vectors")
        if len(keys) != len(vectors):
            raise ValueError(f"keys and vectors differ in length: {len(keys)} != {len(vectors)}")
        if not len(keys):
            return
        _check_unique(keys, "keys")
        clash = keys[self._contains(keys)]
        if clash.size:
            raise ValueError(
                f"keys already in the index (row keys are never reused): {clash[:5].tolist()}"
            )
        self._idmap.add_with_ids(vectors, keys)
        if self._gpu is not None:
            self._gpu.add(vectors)
        self._keys = np.concatenate([self._keys, keys])
        self._live = np.concatenate([self._live, np.ones(len(keys), dtype=bool)])
        self._order = np.argsort(self._keys, kind="stable")
        self._sorted_keys = self._keys[self._order]

    def remove(self, keys: np.ndarray | set[int] | list[int]) -> int:
        """Tombstone ``keys`` (unknown and already removed keys are ignored); returns how many
        keys were newly tombstoned."""
        keys = _as_keys(keys, "keys")
        positions = self._positions(keys)
        positions = positions[self._live[positions]]
        self._live[positions] = False
        self._tombstones.update(int(k) for k in self._keys[positions])
        return len(positions)

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
        keys; tombstoned keys never appear. Every row holds ``min(k, candidates)`` results, the rest
        is padding (key ``-1``, score ``-inf``). Returns ``(scores (q, k) float32, keys (q, k) int64)``.
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an int >= 1, got k={k!r}")
        queries = _as_unit_vectors(queries, self.dim, "queries")
        mask = self._candidate_mask(allowed, exclude)
        with _omp_threads(len(queries)):
            scores, positions = self._search_positions(queries, int(k), mask)
        valid = positions >= 0
        keys = np.full(positions.shape, -1, dtype=np.int64)
        keys[valid] = self._keys[positions[valid]]
        scores = np.where(positions >= 0, scores, -np.inf).astype(np.float32)
        return scores, keys

    def _candidate_mask(self, allowed: KeySet, exclude: KeySet) -> np.ndarray | None:
        """Positions a search may return, or None when every stored vector may be returned."""
        if allowed is None and exclude is None and not self._tombstones:
            return None
        if allowed is None:
            mask = self._live.copy()
        else:
            mask = np.zeros(self.n_total, dtype=bool)
            mask[self._positions(_as_keys(allowed, "allowed"))] = True
            mask &= self._live
        if exclude is not None:
            mask[self._positions(_as_keys(exclude, "exclude"))] = False
        return mask

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
        if self._gpu is not None and k + self.n_total - candidates <= GPU_MAX_K:
            scores, pos = self._gpu_search(queries, k, mask)
        elif self.index_type == "flat" or (
            mask is not None and candidates <= self.exact_candidates_max
        ):
            scores, pos = self._exhaustive(queries, k, mask)
        else:
            scores, pos = self._approximate(queries, k, mask, candidates / self.n_total)
        short = np.flatnonzero((pos >= 0).sum(axis=1) < want)
        if short.size:
            scores[short], pos[short] = self._exhaustive(queries[short], k, mask)
        return scores, pos

    def _selector(self, mask: np.ndarray | None) -> tuple[Any, Any]:
        """An ``IDSelectorBitmap`` over positions, with the bitmap it reads (keep both alive)."""
        if mask is None:
            return None, None
        faiss = _faiss()
        bitmap = np.packbits(mask, bitorder="little")
        return faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)), bitmap

    def _exhaustive(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scan every candidate: exact for flat, hnsw (its flat storage) and ivf; PQ distances
        for ivfpq. The selector is checked before any distance is computed, so a small candidate
        set costs little even in a big index."""
        faiss = _faiss()
        sel, _bitmap = self._selector(mask)
        if self.index_type in ("ivf", "ivfpq"):
            params = faiss.SearchParametersIVF(nprobe=int(self.params["nlist"]), max_codes=0)
            target = self._base
        else:
            params = faiss.SearchParameters()
            target = (
                self._base
                if self.index_type == "flat"
                else faiss.downcast_index(self._base.storage)
            )
        if sel is not None:
            params.sel = sel
        return target.search(queries, k, params=params)

    def _approximate(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None, selectivity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Search the approximate structure with a selector, widening efSearch/nprobe by
        1/sqrt(selectivity): measured at 200k x 512-d with a 10% filter, efSearch 256 -> 810 keeps
        recall@10 at 0.98 in ~2.4 ms (1/selectivity costs 3x the time for +0.01 recall)."""
        faiss = _faiss()
        sel, _bitmap = self._selector(mask)
        boost = 1.0 / math.sqrt(max(selectivity, 1e-6))
        if self.index_type == "hnsw":
            ef = min(EF_SEARCH_CAP, math.ceil(max(int(self.params["efSearch"]), k) * boost))
            params = faiss.SearchParametersHNSW(efSearch=max(ef, k))
        else:
            nprobe = min(int(self.params["nlist"]), math.ceil(int(self.params["nprobe"]) * boost))
            params = faiss.SearchParametersIVF(nprobe=nprobe)
        if sel is not None:
            params.sel = sel
        return self._base.search(queries, k, params=params)

    def _gpu_search(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """GPU indexes take no selectors: over-fetch by the number of masked positions, drop them,
        and leave short rows to the CPU refill."""
        banned = 0 if mask is None else self.n_total - int(mask.sum())
        fetch = min(self.n_total, k + banned)
        scores, pos = self._gpu.search(queries, fetch)
        if mask is not None:
            ok = (pos >= 0) & mask[np.maximum(pos, 0)]
            order = np.argsort(~ok, axis=1, kind="stable")
            pos = np.where(ok, pos, -1)
            scores = np.take_along_axis(scores, order, axis=1)
            pos = np.take_along_axis(pos, order, axis=1)
        pos, scores = pos[:, :k], scores[:, :k]
        if pos.shape[1] < k:
            pad = k - pos.shape[1]
            pos = np.pad(pos, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return np.ascontiguousarray(scores), np.ascontiguousarray(pos)

    def _to_gpu(self) -> None:
        """Copy the inner index to every GPU for unfiltered searches; the CPU index stays the
        one that is saved and that serves filtered searches."""
        faiss = _faiss()
        try:
            self._gpu = faiss.index_cpu_to_all_gpus(self._base)
            if self.index_type in ("ivf", "ivfpq"):
                faiss.GpuParameterSpace().set_index_parameter(
                    self._gpu, "nprobe", int(self.params["nprobe"])
                )
        except (RuntimeError, AttributeError) as exc:
            logger.warning(
                "could not move the %s index to the GPU (%s); searching on the CPU",
                self.index_type,
                exc,
            )
            self._gpu = None

    # -- lookups ---------------------------------------------------------------------------

    def _positions(self, keys: np.ndarray) -> np.ndarray:
        """Internal positions of the stored ``keys`` (unknown keys are dropped)."""
        if not len(keys) or not self.n_total:
            return np.empty(0, dtype=np.int64)
        at = np.searchsorted(self._sorted_keys, keys)
        at = np.minimum(at, self.n_total - 1)
        found = self._sorted_keys[at] == keys
        return self._order[at[found]]

    def _contains(self, keys: np.ndarray) -> np.ndarray:
        if not self.n_total:
            return np.zeros(len(keys), dtype=bool)
        at = np.minimum(np.searchsorted(self._sorted_keys, keys), self.n_total - 1)
        return self._sorted_keys[at] == keys

    # -- persistence -----------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index into ``directory`` atomically; returns the sidecar path.

        The FAISS file gets a fresh name, then the JSON sidecar naming it replaces the old sidecar
        (``os.replace``: the commit point), then older index files are deleted. A crash at any
        point leaves the previous index loadable.
        """
        faiss = _faiss()
        folder = Path(directory)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only library, or `index` is a file
            raise IndexUnavailable(
                f"cannot save index to {folder}: {exc.strerror or exc}"
            ) from None
        name = f"{INDEX_PREFIX}{uuid.uuid4().hex[:16]}{INDEX_SUFFIX}"
        tmp_index = folder / f".{name}.tmp"
        tmp_sidecar = folder / f".{SIDECAR_NAME}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            faiss.write_index(self._idmap, str(tmp_index))
            _fsync(tmp_index)
            os.replace(tmp_index, folder / name)
            meta = self._meta(name, (folder / name).stat().st_size)
            tmp_sidecar.write_text(meta.model_dump_json(indent=1))
            _fsync(tmp_sidecar)
            os.replace(tmp_sidecar, folder / SIDECAR_NAME)
            _fsync_dir(folder)
        except Exception as exc:
            for leftover in (tmp_index, tmp_sidecar, folder / name):
                if leftover.name != _current_index_file(folder):
                    leftover.unlink(missing_ok=True)
            raise IndexUnavailable(f"cannot save index to {folder}: {exc}") from exc
        _remove_old_files(folder, keep=name)
        return folder / SIDECAR_NAME

    def _meta(self, index_file: str, index_bytes: int) -> IndexMeta:
        faiss = _faiss()
        return IndexMeta(
            index_file=index_file,
            index_bytes=index_bytes,
            index_type=self.index_type,
            requested_type=self.requested_type,
            dim=self.dim,
            n=self.n_total,
            table_version=self.table_version,
            model_id=self.model_id,
            tombstones=sorted(self._tombstones),
            rebuild_share=self.rebuild_share,
            params=self.params,
            created_at=self.created_at,
            saved_at=_now(),
            faiss_version=faiss.__version__,
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
        folder = Path(directory)
        for attempt in range(3):
            meta = _read_meta(folder)
            try:
                idmap = _read_faiss(folder, meta)
                break
            except FileNotFoundError:
                # a concurrent save may have replaced the sidecar and deleted the file it named
                if attempt == 2 or _read_meta(folder).index_file == meta.index_file:
                    raise IndexUnavailable(
                        f"index file {folder / meta.index_file} is missing"
                    ) from None
        base_type = cls._check_loaded(idmap, meta, folder)
        params = dict(meta.params)
        return cls(
            idmap,
            index_type=base_type,
            requested_type=meta.requested_type,
            table_version=meta.table_version,
            model_id=meta.model_id,
            params=params,
            tombstones=set(meta.tombstones),
            created_at=meta.created_at,
            rebuild_share=meta.rebuild_share if rebuild_share is None else rebuild_share,
            use_gpu=use_gpu,
        )

    @staticmethod
    def _check_loaded(idmap: Any, meta: IndexMeta, folder: Path) -> str:
        faiss = _faiss()
        if idmap.d != meta.dim or idmap.ntotal != meta.n or meta.index_type not in INDEX_TYPES:
            raise IndexUnavailable(
                f"index in {folder} does not match its sidecar "
                f"(d={idmap.d}, n={idmap.ntotal} vs dim={meta.dim}, n={meta.n}, type={meta.index_type})"
            )
        base = faiss.downcast_index(idmap.index)
        expected = {
            "flat": faiss.IndexFlat,
            "hnsw": faiss.IndexHNSWFlat,
            "ivf": faiss.IndexIVFFlat,
            "ivfpq": faiss.IndexIVFPQ,
        }
        wrong_metric = base.metric_type != faiss.METRIC_INNER_PRODUCT
        if not isinstance(base, expected[meta.index_type]) or wrong_metric:
            raise IndexUnavailable(
                f"index in {folder} is a {type(base).__name__}, sidecar says {meta.index_type}"
            )
        if meta.index_type == "hnsw":
            base.hnsw.efSearch = int(meta.params.get("efSearch") or DEFAULT_EF_SEARCH)
        elif meta.index_type in ("ivf", "ivfpq"):
            base.nprobe = int(meta.params.get("nprobe") or 1)
        return meta.index_type

    # -- report ----------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """A JSON-ready summary for ``rag-video index info``."""
        faiss = _faiss()
        return {
            "type": self.index_type,
            "requested_type": self.requested_type,
            "n": self.n_live,
            "n_total": self.n_total,
            "dim": self.dim,
            "tombstones": len(self._tombstones),
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
            f"tombstones={len(self._tombstones)}, table_version={self.table_version})"
        )


# ---------------------------------------------------------------------------------------------
# Helpers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_unique(keys: np.ndarray, name: str) -> None:
    uniq, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{name} holds duplicates: {uniq[counts > 1][:5].tolist()}")


def tuning_queries(vectors: np.ndarray, m: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Queries that stand in for real ones when tuning efSearch/nprobe, in equal thirds:
    stored vectors (left out of their own results), blends of two stored vectors (queries that
    fall between clusters), and stored vectors turned by ~68 degrees of random noise (cosine
    ~0.37 to their vector: queries near, not on, the data, as CLIP text queries are to image
    embeddings).

    Returns the unit queries and, per query, the position to leave out of its truth (-1: none).
    """
    rng = np.random.default_rng(seed)
    n, dim = vectors.shape
    m = min(m, n)
    third = max(1, m // 3)
    own = rng.choice(n, size=m - 2 * third if m >= 3 else m, replace=False)
    parts = [vectors[own]]
    self_pos = [own]
    if m >= 3:
        a, b = rng.integers(0, n, size=(2, third))
        parts.append(vectors[a] + vectors[b])
        noise = rng.standard_normal((third, dim)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        parts.append(vectors[rng.integers(0, n, size=third)] + NOISE_RATIO * noise)
        self_pos += [np.full(2 * third, -1, dtype=np.int64)]
    queries = np.concatenate(parts).astype(np.float32)
    norms = np.linalg.norm(queries, axis=1, keepdims=True)
    queries /= np.where(norms > 0, norms, 1)
    return np.ascontiguousarray(queries), np.concatenate(self_pos).astype(np.int64)


def _drop_self(row: np.ndarray, self_pos: int) -> set[int]:
    """The first TUNE_K results of a tuning query, without the query's own vector."""
    return set([int(p) for p in row if p != self_pos and p >= 0][:TUNE_K])


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_index_file(folder: Path) -> str | None:
    try:
        return json.loads((folder / SIDECAR_NAME).read_text()).get("index_file")
    except (OSError, ValueError, AttributeError):
        return None


def _remove_old_files(folder: Path, *, keep: str) -> None:
    """Delete index files and temp files other than ``keep`` (left by earlier saves or crashes)."""
    for path in folder.iterdir():
        old_index = path.name.startswith(INDEX_PREFIX) and path.name.endswith(INDEX_SUFFIX)
        if (old_index and path.name != keep) or (
            path.name.startswith(".") and path.name.endswith(".tmp")
        ):
            try:
                path.unlink()
            except OSError as exc:
                logger.warning("could not delete old index file %s: %s", path, exc)


def _read_meta(folder: Path) -> IndexMeta:
    path = folder / SIDECAR_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise IndexUnavailable(f"no index in {folder} (missing {SIDECAR_NAME})") from None
    except OSError as exc:
        raise IndexUnavailable(f"cannot read {path}: {exc}") from None
    try:
        meta = IndexMeta.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "document"
        raise IndexUnavailable(
            f"corrupt index sidecar {path}: {where}: {first.get('msg')}"
        ) from None
    if meta.format != FORMAT_VERSION:
        raise IndexUnavailable(
            f"index sidecar {path} has format {meta.format}, this version reads {FORMAT_VERSION}"
        )
    if Path(meta.index_file).name != meta.index_file:
        raise IndexUnavailable(f"corrupt index sidecar {path}: index_file={meta.index_file!r}")
    return meta


def _read_faiss(folder: Path, meta: IndexMeta) -> Any:
    """Read the FAISS file named by ``meta``; FileNotFoundError passes through for the retry."""
    faiss = _faiss()
    path = folder / meta.index_file
    size = path.stat().st_size
    if size != meta.index_bytes:
        raise IndexUnavailable(
            f"corrupt index file {path}: {size} bytes, sidecar says {meta.index_bytes}"
        )
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise IndexUnavailable(f"corrupt index file {path}: {message}") from None
    if not isinstance(index, faiss.IndexIDMap2):  # read_index returns the owning, downcast proxy
        raise IndexUnavailable(
            f"corrupt index file {path}: expected an IndexIDMap2, got {type(index).__name__}"
        )
    return index
