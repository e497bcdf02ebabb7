"""Build-time tuning of the approximate indexes' search parameter (HNSW ``efSearch``, IVF
``nprobe``): the smallest setting whose recall@10 against exact search reaches
:data:`TUNE_RECALL` on :func:`tuning_queries` drawn from the indexed data."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from rag_video.index.runtime import load_faiss
from rag_video.vectors import unit_rows

logger = logging.getLogger(__name__)

TUNE_RECALL = 0.97  # the 0.95 target plus a margin for the sampling error of the estimate
TUNE_K = 10
TUNE_QUERIES = 300
NOISE_RATIO = (
    2.5  # tan(angle) between a noisy tuning query and its vector: ~68 degrees, cosine ~0.37
)
EF_SEARCH_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)

SearchPositions = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def set_search_param(base: Any, index_type: str, params: dict[str, Any], value: int) -> None:
    """Set efSearch (hnsw) or nprobe (ivf, ivfpq) on ``base`` and record it in ``params``;
    flat indexes have no search parameter."""
    if index_type == "hnsw":
        base.hnsw.efSearch = value
        params["efSearch"] = value
    elif index_type in ("ivf", "ivfpq"):
        base.nprobe = value
        params["nprobe"] = value


def search_param_steps(index_type: str, params: dict[str, Any]) -> list[int]:
    """The settings tuning tries, ascending (none for flat)."""
    if index_type == "hnsw":
        return list(EF_SEARCH_STEPS)
    if index_type in ("ivf", "ivfpq"):
        nlist = int(params["nlist"])
        return sorted({min(nlist, 2**i) for i in range(0, 17)} | {nlist})
    return []


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
        noise = unit_rows(rng.standard_normal((third, dim)).astype(np.float32))
        parts.append(vectors[rng.integers(0, n, size=third)] + NOISE_RATIO * noise)
        self_pos += [np.full(2 * third, -1, dtype=np.int64)]
    queries = unit_rows(np.concatenate(parts))
    return np.ascontiguousarray(queries), np.concatenate(self_pos).astype(np.int64)


def drop_self(row: np.ndarray, self_pos: int) -> set[int]:
    """The first TUNE_K results of a tuning query, without the query's own vector."""
    return set([int(p) for p in row if p != self_pos and p >= 0][:TUNE_K])


def tune(
    base: Any,
    index_type: str,
    params: dict[str, Any],
    vectors: np.ndarray,
    search: SearchPositions,
) -> None:
    """Choose the smallest efSearch/nprobe whose recall@10 on :func:`tuning_queries` reaches
    :data:`TUNE_RECALL` (stopping early when a larger setting no longer helps, as with PQ); set
    it on ``base`` and record it and ``tuned_recall`` in ``params``.

    ``vectors`` are the indexed vectors in position order; ``search(queries, k)`` searches the
    index unfiltered and returns ``(scores, positions)``. Flat and tiny indexes are left as is.
    """
    steps = search_param_steps(index_type, params)
    n = len(vectors)
    if not steps or n <= TUNE_K + 1:
        return
    faiss = load_faiss()
    queries, self_pos = tuning_queries(vectors, TUNE_QUERIES, seed=0)
    _, truth = faiss.knn(queries, vectors, TUNE_K + 1, metric=faiss.METRIC_INNER_PRODUCT)
    truth_sets = [drop_self(row, int(pos)) for row, pos in zip(truth, self_pos, strict=True)]
    total = max(1, sum(len(t) for t in truth_sets))
    chosen, recall = steps[-1], 0.0
    for i, value in enumerate(steps):
        set_search_param(base, index_type, params, value)
        _, found = search(queries, TUNE_K + 1)
        hits = sum(
            len(t & drop_self(row, int(p)))
            for t, row, p in zip(truth_sets, found, self_pos, strict=True)
        )
        previous, recall = recall, hits / total
        if recall >= TUNE_RECALL:
            chosen = value
            break
        if i > 0 and recall - previous < 0.002:
            chosen, recall = steps[i - 1], previous
            logger.warning("%s recall@%d plateaus at %.3f", index_type, TUNE_K, recall)
            break
    else:
        logger.warning(
            "%s recall@%d reached only %.3f at its largest setting", index_type, TUNE_K, recall
        )
    set_search_param(base, index_type, params, chosen)
    params["tuned_recall"] = round(recall, 4)
