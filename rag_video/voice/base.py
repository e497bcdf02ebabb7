"""Text to speech: the plug-in point that turns narration text into samples and word timings.

A :class:`Voice` speaks text (``synthesize(text, rate=)``) and returns a :class:`Speech`: float32
mono samples in -1..1 at the engine's rate, and one :class:`WordTiming` per spoken word (its
characters in the text and when it is heard), so subtitles and shot lengths follow the voice.

Voices are named ``ENGINE:VOICE`` (:func:`get_voice`):

- ``espeak:en-us`` (default, :mod:`.espeak`): eSpeak NG through the ``espeakng-loader`` wheel,
  which bundles the library and its data, so it works offline right after ``pip install``; word
  timings are the engine's own word events.
- ``piper:en_US-lessac-medium`` or ``piper:/path/to/voice.onnx`` (:mod:`.piper`): Piper's neural
  voices (``piper-tts``); the weights are downloaded once into the voices directory.

This module holds the contract (the base class, its exceptions, the speech records), the
registry and the helpers the engines share; each engine has its own module, imported when used.
"""

from __future__ import annotations

import importlib
import math
import numbers
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol, cast

import numpy as np

from rag_video.errors import RagVideoError

ENGINES: dict[str, str] = {"espeak": "rag_video.voice.espeak", "piper": "rag_video.voice.piper"}
"""Engine name → the module that implements it (``open_voice(voice)``, ``catalogue()``)."""
DEFAULT_VOICE = "espeak:en-us"
RATE_RANGE: tuple[float, float] = (0.5, 2.5)
"""Speaking rates every engine accepts (1.0 is the voice's own pace)."""
MAX_TEXT_CHARS = 20_000
TIMINGS: tuple[str, ...] = ("engine", "aligned", "estimated")
"""Where word timings come from: the engine's word events, phoneme alignments, or characters."""

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+|\n\s*\n")


class VoiceError(RagVideoError):
    """Text cannot be spoken (bad arguments, unknown engine, engine failure); exit 2."""

    exit_code = 2


class VoiceUnavailable(VoiceError):
    """An engine or its voice weights are missing; the one-line message says how to get them."""


@dataclass(frozen=True)
class WordTiming:
    """A spoken word: ``text[char_start:char_end]`` heard from ``start_s`` to ``end_s``."""

    text: str
    start_s: float
    end_s: float
    char_start: int
    char_end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start_s <= self.end_s):
            raise ValueError(
                f"WordTiming: start_s/end_s must be 0 <= start <= end, got "
                f"{self.start_s!r}/{self.end_s!r}"
            )
        if not (0 <= self.char_start <= self.char_end):
            raise ValueError(
                f"WordTiming: char_start/char_end must be 0 <= start <= end, got "
                f"{self.char_start!r}/{self.char_end!r}"
            )


@dataclass(frozen=True, eq=False)
class Speech:
    """Spoken text: float32 mono ``samples`` in -1..1 at ``sample_rate``, its words in order, and
    where their timings come from (``timing``, one of :data:`TIMINGS`)."""

    samples: np.ndarray
    sample_rate: int
    words: tuple[WordTiming, ...] = ()
    timing: str = "engine"

    def __post_init__(self) -> None:
        s = self.samples
        if not isinstance(s, np.ndarray) or s.ndim != 1 or s.dtype != np.float32:
            shape = getattr(s, "shape", None)
            raise ValueError(f"Speech.samples must be 1-D float32, got {shape} {type(s).__name__}")
        if not (isinstance(self.sample_rate, numbers.Integral) and self.sample_rate > 0):
            raise ValueError(f"Speech.sample_rate must be a positive int, got {self.sample_rate!r}")
        if self.timing not in TIMINGS:
            raise ValueError(f"Speech.timing must be one of {TIMINGS}, got {self.timing!r}")

    @property
    def duration_s(self) -> float:
        return int(self.samples.shape[0]) / self.sample_rate


