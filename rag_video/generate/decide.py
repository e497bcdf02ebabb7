"""Plan-wide retrieval and the per-shot decision: reuse, restyle or fill.

Every planned shot queries the library (its text, fused with its reference image when given) for
candidates long enough for its duration and fitting the output aspect. One assignment over the
whole plan (Hungarian, with a continuity tie-break) picks a different source shot for each planned
shot. The chosen candidate's cosine score then decides:

    score >= reuse_threshold            → reuse   (trim the source shot)
    fill_threshold <= score < reuse     → restyle (video-to-video from the source shot)
    score < fill_threshold, or nothing  → fill    (generate, conditioned on the best partial match)

With no embeddings in the library, candidates come from full-text search over sidecar and subtitle
text instead, scored on their own scale: the share of the query's words (lower-cased, stop words
dropped, plurals folded) found in the shot's text, in [0, 1], with their own thresholds
(TEXT_REUSE, TEXT_FILL). BM25 scores are not used as scores: they depend on the library's size.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from rag_video.errors import UsageError
from rag_video.generate.plan import Plan
from rag_video.retrieve import rank
from rag_video.retrieve.fts import text_match_scores
from rag_video.retrieve.query import Searcher, ShotQuery
from rag_video.store import Store, sql_in

log = logging.getLogger(__name__)

CANDIDATES_PER_SHOT = 12
MIN_AREA_KEPT = 0.5  # a candidate fits the output aspect when cropping keeps this much of it
TEXT_REUSE, TEXT_FILL = 0.75, 0.4
STOP_WORDS = frozenset("a an the of in on at to and or with by for from over under into its his her "
                       "their is are was were be this that these those as it".split())
FRESH_PENALTY = 0.05  # per earlier use of a shot, with --fresh
CANDIDATE_COLUMNS = ["row_key", "shot_id", "source_id", "path", "start_s", "end_s", "duration_s",
                     "fps", "width", "height", "thumbnail", "keyframe_times", "embedding", "text"]


@dataclass
class Choice:
    """The decision for one planned shot, with everything the manifest reports about it."""

    index: int
    decision: str
    score: float | None
    candidate: dict | None  # the assigned source shot row
    reason: dict
    candidates: list[dict] = field(default_factory=list)  # top few {shot_id, score, path, start_s}


def aspect_predicate(ratio: float) -> str:
    """Lance filter: cropping the shot to `ratio` keeps at least MIN_AREA_KEPT of it."""
    lo, hi = MIN_AREA_KEPT * ratio, ratio / MIN_AREA_KEPT
    return f"(width >= {lo:.6f} * height AND width <= {hi:.6f} * height)"


def _query_vectors(searcher: Searcher, plan: Plan) -> np.ndarray:
    vecs = searcher.vectors_for(texts=[s.text for s in plan.shots])
    for i, shot in enumerate(plan.shots):
        if shot.image is not None:
            img = searcher.vectors_for(images=[shot.image])[0]
            vecs[i] = vecs[i] / np.linalg.norm(vecs[i]) + img / np.linalg.norm(img)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _vector_candidates(searcher: Searcher, plan: Plan, ratio: float) -> tuple[list[dict], np.ndarray]:
    vecs = _query_vectors(searcher, plan)
    pool: dict[int, dict] = {}
    for i, shot in enumerate(plan.shots):
        where = f"duration_s >= {shot.duration_s - 1e-6:.6f} AND {aspect_predicate(ratio)}"
        query = ShotQuery(searcher, vector=vecs[i]).where(where).limit(CANDIDATES_PER_SHOT)
        for row in query.to_list():
            pool.setdefault(row["row_key"], row)
    rows = _fetch(searcher.store, list(pool))
    if not rows:
        return [], np.zeros((len(plan.shots), 0))
    emb = np.asarray([r["embedding"] for r in rows], np.float32)
    scores = vecs @ emb.T
    for i, shot in enumerate(plan.shots):
        for j, row in enumerate(rows):
            if row["duration_s"] < shot.duration_s - 1e-6:
                scores[i, j] = -np.inf
    return rows, scores


def words(text: str | None) -> set[str]:
    """Content words of a text for the text score: lower-cased, stop words out, plurals folded."""
    out = set()
    for word in re.findall(r"[\w']+", (text or "").lower()):
        if word not in STOP_WORDS:
            out.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return out


def text_score(query: str, text: str | None) -> float:
    """Share of the query's content words found in `text` (0..1)."""
    wanted = words(query)
    return len(wanted & words(text)) / len(wanted) if wanted else 0.0


def _text_candidates(store: Store, plan: Plan, ratio: float) -> tuple[list[dict], np.ndarray]:
    hits = [dict(text_match_scores(store, s.text, limit=CANDIDATES_PER_SHOT)) for s in plan.shots]
    rows = _fetch(store, sorted({k for h in hits for k in h}))
    scores = np.full((len(plan.shots), len(rows)), -np.inf)
    for i, shot in enumerate(plan.shots):
        for j, row in enumerate(rows):
            fits = row["duration_s"] >= shot.duration_s - 1e-6 and _fits(row, ratio)
            if row["row_key"] in hits[i] and fits:
                scores[i, j] = text_score(shot.text, row["text"])
    return rows, scores


