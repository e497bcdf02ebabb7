"""Many searches at once: one encoder batch, one index call, one row fetch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from rag_video.errors import UsageError
from rag_video.index.state import RESULT_COLUMNS
from rag_video.retrieve.query import Searcher, ShotQuery
from rag_video.retrieve.results import (
    LOSSY_TYPES,
    REFINE_FACTOR,
    check_limit,
    refine,
    searchable_count,
    slice_hits,
)
from rag_video.vectors import unit_rows


def search_many(
    searcher: Searcher,
    *,
    texts: Sequence[str] = (),
    vectors: np.ndarray | None = None,
    where: str | None = None,
    limit: int = 10,
) -> list[pa.Table]:
    """Many vector searches at once: one encoder batch, one index call, one row fetch.
    Returns one result table per query (texts first, then the given vectors). Like a single
    search, text queries on a library without embeddings get full-text matches (score null)."""
    limit = check_limit(limit)  # before any query is encoded
    if texts and (vectors is None or not len(vectors)) and searcher.store.embed_model() is None:
        return [
            ShotQuery(searcher, text=t).where(where).limit(limit).text_only(first=i == 0)
            for i, t in enumerate(texts)
        ]
    parts = [searcher.vectors_for(texts=texts)] if texts else []
    if vectors is not None and len(vectors):
        parts.append(np.asarray(vectors, np.float32).reshape(len(vectors), -1))
    if not parts:
        return []
    queries = np.concatenate(parts)
    queries = unit_rows(queries)
    state, index = searcher.ready()
    if queries.shape[1] != index.dim:
        raise UsageError(
            f"query vectors have {queries.shape[1]} dimensions; the index has {index.dim}"
        )
    allowed = state.matching(where) if where else None
    lossy = index.index_type in LOSSY_TYPES
    limit = min(limit, searchable_count(state))
    scores, keys = index.search(queries, limit * REFINE_FACTOR if lossy else limit, allowed=allowed)
    if lossy:
        scores, keys = refine(state, queries, keys, limit)
    wanted = sorted({int(k) for k in keys.ravel() if k >= 0})
    table = state.take(wanted, RESULT_COLUMNS) if wanted else None
    at = (
        {k: i for i, k in enumerate(table.column("row_key").to_pylist())}
        if table is not None
        else {}
    )
    results = []
    for q in range(len(queries)):
        hits = [
            (int(k), float(s))
            for k, s in zip(keys[q], scores[q], strict=False)
            if k >= 0 and int(k) in at
        ]
        results.append(slice_hits(table, at, hits))
    return results
