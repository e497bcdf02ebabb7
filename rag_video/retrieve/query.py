"""The search builder, in LanceDB's style: methods return the query, `to_*()` runs it.

    lib.search(text="a rabbit in a meadow").where("duration_s > 2").diversify(0.5).limit(5).to_pandas()

Vector ranking comes from the FAISS index (kept in step with the table), filters are applied as
pre-filters on row keys so they are exact, and a text query is fused with full-text matches over
the shots' text (sidecar titles, descriptions, tags and subtitles) by reciprocal-rank fusion.
`score` is the cosine similarity of the vector match (null for text-only hits).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from rag_video.errors import UsageError
from rag_video.index.sync import IndexManager, deferred_count, keys_matching
from rag_video.retrieve import rank
from rag_video.retrieve.fts import text_matches
from rag_video.store import Store, sql_in, sql_str

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
RESULT_COLUMNS = ["shot_id", "path", "start_s", "end_s", "duration_s", "source_id", "row_key",
                  "start_frame", "end_frame", "fps", "width", "height", "transition_in", "text",
                  "brightness", "motion", "dominant_colors", "thumbnail"]
MMR_POOL = 4  # diversify picks from this many times the limit


class Searcher:
    """What a query needs from the library: the store, the index and the query encoder."""

    def __init__(self, store: Store, index: IndexManager, load_encoder):
        self.store, self.index, self._load_encoder = store, index, load_encoder
        self._encoder = None

    def encoder(self):
        """The encoder the table was embedded with (queries must use the same one)."""
        if self._encoder is None:
            model_id = self.store.embed_model()
            if model_id is None:
                raise UsageError("the library has no embeddings yet: run `rag-video embed`")
            model, _, pretrained = model_id.partition("/")
            self._encoder = self._load_encoder(model, pretrained)
        return self._encoder

    def vectors_for(self, *, texts: Sequence[str] = (), images: Sequence[Any] = ()) -> np.ndarray:
        """Query vectors for texts, then images (file paths or RGB arrays), in one batch each."""
        parts = []
        if texts:
            parts.append(self.encoder().encode_text(list(texts)))
        if images:
            parts.append(self.encoder().encode_images([_load_image(i) for i in images]))
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def shot_vector(self, shot_id: str) -> tuple[int, np.ndarray]:
        rows = self.store.visible_shots(columns=["row_key", "embedding"],
                                        where=f"shot_id = {sql_str(shot_id)}")
        if rows.num_rows == 0:
            raise UsageError(f"--like {shot_id!r}: no such shot")
        vec = rows.column("embedding")[0].as_py()
        if vec is None:
            raise UsageError(f"--like {shot_id!r}: that shot has no embedding yet (run `rag-video embed`)")
        return int(rows.column("row_key")[0].as_py()), np.asarray(vec, np.float32)


def _load_image(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(Path(image)) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise UsageError(f"--image {str(image)!r}: cannot read it as an image ({exc})") from None


class ShotQuery:
    """A search over the library's shots; build it with `Library.search(...)`."""

    def __init__(self, searcher: Searcher, *, text: str | None = None, image: Any = None,
                 like: str | None = None, vector: Sequence[float] | np.ndarray | None = None):
        given = [name for name, v in (("text", text), ("image", image), ("like", like), ("vector", vector))
                 if v is not None]
        if len(given) != 1 and not (set(given) == {"text", "image"}):
            raise UsageError("search needs exactly one of text, image, like or vector "
                             f"(or text with image), got {given or 'none'}")
        self._s, self._text, self._image, self._like = searcher, text, image, like
        self._vector = None if vector is None else np.asarray(vector, np.float32)
        self._where: str | None = None
        self._exclude: set[str] = set()
        self._lambda: float | None = None
        self._k = 10

    # ---- builder -----------------------------------------------------------------------
    def where(self, predicate: str | None) -> ShotQuery:
        """Keep shots matching a LanceDB filter over shot columns (e.g. "duration_s > 2")."""
        self._where = predicate or None
        return self

    def exclude(self, shot_ids: Sequence[str]) -> ShotQuery:
        """Leave these shots out of the results."""
        self._exclude |= set(shot_ids)
        return self

    def diversify(self, lambda_: float = 0.5) -> ShotQuery:
        """Maximal marginal relevance: trade relevance (1.0) for variety (0.0)."""
        if not 0.0 <= lambda_ <= 1.0:
            raise UsageError(f"diversify lambda_ must be in [0, 1], got {lambda_}")
        self._lambda = lambda_
        return self

    def limit(self, k: int) -> ShotQuery:
        if k < 1:
            raise UsageError(f"limit must be at least 1, got {k}")
        self._k = int(k)
        return self

    # ---- execution ---------------------------------------------------------------------
    def _query_vector(self) -> tuple[np.ndarray, int | None]:
        if self._vector is not None:
            return _normalised(self._vector), None
        if self._like is not None:
            key, vec = self._s.shot_vector(self._like)
            return _normalised(vec), key
        vecs = self._s.vectors_for(texts=[self._text] if self._text else [],
                                   images=[self._image] if self._image is not None else [])
        return _normalised(vecs.mean(axis=0)), None

    def _filters(self) -> tuple[np.ndarray | None, set[int]]:
        allowed = keys_matching(self._s.store, self._where) if self._where else None
        excluded: set[int] = set()
        if self._exclude:
            rows = self._s.store.read("shots", columns=["row_key"], where=sql_in("shot_id", self._exclude))
            excluded = set(rows.column("row_key").to_pylist())
        return allowed, excluded

    def _vector_hits(self, vec: np.ndarray, allowed, excluded, fetch: int) -> tuple[list[int], dict[int, float]]:
        skipped = deferred_count(self._s.store)
        if skipped:
            log.warning("%d shots have no embedding yet and were skipped (run `rag-video embed`)", skipped)
        index = self._s.index.ensure()
        if vec.shape[0] != index.dim:
            raise UsageError(f"query vector has {vec.shape[0]} dimensions; the index has {index.dim}")
        scores, keys = index.search(vec[None, :], fetch, allowed=allowed, exclude=excluded or None)
        hits = [(int(k), float(s)) for k, s in zip(keys[0], scores[0]) if k >= 0]
        return [k for k, _ in hits], dict(hits)

    def to_arrow(self) -> pa.Table:
        """Run the query: one row per result, best first, with `score` and `rank`."""
        vec, like_key = self._query_vector()
        allowed, excluded = self._filters()
        fetch = self._k * (MMR_POOL if self._lambda is not None else 1)
        order, scores = self._vector_hits(vec, allowed, excluded, fetch)
        if like_key is not None and like_key not in excluded and (allowed is None or like_key in set(allowed.tolist())):
            order = [like_key] + [k for k in order if k != like_key]
            scores[like_key] = 1.0
        if self._text:
            fts = text_matches(self._s.store, self._text, where=self._where, limit=fetch, exclude=excluded)
            if fts:
                order = [k for k, _ in rank.reciprocal_rank_fusion([order, fts])]
        rows = self._rows(order)
        if self._lambda is not None:
            rows = self._diversify(rows, vec)
        return _finish(rows[: self._k], scores)

    def _rows(self, keys: list[int]) -> list[dict]:
        if not keys:
            return []
        table = self._s.store.visible_shots(columns=[*RESULT_COLUMNS, "embedding"],
                                            where=sql_in("row_key", keys))
        by_key = {r["row_key"]: r for r in table.to_pylist()}
        return [by_key[k] for k in keys if k in by_key]

    def _diversify(self, rows: list[dict], vec: np.ndarray) -> list[dict]:
        with_vec = [r for r in rows if r["embedding"] is not None]
        if not with_vec:
            return rows
        vectors = np.asarray([r["embedding"] for r in with_vec], np.float32)
        picks = rank.mmr(vectors @ vec, vectors, k=min(self._k, len(with_vec)), lambda_=self._lambda,
                         groups=[r["source_id"] for r in with_vec], group_penalty=0.05)
        return [with_vec[i] for i in picks]

    def to_list(self) -> list[dict]:
        return self.to_arrow().to_pylist()

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()