def _fits(row: dict, ratio: float) -> bool:
    r = row["width"] / max(row["height"], 1)
    return MIN_AREA_KEPT * ratio <= r <= ratio / MIN_AREA_KEPT


def _fetch(store: Store, keys: list[int]) -> list[dict]:
    if not keys:
        return []
    table = store.visible_shots(columns=CANDIDATE_COLUMNS, where=sql_in("row_key", keys))
    return sorted(table.to_pylist(), key=lambda r: r["row_key"])


def retrieve(searcher: Searcher, plan: Plan, ratio: float) -> tuple[list[dict], np.ndarray, str]:
    """Candidates for the whole plan and their scores (planned shots × candidates; -inf = unfit).
    Returns (rows, scores, mode) with mode "vector" or "text"."""
    store = searcher.store
    if store.visible_shots(columns=["row_key"]).num_rows == 0:
        raise UsageError(f"library {store.root} has no shots: run `rag-video ingest` first")
    if store.embed_model():
        rows, scores = _vector_candidates(searcher, plan, ratio)
        return rows, scores, "vector"
    has_text = store.visible_shots(columns=["row_key"], where="text IS NOT NULL").num_rows
    if not has_text:
        raise UsageError(f"library {store.root} has neither embeddings nor text to search: "
                         "run `rag-video embed` (or add sidecar descriptions and re-ingest)")
    log.warning("the library has no embeddings: matching shots by their sidecar and subtitle text "
                "(score = share of the shot's words found; run `rag-video embed` for visual matching)")
    rows, scores = _text_candidates(store, plan, ratio)
    return rows, scores, "text"


def usage_penalty(store: Store, rows: list[dict]) -> np.ndarray:
    """--fresh: a penalty per candidate for each earlier render that used it."""
    used = store.read("renders", columns=["shot_id"]).column("shot_id").to_pylist()
    counts: dict[str, int] = {}
    for sid in used:
        if sid:
            counts[sid] = counts.get(sid, 0) + 1
    return np.asarray([FRESH_PENALTY * counts.get(r["shot_id"], 0) for r in rows], np.float64)


def decide(plan: Plan, rows: list[dict], scores: np.ndarray, *, reuse_threshold: float,
           fill_threshold: float, fresh_penalty: np.ndarray | None = None) -> list[Choice]:
    """Assign candidates over the whole plan, then decide each shot by its score.

    Only candidates at or above the fill threshold take part in the assignment: a shot that will be
    filled anyway must not take a good match away from another shot. A fill still conditions on
    its best partial match (`candidates[0]`), used or not."""
    if rows:
        kw = {"candidate_source": [r["source_id"] for r in rows], "candidate_start": [r["start_s"] for r in rows]}
        columns = rank.assign_shots(scores, fresh_penalty=fresh_penalty, min_score=fill_threshold, **kw)
        details = rank.assignment_details(scores, columns, **kw)
    else:
        columns, details = [None] * len(plan.shots), [None] * len(plan.shots)
    choices = []
    for i, shot in enumerate(plan.shots):
        col = columns[i]
        top = np.argsort(-np.nan_to_num(scores[i], neginf=-9.0))[:5] if rows else []
        cands = [{"shot_id": rows[j]["shot_id"], "score": float(scores[i, j]), "path": rows[j]["path"],
                  "start_s": rows[j]["start_s"]} for j in top if np.isfinite(scores[i, j])]
        score = float(scores[i, col]) if col is not None else (cands[0]["score"] if cands else None)
        runner_up = None if details[i] is None else details[i].runner_up
        decision, text = _decision(score, col is not None, shot.decision, reuse_threshold, fill_threshold)
        reason = {"score": score, "reuse_threshold": reuse_threshold, "fill_threshold": fill_threshold,
                  "runner_up": runner_up, "override": shot.decision, "text": text}
        choices.append(Choice(i, decision, score, None if col is None else rows[col], reason, cands))
    return choices


def _decision(score: float | None, assigned: bool, override: str | None, reuse_th: float,
              fill_th: float) -> tuple[str, str]:
    if override and (override == "fill" or assigned):
        return override, f"decision set by the script ({override})"
    if score is None:
        return "fill", "no shot in the library matched (long enough, fitting the aspect)"
    if not assigned and score >= fill_th:
        return "fill", f"its candidates (best {score:.3f}) are used by other shots of this video"
    if score >= reuse_th:
        return "reuse", f"score {score:.3f} >= reuse threshold {reuse_th:g}"
    if score >= fill_th:
        return "restyle", f"score {score:.3f} between fill {fill_th:g} and reuse {reuse_th:g} thresholds"
    return "fill", f"score {score:.3f} < fill threshold {fill_th:g}"
