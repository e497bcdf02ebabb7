"""eSpeak NG, the offline voice: the ``espeakng-loader`` wheel's bundled libespeak-ng and its
data, driven through the C API with ctypes.

Why this engine: it installs with ``pip install`` on every platform the wheel covers, needs no
download and no compiler, speaks ~100 languages, and reports when each word starts
(``espeakEVENT_WORD``: the word's character position and its sample), so word timings are the
engine's own. Its voice is robotic; a neural engine (:mod:`.piper`) sounds better.

The C library is process-global and not thread-safe: it is initialised once (synchronous mode:
``espeak_Synth`` returns when the audio has been handed to our callback) and every call into it
holds :data:`_LOCK`. Word ``k`` ends where word ``k+1`` starts, or at the end of the voiced
audio, pulled back over any pause inside its span (frame energy, :func:`.base.voiced_bounds`);
trailing silence beyond :data:`TAIL_S` is trimmed from the samples.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag_video.voice.base import (
    EngineInfo,
    Speech,
    Voice,
    VoiceError,
    VoiceInfo,
    VoiceUnavailable,
    WordTiming,
    voiced_bounds,
)

log = logging.getLogger(__name__)

DEFAULT = "en-us"
BASE_WPM = 175  # eSpeak's default rate: rate=1.0
WPM_RANGE = (80, 450)
TAIL_S = 0.05  # silence kept after the last voiced sample
INSTALL = "pip install espeakng-loader"

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_RATE = 1
_EE_OK = 0

_LOCK = threading.RLock()


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


class _VoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _Engine:
    """The initialised library, its output rate, and what the callback collects."""

    lib: Any
    sample_rate: int
    callback: Any = None  # kept referenced: the library holds a pointer to it
    chunks: list[np.ndarray] | None = None
    words: list[tuple[int, int, int]] | None = None  # (text_position, length, sample)


_ENGINE: _Engine | None = None


def _load() -> _Engine:
    """The library, initialised on first use (call with :data:`_LOCK` held)."""
    global _ENGINE
    if _ENGINE is not None:
        return _ENGINE
    try:
        import espeakng_loader
    except ImportError as exc:
        raise VoiceUnavailable(
            f"espeak voices need the espeakng-loader package: {INSTALL}"
        ) from exc
    try:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
    except OSError as exc:
        raise VoiceUnavailable(
            f"espeak: cannot load libespeak-ng from espeakng-loader ({exc}); reinstall: {INSTALL}"
        ) from exc
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    data = espeakng_loader.get_data_path()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), 0)
    if rate <= 0:
        raise VoiceUnavailable(
            f"espeak: espeak_Initialize failed on data {data}; reinstall: {INSTALL}"
        )
    engine = _Engine(lib, int(rate))

    def collect(wav: Any, n: int, events: Any) -> int:
        if n > 0 and engine.chunks is not None:
            engine.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EVENT_WORD and engine.words is not None:
                engine.words.append((ev.text_position, ev.length, ev.sample))
            i += 1
        return 0

    engine.callback = _CALLBACK(collect)
    lib.espeak_SetSynthCallback(engine.callback)
    log.debug("espeak-ng initialised: %d Hz, data %s", rate, data)
    _ENGINE = engine
    return engine


def _set_voice(engine: _Engine, voice: str) -> None:
    if engine.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
        raise VoiceUnavailable(
            f"espeak voice {voice!r} not found; `rag-video voices` lists the installed ones"
        )


class EspeakVoice(Voice):
    """An eSpeak NG voice (``voice`` is an eSpeak voice or language name, e.g. ``en-us``)."""

    engine = "espeak"

    def __init__(self, voice: str = DEFAULT) -> None:
        super().__init__(voice or DEFAULT)
        with _LOCK:
            _set_voice(_load(), self.voice)

    def _speak(self, text: str, rate: float) -> Speech:
        wpm = int(round(min(max(BASE_WPM * rate, WPM_RANGE[0]), WPM_RANGE[1])))
        data = text.encode("utf-8")
        with _LOCK:
            engine = _load()
            _set_voice(engine, self.voice)
            engine.lib.espeak_SetParameter(_RATE, wpm, 0)
            engine.chunks, engine.words = [], []
            try:
                rc = engine.lib.espeak_Synth(
                    data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
                )
                engine.lib.espeak_Synchronize()
                chunks, events = engine.chunks, engine.words
            finally:
                engine.chunks, engine.words = None, None
            rate_hz = engine.sample_rate
        if rc != _EE_OK:
            raise VoiceError(f"espeak: espeak_Synth failed (code {rc}) on text={text[:40]!r}")
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        samples = pcm.astype(np.float32) / 32768.0
        first, last = voiced_bounds(samples, rate_hz)
        samples = samples[: min(samples.shape[0], last + int(TAIL_S * rate_hz))]
        words = _word_timings(text, events, samples, rate_hz, last)
        return Speech(np.ascontiguousarray(samples), rate_hz, tuple(words), timing="engine")


def _word_timings(
    text: str,
    events: list[tuple[int, int, int]],
    samples: np.ndarray,
    rate_hz: int,
    voiced_end: int,
) -> list[WordTiming]:
    """Words from eSpeak's word events: each starts at its event's sample and ends where the
    next starts (the last at ``voiced_end``), pulled back over a trailing pause. Events inside
    a word already seen (a number spoken as several words) extend that word."""
    starts: list[tuple[int, int, int]] = []  # (char_start, char_end, sample)
    for pos, length, sample in events:
        a = max(0, min(len(text), pos - 1))
        b = max(a, min(len(text), a + max(0, length)))
        while b > a and text[b - 1].isspace():
            b -= 1
        if starts and a < starts[-1][1]:
            continue
        if b > a:
            starts.append((a, b, max(0, sample)))
    words: list[WordTiming] = []
    for k, (a, b, s0) in enumerate(starts):
        s1 = starts[k + 1][2] if k + 1 < len(starts) else max(voiced_end, s0)
        s1 = max(s0, min(s1, samples.shape[0]))
        _, voiced = voiced_bounds(samples[s0:s1], rate_hz, floor_db=-35.0)
        if k + 1 < len(starts) and voiced > 0:
            s1 = min(s1, s0 + voiced + int(0.02 * rate_hz))
        words.append(WordTiming(text[a:b], s0 / rate_hz, s1 / rate_hz, a, b))
    return words


def open_voice(voice: str) -> Voice:
    """The registry's entry: ``espeak:VOICE``."""
    return EspeakVoice(voice or DEFAULT)


