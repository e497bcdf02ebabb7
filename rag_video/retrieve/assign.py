"""Plan-wide shot assignment for ``make``: every planned shot of a script gets its own library shot.

- :func:`assign_shots`: an optimal assignment (no shot reused) followed by a bounded continuity
  improvement.
- :func:`assignment_details` explains a choice (score and runner-up) for the manifest.

Pure numpy/scipy; no storage or model imports.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag_video.retrieve.rank import label_codes

logger = logging.getLogger(__name__)

_EPS = 1e-12  # smallest objective gain the continuity pass accepts (stops float ping-pong)


@dataclass(frozen=True)
class AssignmentResult:
    """Why a planned shot got its candidate (for the manifest's ``reason``).

    ``column``: chosen candidate or None; ``score``: its raw score (None when unassigned);
    ``runner_up``: best allowed raw score among the other candidates of that planned shot (None
    when there is none); ``continues``: the chosen candidate follows the previous planned shot's
    candidate in the same source, later in time.
    """

    column: int | None
    score: float | None
    runner_up: float | None
    continues: bool


def assign_shots(
    scores: np.ndarray,
    *,
    candidate_source: Sequence[str],
    candidate_start: Sequence[float],
    continuity_bonus: float = 0.02,
    fresh_penalty: np.ndarray | None = None,
    min_score: float = -math.inf,
) -> list[int | None]:
    """Choose one candidate column per planned shot (row) of ``scores``, never one column twice.

    ``scores[i, j]`` is how well candidate ``j`` fits planned shot ``i``; NaN, -inf or a value below
    ``min_score`` means "not allowed". ``fresh_penalty`` (shape ``(n_candidates,)`` or the shape of
    ``scores``, e.g. for library shots used by earlier renders) is subtracted before optimising;
    ``min_score`` applies to the raw score. Returns the chosen column per row, or None when the row
    has no allowed candidate left.

    Approach, in two passes:

    1. **Optimal assignment.** ``scipy.optimize.linear_sum_assignment`` on the cost
       ``max_adjusted - adjusted`` for allowed pairs and a constant ``M`` larger than any possible
       total of allowed costs for forbidden pairs. It therefore maximises first the number of
       planned shots that get an allowed candidate, then their total adjusted score. Forbidden
       pairs it is forced into (rectangular or sparse matrices) become None.
    2. **Continuity improvement.** The objective becomes ``J = total adjusted score +
       continuity_bonus * links``, where a link is a pair of neighbouring planned shots
       ``(i, i + 1)`` whose candidates share a source with ``candidate_start`` increasing. This
       pairwise term is not expressible in a linear assignment, so a best-improvement local search
       from the optimum applies moves that raise ``J``: give a shot an unused allowed candidate,
       or swap the candidates of two shots (when both new pairs are allowed). Moves keep every
       assigned shot assigned and never reuse a column. Since ``J`` never decreases, the final
       total score is at most ``continuity_bonus * links`` (at most ``continuity_bonus *
       (n_planned - 1)``) below the optimum: the bonus only trades score it can pay for, and with
       exactly tied options it picks the continuing one. Local search is not guaranteed to find
       the best ``J`` (that problem is quadratic), only a better one.
    """
    raw = np.asarray(scores, dtype=np.float64)
    adjusted, allowed = _check_assign_args(
        raw, candidate_source, candidate_start, continuity_bonus, fresh_penalty, min_score
    )
    n_planned, n_cand = raw.shape
    if n_planned == 0 or n_cand == 0 or not allowed.any():
        return [None] * n_planned
    assign = _optimal_assignment(adjusted, allowed)
    if continuity_bonus > 0 and n_planned > 1:
        links = _Links(label_codes(candidate_source), np.asarray(candidate_start, dtype=np.float64))
        _improve_continuity(assign, adjusted, allowed, links, continuity_bonus)
    return [int(c) if c >= 0 else None for c in assign]


def assignment_details(
    scores: np.ndarray,
    columns: Sequence[int | None],
    *,
    candidate_source: Sequence[str],
    candidate_start: Sequence[float],
) -> list[AssignmentResult]:
    """Describe a result of :func:`assign_shots`: raw score, runner-up and continuity per row.

    The runner-up is the best finite raw score in the row outside the chosen column (it may belong
    to a candidate another planned shot took).
    """
    raw = np.asarray(scores, dtype=np.float64)
    if raw.ndim != 2 or len(columns) != raw.shape[0]:
        raise ValueError(
            f"columns must have one entry per row of scores {raw.shape}, got {len(columns)}"
        )
    links = _Links(label_codes(candidate_source), np.asarray(candidate_start, dtype=np.float64))
    results = []
    for i, col in enumerate(columns):
        row = np.where(np.isfinite(raw[i]), raw[i], -np.inf)
        if col is not None:
            row[col] = -np.inf
        runner = float(row.max(initial=-np.inf))
        prev = columns[i - 1] if i > 0 else None
        results.append(
            AssignmentResult(
                column=col,
                score=float(raw[i, col]) if col is not None else None,
                runner_up=runner if runner > -np.inf else None,
                continues=col is not None and prev is not None and links.linked(prev, col),
            )
        )
    return results


def _check_assign_args(
    raw: np.ndarray,
    candidate_source: Sequence[str],
    candidate_start: Sequence[float],
    continuity_bonus: float,
    fresh_penalty: np.ndarray | None,
    min_score: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate :func:`assign_shots` arguments; return (adjusted scores, allowed mask)."""
    if raw.ndim != 2:
        raise ValueError(f"scores must be 2-D (n_planned, n_candidates), got shape {raw.shape}")
    n_cand = raw.shape[1]
    if np.any(raw == np.inf):
        raise ValueError("scores must not contain +inf")
    if len(candidate_source) != n_cand:
        raise ValueError(
            f"candidate_source must have {n_cand} entries, got {len(candidate_source)}"
        )
    if len(candidate_start) != n_cand:
        raise ValueError(f"candidate_start must have {n_cand} entries, got {len(candidate_start)}")
    if not (math.isfinite(continuity_bonus) and continuity_bonus >= 0):
        raise ValueError(f"continuity_bonus must be finite and >= 0, got {continuity_bonus!r}")
    if math.isnan(min_score):
        raise ValueError(f"min_score must be a number, got {min_score!r}")
    penalty = np.zeros(1) if fresh_penalty is None else np.asarray(fresh_penalty, dtype=np.float64)
    if penalty.shape not in ((1,), (n_cand,), raw.shape) or not np.all(np.isfinite(penalty)):
        raise ValueError(
            f"fresh_penalty must be finite with shape ({n_cand},) or {raw.shape}, "
            f"got shape {penalty.shape}"
        )
    with np.errstate(invalid="ignore"):
        allowed = np.isfinite(raw) & (raw >= min_score)
    adjusted = np.where(allowed, raw - penalty, 0.0)
    return adjusted, allowed


def _optimal_assignment(adjusted: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Max-cardinality, then max-score assignment; column per row, -1 for none."""
    from scipy.optimize import linear_sum_assignment

    top = adjusted[allowed].max()
    cost = np.where(allowed, top - adjusted, 0.0)
    span = float(cost.max())
    forbidden = (min(cost.shape) + 1) * (span + 1.0)  # above any total of allowed costs
    cost[~allowed] = forbidden
    rows, cols = linear_sum_assignment(cost)
    assign = np.full(adjusted.shape[0], -1, dtype=np.int64)
    ok = allowed[rows, cols]
    assign[rows[ok]] = cols[ok]
    return assign


@dataclass(frozen=True)
class _Links:
    """Continuity relation between candidates: same source, strictly later start."""

    source: np.ndarray
    start: np.ndarray

    def linked(self, before: int, after: int) -> bool:
        """True when candidate ``after`` continues candidate ``before``."""
        return bool(
            self.source[before] == self.source[after] and self.start[before] < self.start[after]
        )

    def around(self, prev: int, nxt: int) -> np.ndarray:
        """Per candidate: links it would make between neighbour columns ``prev`` and ``nxt``
        (-1 = none)."""
        count = np.zeros(len(self.source))
        if prev >= 0:
            count += (self.source == self.source[prev]) & (self.start > self.start[prev])
        if nxt >= 0:
            count += (self.source == self.source[nxt]) & (self.start < self.start[nxt])
        return count

    def count(self, assign: np.ndarray, pairs: set[int]) -> int:
        """Links among neighbour pairs ``(i, i + 1)`` for ``i`` in ``pairs``."""
        return sum(
            1
            for i in pairs
            if 0 <= i < len(assign) - 1
            and assign[i] >= 0
            and assign[i + 1] >= 0
            and self.linked(assign[i], assign[i + 1])
        )


def _move_gain(
    assign: np.ndarray,
    change: dict[int, int],
    adjusted: np.ndarray,
    links: _Links,
    bonus: float,
) -> float:
    """Change of ``J`` (score + bonus * links) if rows in ``change`` take the given columns."""
    pairs = {p for i in change for p in (i - 1, i)}
    before = links.count(assign, pairs)
    score_delta = sum(adjusted[i, c] - adjusted[i, assign[i]] for i, c in change.items())
    trial = assign.copy()
    for i, c in change.items():
        trial[i] = c
    return score_delta + bonus * (links.count(trial, pairs) - before)


def _best_reassignment(
    assign: np.ndarray, adjusted: np.ndarray, allowed: np.ndarray, links: _Links, bonus: float
) -> tuple[float, dict[int, int] | None]:
    """Best single move "row i takes an unused allowed column", scored for all columns at once."""
    best: tuple[float, dict[int, int] | None] = (_EPS, None)
    free = allowed.copy()
    free[:, assign[assign >= 0]] = False
    padded = np.concatenate([[-1], assign, [-1]])
    for i in np.flatnonzero(assign >= 0):
        near = links.around(padded[i], padded[i + 2])
        gain = adjusted[i] - adjusted[i, assign[i]] + bonus * (near - near[assign[i]])
        gain[~free[i]] = -np.inf
        c = int(np.argmax(gain))
        if gain[c] > best[0]:
            best = (float(gain[c]), {int(i): c})
    return best


def _best_swap(
    assign: np.ndarray,
    adjusted: np.ndarray,
    allowed: np.ndarray,
    links: _Links,
    bonus: float,
    floor: float,
) -> tuple[float, dict[int, int] | None]:
    """Best exchange of columns between two assigned rows that gains more than ``floor``."""
    rows = np.flatnonzero(assign >= 0)
    cols = assign[rows]
    own = adjusted[rows, cols]
    delta = (
        adjusted[np.ix_(rows, cols)] + adjusted[np.ix_(rows, cols)].T - own[:, None] - own[None, :]
    )
    ok = allowed[np.ix_(rows, cols)] & allowed[np.ix_(rows, cols)].T
    # a swap touches at most four links, so it cannot gain more than 4 * bonus over its score change
    a_idx, b_idx = np.nonzero(np.triu(ok & (delta + 4 * bonus > floor), k=1))
    best: tuple[float, dict[int, int] | None] = (floor, None)
    for a, b in zip(a_idx, b_idx, strict=False):
        move = {int(rows[a]): int(cols[b]), int(rows[b]): int(cols[a])}
        gain = _move_gain(assign, move, adjusted, links, bonus)
        if gain > best[0]:
            best = (gain, move)
    return best


def _improve_continuity(
    assign: np.ndarray,
    adjusted: np.ndarray,
    allowed: np.ndarray,
    links: _Links,
    bonus: float,
) -> None:
    """Best-improvement local search on ``J`` in place (see :func:`assign_shots`)."""
    steps = 0
    while True:
        gain, move = _best_reassignment(assign, adjusted, allowed, links, bonus)
        swap_gain, swap = _best_swap(assign, adjusted, allowed, links, bonus, floor=gain)
        move = swap if swap is not None else move
        if move is None:
            break
        for i, c in move.items():
            assign[i] = c
        steps += 1
    logger.debug(
        "continuity pass: %d moves, %d links", steps, links.count(assign, set(range(len(assign))))
    )
