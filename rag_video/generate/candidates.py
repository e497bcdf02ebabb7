"""Plan-wide retrieval: the candidates of every planned shot and their scores.

Every planned shot queries the library (its text, fused with its reference image when given) for
candidates at least ``--min-cut`` long (or the planned duration, when shorter) whose crop to the
output aspect keeps at least ``MIN_AREA_KEPT`` of the picture (the crop window is then chosen
from the content, see :mod:`reframe`). The next shots of their sources come along, so coverage
can continue a match. With no embeddings in the library, candidates come from full-text search
over sidecar and subtitle text instead, scored by :mod:`text_match`. Candidates dropped for their
length or aspect are listed per shot with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from rag_video.errors import UsageError
from rag_video.generate import coverage as cover
from rag_video.generate.plan import Plan
from rag_video.generate.reframe import kept_area
from rag_video.generate.text_match import text_scores
from rag_video.retrieve.fts import text_match_scores
from rag_video.retrieve.query import Searcher, ShotQuery
from rag_video.store import Store, sql_in
from rag_video.vectors import unit_rows

log = logging.getLogger(__name__)

CANDIDATES_PER_SHOT = 12
# a candidate is eligible when cropping it to the output aspect keeps this much of it
MIN_AREA_KEPT = 0.25
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
    """One unit query vector per planned shot: its text's, plus its reference image's when it
    has one (the sum of the two unit vectors). Texts and images are encoded in one call, so an
    image in the plan loads the encoder once."""
    with_image = [i for i, s in enumerate(plan.shots) if s.image is not None]
    vecs = searcher.vectors_for(
        texts=[s.text for s in plan.shots], images=[plan.shots[i].image for i in with_image]
    )
    n = len(plan.shots)
    texts, images = unit_rows(vecs[:n]), unit_rows(vecs[n:])
    texts[with_image] += images
    return unit_rows(texts)


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
    scores = text_scores([s.text for s in plan.shots], [r["text"] for r in rows])
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
