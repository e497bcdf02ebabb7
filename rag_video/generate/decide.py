# Over 450 lines, kept whole for now (issue 11): retrieval eligibility and decisions; next cut: the
# text inverted index apart.
"""Plan-wide retrieval and the per-shot decision: reuse, restyle or fill.

Every planned shot queries the library (its text, fused with its reference image when given) for
candidates at least ``--min-cut`` long (or the planned duration, when shorter) whose crop to the
output aspect keeps at least ``MIN_AREA_KEPT`` of the picture (the crop window is then chosen
from the content, see :mod:`reframe`). One assignment over the whole plan (Hungarian, with a
continuity tie-break) picks a different source shot for each planned shot; :mod:`coverage` then
covers shots longer than their match (the match continued, several shots cut together, a bounded
retime). The chosen candidate's score then decides:

    score >= reuse_threshold            → reuse   (trim the source shot)
    fill_threshold <= score < reuse     → restyle (video-to-video from the source shot)
    score < fill_threshold, or nothing  → fill    (generate, conditioned on the best partial match)

With no embeddings in the library, candidates come from full-text search over sidecar and subtitle
text instead, scored on their own scale: the share of the query's words (lower-cased, stop words
dropped, plurals folded) found in the shot's text, in [0, 1], with their own thresholds
(TEXT_REUSE, TEXT_FILL). BM25 scores are not used as scores: they depend on the library's size.

The script's ``decision:`` outranks the score: a forced reuse or restyle takes its best candidate
not used by another shot (or the best one anyway when all are taken, and says so), and is never
turned into a fill while the library has an eligible shot; a forced fill takes no footage.
Candidates dropped for their length or aspect are listed per shot with the reason.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from rag_video.errors import UsageError
from rag_video.generate import coverage as cover
from rag_video.generate.plan import Plan
from rag_video.generate.reframe import kept_area
from rag_video.retrieve import rank
from rag_video.retrieve.fts import text_match_scores
from rag_video.retrieve.query import Searcher, ShotQuery
from rag_video.store import Store, sql_in

log = logging.getLogger(__name__)

CANDIDATES_PER_SHOT = 12
MIN_AREA_KEPT = (
    0.25  # a candidate is eligible when cropping it to the output aspect keeps this much
)
TEXT_REUSE, TEXT_FILL = 0.75, 0.4
CONTINUE_SIMILARITY = (
    0.8  # cosine between a shot and its source's next shot that continues the scene
)
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "and",
        "or",
        "with",
        "by",
        "for",
        "from",
        "over",
        "under",
        "into",
        "its",
        "his",
        "her",
        "their",
        "is",
        "are",
        "was",
        "were",
        "be",
        "this",
        "that",
        "these",
        "those",
        "as",
        "it",
    ]
)
FRESH_PENALTY = 0.05  # per earlier use of a shot, with --fresh
CANDIDATE_COLUMNS = [
    "row_key",
    "shot_id",
    "source_id",
    "path",
    "start_s",
    "end_s",
    "duration_s",
    "start_frame",
    "end_frame",
    "fps",
    "width",
    "height",
    "thumbnail",
    "keyframe_times",
    "embedding",
    "text",
]
_EPS = 1e-6


@dataclass
class Choice:
    """The decision for one planned shot, with everything the manifest reports about it."""

    index: int
    decision: str
    score: float | None
    candidate: dict | None  # the assigned source shot row (the coverage's first piece)
    reason: dict
    candidates: list[dict] = field(default_factory=list)  # top few {shot_id, score, path, start_s}
    coverage: cover.Coverage | None = None  # pieces index into the retrieval's rows
    dropped: list[dict] = field(default_factory=list)  # candidates not eligible, with why
    too_short: list[dict] = field(
        default_factory=list
    )  # eligible but no method reached the duration


@dataclass
class Retrieval:
    """Candidates of a whole plan: rows, scores (planned × rows; -inf = not eligible), how
    scored."""

    rows: list[dict]
    scores: np.ndarray
    mode: str  # "vector" | "text"
    dropped: list[list[dict]]
    vectors: np.ndarray | None = None

    def next_row(self, j: int) -> int | None:
        """Column of the shot that follows row ``j`` in its source (when it was fetched)."""
        row = self.rows[j]
        return self._next.get((row["source_id"], row["end_frame"]))

    def __post_init__(self) -> None:
        self._next = {(r["source_id"], r["start_frame"]): k for k, r in enumerate(self.rows)}


def aspect_predicate(ratio: float, min_kept: float = MIN_AREA_KEPT) -> str:
    """Lance filter: cropping the shot to `ratio` keeps at least `min_kept` of it."""
    lo, hi = min_kept * ratio, ratio / min_kept
    return f"(width >= {lo:.6f} * height AND width <= {hi:.6f} * height)"


def min_length(duration: float, min_cut: float) -> float:
    """Shortest candidate a planned shot of `duration` can use (a sub-shot of `min_cut`, or all
    of it)."""
    return min(duration, min_cut)


def why_dropped(
    row: dict, duration: float, ratio: float, min_cut: float, letterbox: bool
) -> str | None:
    """Why `row` cannot serve a planned shot (None when it can)."""
    if row["duration_s"] < min_length(duration, min_cut) - _EPS:
        return f"lasts {row['duration_s']:.2f} s, under --min-cut {min_cut:g} s"
    kept = kept_area((row["width"], max(row["height"], 1)), (ratio, 1.0))
    if not letterbox and kept < MIN_AREA_KEPT:
        return f"a crop to the output aspect keeps {kept:.0%} of it (< {MIN_AREA_KEPT:.0%})"
    return None


def _query_vectors(searcher: Searcher, plan: Plan) -> np.ndarray:
    vecs = searcher.vectors_for(texts=[s.text for s in plan.shots])
    for i, shot in enumerate(plan.shots):
        if shot.image is not None:
            img = searcher.vectors_for(images=[shot.image])[0]
            vecs[i] = vecs[i] / np.linalg.norm(vecs[i]) + img / np.linalg.norm(img)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def words(text: str | None) -> set[str]:
    """Content words of a text for the text score: lower-cased, stop words out, plurals folded."""
    out = set()
    for word in re.findall(r"[\w']+", (text or "").lower()):
        if word not in STOP_WORDS:
            out.add(
                word[:-1]
                if len(word) > 3 and word.endswith("s") and not word.endswith("ss")
                else word
            )
    return out


def text_score(query: str, text: str | None) -> float:
    """Share of the query's content words found in `text` (0..1)."""
    wanted = words(query)
    return len(wanted & words(text)) / len(wanted) if wanted else 0.0


