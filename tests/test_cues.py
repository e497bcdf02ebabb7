"""Subtitle cues from word timings (`generate.cues.word_cues`): line and character limits, the
minimum time on screen and merging, sentence and clause breaks, times that are the words' own,
and a real eSpeak NG paragraph."""

from __future__ import annotations

import bisect
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag_video.generate.cues import word_cues
from rag_video.generate.manifest import Cue
from rag_video.voice import WordTiming, get_voice

LONG_WORD = "pneumonoultramicroscopicsilicovolcanoconiosis"  # 45 characters


def _speech(
    said: str, *, word_s: float = 0.3, gap_s: float = 0.05, start_s: float = 0.0
) -> tuple[str, list[WordTiming]]:
    """``said`` with its whitespace made single spaces, and one timing per written word spanning
    its letters (punctuation around it outside the span, as eSpeak reports them)."""
    written = said.split()
    text = " ".join(written)
    words, pos, t = [], 0, start_s
    for w in written:
        m = re.search(r"[\w'-]+", w)
        a, b = (pos + m.start(), pos + m.end()) if m else (pos, pos + len(w))
        words.append(WordTiming(text[a:b], t, t + word_s, a, b))
        t += word_s + gap_s
        pos += len(w) + 1
    return text, words


def _greedy(words: list[str], max_chars: int) -> list[str]:
    lines: list[str] = []
    for w in words:
        if lines and len(lines[-1]) + 1 + len(w) <= max_chars:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return lines


def _spans(cues: list[Cue]) -> list[tuple[int, int]]:
    """Index ranges [a, b) of the written words of each cue."""
    out, a = [], 0
    for c in cues:
        n = len(c.text.split())
        out.append((a, a + n))
        a += n
    return out


def _times(cues: list[Cue]) -> list[tuple[float, float]]:
    return [(round(c.start_s, 6), round(c.end_s, 6)) for c in cues]


