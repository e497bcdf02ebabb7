"""Piper, the neural voice (``piper-tts``: VITS voices exported to ONNX, run by onnxruntime).

A voice is ``piper:NAME`` (``NAME.onnx`` and ``NAME.onnx.json`` in the voices directory:
``$RAG_VIDEO_VOICES``, default ``~/.cache/rag-video/voices``) or ``piper:/path/to/voice.onnx``
(its config beside it, ``voice.onnx.json``). Weights are never downloaded here: a missing voice
is one line with the command that fetches it (``python -m piper.download_voices``).

Word timings. Piper returns phoneme alignments only for voices that expose the duration tensor
(patched with ``piper.patch_voice_with_alignment``, or patched in memory at load time when the
``onnx`` package is installed). Each sentence is spoken on its own; when alignments are there and
the sentence's phoneme words (split at spaces) match its text words one to one, words get their
aligned times (``timing="aligned"``); otherwise the sentence's voiced span (frame energy) is
spread over its words in proportion to their characters (``timing="estimated"``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from rag_video.errors import one_line
from rag_video.voice.base import (
    EngineInfo,
    Speech,
    Voice,
    VoiceError,
    VoiceInfo,
    VoiceUnavailable,
    WordTiming,
    sentence_spans,
    spread_words,
    voiced_bounds,
    word_spans,
)

log = logging.getLogger(__name__)

DEFAULT = "en_US-lessac-medium"
VOICES_ENV = "RAG_VIDEO_VOICES"
INSTALL = "pip install piper-tts"
_NOT_SPOKEN = " _.,;:!?'\"-()…"  # phonemes that neither start nor make a word


def voices_dir() -> Path:
    """Where named Piper voices live: ``$RAG_VIDEO_VOICES``, else ``~/.cache/rag-video/voices``."""
    env = os.environ.get(VOICES_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rag-video" / "voices"


def resolve(voice: str, root: Path | None = None) -> tuple[Path, Path]:
    """The model and config files of ``voice`` (a name in ``root`` or a path to an .onnx)."""
    voice = voice or DEFAULT
    if voice.endswith(".onnx") or "/" in voice or os.sep in voice:
        model = Path(voice).expanduser()
    else:
        model = (root or voices_dir()) / f"{voice}.onnx"
    return model, model.with_name(model.name + ".json")


def _missing(voice: str, model: Path, config: Path) -> VoiceUnavailable:
    if "/" in voice or voice.endswith(".onnx"):
        gone = model if not model.is_file() else config
        return VoiceUnavailable(
            f"piper voice {voice}: {gone} not found (a Piper voice is NAME.onnx with "
            f"NAME.onnx.json beside it)"
        )
    where = model.parent
    return VoiceUnavailable(
        f"piper voice {voice} not found in {where}: download it with "
        f"`python -m piper.download_voices {voice} --data-dir {where}`"
    )


def _piper() -> Any:
    try:
        import piper
    except ImportError as exc:
        raise VoiceUnavailable(
            f"piper voices need the piper-tts package: {INSTALL} "
            "(or pip install 'rag-video[piper]')"
        ) from exc
    return piper


def _can_patch_alignments() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


class PiperVoice(Voice):
    """A Piper voice, loaded from its ONNX model and JSON config."""

    engine = "piper"

    def __init__(self, voice: str = DEFAULT, *, root: Path | None = None) -> None:
        super().__init__(voice or DEFAULT)
        piper = _piper()
        self.model_path, self.config_path = resolve(self.voice, root)
        if not (self.model_path.is_file() and self.config_path.is_file()):
            raise _missing(self.voice, self.model_path, self.config_path)
        try:
            self._piper = piper.PiperVoice.load(
                self.model_path,
                config_path=self.config_path,
                include_alignments=_can_patch_alignments(),
            )
        except Exception as exc:  # onnxruntime raises its own types on a bad model
            raise VoiceUnavailable(
                f"piper voice {self.voice}: cannot load {self.model_path}: {one_line(exc)}"
            ) from exc
        self.sample_rate = int(self._piper.config.sample_rate)
        log.debug("piper voice %s loaded from %s", self.voice, self.model_path)

    @property
    def cache_id(self) -> str:
        st = self.model_path.stat()
        return f"piper:{self.model_path.resolve()}:{st.st_size}:{st.st_mtime_ns}"

    def _speak(self, text: str, rate: float) -> Speech:
        from piper import SynthesisConfig

        syn = SynthesisConfig(
            length_scale=float(self._piper.config.length_scale) / rate, normalize_audio=False
        )
        pieces: list[np.ndarray] = []
        words: list[WordTiming] = []
        aligned_all = True
        offset = 0
        for a, b in sentence_spans(text):
            try:
                chunks = list(self._piper.synthesize(text[a:b], syn, include_alignments=True))
            except Exception as exc:  # onnxruntime / phonemizer failures
                raise VoiceError(f"piper voice {self.voice} failed: {one_line(exc)}") from exc
            audio = (
                np.concatenate([np.asarray(c.audio_float_array, np.float32) for c in chunks])
                if chunks
                else np.zeros(0, np.float32)
            )
            spans = word_spans(text, a, b)
            timed = _aligned_words(text, spans, chunks, self.sample_rate, offset)
            if timed is None:
                aligned_all = False
                first, last = voiced_bounds(audio, self.sample_rate)
                timed = spread_words(
                    text,
                    spans,
                    (offset + first) / self.sample_rate,
                    (offset + max(first, last)) / self.sample_rate,
                )
            words.extend(timed)
            pieces.append(audio)
            offset += audio.shape[0]
        samples = np.clip(np.concatenate(pieces), -1.0, 1.0).astype(np.float32)
        timing = "aligned" if aligned_all else "estimated"
        return Speech(samples, self.sample_rate, tuple(words), timing=timing)


def _aligned_words(
    text: str, spans: list[tuple[int, int]], chunks: list[Any], rate_hz: int, offset: int
) -> list[WordTiming] | None:
    """Word times from Piper's phoneme alignments, or None when there are none or the phoneme
    words (split at spaces and chunk ends) do not match ``spans`` one to one."""
    runs: list[tuple[int, int]] = []  # sample spans of phoneme words
    pos = offset
    for chunk in chunks:
        alignments = getattr(chunk, "phoneme_alignments", None)
        if not alignments:
            return None
        start: int | None = None
        for al in alignments:
            n = int(al.num_samples)
            if al.phoneme in (" ", "^", "$"):
                if start is not None:
                    runs.append((start, pos))
                    start = None
            elif start is None and al.phoneme.strip(_NOT_SPOKEN):
                start = pos
            pos += n
        if start is not None:
            runs.append((start, pos))
    if len(runs) != len(spans):
        return None
    return [
        WordTiming(text[a:b], s0 / rate_hz, max(s0, s1) / rate_hz, a, b)
        for (a, b), (s0, s1) in zip(spans, runs, strict=True)
    ]


def open_voice(voice: str) -> Voice:
    """The registry's entry: ``piper:NAME`` or ``piper:/path/to/voice.onnx``."""
    return PiperVoice(voice or DEFAULT)


def catalogue() -> tuple[EngineInfo, list[VoiceInfo]]:
    """The engine's state and the voices in :func:`voices_dir` (a model with its config)."""
    try:
        _piper()
    except VoiceUnavailable as exc:
        return EngineInfo("piper", False, str(exc)), []
    root = voices_dir()
    found: list[VoiceInfo] = []
    for model in sorted(root.glob("*.onnx")) if root.is_dir() else []:
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            continue
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
            language = str(meta.get("language", {}).get("code") or meta["espeak"]["voice"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            language = "?"
        found.append(VoiceInfo(f"piper:{model.stem}", "piper", language, str(model)))
    detail = f"Piper (neural), voices in {root}: {len(found)}"
    if not found:
        detail += f"; get one with `python -m piper.download_voices {DEFAULT} --data-dir {root}`"
    return EngineInfo("piper", True, detail), found