class Voice(ABC):
    """Base of every voice. Subclasses set ``engine`` and implement :meth:`_speak`.

    :meth:`synthesize` checks the arguments, calls :meth:`_speak` and checks what it returns, so
    every engine refuses the same inputs with the same one-line errors.
    """

    engine: str = ""

    def __init__(self, voice: str) -> None:
        self.voice = voice

    @property
    def name(self) -> str:
        """``engine:voice``, as :func:`get_voice` takes it."""
        return f"{self.engine}:{self.voice}"

    @property
    def cache_id(self) -> str:
        """What identifies this voice's output in a cache (the weights' identity included)."""
        return self.name

    def synthesize(self, text: str, *, rate: float = 1.0) -> Speech:
        """Speak ``text`` at ``rate`` times the voice's pace (see :data:`RATE_RANGE`)."""
        if not isinstance(text, str) or not text.strip():
            raise VoiceError(f"synthesize: text must be non-empty text, got {text!r}")
        if len(text) > MAX_TEXT_CHARS:
            raise VoiceError(
                f"synthesize: text must be at most {MAX_TEXT_CHARS} characters, got {len(text)}"
            )
        lo, hi = RATE_RANGE
        if not (
            isinstance(rate, numbers.Real)
            and not isinstance(rate, bool)
            and math.isfinite(rate)
            and lo <= rate <= hi
        ):
            raise VoiceError(f"synthesize: rate must be a number in [{lo}, {hi}], got {rate!r}")
        speech = self._speak(text, float(rate))
        if speech.samples.size == 0:
            raise VoiceError(f"{self.name} produced no audio for text={_short(text)!r}")
        return speech

    @abstractmethod
    def _speak(self, text: str, rate: float) -> Speech:
        """Speak checked, non-empty ``text`` at a checked ``rate``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class EngineInfo:
    """A speech engine and whether it can speak here (``detail`` says why not, or what it is)."""

    engine: str
    available: bool
    detail: str


@dataclass(frozen=True)
class VoiceInfo:
    """A voice :func:`get_voice` can open (``name`` is ``engine:voice``)."""

    name: str
    engine: str
    language: str
    description: str


@dataclass(frozen=True)
class Voices:
    """What :func:`list_voices` found: every engine, and the voices of those available."""

    engines: tuple[EngineInfo, ...]
    voices: tuple[VoiceInfo, ...]


class _EngineModule(Protocol):
    def open_voice(self, voice: str) -> Voice: ...

    def catalogue(self) -> tuple[EngineInfo, list[VoiceInfo]]: ...


def _engine(name: str) -> _EngineModule:
    return cast(_EngineModule, importlib.import_module(ENGINES[name]))


def split_name(name: str) -> tuple[str, str]:
    """``"engine:voice"`` → (engine, voice); a bare engine name gets its default voice ("")."""
    if not isinstance(name, str) or not name.strip():
        raise VoiceError(f"voice must be ENGINE:VOICE (e.g. {DEFAULT_VOICE}), got {name!r}")
    engine, _, voice = name.strip().partition(":")
    key = engine.strip().lower()
    if key not in ENGINES:
        raise VoiceError(
            f"voice={name!r}: unknown engine {engine!r}; valid: {', '.join(ENGINES)} "
            f"(e.g. {DEFAULT_VOICE})"
        )
    return key, voice.strip()


def get_voice(name: str = DEFAULT_VOICE) -> Voice:
    """Open the voice called ``name`` (``engine:voice``; see the module docstring).

    Raises :class:`VoiceUnavailable` (one line, how to get it) when the engine or the voice is
    missing here, :class:`VoiceError` when the name is malformed."""
    engine, voice = split_name(name)
    return _engine(engine).open_voice(voice)


def list_voices() -> Voices:
    """Every engine (available or not, with why) and the voices of the available ones."""
    engines: list[EngineInfo] = []
    voices: list[VoiceInfo] = []
    for name in ENGINES:
        info, found = _engine(name).catalogue()
        engines.append(info)
        voices.extend(found)
    return Voices(tuple(engines), tuple(voices))


# --------------------------------------------------------------------------- shared helpers


def word_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans ``[a, b)`` of the whitespace-separated words of ``text[start:end]``."""
    end = len(text) if end is None else end
    return [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (split after . ! ? … and at blank lines),
    each stripped, empty ones dropped."""
    spans: list[tuple[int, int]] = []
    last = 0
    for m in [*_SENTENCE_END.finditer(text), None]:
        a, b = last, (m.start() if m else len(text))
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            spans.append((a, b))
        if m:
            last = m.end()
    return spans


def voiced_bounds(
    samples: np.ndarray, sample_rate: int, *, floor_db: float = -45.0, frame_s: float = 0.01
) -> tuple[int, int]:
    """Sample range ``[first, last)`` of the frames louder than ``floor_db`` below the peak
    (frame RMS over ``frame_s``); ``(0, 0)`` for silence."""
    x = np.asarray(samples, dtype=np.float32)
    hop = max(1, int(round(frame_s * sample_rate)))
    n = x.shape[0] // hop * hop
    if n == 0:
        return (0, 0)
    rms = np.sqrt(np.mean(np.square(x[:n].reshape(-1, hop), dtype=np.float64), axis=1))
    peak = float(rms.max())
    if peak <= 0:
        return (0, 0)
    loud = np.flatnonzero(rms >= peak * 10 ** (floor_db / 20))
    return int(loud[0]) * hop, min(x.shape[0], (int(loud[-1]) + 1) * hop)


def spread_words(
    text: str, spans: list[tuple[int, int]], start_s: float, end_s: float
) -> list[WordTiming]:
    """Words at ``spans`` of ``text`` spread over ``[start_s, end_s]`` in proportion to their
    characters (each word's share is its length plus one for the space after it)."""
    if not spans:
        return []
    weights = np.array([b - a + 1 for a, b in spans], dtype=np.float64)
    edges = (
        start_s + (end_s - start_s) * np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
    )
    return [
        WordTiming(text[a:b], float(edges[k]), float(edges[k + 1]), a, b)
        for k, (a, b) in enumerate(spans)
    ]


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
