"""Ranking: reciprocal rank fusion, MMR diversity, plan-wide shot assignment."""

import math

import numpy as np
import pytest

from rag_video.retrieve.assign import AssignmentResult, assign_shots, assignment_details
from rag_video.retrieve.rank import mmr, reciprocal_rank_fusion

# --------------------------------------------------------------------------- RRF


def test_rrf_matches_hand_computed_scores():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], k=60, weights=[2, 1])
    # a: 2/61, b: 2/62 + 1/61, c: 2/63 + 1/62, d: 1/63
    assert [key for key, _ in fused] == ["b", "c", "a", "d"]
    expected = {"a": 2 / 61, "b": 2 / 62 + 1 / 61, "c": 2 / 63 + 1 / 62, "d": 1 / 63}
    for key, score in fused:
        assert score == pytest.approx(expected[key], abs=1e-15)


def test_rrf_weights_can_flip_order():
    rankings = [["a", "b"], ["b", "a"], ["a"]]
    assert reciprocal_rank_fusion(rankings)[0][0] == "a"
    assert reciprocal_rank_fusion(rankings, weights=[0, 1, 0])[0][0] == "b"


def test_rrf_ties_by_best_rank_then_first_seen():
    # k=0: p = 1/1, r = 1/1, q = 1/2 + 1/2 — all three tie at 1.0
    fused = reciprocal_rank_fusion([["p", "q"], ["r", "q"]], k=0)
    assert fused == [("p", 1.0), ("r", 1.0), ("q", 1.0)]
    # same scores and best ranks: first seen wins, whichever list order
    assert [k for k, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]
    assert [k for k, _ in reciprocal_rank_fusion([["y", "x"], ["x", "y"]])] == ["y", "x"]


def test_rrf_counts_a_repeated_key_once_per_list():
    assert reciprocal_rank_fusion([["a", "a", "b"]], k=0) == [("a", 1.0), ("b", 1 / 3)]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"k": -1}, "k"), ({"weights": [1.0]}, "weights"), ({"weights": [1.0, -2.0]}, "weights")],
)
def test_rrf_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        reciprocal_rank_fusion([["a"], ["b"]], **kwargs)


# --------------------------------------------------------------------------- MMR


def _clustered():
    """Three near-duplicates (cluster A, most relevant), then one shot each of B and C."""
    rng = np.random.default_rng(0)
    a, b, c = np.eye(8)[:3]
    vecs = np.stack([a, a, a, b, c]) + 0.01 * rng.standard_normal((5, 8))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.array([0.90, 0.89, 0.88, 0.70, 0.60]), vecs


def test_mmr_picks_from_different_clusters():
    scores, vecs = _clustered()
    assert mmr(scores, vecs, k=3, lambda_=0.5) == [0, 3, 4]
    assert mmr(scores, vecs, k=5, lambda_=0.5)[:3] == [0, 3, 4]


def test_mmr_lambda_one_is_relevance_order():
    rng = np.random.default_rng(1)
    scores = rng.random(20)
    vecs = rng.standard_normal((20, 6))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    assert mmr(scores, vecs, k=20, lambda_=1.0) == list(np.argsort(-scores, kind="stable"))
    assert mmr(scores, vecs, k=5, lambda_=1.0) == list(np.argsort(-scores, kind="stable")[:5])


def test_mmr_group_penalty_spreads_sources():
    scores = np.array([0.9, 0.85, 0.8, 0.7, 0.6])
    vecs = np.eye(5)  # orthogonal: only the group term diversifies
    groups = ["a", "a", "a", "b", "c"]
    assert mmr(scores, vecs, k=4, lambda_=1.0, groups=groups) == [0, 1, 2, 3]
    # with penalty 0.2: 0.9(a) → b 0.7 beats a 0.65 → a 0.65 → c 0.6 beats a 0.8-0.4
    assert mmr(scores, vecs, k=4, lambda_=1.0, groups=groups, group_penalty=0.2) == [0, 3, 1, 4]


def test_mmr_skips_missing_scores_and_caps_at_n():
    scores = np.array([0.5, np.nan, -np.inf, 0.7])
    assert mmr(scores, np.eye(4), k=10) == [3, 0]
    assert mmr(scores, np.eye(4), k=0) == []


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"lambda_": 1.5}, "lambda_ must be in \\[0, 1\\], got 1.5"),
        ({"lambda_": -0.1}, "lambda_.*-0.1"),
        ({"k": -1}, "k must be an integer >= 0, got -1"),
        ({"group_penalty": -1.0}, "group_penalty.*-1.0"),
        ({"groups": ["a"]}, "groups must have 3 entries, got 1"),
    ],
)
def test_mmr_rejects_bad_arguments(kwargs, text):
    args = {"k": 2, **kwargs}
    with pytest.raises(ValueError, match=text):
        mmr(np.ones(3), np.eye(3), **args)