def _text_scores(queries: list[str], texts: list[str | None]) -> np.ndarray:
    """`text_score` of every query against every text; -inf where they share no word (no
    candidate)."""
    out = np.full((len(queries), len(texts)), -np.inf)
    having: dict[str, list[int]] = {}
    for j, text in enumerate(texts):
        for word in words(text):
            having.setdefault(word, []).append(j)
    for i, query in enumerate(queries):
        wanted = words(query)
        counts: dict[int, int] = {}
        for word in wanted:
            for j in having.get(word, ()):
                counts[j] = counts.get(j, 0) + 1
        for j, n in counts.items():
            out[i, j] = n / len(wanted)
    return out


def _fetch(store: Store, keys: list[int]) -> list[dict]:
    if not keys:
        return []
    table = store.visible_shots(columns=CANDIDATE_COLUMNS, where=sql_in("row_key", keys))
    return sorted(table.to_pylist(), key=lambda r: r["row_key"])


def _with_next_shots(store: Store, rows: list[dict]) -> list[dict]:
    """`rows` plus the next shots of their sources, up to MAX_CONTINUE deep (for `continue`)."""
    if not rows:
        return rows
    table = store.visible_shots(
        columns=CANDIDATE_COLUMNS, where=sql_in("source_id", sorted({r["source_id"] for r in rows}))
    )
    by_start = {(r["source_id"], r["start_frame"]): r for r in table.to_pylist()}
    have = {r["row_key"]: r for r in rows}
    for row in rows:
        cur = row
        for _ in range(cover.MAX_CONTINUE - 1):
            nxt = by_start.get((cur["source_id"], cur["end_frame"]))
            if nxt is None:
                break
            have.setdefault(nxt["row_key"], nxt)
            cur = nxt
    return sorted(have.values(), key=lambda r: r["row_key"])


