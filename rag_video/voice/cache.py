"""Spoken text cached on disk by (engine and voice, text, rate): a WAV file and its word timings.

Entries live flat in ``root`` as ``KEY.wav`` (float32 mono, lossless, read back bit for bit) and
``KEY.json`` (the words, the timing source, what was spoken). Both are written under a temporary
name and renamed into place, the JSON last, so a reader that finds the JSON finds a whole WAV; an
entry that does not read back (truncated, edited, another format) is synthesised again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rag_video.voice.base import Speech, Voice, WordTiming

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what is cached (or how it is keyed) changes


def cache_key(voice: Voice, text: str, rate: float) -> str:
    """The entry name for ``voice`` speaking ``text`` at ``rate`` (hex of a BLAKE2b digest)."""
    doc = json.dumps([FORMAT, voice.cache_id, text, round(float(rate), 6)], ensure_ascii=False)
    return hashlib.blake2b(doc.encode("utf-8"), digest_size=16).hexdigest()


class SpeechCache:
    """Speech cached under ``root`` (created on first write)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.wav", self.root / f"{key}.json"

    def synthesize(self, voice: Voice, text: str, *, rate: float = 1.0) -> Speech:
        """``voice.synthesize(text, rate=rate)``, read from the cache when it holds it."""
        key = cache_key(voice, text, rate)
        hit = self.get(key)
        if hit is not None:
            log.debug("speech cache hit %s (%s)", key, voice.name)
            return hit
        speech = voice.synthesize(text, rate=rate)
        self.put(key, speech, about={"voice": voice.name, "text": text, "rate": rate})
        return speech

    def get(self, key: str) -> Speech | None:
        """The cached speech ``key``, or None when absent or unreadable."""
        wav, meta = self.paths(key)
        if not meta.is_file():
            return None
        try:
            from scipy.io import wavfile

            doc = json.loads(meta.read_text(encoding="utf-8"))
            rate, samples = wavfile.read(wav)
            words = tuple(WordTiming(**w) for w in doc["words"])
            if int(rate) != doc["sample_rate"] or samples.shape != (doc["samples"],):
                raise ValueError(f"{wav} holds {samples.shape} at {rate} Hz")
            return Speech(
                np.ascontiguousarray(samples, dtype=np.float32), int(rate), words, doc["timing"]
            )
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            log.warning("speech cache entry %s unreadable, synthesising again: %s", key, exc)
            return None

    def put(self, key: str, speech: Speech, *, about: dict[str, Any] | None = None) -> Path:
        """Write ``speech`` as entry ``key``; returns the WAV's path."""
        from scipy.io import wavfile

        wav, meta = self.paths(key)
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": FORMAT,
            **(about or {}),
            "sample_rate": speech.sample_rate,
            "samples": int(speech.samples.shape[0]),
            "timing": speech.timing,
            "words": [vars(w) for w in speech.words],
        }
        _atomic(wav, lambda fh: wavfile.write(fh, speech.sample_rate, speech.samples))
        body = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
        _atomic(meta, lambda fh: fh.write(body))
        return wav


def _atomic(path: Path, write: Callable[[Any], Any]) -> None:
    """Write ``path`` through a temporary file beside it, renamed over it when complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
