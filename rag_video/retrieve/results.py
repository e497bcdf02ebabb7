"""From index hits to result tables: the limit check, the index call for one query vector (with
the exact re-rank a lossy index needs) and the result rows, with `score` (cosine) and `rank`.
Shared by a single query (:mod:`rag_video.retrieve.query`) and a batch of them
(:mod:`rag_video.retrieve.batch`)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from rag_video import schema
from rag_video.errors import UsageError
from rag_video.index.state import RESULT_COLUMNS, TableState
from rag_video.vectors import unit_rows

if TYPE_CHECKING:
    from rag_video.index.engine import ShotIndex

LOSSY_TYPES = ("ivfpq",)  # compressed vectors: candidates are re-ranked by exact cosine
REFINE_FACTOR = 4  # ... from this many times the wanted count
MAX_LIMIT = 10_000  # results per query; fetches are also clamped to the library's size


def check_limit(k: Any) -> int:
    """A result limit as an int in [1, MAX_LIMIT] (a usage error naming it otherwise)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_LIMIT:
        raise UsageError(f"--limit {k!r}: must be a whole number from 1 to {MAX_LIMIT}")
    return int(k)


def searchable_count(state: TableState) -> int:
    """How many shots a search can return (at least 1): fetches never ask for more."""
    return max(1, int(state.searchable.sum()))


def admitted(
    keys: np.ndarray, allowed: np.ndarray | None, excluded: np.ndarray | None
) -> np.ndarray:
    """Which keys pass the filter (`allowed`, None = all) and are not excluded."""
    ok = np.ones(len(keys), bool) if allowed is None else np.isin(keys, allowed)
    if excluded is not None:
        ok &= ~np.isin(keys, excluded)
    return ok


def vector_hits(
    index: ShotIndex,
    state: TableState,
    vec: np.ndarray,
    fetch: int,
    allowed: np.ndarray | None,
    excluded: np.ndarray | None,
) -> tuple[list[int], dict[int, float]]:
    """The index's top `fetch` keys for one query vector, and their cosine scores."""
    exclude = excluded if excluded is not None and len(excluded) else None
    wanted = fetch * REFINE_FACTOR if index.index_type in LOSSY_TYPES else fetch
    wanted = max(1, min(wanted, len(state.keys)))
    scores, keys = index.search(vec[None, :], wanted, allowed=allowed, exclude=exclude)
    if index.index_type in LOSSY_TYPES:
        scores, keys = refine(state, vec[None, :], keys, fetch)
    hits = [(int(k), float(s)) for k, s in zip(keys[0], scores[0], strict=False) if k >= 0]
    return [k for k, _ in hits], dict(hits)


def refine(
    state: TableState, queries: np.ndarray, keys: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank a lossy index's candidates by exact cosine from the stored embeddings (LanceDB's
    refine step): better recall, and `score` stays the true cosine similarity."""
    flat = np.unique(keys[keys >= 0])
    got, vectors = state.vectors(flat)
    at = {int(key): i for i, key in enumerate(got)}
    out_scores = np.full((len(queries), k), -np.inf, np.float32)
    out_keys = np.full((len(queries), k), -1, np.int64)
    for q, row in enumerate(keys):
        cand = np.asarray([key for key in row if key >= 0 and int(key) in at], np.int64)
        if not len(cand):
            continue
        exact = vectors[[at[int(key)] for key in cand]] @ queries[q]
        best = np.argsort(-exact, kind="stable")[:k]
        out_scores[q, : len(best)], out_keys[q, : len(best)] = exact[best], cand[best]
    return out_scores, out_keys


def normalised(vec: np.ndarray) -> np.ndarray:
    vec = np.asarray(vec, np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0:
        raise UsageError("query vector must be finite and non-zero")
    return unit_rows(vec[None])[0]


@functools.cache
def result_schema() -> pa.Schema:
    """Columns of a result table: the shot columns of RESULT_COLUMNS, then score and rank."""
    shots = schema.shots_schema()
    return pa.schema(
        [shots.field(c) for c in RESULT_COLUMNS]
        + [pa.field("score", pa.float64()), pa.field("rank", pa.int32())]
    )


def results_table(state: TableState, keys: list[int], scores: dict[int, float]) -> pa.Table:
    """Result rows for `keys` (in that order) with their scores and 1-based ranks."""
    rows = state.take(keys, RESULT_COLUMNS) if keys else None
    out_schema = result_schema()
    if rows is None or rows.num_rows == 0:
        return out_schema.empty_table()
    got = rows.column("row_key").to_pylist()
    score = pa.array([scores.get(k) for k in got], pa.float64())
    ranks = pa.array(np.arange(1, len(got) + 1, dtype=np.int32))
    rows = rows.select(RESULT_COLUMNS).append_column("score", score).append_column("rank", ranks)
    return rows.cast(out_schema)


def slice_hits(
    table: pa.Table | None, at: dict[int, int], hits: list[tuple[int, float]]
) -> pa.Table:
    """Result rows of `hits` ((row_key, score), best first) from `table`, whose row of a key is
    `at[key]`."""
    out_schema = result_schema()
    if table is None or not hits:
        return out_schema.empty_table()
    rows = table.take(pa.array([at[k] for k, _ in hits], pa.int64())).select(RESULT_COLUMNS)
    rows = rows.append_column("score", pa.array([s for _, s in hits], pa.float64()))
    rows = rows.append_column("rank", pa.array(np.arange(1, len(hits) + 1, dtype=np.int32)))
    return rows.cast(out_schema)
