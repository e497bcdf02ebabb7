# Over 450 lines, kept whole for now (issue 11): one query builder and its fusion; next cut:
# search_many's batching into its own module.
"""The search builder, in LanceDB's style: methods return the query, `to_*()` runs it.

    (lib.search(text="a rabbit in a meadow").where("duration_s > 2").diversify(0.5).limit(5)
        .to_pandas())

Vector ranking comes from the FAISS index (kept in step with the table), filters are applied as
pre-filters on row keys so they are exact, and a text query is fused with full-text matches over
the shots' text (sidecar titles, descriptions, tags and subtitles) by reciprocal-rank fusion.
`score` is the cosine similarity of the vector match (null for text-only hits).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa

from rag_video import schema
from rag_video.errors import UsageError
from rag_video.index.sync import IndexManager, TableState, check_predicate, embedding_matrix
from rag_video.retrieve import rank
from rag_video.retrieve.fts import text_matches
from rag_video.store import Store, sql_in
from rag_video.vectors import unit_rows

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
RESULT_COLUMNS = [
    "shot_id",
    "path",
    "start_s",
    "end_s",
    "duration_s",
    "source_id",
    "row_key",
    "start_frame",
    "end_frame",
    "fps",
    "width",
    "height",
    "transition_in",
    "text",
    "brightness",
    "motion",
    "dominant_colors",
    "thumbnail",
]
MMR_POOL = 4  # diversify picks from this many times the limit (per pass)
GROUP_PENALTY = 0.05  # MMR: per already-picked shot of the same source
MODEL_PREFIXES = ("hf-hub:", "local-dir:")
LOSSY_TYPES = ("ivfpq",)  # compressed vectors: candidates are re-ranked by exact cosine
REFINE_FACTOR = 4  # ... from this many times the wanted count
MAX_LIMIT = 10_000  # results per query; fetches are also clamped to the library's size
MAX_IMAGE_PIXELS = 89_478_485  # a query image larger than this is refused (PIL's bomb threshold)


def split_model_id(model_id: str) -> tuple[str, str]:
    """`"{model}/{pretrained}"` back into its parts (hf-hub:/local-dir: names contain slashes)."""
    if model_id.startswith(MODEL_PREFIXES):
        model, _, pretrained = model_id.rpartition("/")
    else:
        model, _, pretrained = model_id.partition("/")
    return model, pretrained or "none"


class Searcher:
    """What a query needs from the library: the store, the index and the query encoder."""

    def __init__(self, store: Store, index: IndexManager, load_encoder):
        self.store, self.index, self._load_encoder = store, index, load_encoder
        self._encoder = None

    def encoder(self):
        """The encoder the table was embedded with (queries must use the same one)."""
        model_id = self.index.state().model_id
        if model_id is None:
            raise UsageError("the library has no embeddings yet: run `rag-video embed`")
        if self._encoder is None or self._encoder.model_id != model_id:
            self._encoder = self._load_encoder(*split_model_id(model_id))
        return self._encoder

    def vectors_for(self, *, texts: Sequence[str] = (), images: Sequence[Any] = ()) -> np.ndarray:
        """Query vectors for texts, then images (file paths or RGB arrays), in one batch each."""
        parts = []
        if texts:
            parts.append(self.encoder().encode_text(list(texts)))
        if images:
            parts.append(self.encoder().encode_images([_load_image(i) for i in images]))
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def shot_vector(self, shot_id: str, state: TableState | None = None) -> tuple[int, np.ndarray]:
        """(row_key, embedding) of a visible shot; a usage error when it is unknown or deferred."""
        state = state or self.index.state()
        offset = state.shot_offset(shot_id)
        if offset is None:
            raise UsageError(f"--like {shot_id!r}: no such shot")
        key = int(state.keys[offset])
        if not state.embedded[offset]:
            raise UsageError(
                f"--like {shot_id!r}: that shot has no embedding yet (run `rag-video embed`)"
            )
        keys, vectors = state.vectors([key])
        if not len(keys):
            raise UsageError(
                f"--like {shot_id!r}: that shot has no embedding yet (run `rag-video embed`)"
            )
        return key, vectors[0]

    def ready(self) -> tuple[TableState, Any]:
        """The current table state and an index in step with it; warns about deferred shots."""
        state = self.index.state()
        index = self.index.ensure(state)
        if state.deferred:
            log.warning(
                "%d shots have no embedding yet and were skipped (run `rag-video embed`)",
                state.deferred,
            )
        return state, index


def _load_image(image: Any) -> np.ndarray:
    """An RGB array of a query image; one-line usage errors for unreadable, oversized or
    decompression-bomb files (the pixel count is checked from the header, before decoding)."""
    if isinstance(image, np.ndarray):
        return image
    import warnings

    from PIL import Image, UnidentifiedImageError

    name = str(image)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(Path(image)) as img:
                width, height = img.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise UsageError(
                        f"--image {name!r}: {width}x{height} is too large "
                        f"(at most {MAX_IMAGE_PIXELS // 1_000_000} megapixels)"
                    )
                img.draft("RGB", (1024, 1024))  # JPEG: decode at a reduced scale, cheaply
                return np.asarray(img.convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UsageError(f"--image {name!r}: refused as a decompression bomb ({exc})") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise UsageError(f"--image {name!r}: cannot read it as an image ({exc})") from None
    except MemoryError:
        raise UsageError(f"--image {name!r}: not enough memory to decode it") from None


class ShotQuery:
    """A search over the library's shots; build it with `Library.search(...)`."""

    def __init__(
        self,
        searcher: Searcher,
        *,
        text: str | None = None,
        image: Any = None,
        like: str | None = None,
        vector: Sequence[float] | np.ndarray | None = None,
    ):
        given = [
            name
            for name, v in (("text", text), ("image", image), ("like", like), ("vector", vector))
            if v is not None
        ]
        if len(given) != 1 and not (set(given) == {"text", "image"}):
            raise UsageError(
                "search needs exactly one of text, image, like or vector "
                f"(or text with image), got {given or 'none'}"
            )
        self._s, self._text, self._image, self._like = searcher, text, image, like
        self._vector = None if vector is None else np.asarray(vector, np.float32)
        self._where: str | None = None
        self._exclude: set[str] = set()
        self._lambda: float | None = None
        self._k = 10

    # ---- builder -----------------------------------------------------------------------
    def where(self, predicate: str | None) -> ShotQuery:
        """Keep shots matching a LanceDB filter over shot columns (e.g. "duration_s > 2"): one
        predicate (a usage error for `;`, unbalanced parentheses or trailing clauses)."""
        if predicate:
            check_predicate(predicate)
        self._where = predicate or None
        return self

    def exclude(self, shot_ids: Sequence[str]) -> ShotQuery:
        """Leave these shots out of the results."""
        self._exclude |= {shot_ids} if isinstance(shot_ids, str) else set(shot_ids)
        return self

    def diversify(self, lambda_: float = 0.5) -> ShotQuery:
        """Maximal marginal relevance: trade relevance (1.0) for variety (0.0), so one long
        source doesn't fill the results."""
        if not 0.0 <= lambda_ <= 1.0:
            raise UsageError(f"diversify lambda_ must be in [0, 1], got {lambda_}")
        self._lambda = lambda_
        return self

    def limit(self, k: int) -> ShotQuery:
        """Return at most `k` results (10 by default; at most MAX_LIMIT)."""
        self._k = check_limit(k)
        return self

    # ---- execution ---------------------------------------------------------------------
    def _query_vector(self, state: TableState) -> tuple[np.ndarray, int | None]:
        if self._vector is not None:
            return _normalised(self._vector), None
        if self._like is not None:
            key, vec = self._s.shot_vector(self._like, state)
            return _normalised(vec), key
        vecs = self._s.vectors_for(
            texts=[self._text] if self._text else [],
            images=[self._image] if self._image is not None else [],
        )
        vecs = unit_rows(vecs)
        return _normalised(vecs.mean(axis=0)), None

    def to_arrow(self) -> pa.Table:
        """Run the query: one row per result, best first, with `score` (cosine) and `rank`."""
        if self._text and self._image is None and self._s.store.embed_model() is None:
            return self._text_only()
        state, index = self._s.ready()
        allowed = (
            state.matching(self._where) if self._where else None
        )  # a bad predicate fails first
        excluded = state.keys_of_shots(self._exclude) if self._exclude else None
        vec, like_key = self._query_vector(state)
        if vec.shape[0] != index.dim:
            raise UsageError(
                f"query vector has {vec.shape[0]} dimensions; the index has {index.dim}"
            )
        fetch = min(self._k * (MMR_POOL if self._lambda is not None else 1), _searchable(state))
        order, scores = _hits(index, state, vec, fetch, allowed, excluded)
        if self._lambda is not None:
            order = self._widen_pool(index, state, vec, order, scores, allowed, excluded)
        if like_key is not None and _admitted(np.asarray([like_key]), allowed, excluded)[0]:
            order = [like_key] + [k for k in order if k != like_key]
            scores[like_key] = 1.0
        if self._text:
            order = self._fuse_text(state, order, fetch, allowed, excluded)
        if self._lambda is None:
            return _results(state, order[: self._k], scores)
        return self._diversified(state, order, scores, vec, self._lambda)

    def _text_only(self, first: bool = True) -> pa.Table:
        """A library without embeddings still answers text queries, by full-text matches alone
        (score null: there is no vector match). `first`: the first query of a batch checks the
        predicate and warns; the others of the batch share it."""
        if first and self._where:  # a bad predicate fails here as it does on the vector path
            self._s.index.state().matching(self._where)
        if first:
            log.warning(
                "the library has no embeddings: text matches only (run `rag-video embed` for "
                "visual search)"
            )
        store = self._s.store
        ds = store.dataset("shots")
        size = max(1, ds.count_rows() if ds is not None else 0)
        limit = min(self._k + len(self._exclude), size)
        assert self._text is not None  # callers only ask for text matches of a text query
        keys = text_matches(store, self._text, where=self._where, limit=limit)
        if not keys:
            return result_schema().empty_table()
        rows = store.visible_shots(
            columns=RESULT_COLUMNS, where=sql_in("row_key", keys)
        ).to_pylist()
        by_key = {r["row_key"]: r for r in rows if r["shot_id"] not in self._exclude}
        ordered = [by_key[k] for k in keys if k in by_key][: self._k]
        for rank_, row in enumerate(ordered, 1):
            row.update(score=None, rank=rank_)
        return pa.Table.from_pylist(ordered, schema=result_schema())

    def _fuse_text(
        self, state: TableState, order: list[int], fetch: int, allowed, excluded
    ) -> list[int]:
        """Reciprocal-rank fusion of the vector ranking with full-text matches (searchable,
        filtered and not excluded ones only)."""
        assert self._text is not None  # only called for a text query
        raw = np.asarray(
            text_matches(self._s.store, self._text, where=self._where, limit=fetch), np.int64
        )
        keys = raw[state.is_searchable(raw) & _admitted(raw, allowed, excluded)][:fetch]
        if not len(keys):
            return order
        fused = rank.reciprocal_rank_fusion([order, keys.tolist()])
        return [cast(int, k) for k, _ in fused]

    def _widen_pool(
        self,
        index,
        state: TableState,
        vec: np.ndarray,
        order: list[int],
        scores: dict[int, float],
        allowed,
        excluded,
    ) -> list[int]:
        """When one source holds more than half of the limit in the pool, search again without
        that source's shots, so MMR has other sources to choose from."""
        codes = (
            state.source_codes[state.offsets(np.asarray(order, np.int64))] if order else np.empty(0)
        )
        values, counts = np.unique(codes, return_counts=True)
        crowded = values[counts > max(1, self._k // 2)]
        if not len(crowded):
            return order
        banned = state.keys_of_sources(crowded)
        if excluded is not None:
            banned = np.concatenate([banned, excluded])
        more, more_scores = _hits(
            index, state, vec, min(self._k * MMR_POOL, _searchable(state)), allowed, banned
        )
        seen = set(order)
        scores.update(more_scores)
        return order + [k for k in more if k not in seen]

    def _diversified(
        self,
        state: TableState,
        order: list[int],
        scores: dict[int, float],
        vec: np.ndarray,
        lambda_: float,
    ) -> pa.Table:
        rows = state.take(order, ["row_key", "source_id", "embedding"])
        rows = rows.filter(rows.column("embedding").is_valid())
        if rows.num_rows == 0:
            return _results(state, order[: self._k], scores)
        vectors = embedding_matrix(rows)
        vectors = unit_rows(vectors)
        picks = rank.mmr(
            vectors @ vec,
            vectors,
            k=min(self._k, rows.num_rows),
            lambda_=lambda_,
            groups=rows.column("source_id").to_pylist(),
            group_penalty=GROUP_PENALTY,
        )
        keys = rows.column("row_key").to_pylist()
        return _results(state, [keys[i] for i in picks], scores)

    def to_list(self) -> list[dict]:
        """Run the query; one dict per result."""
        return self.to_arrow().to_pylist()

    def to_pandas(self) -> pd.DataFrame:
        """Run the query; a DataFrame, one row per result."""
        return self.to_arrow().to_pandas()


def check_limit(k: Any) -> int:
    """A result limit as an int in [1, MAX_LIMIT] (a usage error naming it otherwise)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_LIMIT:
        raise UsageError(f"--limit {k!r}: must be a whole number from 1 to {MAX_LIMIT}")
    return int(k)


def _searchable(state: TableState) -> int:
    """How many shots a search can return (at least 1): fetches never ask for more."""
    return max(1, int(state.searchable.sum()))


def _admitted(
    keys: np.ndarray, allowed: np.ndarray | None, excluded: np.ndarray | None
) -> np.ndarray:
    """Which keys pass the filter (`allowed`, None = all) and are not excluded."""
    ok = np.ones(len(keys), bool) if allowed is None else np.isin(keys, allowed)
    if excluded is not None:
        ok &= ~np.isin(keys, excluded)
    return ok


def _hits(
    index, state: TableState, vec: np.ndarray, fetch: int, allowed, excluded
) -> tuple[list[int], dict[int, float]]:
    """The index's top `fetch` keys for one query vector, and their cosine scores."""
    exclude = excluded if excluded is not None and len(excluded) else None
    wanted = fetch * REFINE_FACTOR if index.index_type in LOSSY_TYPES else fetch
    wanted = max(1, min(wanted, len(state.keys)))
    scores, keys = index.search(vec[None, :], wanted, allowed=allowed, exclude=exclude)
    if index.index_type in LOSSY_TYPES:
        scores, keys = _refine(state, vec[None, :], keys, fetch)
    hits = [(int(k), float(s)) for k, s in zip(keys[0], scores[0], strict=False) if k >= 0]
    return [k for k, _ in hits], dict(hits)


def _refine(
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


def _normalised(vec: np.ndarray) -> np.ndarray:
    vec = np.asarray(vec, np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(norm) or norm == 0:
        raise UsageError("query vector must be finite and non-zero")
    return vec / norm


@functools.cache
def result_schema() -> pa.Schema:
    """Columns of a result table: the shot columns of RESULT_COLUMNS, then score and rank."""
    shots = schema.shots_schema()
    return pa.schema(
        [shots.field(c) for c in RESULT_COLUMNS]
        + [pa.field("score", pa.float64()), pa.field("rank", pa.int32())]
    )


def _results(state: TableState, keys: list[int], scores: dict[int, float]) -> pa.Table:
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
            ShotQuery(searcher, text=t).where(where).limit(limit)._text_only(first=i == 0)
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
    limit = min(limit, _searchable(state))
    scores, keys = index.search(queries, limit * REFINE_FACTOR if lossy else limit, allowed=allowed)
    if lossy:
        scores, keys = _refine(state, queries, keys, limit)
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
        results.append(_slice(table, at, hits))
    return results


def _slice(table: pa.Table | None, at: dict[int, int], hits: list[tuple[int, float]]) -> pa.Table:
    out_schema = result_schema()
    if table is None or not hits:
        return out_schema.empty_table()
    rows = table.take(pa.array([at[k] for k, _ in hits], pa.int64())).select(RESULT_COLUMNS)
    rows = rows.append_column("score", pa.array([s for _, s in hits], pa.float64()))
    rows = rows.append_column("rank", pa.array(np.arange(1, len(hits) + 1, dtype=np.int32)))
    return rows.cast(out_schema)
