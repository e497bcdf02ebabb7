"""Subtitle cues from a voice's word timings (:func:`word_cues`): what a narrated shot says, cut
into readable cues that appear when the words are heard.

A cue holds at most ``max_lines`` lines of at most ``max_chars`` characters, wrapped greedily by
the text's own whitespace-separated words (a word longer than a line is a line of its own, never
cut). A cue ends at its last sentence end (or blank line) that leaves it at least half full,
even when more would fit; without one, a cue that must end (the rest does not fit) ends at its
last clause mark (``, ; :``) past half full, else where it is full. A cue's text is the
original text of its words (punctuation and casing kept); it starts when its first word starts
and ends when its last word ends, stretched to ``min_s`` on screen when there is room (never
past the next cue nor the shot's end). A cue that cannot be stretched to ``min_s`` joins a
neighbour if the two still fit.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from rag_video.generate.manifest import Cue
from rag_video.voice.base import WordTiming, word_spans

_CLOSERS = "\"'»”’)]}"
_SENTENCE = re.compile(rf"[.!?…。！？][{re.escape(_CLOSERS)}]*$")
_CLAUSE = re.compile(rf"[,;:，；：][{re.escape(_CLOSERS)}]*$")
_PARAGRAPH = re.compile(r"\n\s*\n")
_EPS = 1e-9


@dataclass(frozen=True)
class _Token:
    """The unit cues are cut at: one or more written words (``pieces``) spoken by one or more
    timed words, from ``start_s`` to ``end_s``."""

    pieces: tuple[str, ...]
    start_s: float
    end_s: float
    sentence_end: bool
    clause_end: bool


def _check(
    max_chars: int, max_lines: int, min_s: float, offset_s: float, end_s: float | None
) -> None:
    def integer(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def number(value: object) -> bool:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )

    if not (integer(max_chars) and max_chars >= 10):
        raise ValueError(f"word_cues: max_chars must be an int >= 10, got {max_chars!r}")
    if not (integer(max_lines) and max_lines >= 1):
        raise ValueError(f"word_cues: max_lines must be an int >= 1, got {max_lines!r}")
    if not (number(min_s) and min_s >= 0):
        raise ValueError(f"word_cues: min_s must be a number >= 0, got {min_s!r}")
    if not (number(offset_s) and offset_s >= 0):
        raise ValueError(f"word_cues: offset_s must be a number >= 0, got {offset_s!r}")
    if end_s is not None and not (number(end_s) and end_s >= 0):
        raise ValueError(f"word_cues: end_s must be None or a number >= 0, got {end_s!r}")


def _tokens(words: Sequence[WordTiming], text: str) -> list[_Token]:
    """Group the timed words by the written words (whitespace-separated) they fall in; written
    words no timed word covers (a lone dash, a skipped symbol) join the token before them (the
    first token for those before any)."""
    chunks = word_spans(text)
    if not chunks:
        raise ValueError(f"word_cues: text has no words to show, got {text[:40]!r}")
    starts, ends = [a for a, _ in chunks], [b for _, b in chunks]
    groups: list[list[int]] = []  # [first chunk, last chunk, first word, last word]
    prev: WordTiming | None = None
    for k, w in enumerate(words):
        if w.char_end > len(text):
            raise ValueError(
                f"word_cues: words[{k}] ends at character {w.char_end}, past the text "
                f"({len(text)} characters)"
            )
        if prev is not None and (w.start_s < prev.start_s or w.char_start < prev.char_start):
            raise ValueError(
                f"word_cues: words must be in spoken order, words[{k}] ({w.text!r} at "
                f"{w.start_s:.3f} s) comes before words[{k - 1}]"
            )
        prev = w
        first = bisect_right(ends, w.char_start)  # first chunk ending after the word starts
        last = bisect_left(starts, max(w.char_end, w.char_start + 1)) - 1  # last starting in it
        if first > last:  # the word covers no written character: it joins the chunk before
            first = last = max(0, min(last, len(chunks) - 1))
        if groups and first <= groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], last)
            groups[-1][3] = k
        else:
            groups.append([first, last, k, k])
    groups[0][0] = 0
    for g, nxt in zip(groups, [*groups[1:], None], strict=True):
        g[1] = nxt[0] - 1 if nxt is not None else len(chunks) - 1
    tokens = []
    for first, last, w0, w1 in groups:
        pieces = tuple(text[a:b] for a, b in chunks[first : last + 1])
        after = text[chunks[last][1] : chunks[last + 1][0]] if last + 1 < len(chunks) else ""
        tokens.append(
            _Token(
                pieces=pieces,
                start_s=words[w0].start_s,
                end_s=max(w.end_s for w in words[w0 : w1 + 1]),
                sentence_end=bool(_SENTENCE.search(pieces[-1]) or _PARAGRAPH.search(after)),
                clause_end=bool(_CLAUSE.search(pieces[-1])),
            )
        )
    return tokens


def _wrap(pieces: Sequence[str], max_chars: int) -> list[str]:
    """Greedy lines of at most ``max_chars`` (a longer word is a line of its own)."""
    lines: list[str] = []
    line = ""
    for piece in pieces:
        if line and len(line) + 1 + len(piece) <= max_chars:
            line += " " + piece
        else:
            if line:
                lines.append(line)
            line = piece
    if line:
        lines.append(line)
    return lines


def _pieces(tokens: Sequence[_Token]) -> list[str]:
    return [p for t in tokens for p in t.pieces]


def _cut(tokens: list[_Token], max_chars: int, max_lines: int) -> list[tuple[int, int]]:
    """Token ranges ``[i, j)`` of the cues, before timing."""
    half = max_chars * max_lines / 2
    ranges: list[tuple[int, int]] = []
    i, n = 0, len(tokens)
    while i < n:
        j = i + 1  # the longest run from i that fits (at least one token)
        while j < n and len(_wrap(_pieces(tokens[i : j + 1]), max_chars)) <= max_lines:
            j += 1
        sentence = clause = None
        chars = -1  # characters of tokens i..k on one line
        for k in range(i, j):
            chars += sum(len(p) + 1 for p in tokens[k].pieces)
            if k + 1 < n and chars >= half:
                if tokens[k].sentence_end:
                    sentence = k + 1
                if tokens[k].clause_end:
                    clause = k + 1
        end = sentence or (clause if j < n else None) or j
        ranges.append((i, end))
        i = end
    return ranges


def word_cues(
    words: Sequence[WordTiming],
    text: str,
    *,
    offset_s: float = 0.0,
    end_s: float | None = None,
    max_chars: int = 42,
    max_lines: int = 2,
    min_s: float = 1.0,
) -> list[Cue]:
    """Subtitle cues of one speech: ``words`` (its word timings, seconds from the speech's start,
    characters of ``text``) placed at ``offset_s`` of the output.

    Each cue is at most ``max_lines`` lines of at most ``max_chars`` characters (a longer word is
    a line of its own); cues end preferably at sentence ends, then at ``, ; :``, once at least
    half full. A cue starts at its first word's ``start_s + offset_s`` and ends at its last
    word's ``end_s + offset_s``, stretched to ``min_s`` when that passes neither the next cue's
    start nor ``end_s`` (output seconds; None: no limit). A cue that cannot last ``min_s`` is
    merged with the cue before it, else the one after, when the two fit in one cue; otherwise
    it stays short. Word times that run past ``end_s`` are kept (``end_s`` only bounds the
    stretch). No words, no cues.

    Raises ``ValueError`` naming the argument for ``max_chars < 10``, ``max_lines < 1``,
    ``min_s < 0``, a negative ``offset_s`` or ``end_s``, and words out of spoken order or past
    the text.
    """
    _check(max_chars, max_lines, min_s, offset_s, end_s)
    if not words:
        return []
    tokens = _tokens(words, text)
    ranges = _cut(tokens, max_chars, max_lines)
    limit = math.inf if end_s is None else float(end_s)

    def fits(i: int, j: int) -> bool:
        return len(_wrap(_pieces(tokens[i:j]), max_chars)) <= max_lines

    def span(k: int) -> tuple[float, float]:
        """Where cue ``k`` can be on screen: its start and its end stretched toward min_s."""
        i, j = ranges[k]
        start = tokens[i].start_s + offset_s
        nxt = tokens[ranges[k + 1][0]].start_s + offset_s if k + 1 < len(ranges) else math.inf
        end = max(tokens[j - 1].end_s + offset_s, min(start + min_s, nxt, limit))
        return start, min(end, nxt)  # words that overlap the next cue's end where it starts

    k = 0
    while k < len(ranges):
        start, end = span(k)
        if end - start >= min_s - _EPS:
            k += 1
        elif k > 0 and fits(ranges[k - 1][0], ranges[k][1]):
            ranges[k - 1 : k + 1] = [(ranges[k - 1][0], ranges[k][1])]
            k -= 1
        elif k + 1 < len(ranges) and fits(ranges[k][0], ranges[k + 1][1]):
            ranges[k : k + 2] = [(ranges[k][0], ranges[k + 1][1])]
        else:
            k += 1
    cues = []
    for k, (i, j) in enumerate(ranges):
        start, end = span(k)
        lines = _wrap(_pieces(tokens[i:j]), max_chars)
        cues.append(Cue(start_s=start, end_s=end, text="\n".join(lines)))
    return cues


__all__ = ["word_cues"]