def _eligible(
    plan: Plan, rows: list[dict], scores: np.ndarray, ratio: float, min_cut: float, letterbox: bool
) -> np.ndarray:
    """`scores` with -inf where `why_dropped` would refuse the pair (vectorised over the plan)."""
    if not rows:
        return scores
    length = np.asarray([r["duration_s"] for r in rows], np.float64)
    need = np.asarray([min_length(s.duration_s, min_cut) for s in plan.shots], np.float64)
    ok = length[None, :] >= need[:, None] - _EPS
    if not letterbox:
        kept = np.asarray(
            [kept_area((r["width"], max(r["height"], 1)), (ratio, 1.0)) for r in rows]
        )
        ok &= (kept >= MIN_AREA_KEPT)[None, :]
    return np.where(ok, scores, -np.inf)


def _dropped(
    plan: Plan,
    hits: list[list[tuple[dict, float | None]]],
    ratio: float,
    min_cut: float,
    letterbox: bool,
) -> list[list[dict]]:
    out = []
    for shot, shot_hits in zip(plan.shots, hits, strict=False):
        listed = []
        for row, score in shot_hits:
            why = why_dropped(row, shot.duration_s, ratio, min_cut, letterbox)
            if why:
                listed.append(
                    {
                        "shot_id": row["shot_id"],
                        "score": None if score is None else float(score),
                        "why": why,
                    }
                )
        out.append(listed[:5])
    return out


def _vector_candidates(
    searcher: Searcher, plan: Plan, ratio: float, min_cut: float, letterbox: bool
) -> Retrieval:
    from rag_video import progress

    vecs = _query_vectors(searcher, plan)
    pool: dict[int, dict] = {}
    hits = []
    with progress.bar(len(plan.shots), "retrieve") as advance:
        for i, shot in enumerate(plan.shots):
            where = f"duration_s >= {min_length(shot.duration_s, min_cut) - _EPS:.6f}"
            if not letterbox:
                where += f" AND {aspect_predicate(ratio)}"
            for row in (
                ShotQuery(searcher, vector=vecs[i])
                .where(where)
                .limit(CANDIDATES_PER_SHOT)
                .to_list()
            ):
                pool.setdefault(row["row_key"], row)
            hits.append(
                [
                    (r, r.get("score"))
                    for r in ShotQuery(searcher, vector=vecs[i]).limit(5).to_list()
                ]
            )
            advance()
    rows = _with_next_shots(searcher.store, _fetch(searcher.store, list(pool)))
    if not rows:
        return Retrieval(
            [],
            np.zeros((len(plan.shots), 0)),
            "vector",
            _dropped(plan, hits, ratio, min_cut, letterbox),
            vecs,
        )
    emb = np.asarray([r["embedding"] for r in rows], np.float32)
    scores = _eligible(plan, rows, (vecs @ emb.T).astype(np.float64), ratio, min_cut, letterbox)
    return Retrieval(rows, scores, "vector", _dropped(plan, hits, ratio, min_cut, letterbox), vecs)


def _text_candidates(
    store: Store, plan: Plan, ratio: float, min_cut: float, letterbox: bool
) -> Retrieval:
    hits = [dict(text_match_scores(store, s.text, limit=CANDIDATES_PER_SHOT)) for s in plan.shots]
    rows = _with_next_shots(store, _fetch(store, sorted({k for h in hits for k in h})))
    scores = _text_scores([s.text for s in plan.shots], [r["text"] for r in rows])
    by_key = {r["row_key"]: j for j, r in enumerate(rows)}
    listed = [
        [(rows[by_key[k]], scores[i, by_key[k]]) for k in h if k in by_key]
        for i, h in enumerate(hits)
    ]
    dropped = _dropped(plan, listed, ratio, min_cut, letterbox)
    return Retrieval(
        rows, _eligible(plan, rows, scores, ratio, min_cut, letterbox), "text", dropped
    )


