"""The soundtrack of `assemble`: each segment's block of samples — its source's own sound
(silence where it has none, or is retimed), a music file trimmed to the video and faded out,
or none — with exact sample boundaries from the frame boundaries and a ramp at every cut."""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_video.media.clip import (
    read_audio,
)
from rag_video.media.probe import MediaError, check_readable

if TYPE_CHECKING:
    from rag_video.generate.assemble import _Plan

SAMPLE_RATE = 48000
_DECLICK_S = 0.005  # ramp at every audio cut, against clicks


def parse_audio(audio: str | os.PathLike[str] | None) -> tuple[str, Path | None]:
    if audio is None or (isinstance(audio, str) and audio == "none"):
        return "none", None
    if isinstance(audio, str) and audio == "sources":
        return "sources", None
    music = check_readable(audio)
    return "music", music


def _ramp(samples: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """Linear fade-in over ``n_in`` and cosine fade-out over ``n_out`` samples, in place."""
    m = samples.shape[1]
    n_in, n_out = min(n_in, m), min(n_out, m)
    if n_in:
        samples[:, :n_in] *= np.linspace(0.0, 1.0, n_in, endpoint=False, dtype=np.float32)
    if n_out:
        samples[:, m - n_out :] *= 0.5 + 0.5 * np.cos(
            np.linspace(0, math.pi, n_out, dtype=np.float32)
        )
    return samples


class AudioTrack:
    """Produces each segment's block of samples (exact sample boundaries from frame boundaries)."""

    def __init__(
        self,
        mode: str,
        music: Path | None,
        plans: list[_Plan],
        rate: Fraction,
        total_frames: int,
        music_fade_s: float,
    ) -> None:
        self.mode = mode
        self.rate = rate
        self.plans = plans
        self.music: np.ndarray | None = None
        if mode == "music":
            assert music is not None  # parse_audio pairs "music" with its file
            seconds = float(total_frames / rate)
            self.music = read_audio(music, 0.0, seconds, SAMPLE_RATE, channels=2)
            if self.music is None:
                raise MediaError(f"music file has no audio: {music}")
            _ramp(
                self.music, int(_DECLICK_S * SAMPLE_RATE), int(max(0.0, music_fade_s) * SAMPLE_RATE)
            )
        self.enabled = mode == "music" or (
            mode == "sources" and any(self._has_audio(p) for p in plans)
        )

    def _has_audio(self, plan: _Plan) -> bool:
        return (
            plan.seg.audio and plan.seg.speed == 1 and plan.info is not None and plan.info.has_audio
        )

    def _sample(self, frame: int) -> int:
        return int(round(frame * SAMPLE_RATE / self.rate))

    def block(self, plan: _Plan) -> np.ndarray:
        """Samples ``(2, m)`` for the plan's frame span."""
        lo, hi = self._sample(plan.start), self._sample(plan.end)
        if self.music is not None:
            return self.music[:, lo:hi]
        if hi <= lo or not self._has_audio(plan):
            return np.zeros((2, max(0, hi - lo)), dtype=np.float32)
        seg = plan.seg
        span = (
            hi - lo
            if seg.out_s is None
            else min(hi - lo, max(1, round((seg.out_s - seg.in_s) * SAMPLE_RATE)))
        )
        got = read_audio(
            seg.file_path, seg.in_s, seg.in_s + span / SAMPLE_RATE, SAMPLE_RATE, channels=2
        )
        block = np.zeros((2, hi - lo), dtype=np.float32)
        if got is not None:
            block[:, :span] = got[:, :span]
        declick = int(_DECLICK_S * SAMPLE_RATE)
        return _ramp(block[:, : hi - lo], declick, declick)