def test_mmr_rejects_mismatched_vectors():
    with pytest.raises(ValueError, match="vectors must have shape \\(3, d\\), got \\(2, 3\\)"):
        mmr(np.ones(3), np.eye(3)[:2], k=1)


# --------------------------------------------------------------------------- assignment


def _brute_force(scores: np.ndarray) -> tuple[int, float]:
    """Best (assigned count, total score) over every injective partial assignment."""
    n_planned, n_cand = scores.shape
    best = (0, 0.0)

    def walk(i: int, used: frozenset, count: int, total: float) -> None:
        nonlocal best
        if i == n_planned:
            best = max(best, (count, total))
            return
        walk(i + 1, used, count, total)
        for c in range(n_cand):
            if c not in used and np.isfinite(scores[i, c]):
                walk(i + 1, used | {c}, count + 1, total + scores[i, c])

    walk(0, frozenset(), 0, 0.0)
    return best


def _random_case(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n_planned, n_cand = (4, 6) if seed % 3 == 0 else tuple(rng.integers(1, 6, size=2))
    scores = rng.random((n_planned, n_cand))
    scores[rng.random(scores.shape) < 0.3] = np.nan
    return scores


def _totals(scores: np.ndarray, columns: list) -> tuple[int, float]:
    chosen = [(i, c) for i, c in enumerate(columns) if c is not None]
    return len(chosen), float(sum(scores[i, c] for i, c in chosen))


def _links(columns, source, start) -> int:
    return sum(
        1
        for a, b in zip(columns, columns[1:], strict=False)
        if a is not None and b is not None and source[a] == source[b] and start[a] < start[b]
    )


@pytest.mark.parametrize("seed", range(50))
def test_assignment_is_optimal_without_bonus(seed):
    scores = _random_case(seed)
    n_cand = scores.shape[1]
    columns = assign_shots(
        scores,
        candidate_source=["s"] * n_cand,
        candidate_start=list(range(n_cand)),
        continuity_bonus=0.0,
    )
    used = [c for c in columns if c is not None]
    assert len(used) == len(set(used))
    assert all(np.isfinite(scores[i, c]) for i, c in enumerate(columns) if c is not None)
    count, total = _totals(scores, columns)
    best_count, best_total = _brute_force(scores)
    assert count == best_count
    assert total == pytest.approx(best_total, abs=1e-9)


@pytest.mark.parametrize("seed", range(50))
def test_continuity_pass_stays_within_bonus_budget(seed):
    scores = _random_case(seed)
    n_cand = scores.shape[1]
    rng = np.random.default_rng(1000 + seed)
    source = [str(s) for s in rng.integers(0, 2, size=n_cand)]
    start = list(rng.permutation(n_cand).astype(float))
    bonus = 0.1
    columns = assign_shots(
        scores, candidate_source=source, candidate_start=start, continuity_bonus=bonus
    )
    used = [c for c in columns if c is not None]
    assert len(used) == len(set(used))
    count, total = _totals(scores, columns)
    best_count, best_total = _brute_force(scores)
    links = _links(columns, source, start)
    assert count == best_count
    assert total >= best_total - bonus * links - 1e-9
    assert total + bonus * links >= best_total - 1e-9


def test_rectangular_both_ways_and_full_use():
    wide = np.array([[0.1, 0.9, 0.5], [0.2, 0.8, 0.1]])
    assert assign_shots(wide, candidate_source="abc", candidate_start=[0, 0, 0]) == [
        2,
        1,
    ]  # 1.3 > 1.1
    tall = wide.T  # 3 planned shots, 2 candidates: one shot goes without
    columns = assign_shots(tall, candidate_source="ab", candidate_start=[0, 0])
    assert columns == [None, 1, 0]


def test_none_when_nothing_allowed():
    scores = np.array([[np.nan, -np.inf], [0.4, 0.6], [0.3, np.nan]])
    assert assign_shots(scores, candidate_source="ab", candidate_start=[0, 1]) == [None, 1, 0]
    assert assign_shots(
        np.full((2, 3), np.nan), candidate_source="abc", candidate_start=[0, 1, 2]
    ) == [None, None]
    assert assign_shots(np.zeros((2, 0)), candidate_source="", candidate_start=[]) == [None, None]


def test_min_score_disallows_weak_candidates():
    scores = np.array([[0.9, 0.2], [0.25, 0.1]])
    assert assign_shots(scores, candidate_source="ab", candidate_start=[0, 0]) == [0, 1]
    assert assign_shots(scores, candidate_source="ab", candidate_start=[0, 0], min_score=0.22) == [
        0,
        None,
    ]


def test_maximises_coverage_before_score():
    # greedy would give shot 0 column 0 and leave shot 1 empty
    scores = np.array([[0.9, 0.1], [0.7, np.nan]])
    assert assign_shots(scores, candidate_source="ab", candidate_start=[0, 0]) == [1, 0]


@pytest.mark.parametrize("flip", [False, True])
def test_continuity_breaks_ties_toward_same_source_in_time_order(flip):
    # shot 0 can only use A@5; shot 1 ties between B@9, A@10 (continues) and A@2 (before A@5)
    source, start = ["A", "B", "A", "A"], [5.0, 9.0, 10.0, 2.0]
    scores = np.array([[0.9, np.nan, np.nan, np.nan], [np.nan, 0.7, 0.7, 0.7]])
    order = [0, 2, 1, 3] if flip else [0, 1, 2, 3]  # column order must not decide
    columns = assign_shots(
        scores[:, order],
        candidate_source=[source[c] for c in order],
        candidate_start=[start[c] for c in order],
    )
    assert [order[c] for c in columns] == [0, 2]


def test_continuity_tie_break_backward_direction():
    # the later shot is fixed; the earlier one should take the same-source shot that precedes it
    source, start = ["A", "B", "A"], [10.0, 0.0, 3.0]
    scores = np.array([[np.nan, 0.5, 0.5], [0.8, np.nan, np.nan]])
    assert assign_shots(scores, candidate_source=source, candidate_start=start) == [2, 0]


def test_continuity_bonus_does_not_override_a_real_score_gap():
    source, start = ["A", "B", "A"], [5.0, 9.0, 10.0]
    scores = np.array([[0.9, np.nan, np.nan], [np.nan, 0.8, 0.7]])
    assert assign_shots(
        scores, candidate_source=source, candidate_start=start, continuity_bonus=0.02
    ) == [0, 1]
    assert assign_shots(
        scores, candidate_source=source, candidate_start=start, continuity_bonus=0.2
    ) == [0, 2]


def test_continuity_uses_swaps():
    # optimum is tied: shot 0 may take A@0 or A@10, shot 1 the other; only A@0 → A@10 links
    scores = np.array([[0.5, 0.5], [0.5, 0.5]])
    for start in ([0.0, 10.0], [10.0, 0.0]):
        columns = assign_shots(scores, candidate_source=["A", "A"], candidate_start=start)
        assert start[columns[0]] < start[columns[1]]


def test_fresh_penalty_changes_the_choice():
    scores = np.array([[0.80, 0.79]])
    assert assign_shots(scores, candidate_source="ab", candidate_start=[0, 0]) == [0]
    assert assign_shots(
        scores, candidate_source="ab", candidate_start=[0, 0], fresh_penalty=np.array([0.05, 0.0])
    ) == [1]
    assert assign_shots(
        scores, candidate_source="ab", candidate_start=[0, 0], fresh_penalty=np.array([[0.0, 0.05]])
    ) == [0]


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"scores": np.ones(3)}, "scores must be 2-D"),
        ({"candidate_source": "a"}, "candidate_source must have 2 entries, got 1"),
        ({"candidate_start": [0.0]}, "candidate_start must have 2 entries, got 1"),
        ({"continuity_bonus": -0.1}, "continuity_bonus.*-0.1"),
        ({"fresh_penalty": np.zeros(3)}, "fresh_penalty.*got shape \\(3,\\)"),
        ({"min_score": math.nan}, "min_score"),
        ({"scores": np.array([[np.inf, 0.0]])}, "\\+inf"),
    ],
)
def test_assign_rejects_bad_arguments(kwargs, text):
    args = {
        "scores": np.ones((1, 2)),
        "candidate_source": "ab",
        "candidate_start": [0.0, 1.0],
        **kwargs,
    }
    scores = args.pop("scores")
    with pytest.raises(ValueError, match=text):
        assign_shots(scores, **args)


def test_assignment_details_report_score_runner_up_and_continuity():
    scores = np.array([[0.9, 0.2, np.nan], [0.85, 0.4, 0.3], [np.nan, np.nan, np.nan]])
    source, start = ["A", "B", "B"], [0.0, 1.0, 2.0]
    columns = assign_shots(scores, candidate_source=source, candidate_start=start)
    assert columns == [0, 1, None]
    details = assignment_details(scores, columns, candidate_source=source, candidate_start=start)
    assert details == [
        AssignmentResult(column=0, score=0.9, runner_up=0.2, continues=False),
        AssignmentResult(column=1, score=0.4, runner_up=0.85, continues=False),
        AssignmentResult(column=None, score=None, runner_up=None, continues=False),
    ]
    chained = assignment_details(
        scores, [1, 2, None], candidate_source=source, candidate_start=start
    )
    assert [d.continues for d in chained] == [False, True, False]
