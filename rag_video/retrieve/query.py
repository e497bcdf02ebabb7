"""The search builder, in LanceDB's style: methods return the query, `to_*()` runs it.

    (lib.search(text="a rabbit in a meadow").where("duration_s > 2").diversify(0.5).limit(5)
        .to_pandas())

Vector ranking comes from the FAISS index (kept in step with the table), filters are applied as
pre-filters on row keys so they are exact, and a text query is fused with full-text matches over
the shots' text (sidecar titles, descriptions, tags and subtitles) by reciprocal-rank fusion.
`score` is the cosine similarity of the vector match (null for text-only hits).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa

from rag_video.embed.config import encoder_of
from rag_video.errors import UsageError
from rag_video.index.predicate import check_predicate
from rag_video.index.state import RESULT_COLUMNS, TableState, embedding_matrix
from rag_video.index.sync import IndexManager
from rag_video.retrieve import rank
from rag_video.retrieve.fts import text_matches
from rag_video.retrieve.results import (
    admitted,
    check_limit,
    normalised,
    result_schema,
    results_table,
    searchable_count,
    vector_hits,
)
from rag_video.store import Store, sql_in
from rag_video.vectors import unit_rows

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
MMR_POOL = 4  # diversify picks from this many times the limit (per pass)
GROUP_PENALTY = 0.05  # MMR: per already-picked shot of the same source
MAX_IMAGE_PIXELS = 89_478_485  # a query image larger than this is refused (PIL's bomb threshold)


class Searcher:
    """What a query needs from the library: the store, the index and the query encoder."""

    def __init__(self, store: Store, index: IndexManager, load_encoder):
        self.store, self.index, self._load_encoder = store, index, load_encoder
        self._encoder = None

    def encoder(self, towers: Sequence[str] = ("image", "text")):
        """The encoder the table was embedded with (queries must use the same one), with at least
        `towers` loaded: a text query loads the text tower alone, an image query both."""
        model_id = self.index.state().model_id
        if model_id is None:
            raise UsageError("the library has no embeddings yet: run `rag-video embed`")
        current = self._encoder
        if (
            current is None
            or current.model_id != model_id
            or not set(towers) <= set(current.towers)
        ):
            config = encoder_of(self.index.state().dataset, model_id)
            self._encoder = self._load_encoder(config.model, config.pretrained, towers=towers)
        return self._encoder

    def any_encoder(self, towers: Sequence[str] = ("image", "text")):
        """The table's encoder (see `encoder`), or the configured one while the table has no
        embeddings yet (checks that judge outputs, not queries against the table)."""
        if self.index.state().model_id is not None:
            return self.encoder(towers)
        return self._load_encoder(None, None, towers=towers)

    def vectors_for(self, *, texts: Sequence[str] = (), images: Sequence[Any] = ()) -> np.ndarray:
        """Query vectors for texts, then images (file paths or RGB arrays), in one batch each."""
        towers = ("image", "text") if images else ("text",)
        parts = []
        if texts:
            encoder = self.encoder(towers)
            started = time.perf_counter()
            parts.append(encoder.encode_text(list(texts)))
            seconds = time.perf_counter() - started
            log.debug(
                "encoded %d query texts in %.2f s",
                len(texts),
                seconds,
                extra={"query_encode_s": round(seconds, 3)},
            )
        if images:
            parts.append(self.encoder(towers).encode_images([_load_image(i) for i in images]))
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
            return normalised(self._vector), None
        if self._like is not None:
            key, vec = self._s.shot_vector(self._like, state)
            return normalised(vec), key
        vecs = self._s.vectors_for(
            texts=[self._text] if self._text else [],
            images=[self._image] if self._image is not None else [],
        )
        vecs = unit_rows(vecs)
        return normalised(vecs.mean(axis=0)), None

    def to_arrow(self) -> pa.Table:
        """Run the query: one row per result, best first, with `score` (cosine) and `rank`."""
        if self._text and self._image is None and self._s.store.embed_model() is None:
            return self.text_only()
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
        fetch = min(
            self._k * (MMR_POOL if self._lambda is not None else 1), searchable_count(state)
        )
        order, scores = vector_hits(index, state, vec, fetch, allowed, excluded)
        if self._lambda is not None:
            order = self._widen_pool(index, state, vec, order, scores, allowed, excluded)
        if like_key is not None and admitted(np.asarray([like_key]), allowed, excluded)[0]:
            order = [like_key] + [k for k in order if k != like_key]
            scores[like_key] = 1.0
        if self._text:
            order = self._fuse_text(state, order, fetch, allowed, excluded)
        if self._lambda is None:
            return results_table(state, order[: self._k], scores)
        return self._diversified(state, order, scores, vec, self._lambda)

    def text_only(self, first: bool = True) -> pa.Table:
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
        keys = raw[state.is_searchable(raw) & admitted(raw, allowed, excluded)][:fetch]
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
        more, more_scores = vector_hits(
            index, state, vec, min(self._k * MMR_POOL, searchable_count(state)), allowed, banned
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
            return results_table(state, order[: self._k], scores)
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
        return results_table(state, [keys[i] for i in picks], scores)

    def to_list(self) -> list[dict]:
        """Run the query; one dict per result."""
        return self.to_arrow().to_pylist()

    def to_pandas(self) -> pd.DataFrame:
        """Run the query; a DataFrame, one row per result."""
        return self.to_arrow().to_pandas()
