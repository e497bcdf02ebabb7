"""Full-text matches over the shots' `text` (sidecar title, description, tags and subtitles),
through LanceDB's full-text index."""

from __future__ import annotations

import logging

from rag_video.store import Store

log = logging.getLogger(__name__)
FTS_COLUMN = "text"


def has_fts_index(table) -> bool:
    return any(
        FTS_COLUMN in idx.columns and idx.index_type == "FTS" for idx in table.list_indices()
    )


def ensure_fts_index(store: Store) -> bool:
    """Create the full-text index on shots.text when missing (a write: hold the lock).
    Rows added later are still searched (flat) until `optimize` folds them into the index."""
    table = store.table("shots")
    if table is None or table.count_rows() == 0:
        return False
    if not has_fts_index(table):
        from lancedb.index import FTS

        table.create_index(FTS_COLUMN, config=FTS(), replace=True)
    return True


def text_matches(
    store: Store, text: str, *, where: str | None = None, limit: int = 10
) -> list[int]:
    """row_keys of shots whose text matches `text`, best first (empty without an index).

    Raw candidates: the caller keeps the ones it may show (visible, embedded, not excluded), so
    this over-fetches by a margin. `where` (one predicate: index.predicate.check_predicate) is
    applied as a pre-filter."""
    table = store.table("shots")
    if table is None or not text.strip() or not has_fts_index(table):
        return []
    query = table.search(text, query_type="fts").select(["row_key", "_score"])
    if where:
        from rag_video.index.predicate import check_predicate

        query = query.where(check_predicate(where), prefilter=True)
    rows = query.limit(limit * 2 + 20).to_arrow()
    return rows.column("row_key").to_pylist()


def text_match_scores(store: Store, text: str, *, limit: int = 20) -> list[tuple[int, float]]:
    """(row_key, BM25 score) of visible shots matching `text`, best first (for text-only
    retrieval when a library has no embeddings)."""
    table = store.table("shots")
    if table is None or not text.strip() or not has_fts_index(table):
        return []
    ok = store.ok_source_ids()
    rows = (
        table.search(text, query_type="fts")
        .select(["row_key", "source_id", "_score"])
        .limit(limit * 2)
    )
    hits = [
        (r["row_key"], float(r["_score"]))
        for r in rows.to_arrow().to_pylist()
        if r["source_id"] in ok
    ]
    return hits[:limit]
