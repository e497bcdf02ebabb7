"""Sound checks: integrated loudness and true peak (via
:func:`rag_video.media.loudness.measure`), and audio/video stream durations."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rag_video.media.loudness import measure
from rag_video.qc.base import Check, CheckResult, QCInput


@dataclass
class Loudness(Check):
    """Integrated loudness within ±`tolerance_lu` of `target_lufs` and true peak at most
    `max_true_peak_dbtp` (with a make's manifest, its mix's targets are the defaults: see
    :func:`rag_video.qc.run.manifest_thresholds`). Silence (below the −70 LUFS gate) passes
    only when the manifest's mix was silent too (a plan with nothing to hear)."""

    name = "loudness"
    target_lufs: float = -14.0
    tolerance_lu: float = 1.0
    max_true_peak_dbtp: float = -1.0

    def run(self, video: QCInput) -> CheckResult:
        """Measure the audio."""
        t = {
            "target_lufs": self.target_lufs,
            "tolerance_lu": self.tolerance_lu,
            "max_true_peak_dbtp": self.max_true_peak_dbtp,
        }
        if video.audio is None or len(video.audio) == 0:
            return CheckResult(self.name, True, None, t, "", [], "no audio")
        m = measure(video.audio, video.rate)
        if not math.isfinite(m.integrated_lufs):
            sound = (video.manifest or {}).get("sound")
            planned = isinstance(sound, dict) and sound.get("integrated_lufs") is None
            why = "silent, as the manifest's mix" if planned else "silent audio"
            return CheckResult(self.name, planned, None, t, why)
        ok_i = abs(m.integrated_lufs - self.target_lufs) <= self.tolerance_lu
        ok_p = m.true_peak_dbtp <= self.max_true_peak_dbtp
        return CheckResult(
            self.name,
            bool(ok_i and ok_p),
            round(m.integrated_lufs, 2),
            t,
            f"{m.integrated_lufs:.1f} LUFS, true peak {m.true_peak_dbtp:.1f} dBTP",
        )


@dataclass
class AVSync(Check):
    """Audio and video stream durations equal within `max_frames` frames of video, plus
    `priming_s` seconds of tolerance for AAC encoder priming/padding (1024 samples at
    48 kHz ≈ 0.0213 s)."""

    name = "av_duration"
    max_frames: float = 1.0
    priming_s: float = 0.0214

    def run(self, video: QCInput) -> CheckResult:
        """Compare the stream durations."""
        t = {"max_frames": self.max_frames, "priming_s": self.priming_s}
        if video.audio_duration_s is None:
            return CheckResult(self.name, True, None, t, "", [], "no audio")
        diff = video.audio_duration_s - video.video_duration_s
        limit = self.max_frames / video.fps + self.priming_s
        return CheckResult(
            self.name,
            abs(diff) <= limit,
            round(diff, 4),
            t,
            f"audio {video.audio_duration_s:.3f}s, video {video.video_duration_s:.3f}s",
        )


SOUND: tuple[type[Check], ...] = (Loudness, AVSync)
