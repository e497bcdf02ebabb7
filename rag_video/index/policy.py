"""Index type policy: which FAISS index suits ``n`` vectors of ``dim`` floats, its size, and the
empty index of that type with its parameters.

Index types (:func:`choose_index_type` picks one by size and memory budget):

``flat``
    Exact (``IndexFlatIP``). Chosen for ``n <= FLAT_MAX_N`` (50 000): a single query scans
    ``n * dim`` floats, a few milliseconds at 50k x 512-d on one core.
``hnsw``
    ``IndexHNSWFlat`` (inner product, ``M = 32``), ``efSearch`` tuned at build time (see
    :mod:`rag_video.index.tuning`). Chosen for ``FLAT_MAX_N < n <= HNSW_MAX_N`` when it fits the
    memory budget.
``ivf``
    ``IndexIVFFlat`` with ``nlist ~ 4 sqrt(n)``, ``nprobe`` tuned like ``efSearch``. Chosen above
    ``HNSW_MAX_N`` (faster to build than a graph) or when the HNSW graph does not fit the budget.
``ivfpq``
    ``IndexIVFPQ`` (``dim / 8`` bytes per vector): the memory-bound choice when full vectors
    do not fit the budget. Lossy: its recall is below the other types' (reported by ``info()``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from rag_video.index.errors import IndexUnavailable
from rag_video.index.runtime import load_faiss

logger = logging.getLogger(__name__)

INDEX_TYPES: tuple[str, ...] = ("flat", "hnsw", "ivf", "ivfpq")
FLAT_MAX_N = 50_000
HNSW_MAX_N = 2_000_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
DEFAULT_EF_SEARCH = 64
IVF_MIN_POINTS_PER_LIST = 39


def check_type(index_type: str, *, allow_auto: bool) -> None:
    """Raise ``ValueError`` unless ``index_type`` is one of :data:`INDEX_TYPES` (or ``auto``)."""
    allowed = (*INDEX_TYPES, "auto") if allow_auto else INDEX_TYPES
    if index_type not in allowed:
        raise ValueError(
            f"index_type must be one of {', '.join(allowed)}; got index_type={index_type!r}"
        )


def ivf_nlist(n: int) -> int:
    """Number of IVF lists for ``n`` vectors: ``~4 sqrt(n)``, at most ``n / 39`` (k-means needs
    about 39 points per centroid), at least 1."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got n={n}")
    return max(1, min(int(round(4 * math.sqrt(n))), n // IVF_MIN_POINTS_PER_LIST, 65_536))


def pq_subquantizers(dim: int) -> int:
    """PQ sub-quantizer count: one byte per 8 dimensions (the largest divisor of ``dim`` <=
    dim/8)."""
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got dim={dim}")
    target = max(1, dim // 8)
    return next(m for m in range(target, 0, -1) if dim % m == 0)


def estimate_memory_bytes(index_type: str, n: int, dim: int) -> int:
    """Rough resident size of an index of ``index_type`` holding ``n`` vectors of ``dim`` floats,
    including the row_key map (about 48 bytes per vector for ``IndexIDMap2``)."""
    check_type(index_type, allow_auto=False)
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


def new_base(index_type: str, dim: int, n: int) -> tuple[Any, dict[str, Any]]:
    """An empty (untrained) inner-product index of ``index_type`` sized for ``n`` vectors, and
    its parameters (``M``/``efSearch`` or ``nlist``/``nprobe``/PQ sizes) as recorded in the
    sidecar."""
    faiss = load_faiss()
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
