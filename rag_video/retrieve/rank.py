"""Ranking algorithms of ``search``: fusion and diversity.

- :func:`reciprocal_rank_fusion` merges several ranked lists (e.g. vector and full-text hits).
- :func:`mmr` picks a diverse top-k (maximal marginal relevance, optional per-source penalty).

The plan-wide assignment of ``make`` is :mod:`rag_video.retrieve.assign`'s. Pure numpy; no storage
or model imports.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

# --------------------------------------------------------------------------- fusion


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]],
    *,
    k: float = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Fuse ranked lists: ``score(key) = sum_i weights[i] / (k + rank_i(key))``, ranks from 1.

    A key absent from a list gets nothing from it; a repeated key within one list counts at its
    first (best) position only. Returns ``(key, fused_score)`` best first; equal scores are ordered
    by the key's best rank in any list, then by first appearance (lists in order, items in order),
    so the result is deterministic.
    """
    if not (isinstance(k, (int, float)) and math.isfinite(k) and k >= 0):
        raise ValueError(f"k must be a finite number >= 0, got {k!r}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(
            f"weights must have one entry per ranking ({len(rankings)}), got {len(weights)}"
        )
    for w in weights:
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"weights must be finite and >= 0, got {w!r}")

    score: dict[Hashable, float] = {}
    best_rank: dict[Hashable, int] = {}
    for ranking, weight in zip(rankings, weights, strict=False):
        seen: set[Hashable] = set()
        for rank, key in enumerate(ranking, start=1):
            if key in seen:
                continue
            seen.add(key)
            score[key] = score.get(key, 0.0) + weight / (k + rank)
            best_rank[key] = min(best_rank.get(key, rank), rank)
    first_seen = {key: i for i, key in enumerate(score)}  # dicts keep insertion order
    order = sorted(score, key=lambda key: (-score[key], best_rank[key], first_seen[key]))
    return [(key, score[key]) for key in order]


# --------------------------------------------------------------------------- diversity


def mmr(
    query_scores: np.ndarray,
    vectors: np.ndarray,
    *,
    k: int,
    lambda_: float = 0.5,
    groups: Sequence[Hashable] | None = None,
    group_penalty: float = 0.0,
) -> list[int]:
    """Select up to ``k`` candidate indices by maximal marginal relevance.

    Each step picks the unselected candidate maximising
    ``lambda_ * query_scores[i] - (1 - lambda_) * max_{j selected} vectors[i] @ vectors[j]
    - group_penalty * (number of selected candidates with groups[j] == groups[i])``
    (the similarity term is 0 while nothing is selected). ``vectors`` are L2-normalised rows, so
    the dot product is cosine similarity. ``groups`` (e.g. ``source_id`` per candidate) spreads the
    picks over sources. With ``lambda_=1`` and ``group_penalty=0`` this is plain relevance order.
    Candidates whose score is NaN or -inf are never selected; ties go to the lower index.
    """
    scores = np.asarray(query_scores, dtype=np.float64)
    vecs = np.asarray(vectors, dtype=np.float64)
    _check_mmr_args(scores, vecs, k, lambda_, groups, group_penalty)
    n = scores.shape[0]
    group_ids = label_codes(groups) if groups is not None else np.zeros(n, dtype=np.int64)
    group_counts = np.zeros(int(group_ids.max(initial=-1)) + 1)
    max_sim = np.zeros(n)
    available = ~np.isnan(scores) & (scores != -np.inf)
    relevance = np.where(available, scores, 0.0)
    chosen: list[int] = []
    while len(chosen) < k and available.any():
        gain = (
            lambda_ * relevance
            - (1.0 - lambda_) * max_sim
            - group_penalty * group_counts[group_ids]
        )
        best = int(np.argmax(np.where(available, gain, -np.inf)))
        chosen.append(best)
        available[best] = False
        group_counts[group_ids[best]] += 1
        max_sim = np.maximum(max_sim, vecs @ vecs[best])
    return chosen


def _check_mmr_args(
    scores: np.ndarray,
    vecs: np.ndarray,
    k: int,
    lambda_: float,
    groups: Sequence[Hashable] | None,
    group_penalty: float,
) -> None:
    """Raise ``ValueError`` naming the first bad argument of :func:`mmr`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    if not (0.0 <= lambda_ <= 1.0):
        raise ValueError(f"lambda_ must be in [0, 1], got {lambda_!r}")
    if not (math.isfinite(group_penalty) and group_penalty >= 0):
        raise ValueError(f"group_penalty must be finite and >= 0, got {group_penalty!r}")
    if scores.ndim != 1:
        raise ValueError(f"query_scores must be 1-D, got shape {scores.shape}")
    if np.any(scores == np.inf):
        raise ValueError("query_scores must not contain +inf")
    if vecs.ndim != 2 or vecs.shape[0] != scores.shape[0]:
        raise ValueError(f"vectors must have shape ({scores.shape[0]}, d), got {vecs.shape}")
    if groups is not None and len(groups) != scores.shape[0]:
        raise ValueError(f"groups must have {scores.shape[0]} entries, got {len(groups)}")


def label_codes(labels: Sequence[Hashable]) -> np.ndarray:
    """Integer code per label (first-seen order), so equal labels share a code."""
    table: dict[Hashable, int] = {}
    return np.array([table.setdefault(label, len(table)) for label in labels], dtype=np.int64)
