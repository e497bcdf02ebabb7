"""The text score of retrieval without embeddings: the share of a query's content words
(lower-cased, stop words dropped, plurals folded) found in a shot's sidecar and subtitle text, in
[0, 1], with its own thresholds (``TEXT_REUSE``, ``TEXT_FILL``). BM25 scores are not used as
scores: they depend on the library's size. A plan's queries are scored against all candidate
texts at once through an inverted index of their words.
"""

from __future__ import annotations

import re

import numpy as np

TEXT_REUSE, TEXT_FILL = 0.75, 0.4
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


def text_scores(queries: list[str], texts: list[str | None]) -> np.ndarray:
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
