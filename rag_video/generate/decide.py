"""The per-shot decision: reuse, restyle or fill.

One assignment over the whole plan (Hungarian, with a continuity tie-break) picks a different
source shot for each planned shot among its candidates (:mod:`candidates`); :mod:`coverage` then
covers shots longer than their match (the match continued, several shots cut together, a bounded
retime). The chosen candidate's score then decides:

    score >= reuse_threshold            → reuse   (trim the source shot)
    fill_threshold <= score < reuse     → restyle (video-to-video from the source shot)
    score < fill_threshold, or nothing  → fill    (generate, conditioned on the best partial match)

Text-matched candidates are decided on their own scale (:mod:`text_match`).

The script's ``decision:`` outranks the score: a forced reuse or restyle takes its best candidate
not used by another shot (or the best one anyway when all are taken, and says so), and is never
turned into a fill while the library has an eligible shot; a forced fill takes no footage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rag_video.generate import coverage as cover
from rag_video.generate.candidates import Retrieval
from rag_video.generate.plan import Plan
from rag_video.generate.shot import Decision
from rag_video.retrieve import assign
from rag_video.vectors import unit_rows

# cosine between a shot and its source's next shot that continues the scene
CONTINUE_SIMILARITY = 0.8


@dataclass
class Choice:
    """The decision for one planned shot, with everything the manifest reports about it."""

    index: int
    decision: Decision
    score: float | None
    candidate: dict | None  # the assigned source shot row (the coverage's first piece)
    reason: dict
    candidates: list[dict] = field(default_factory=list)  # top few {shot_id, score, path, start_s}
    coverage: cover.Coverage | None = None  # pieces index into the retrieval's rows
    dropped: list[dict] = field(default_factory=list)  # candidates not eligible, with why
    # eligible, but no method reached the duration
    too_short: list[dict] = field(default_factory=list)


def _by_score(score: float | None, reuse_th: float, fill_th: float) -> Decision:
    if score is None or score < fill_th:
        return "fill"
    return "reuse" if score >= reuse_th else "restyle"


def _decision(
    score: float | None,
    assigned: bool,
    shared: bool,
    override: Decision | None,
    reuse_th: float,
    fill_th: float,
) -> tuple[Decision, str]:
    if override == "fill":
        return "fill", "decision set by the script (fill)"
    if override and assigned:
        said = (
            f"score {score:.3f} would give {_by_score(score, reuse_th, fill_th)}"
            if score is not None
            else ""
        )
        taken = (
            "; every candidate is used by another shot, so the best one is used again"
            if shared
            else ""
        )
        return override, f"decision set by the script ({override}): {said}{taken}"
    if override:
        return (
            "fill",
            f"the script asks for {override}, but no shot in the library is eligible "
            "(length, aspect)",
        )
    if score is None:
        return "fill", "no shot in the library matched (long enough, fitting the aspect)"
    if not assigned and score >= fill_th:
        return "fill", f"its candidates (best {score:.3f}) are used by other shots of this video"
    if score >= reuse_th:
        return "reuse", f"score {score:.3f} >= reuse threshold {reuse_th:g}"
    if score >= fill_th:
        return (
            "restyle",
            f"score {score:.3f} between fill {fill_th:g} and reuse {reuse_th:g} thresholds",
        )
    return "fill", f"score {score:.3f} < fill threshold {fill_th:g}"


def _allowed(plan: Plan, scores: np.ndarray, fill_th: float) -> np.ndarray:
    """Scores the assignment may use: script fills take nothing; scored shots need the fill
    threshold; a forced reuse or restyle takes any eligible candidate."""
    allowed = scores.copy()
    for i, shot in enumerate(plan.shots):
        if shot.decision == "fill":
            allowed[i] = -np.inf
        elif shot.decision is None:
            with np.errstate(invalid="ignore"):
                allowed[i][allowed[i] < fill_th] = -np.inf
    return allowed


def _continues_test(ret: Retrieval, floor: list[float]) -> Callable[[int, int, int], bool]:
    emb = None
    if ret.mode == "vector" and ret.rows and all(r.get("embedding") is not None for r in ret.rows):
        emb = unit_rows([r["embedding"] for r in ret.rows])

    def continues(i: int, j: int, k: int) -> bool:
        if np.isfinite(ret.scores[i, k]) and ret.scores[i, k] >= floor[i]:
            return True
        return emb is not None and float(emb[j] @ emb[k]) >= CONTINUE_SIMILARITY

    return continues


def decide(
    plan: Plan,
    ret: Retrieval,
    *,
    reuse_threshold: float,
    fill_threshold: float,
    fresh_penalty: np.ndarray | None = None,
    fps: float = 24.0,
    min_cut: float = 1.0,
    order: tuple[str, ...] = cover.DEFAULT_ORDER,
    real_time: frozenset[int] = frozenset(),
) -> list[Choice]:
    """Assign candidates over the whole plan, decide each shot (script, then score), cover it.

    Columns in `real_time` (footage whose licence permits no derivatives) are never slowed or
    held: a shot they cannot cover at real time becomes a fill, the script's word or not.

    Only candidates at or above the fill threshold take part in the assignment of scored shots: a
    shot that will be filled anyway must not take a good match away from another shot. A fill
    still conditions on its best partial match (`candidates[0]`), used or not."""
    rows, scores = ret.rows, ret.scores
    n = len(plan.shots)
    allowed = _allowed(plan, scores, fill_threshold) if rows else scores
    shared = [False] * n
    columns: list[int | None] = [None] * n
    details: list[assign.AssignmentResult | None] = [None] * n
    if rows:
        sources = [r["source_id"] for r in rows]
        starts = [r["start_s"] for r in rows]
        columns = assign.assign_shots(
            allowed, candidate_source=sources, candidate_start=starts, fresh_penalty=fresh_penalty
        )
        for i, shot in enumerate(plan.shots):  # the script's word: the best candidate even if taken
            if (
                columns[i] is None
                and shot.decision in ("reuse", "restyle")
                and np.isfinite(allowed[i]).any()
            ):
                columns[i], shared[i] = int(np.argmax(np.nan_to_num(allowed[i], neginf=-9.0))), True
        details = list(
            assign.assignment_details(
                scores, columns, candidate_source=sources, candidate_start=starts
            )
        )
    pre = []
    for i, shot in enumerate(plan.shots):
        col = columns[i]
        top = np.argsort(-np.nan_to_num(scores[i], neginf=-9.0))[:5] if rows else np.empty(0, int)
        cands = [
            {
                "shot_id": rows[j]["shot_id"],
                "score": float(scores[i, j]),
                "path": rows[j]["path"],
                "start_s": rows[j]["start_s"],
            }
            for j in top
            if np.isfinite(scores[i, j])
        ]
        score = float(scores[i, col]) if col is not None else (cands[0]["score"] if cands else None)
        decision, text = _decision(
            score, col is not None, shared[i], shot.decision, reuse_threshold, fill_threshold
        )
        pre.append((col, cands, score, decision, text))
    primary = [col if decision != "fill" else None for col, _, _, decision, _ in pre]
    # the least score of a shot's extra footage: its own decision's threshold; any eligible shot
    # when the script asked for footage
    floor = [
        -np.inf if plan.shots[i].decision else reuse_threshold if d == "reuse" else fill_threshold
        for i, (_, _, _, d, _) in enumerate(pre)
    ]
    covs = (
        cover.Planner(
            [s.duration_s for s in plan.shots],
            rows,
            allowed,
            primary,
            floor,
            fps=fps,
            min_cut=min_cut,
            next_row=ret.next_row,
            continues=_continues_test(ret, floor),
            real_time=real_time,
        ).run(order)
        if rows
        else [None] * n
    )
    choices = []
    for i, shot in enumerate(plan.shots):
        col, cands, score, decision, text = pre[i]
        cov = covs[i] if decision != "fill" else None
        short: list[dict] = []
        licence = None
        if cov is not None and not cov.covered:
            fixed = cover.plays_real_time(cov, real_time)
            if shot.decision and not fixed:  # the script's word: show it, hold its last frame
                cover.hold_to(cov, shot.duration_s, rows)
            else:
                short = cover.too_short(rows, allowed[i], shot.duration_s)
                decision = "fill"
                text = (
                    f"no combination of matching footage covers {shot.duration_s:.2f} s "
                    f"(score {score:.3f}); candidates too short: {len(short)}"
                )
                if fixed:
                    licence = (
                        "its footage's licence permits no derivatives: it is never slowed or "
                        "held to cover the planned duration"
                    )
                    text = f"{licence}; {text}"
                cov = None
        detail = details[i]
        runner_up = None if detail is None else detail.runner_up
        reason = {
            "score": score,
            "reuse_threshold": reuse_threshold,
            "fill_threshold": fill_threshold,
            "runner_up": runner_up,
            "override": shot.decision,
            "text": text,
            "coverage": None if cov is None else {"method": cov.method, "why": cov.why},
            "licence": licence,
        }
        candidate = rows[col] if col is not None and decision != "fill" else None
        choices.append(
            Choice(
                i,
                decision,
                score,
                candidate,
                reason,
                cands,
                cov,
                ret.dropped[i] if ret.dropped else [],
                short,
            )
        )
    return choices