# ------------------------------------------------------------------ properties


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC'", min_size=1, max_size=14).filter(
    lambda w: any(ch.isalpha() for ch in w)
)
_WRITTEN = st.lists(
    st.tuples(
        st.one_of(_WORD, _WORD, _WORD, _WORD, _WORD, _WORD, _WORD, st.just(LONG_WORD)),
        st.sampled_from(["", "", "", "", ",", ";", ":", ".", "!", "?"]),
        st.floats(0.0, 0.8),  # word duration
        st.floats(0.0, 0.6),  # pause after
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    written=_WRITTEN,
    max_chars=st.integers(10, 60),
    max_lines=st.integers(1, 3),
    min_s=st.sampled_from([0.0, 0.5, 1.0, 1.7]),
    offset_s=st.sampled_from([0.0, 0.1, 12.345]),
    end_pad=st.one_of(st.none(), st.floats(0.0, 3.0)),
)
def test_cues_follow_every_rule(written, max_chars, max_lines, min_s, offset_s, end_pad):
    tokens = [w + p for w, p, _, _ in written]
    text = " ".join(tokens)
    words, pos, t = [], 0, 0.0
    for (w, _, dur, pause), token in zip(written, tokens, strict=True):
        words.append(WordTiming(w, t, t + dur, pos, pos + len(w)))
        t += dur + pause
        pos += len(token) + 1
    end_s = None if end_pad is None else words[-1].end_s + offset_s + end_pad
    cues = word_cues(
        words,
        text,
        offset_s=offset_s,
        end_s=end_s,
        max_chars=max_chars,
        max_lines=max_lines,
        min_s=min_s,
    )
    spans = _spans(cues)
    # every written word once, in order, with its punctuation and casing
    assert [w for c in cues for w in c.text.split()] == tokens
    limit = math.inf if end_s is None else end_s
    for k, (c, (a, b)) in enumerate(zip(cues, spans, strict=True)):
        lines = c.text.split("\n")
        assert 1 <= len(lines) <= max_lines
        assert lines == _greedy(tokens[a:b], max_chars)  # greedy wrap, never cut mid-word
        assert all(len(ln) <= max_chars or " " not in ln for ln in lines)
        # times are the words' own, the end stretched toward min_s only
        assert c.start_s == pytest.approx(words[a].start_s + offset_s, abs=1e-3)
        natural = words[b - 1].end_s + offset_s
        nxt = cues[k + 1].start_s if k + 1 < len(cues) else math.inf
        assert c.end_s >= natural - 1e-3
        if c.end_s > natural + 1e-9:
            assert c.end_s == pytest.approx(min(c.start_s + min_s, nxt, limit), abs=1e-9)
        # on screen min_s, unless the next cue or the shot's end stops it and no merge fits
        if c.end_s - c.start_s < min_s - 1e-6:
            assert c.end_s == pytest.approx(min(nxt, limit), abs=1e-9)
            if k > 0:
                before = spans[k - 1][0]
                assert len(_greedy(tokens[before:b], max_chars)) > max_lines
            if k + 1 < len(cues):
                after = spans[k + 1][1]
                assert len(_greedy(tokens[a:after], max_chars)) > max_lines
    for c, d in zip(cues, cues[1:], strict=False):
        assert c.start_s <= c.end_s <= d.start_s  # monotone, never overlapping


# ------------------------------------------------------------------ one rule at a time


def test_no_words_no_cues():
    assert word_cues([], "") == []
    assert word_cues((), "Hello there.", offset_s=3.0, end_s=1.0) == []


def test_a_short_cue_stays_at_least_min_s():
    text, words = _speech("Hi.", word_s=0.2)
    assert word_cues(words, text) == [Cue(start_s=0.0, end_s=1.0, text="Hi.")]
    assert _times(word_cues(words, text, min_s=2.5)) == [(0.0, 2.5)]
    assert _times(word_cues(words, text, min_s=0.0)) == [(0.0, 0.2)]


def test_offset_and_the_shots_end_bound_the_stretch():
    text, words = _speech("Hi.", word_s=0.2)
    assert _times(word_cues(words, text, offset_s=5.0)) == [(5.0, 6.0)]
    assert _times(word_cues(words, text, offset_s=5.0, end_s=5.5)) == [(5.0, 5.5)]
    # speech running past the shot's end keeps its own times (end_s only bounds the stretch)
    assert _times(word_cues(words, text, offset_s=5.0, end_s=5.1)) == [(5.0, 5.2)]


def test_the_stretch_stops_at_the_next_cue():
    # one line of 10: "Go there." / "Now." — the first cue can only last until "Now." starts
    text, words = _speech("Go there. Now please.", word_s=0.2, gap_s=0.1)
    cues = word_cues(words, text, max_chars=10, max_lines=1)
    assert [c.text for c in cues] == ["Go there.", "Now", "please."]
    # "Go there." 0.0-0.5 stretches to "Now" at 0.6 and no merge fits one line of 10
    assert _times(cues) == [(0.0, 0.6), (0.6, 0.9), (0.9, 1.9)]


def test_times_are_the_word_timings_not_rounded():
    text, words = _speech("Alpha beta. Gamma delta.", word_s=0.4123456, gap_s=0.0)
    (cue,) = word_cues(words, text, offset_s=0.1)
    assert cue.start_s == pytest.approx(0.1, abs=1e-9)
    assert cue.end_s == pytest.approx(0.1 + 4 * 0.4123456, abs=1e-9)


def test_cue_text_is_the_original_text():
    text = "“Tea — and 1,000 cakes!” she said;   SHE   laughed."
    spoken = [("Tea", 1), ("and", 0), ("one", 0), ("thousand", 0), ("cakes", 0), ("she", 0)]
    words, t, pos = [], 0.0, 0
    for w, _ in spoken:
        probe = "1,000" if w in ("one", "thousand") else w
        a = text.index(probe, pos)
        b = a + len(probe)
        words.append(WordTiming(w, t, t + 0.3, a, b))
        t += 0.3
        pos = a if w == "one" else b
    words += [
        WordTiming("SHE", t, t + 0.3, text.index("SHE"), text.index("SHE") + 3),
        WordTiming("laughed", t + 0.3, t + 0.6, text.index("laughed"), text.index("laughed") + 7),
    ]
    (cue,) = word_cues(words, text)
    # the dash no word speaks rides with "Tea"; both number words are one written "1,000"
    assert cue.text == "“Tea — and 1,000 cakes!” she said; SHE\nlaughed."
    assert _times([cue]) == [(0.0, round(t + 0.6, 6))]


def test_a_cue_ends_at_a_sentence_end_once_half_full():
    first = "The rabbit ran all the way down the long green hill."  # 52 characters
    text, words = _speech(first + " Then it stopped, and drank from the cold river.")
    cues = word_cues(words, text)
    assert [c.text for c in cues] == [
        "The rabbit ran all the way down the long\ngreen hill.",
        "Then it stopped, and drank from the cold\nriver.",
    ]
    # a sentence end still ends a cue when everything left would fit
    text, words = _speech(first + " Then it slept.")
    assert [c.text for c in word_cues(words, text)] == [
        "The rabbit ran all the way down the long\ngreen hill.",
        "Then it slept.",
    ]


def test_a_sentence_end_before_half_full_does_not_end_a_cue():
    text, words = _speech(
        "Hi there. The rabbit ran all the way down the long green hill and across the "
        "wide field today."
    )
    cues = word_cues(words, text)
    assert [c.text for c in cues] == [
        "Hi there. The rabbit ran all the way down\nthe long green hill and across the wide",
        "field today.",
    ]


def test_a_clause_mark_ends_a_cue_that_must_end():
    text, words = _speech(
        "In the morning light the rabbit ran down the hill, across the field and into the"
        " dark forest where nobody lived."
    )
    cues = word_cues(words, text)
    assert [c.text for c in cues] == [
        "In the morning light the rabbit ran down\nthe hill,",
        "across the field and into the dark forest\nwhere nobody lived.",
    ]
    # a sentence end beats a later clause mark; clause marks do not cut what fits
    text, words = _speech(
        "The rabbit ran all the way down the green hill. Then, quietly, it slept under the old"
        " oak tree by the river."
    )
    assert [c.text for c in word_cues(words, text)] == [
        "The rabbit ran all the way down the green\nhill.",
        "Then, quietly, it slept under the old oak\ntree by the river.",
    ]


def test_a_long_word_is_a_line_of_its_own_never_cut():
    text, words = _speech(f"A {LONG_WORD} cloud drifted by.")
    cues = word_cues(words, text, max_chars=42, max_lines=2)
    assert [c.text for c in cues] == [f"A\n{LONG_WORD}", "cloud drifted by."]
    cues = word_cues(words, text, max_chars=10, max_lines=1)
    assert [c.text for c in cues] == ["A", LONG_WORD, "cloud", "drifted", "by."]


def test_a_short_last_cue_merges_with_the_one_before():
    first = "The rabbit ran all the way down the long green hill."
    text, words = _speech(first + " Yes.", word_s=0.2, gap_s=0.0)
    end = words[-1].end_s + 0.1  # "Yes." cannot stay on screen a second before the cut
    cues = word_cues(words, text, end_s=end)
    assert [c.text for c in cues] == ["The rabbit ran all the way down the long\ngreen hill. Yes."]
    assert _times(cues) == [(0.0, round(words[-1].end_s, 6))]  # long enough: not stretched
    # with room after it, "Yes." stays a cue of its own, stretched to a second
    cues = word_cues(words, text)
    assert [c.text for c in cues] == [
        "The rabbit ran all the way down the long\ngreen hill.",
        "Yes.",
    ]
    assert _times(cues)[1] == (round(words[-1].start_s, 6), round(words[-1].start_s + 1.0, 6))


def test_a_short_cue_that_cannot_merge_stays_short():
    line = "The rabbit ran all the way down the hill."  # 41 characters
    text, words = _speech(line + " Yes.", word_s=0.2, gap_s=0.0)
    end = words[-1].end_s + 0.1
    cues = word_cues(words, text, end_s=end, max_chars=42, max_lines=1)
    assert [c.text for c in cues] == [line, "Yes."]
    assert _times(cues)[1] == (round(words[-1].start_s, 6), round(end, 6))


def test_the_last_sentence_end_that_fits_ends_the_cue():
    # "hill." and "Go." both end a half-full cue; the cue runs to the later one
    text, words = _speech(
        "The rabbit ran all the way down the long green hill. Go. And then the rabbit ran"
        " back up the long green hill again.",
        word_s=0.2,
        gap_s=0.0,
    )
    cues = word_cues(words, text)
    assert [c.text for c in cues] == [
        "The rabbit ran all the way down the long\ngreen hill. Go.",
        "And then the rabbit ran back up the long\ngreen hill again.",
    ]
    for c, d in zip(cues, cues[1:], strict=False):
        assert c.end_s <= d.start_s


# ------------------------------------------------------------------ a real voice


PARAGRAPH = (
    "Once upon a time, in a quiet valley far from the noise of the city, there lived a small "
    "rabbit who loved to watch the sun rise over the hills. Every morning he hopped to the top "
    "of the tallest hill; he sat there, still and patient, waiting for the first light. Some "
    "days the clouds hid the sun, and he went home sad. But most days the sky turned orange, "
    "then pink, then gold, and that was his favourite moment of all."
)


def test_espeak_paragraph_gives_cues_at_its_word_timings():
    pytest.importorskip("espeakng_loader")
    speech = get_voice("espeak:en-us").synthesize(PARAGRAPH)
    words = speech.words
    written = PARAGRAPH.split()
    # eSpeak reports no event for some "the"s: they show with the word before them
    assert len(written) >= 60 and 60 <= len(words) < len(written)
    starts = [w.char_start for w in words]
    chunk_starts = [m.start() for m in re.finditer(r"\S+", PARAGRAPH)]
    owner = [max(0, bisect.bisect_right(starts, a) - 1) for a in chunk_starts]
    offset, end = 2.5, 2.5 + speech.duration_s + 0.4
    cues = word_cues(words, PARAGRAPH, offset_s=offset, end_s=end)
    assert len(cues) >= 5
    assert [w for c in cues for w in c.text.split()] == written
    for k, (c, (a, b)) in enumerate(zip(cues, _spans(cues), strict=True)):
        lines = c.text.split("\n")
        assert len(lines) <= 2 and all(len(ln) <= 42 for ln in lines)
        assert c.start_s == pytest.approx(words[owner[a]].start_s + offset, abs=1e-3)
        natural = words[owner[b - 1]].end_s + offset
        if c.end_s - natural > 1e-3:  # stretched: to a second, the next cue or the shot's end
            nxt = cues[k + 1].start_s if k + 1 < len(cues) else math.inf
            assert c.end_s == pytest.approx(min(c.start_s + 1.0, nxt, end), abs=1e-9)
        else:
            assert c.end_s == pytest.approx(natural, abs=1e-3)
        assert c.end_s - c.start_s >= 1.0 - 1e-9
    for c, d in zip(cues, cues[1:], strict=False):
        assert c.end_s <= d.start_s
    assert cues[0].text.startswith("Once upon a time,")
    assert cues[-1].end_s <= end


# ------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_chars": 9}, r"^word_cues: max_chars must be an int >= 10, got 9$"),
        ({"max_chars": 20.0}, r"max_chars must be an int >= 10, got 20\.0$"),
        ({"max_lines": 0}, r"^word_cues: max_lines must be an int >= 1, got 0$"),
        ({"max_lines": True}, r"max_lines must be an int >= 1, got True$"),
        ({"min_s": -0.1}, r"^word_cues: min_s must be a number >= 0, got -0\.1$"),
        ({"min_s": math.nan}, r"min_s must be a number >= 0, got nan$"),
        ({"offset_s": -1.0}, r"^word_cues: offset_s must be a number >= 0, got -1\.0$"),
        ({"offset_s": math.inf}, r"offset_s must be a number >= 0, got inf$"),
        ({"end_s": -2.0}, r"^word_cues: end_s must be None or a number >= 0, got -2\.0$"),
        ({"end_s": "5"}, r"end_s must be None or a number >= 0, got '5'$"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, message):
    text, words = _speech("Hello there.")
    with pytest.raises(ValueError, match=message):
        word_cues(words, text, **kwargs)
    with pytest.raises(ValueError, match=message):  # checked even without words
        word_cues([], "", **kwargs)


def test_bad_words_are_refused():
    text, words = _speech("Hello there.")
    with pytest.raises(ValueError, match=r"^word_cues: words must be in spoken order, words\[1\]"):
        word_cues(words[::-1], text)
    back = WordTiming("Hello", 0.5, 0.6, 0, 5)  # later in time, earlier in the text
    with pytest.raises(ValueError, match=r"words must be in spoken order, words\[1\]"):
        word_cues([words[1], back], text)
    past = WordTiming("x", 1.0, 1.1, 10, 40)
    with pytest.raises(ValueError, match=r"^word_cues: words\[2\] ends at character 40, past"):
        word_cues([*words, past], text)
    with pytest.raises(ValueError, match=r"^word_cues: text has no words to show, got '  '$"):
        word_cues(words[:1], "  ")