def retrieve(
    searcher: Searcher, plan: Plan, ratio: float, *, min_cut: float = 1.0, letterbox: bool = False
) -> Retrieval:
    """Candidates for the whole plan and their scores (planned shots × candidates; -inf = not
    eligible)."""
    store = searcher.store
    if store.visible_shots(columns=["row_key"]).num_rows == 0:
        raise UsageError(f"library {store.root} has no shots: run `rag-video ingest` first")
    if store.embed_model():
        return _vector_candidates(searcher, plan, ratio, min_cut, letterbox)
    has_text = store.visible_shots(columns=["row_key"], where="text IS NOT NULL").num_rows
    if not has_text:
        raise UsageError(
            f"library {store.root} has neither embeddings nor text to search: "
            "run `rag-video embed` (or add sidecar descriptions and re-ingest)"
        )
    log.warning(
        "the library has no embeddings: matching shots by their sidecar and subtitle text "
        "(score = share of the shot's words found; run `rag-video embed` for visual matching)"
    )
    return _text_candidates(store, plan, ratio, min_cut, letterbox)


def usage_penalty(store: Store, rows: list[dict]) -> np.ndarray:
    """--fresh: a penalty per candidate for each earlier render that used it."""
    used = store.read("renders", columns=["shot_id"]).column("shot_id").to_pylist()
    counts: dict[str, int] = {}
    for sid in used:
        if sid:
            counts[sid] = counts.get(sid, 0) + 1
    return np.asarray([FRESH_PENALTY * counts.get(r["shot_id"], 0) for r in rows], np.float64)


def _by_score(score: float | None, reuse_th: float, fill_th: float) -> str:
    if score is None or score < fill_th:
        return "fill"
    return "reuse" if score >= reuse_th else "restyle"


def _decision(
    score: float | None,
    assigned: bool,
    shared: bool,
    override: str | None,
    reuse_th: float,
    fill_th: float,
) -> tuple[str, str]:
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


def _continues_test(ret: Retrieval, floor: list[float]):
    emb = None
    if ret.mode == "vector" and ret.rows and all(r.get("embedding") is not None for r in ret.rows):
        emb = np.asarray([r["embedding"] for r in ret.rows], np.float32)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

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
) -> list[Choice]:
    """Assign candidates over the whole plan, decide each shot (script, then score), cover it.

    Only candidates at or above the fill threshold take part in the assignment of scored shots: a
    shot that will be filled anyway must not take a good match away from another shot. A fill
    still conditions on its best partial match (`candidates[0]`), used or not."""
    rows, scores = ret.rows, ret.scores
    n = len(plan.shots)
    allowed = _allowed(plan, scores, fill_threshold) if rows else scores
    shared = [False] * n
    columns: list[int | None] = [None] * n
    details: list[rank.AssignmentResult | None] = [None] * n
    if rows:
        sources = [r["source_id"] for r in rows]
        starts = [r["start_s"] for r in rows]
        columns = rank.assign_shots(
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
            rank.assignment_details(
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
        ).run(order)
        if rows
        else [None] * n
    )
    choices = []
    for i, shot in enumerate(plan.shots):
        col, cands, score, decision, text = pre[i]
        cov = covs[i] if decision != "fill" else None
        short: list[dict] = []
        if cov is not None and not cov.covered:
            if shot.decision:  # the script's word: show what there is and hold its last frame
                cover.hold_to(cov, shot.duration_s, rows)
            else:
                short = cover.too_short(rows, allowed[i], shot.duration_s)
                decision = "fill"
                text = (
                    f"no combination of matching footage covers {shot.duration_s:.2f} s "
                    f"(score {score:.3f}); candidates too short: {len(short)}"
                )
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