def _normalised(vec: np.ndarray) -> np.ndarray:
    vec = np.asarray(vec, np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0:
        raise UsageError("query vector must be finite and non-zero")
    return vec / norm


def _finish(rows: list[dict], scores: dict[int, float]) -> pa.Table:
    out = []
    for i, row in enumerate(rows):
        row = {k: v for k, v in row.items() if k != "embedding"}
        row["score"] = scores.get(row["row_key"])
        row["rank"] = i + 1
        out.append(row)
    if not out:
        return pa.table({c: pa.array([], pa.string()) for c in ["shot_id", "path"]})
    return pa.Table.from_pylist(out)


def search_many(searcher: Searcher, *, texts: Sequence[str] = (), vectors: np.ndarray | None = None,
                where: str | None = None, limit: int = 10) -> list[pa.Table]:
    """Many vector searches at once: one encoder batch, one index call, one row fetch.
    Returns one result table per query (texts first, then the given vectors)."""
    parts = [searcher.vectors_for(texts=texts)] if texts else []
    if vectors is not None and len(vectors):
        parts.append(np.asarray(vectors, np.float32))
    if not parts:
        return []
    queries = np.concatenate(parts)
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    allowed = keys_matching(searcher.store, where) if where else None
    scores, keys = searcher.index.ensure().search(queries, limit, allowed=allowed)
    wanted = sorted({int(k) for k in keys.ravel() if k >= 0})
    table = searcher.store.visible_shots(columns=RESULT_COLUMNS, where=sql_in("row_key", wanted)) \
        if wanted else None
    by_key = {r["row_key"]: r for r in table.to_pylist()} if table is not None else {}
    results = []
    for q in range(len(queries)):
        hits = [(int(k), float(s)) for k, s in zip(keys[q], scores[q]) if k >= 0 and int(k) in by_key]
        results.append(_finish([by_key[k] for k, _ in hits], dict(hits)))
    return results
