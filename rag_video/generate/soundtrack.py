"""The soundtrack of `assemble`: each segment's block of samples — its source's own sound
(silence where it has none, or is retimed), a music file trimmed to the video and faded out,
or none — with exact sample boundaries from the frame boundaries and a ramp at every cut."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_video.media import mix
from rag_video.media.audio import read_audio
from rag_video.media.probe import MediaError, check_readable

if TYPE_CHECKING:
    from rag_video.generate.timing import SegmentPlan

SAMPLE_RATE = 48000


def parse_audio(audio: str | os.PathLike[str] | None) -> tuple[str, Path | None]:
    if audio is None or (isinstance(audio, str) and audio == "none"):
        return "none", None
    if isinstance(audio, str) and audio == "sources":
        return "sources", None
    music = check_readable(audio)
    return "music", music


class AudioTrack:
    """Produces each segment's block of samples (exact sample boundaries from frame boundaries)."""

    def __init__(
        self,
        mode: str,
        music: Path | None,
        plans: list[SegmentPlan],
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
            mix.fade(self.music, SAMPLE_RATE, in_s=mix.DECLICK_S, out_s=music_fade_s)
        self.enabled = mode == "music" or (
            mode == "sources" and any(self._has_audio(p) for p in plans)
        )

    def _has_audio(self, plan: SegmentPlan) -> bool:
        return (
            plan.seg.audio and plan.seg.speed == 1 and plan.info is not None and plan.info.has_audio
        )

    def _sample(self, frame: int) -> int:
        return int(round(frame * SAMPLE_RATE / self.rate))

    def block(self, plan: SegmentPlan) -> np.ndarray:
        """Samples ``(2, m)`` for the plan's frame span."""
        lo, hi = self._sample(plan.start), self._sample(plan.end)
        if self.music is not None:
            return self.music[:, lo:hi]
        if hi <= lo or not self._has_audio(plan):
            return mix.silence(hi - lo)
        seg = plan.seg
        span = (
            hi - lo
            if seg.out_s is None
            else min(hi - lo, max(1, round((seg.out_s - seg.in_s) * SAMPLE_RATE)))
        )
        got = read_audio(
            seg.file_path, seg.in_s, seg.in_s + span / SAMPLE_RATE, SAMPLE_RATE, channels=2
        )
        return mix.declick(
            mix.padded(got[:, :span] if got is not None else None, hi - lo), SAMPLE_RATE
        )