def catalogue() -> tuple[EngineInfo, list[VoiceInfo]]:
    """The engine's state and its voices (one per voice file, named by its file name)."""
    try:
        with _LOCK:
            engine = _load()
            listed = engine.lib.espeak_ListVoices(None)
            voices = _voice_infos(listed)
    except VoiceUnavailable as exc:
        return EngineInfo("espeak", False, str(exc)), []
    return EngineInfo("espeak", True, f"eSpeak NG, offline, {len(voices)} voices"), voices


def _voice_infos(listed: Any) -> list[VoiceInfo]:
    infos: dict[str, VoiceInfo] = {}
    i = 0
    while listed[i]:
        v = listed[i].contents
        langs = _languages(v.languages)
        ident = (v.identifier or b"").decode("utf-8", "replace")
        name = (v.name or b"").decode("utf-8", "replace")
        key = ident.rsplit("/", 1)[-1].lower()
        if key and key not in infos:
            infos[key] = VoiceInfo(f"espeak:{key}", "espeak", ",".join(langs), name)
        i += 1
    return sorted(infos.values(), key=lambda v: v.name)


def _languages(ptr: int | None) -> list[str]:
    """eSpeak's languages field: (priority byte, NUL-terminated name) repeated, then a 0 byte."""
    out: list[str] = []
    if not ptr:
        return out
    p = ptr
    while ctypes.c_ubyte.from_address(p).value != 0:
        raw = ctypes.string_at(p + 1)
        out.append(raw.decode("utf-8", "replace"))
        p += 2 + len(raw)
    return out
