"""Embedding of shots: the batching consumer used during ingest, and filling deferred rows later.

A shot's vector is the normalised mean of its keyframe vectors. The encoder is loaded once, on
first need; when its weights cannot be had, embeddings are deferred with one warning and ingest
goes on (`rag-video embed` fills them later).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rag_video import schema
from rag_video.embed.config import EncoderConfig
from rag_video.ingest.analyze import FileResult
from rag_video.ingest.commit import Ready, record_encoder
from rag_video.vectors import unit_rows

log = logging.getLogger(__name__)


def shot_vectors(encoder, images_per_shot: list[list[np.ndarray]]) -> np.ndarray:
    """One L2-normalised vector per shot: the mean of its keyframes' vectors."""
    flat = [img for imgs in images_per_shot for img in imgs]
    vecs = encoder.encode_images(flat)
    means, at = np.zeros((len(images_per_shot), vecs.shape[1]), np.float32), 0
    for i, imgs in enumerate(images_per_shot):
        means[i] = vecs[at : at + len(imgs)].mean(axis=0)
        at += len(imgs)
    return unit_rows(means)


@dataclass
class EmbedQueue:
    """Collects finished files and embeds their keyframes in batches that span files.

    `load` returns an Encoder or raises EncoderUnavailable; None disables embedding (--no-embed).
    """

    load: Callable[[], object] | None
    dim: int = schema.DEFAULT_DIM
    batch_images: int = 64
    pending: list[FileResult] = field(default_factory=list)
    encoder: object | None = None
    unavailable: str | None = None

    def _encoder(self):
        if self.load is None or self.unavailable:
            return None
        if self.encoder is None:
            from rag_video.embed import EncoderUnavailable

            try:
                self.encoder = self.load()
            except EncoderUnavailable as exc:
                self.unavailable = str(exc)
                log.warning("embeddings deferred: %s", exc)
                return None
        return self.encoder

    def put(self, result: FileResult) -> list[Ready]:
        """Queue a result; returns the results now ready to commit."""
        if not result.ok or self.load is None or self.unavailable:
            return [Ready(result)]
        self.pending.append(result)
        if sum(len(k) for r in self.pending for k in r.keyframes) >= self.batch_images:
            return self.flush()
        return []

    def flush(self) -> list[Ready]:
        """Embed every queued result; returns them ready to commit."""
        pending, self.pending = self.pending, []
        if not pending:
            return []
        encoder = self._encoder()
        if encoder is None:
            return [Ready(r) for r in pending]
        vectors = shot_vectors(encoder, [k for r in pending for k in r.keyframes])
        config = EncoderConfig.from_encoder(encoder)
        ready, at = [], 0
        for r in pending:
            ready.append(Ready(r, vectors[at : at + len(r.shots)], config))
            at += len(r.shots)
        return ready


def fill_embeddings(store, encoder, shots, *, advance=lambda n=1: None) -> tuple[int, list[str]]:
    """Embed `shots` (rows of the shots table) from their keyframes, decoded at their stored times.

    Returns (shots embedded, problems); a source whose file is gone stays deferred.
    """

    from rag_video.media.probe import MediaError
    from rag_video.media.seek import frames_at

    done, problems = 0, []
    by_source: dict[str, list[dict]] = {}
    for row in shots:
        by_source.setdefault(row["source_id"], []).append(row)
    dim = store.shots_dim()
    for rows in by_source.values():
        rows.sort(key=lambda r: r["start_s"])
        try:  # one open and one pass of seeks per source, in time order
            times = [t for r in rows for t in r["keyframe_times"]]
            flat = frames_at(rows[0]["path"], times)
            images, at = [], 0
            for r in rows:
                images.append(flat[at : at + len(r["keyframe_times"])])
                at += len(r["keyframe_times"])
        except (MediaError, OSError) as exc:
            problems.append(f"{rows[0]['path']}: {exc}")
            advance(len(rows))
            continue
        vectors = shot_vectors(encoder, images)
        for row, vec in zip(rows, vectors, strict=False):
            row["embedding"], row["embed_model"] = vec.tolist(), encoder.model_id
        store.upsert(
            "shots",
            "row_key",
            schema.to_table(rows, schema.shots_schema(dim)),
            schema.shots_schema(dim),
        )
        done += len(rows)
        advance(len(rows))
    if done:
        record_encoder(store, EncoderConfig.from_encoder(encoder))
    return done, problems
