"""The soundtrack of `assemble`: three stems — narration, music, the sources' own sound — mixed
and mastered before the first frame is encoded, then written segment by segment beside it.

- **narration**: each shot's speech (:class:`Voiceover`), resampled to :data:`SAMPLE_RATE` and
  placed at its output time, levelled to :data:`NARRATION_LUFS`.
- **music**: a file looped (crossfaded at the loop point) or trimmed to the video, faded in and
  out, levelled to :data:`MUSIC_LUFS`, ducked under the narration by ``duck_db``.
- **sources**: each segment's own sound (silence where it has none, or is retimed) with exact
  sample boundaries from the frame boundaries and a ramp at every cut; ``keep``, ``duck`` (under
  the narration) or ``mute``.

The sum is mastered (gain, true-peak limiter) to ``target_lufs`` integrated loudness with the
true peak at most ``max_true_peak_dbtp`` (:func:`rag_video.media.loudness.master`). Legacy
`assemble` modes (``"sources"``, a music path) are a :class:`SoundSpec` without levelling or
mastering: the samples are the sources' own.

The whole mix is held in memory, float32 stereo: 23 MB a minute, the stems as much again each.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag_video.generate.manifest import STEMS, AudioClip, Sound, Stem
from rag_video.media import loudness, mix
from rag_video.media.audio import audio_duration, read_audio
from rag_video.media.probe import MediaError, check_readable
from rag_video.store import atomic_path

if TYPE_CHECKING:
    from rag_video.generate.timing import SegmentPlan
    from rag_video.voice.base import Speech

log = logging.getLogger(__name__)

SAMPLE_RATE = 48000
SOURCE_AUDIO = ("keep", "duck", "mute")
NARRATION_LUFS = -16.0
"""Level of the narration stem before mastering."""
MUSIC_LUFS = -20.0
"""Level of the music stem before ducking and mastering: a bed under the voice."""
LOOP_CROSSFADE_S = 0.05
"""Crossfade where looped music meets its own start."""
CODEC_HEADROOM_DB = 0.6
"""Margin under the true-peak ceiling left for the AAC encoder, whose output overshoots the
mastered peak by a few tenths of a dB: the encoded file, not only the mix, stays under it."""


@dataclass(frozen=True)
class Voiceover:
    """One shot's speech, heard from ``start_s`` of the output; ``path`` is the WAV that holds
    it (the speech cache's), ``text`` what it says."""

    start_s: float
    speech: Speech
    text: str
    path: str
    shot: int


@dataclass(frozen=True)
class SoundSpec:
    """What the soundtrack is made of and how it is mixed (see the module docstring)."""

    music: Path | None = None
    source_audio: str = "duck"
    narration: tuple[Voiceover, ...] = ()
    duck_db: float = 12.0
    target_lufs: float | None = -14.0  # None: neither levelled nor mastered
    max_true_peak_dbtp: float = -1.0
    music_fade_s: float = 1.0
    always: bool = True  # an audio stream even when every stem is silent
    stems_dir: Path | None = None  # also write each stem there as WAV
    voice: str | None = None

    def __post_init__(self) -> None:
        if self.source_audio not in SOURCE_AUDIO:
            raise ValueError(
                f"source_audio must be one of {', '.join(SOURCE_AUDIO)}, got {self.source_audio!r}"
            )
        if not (math.isfinite(self.duck_db) and 0 <= self.duck_db <= 60):
            raise ValueError(f"duck_db must be 0 to 60 dB, got {self.duck_db!r}")
        for name in ("target_lufs", "max_true_peak_dbtp"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and -70 <= value <= 0):
                raise ValueError(f"{name} must be -70 to 0, got {value!r}")
        if self.music is not None:
            object.__setattr__(self, "music", check_readable(self.music))


def parse_audio(
    audio: str | os.PathLike[str] | SoundSpec | None, music_fade_s: float
) -> SoundSpec | None:
    """`assemble`'s ``audio``: a SoundSpec, ``"sources"`` (the sources' own sound as it is),
    ``"none"``/None (no audio stream) or a music file (trimmed to the video, faded out)."""
    if isinstance(audio, SoundSpec):
        return audio
    if audio is None or (isinstance(audio, str) and audio == "none"):
        return None
    if isinstance(audio, str) and audio == "sources":
        return SoundSpec(source_audio="keep", target_lufs=None, always=False)
    return SoundSpec(
        music=Path(audio), source_audio="mute", target_lufs=None, music_fade_s=music_fade_s
    )


@dataclass
class Mixed:
    """The mastered mix ``(2, n)`` and what the manifest says about it."""

    samples: np.ndarray
    sound: Sound
    stems: dict[str, np.ndarray] = field(default_factory=dict)


class AudioTrack:
    """The mix of a `SoundSpec` over the planned segments; `block` is each segment's part."""

    def __init__(
        self,
        spec: SoundSpec | None,
        plans: list[SegmentPlan],
        rate: Fraction,
        total_frames: int,
    ) -> None:
        self.rate = rate
        self.spec = spec
        self.mixed: Mixed | None = None
        self.enabled = spec is not None and (
            spec.always
            or spec.music is not None
            or bool(spec.narration)
            or (spec.source_audio != "mute" and any(_has_audio(p) for p in plans))
        )
        if spec is not None and self.enabled:
            self.mixed = _mix(spec, plans, rate, self._sample(total_frames))

    def _sample(self, frame: int) -> int:
        return int(round(frame * SAMPLE_RATE / self.rate))

    def block(self, plan: SegmentPlan) -> np.ndarray:
        """Samples ``(2, m)`` for the plan's frame span."""
        assert self.mixed is not None
        return self.mixed.samples[:, self._sample(plan.start) : self._sample(plan.end)]


def _has_audio(plan: SegmentPlan) -> bool:
    return plan.seg.audio and plan.seg.speed == 1 and plan.info is not None and plan.info.has_audio


# ---------------------------------------------------------------------------- the stems


def _sources(
    plans: list[SegmentPlan], rate: Fraction, n: int
) -> tuple[np.ndarray, list[AudioClip]]:
    out, clips = mix.silence(n), []
    for plan in plans:
        lo = int(round(plan.start * SAMPLE_RATE / rate))
        hi = int(round(plan.end * SAMPLE_RATE / rate))
        if hi <= lo or not _has_audio(plan):
            continue
        seg = plan.seg
        span = (
            hi - lo
            if seg.out_s is None
            else min(hi - lo, max(1, round((seg.out_s - seg.in_s) * SAMPLE_RATE)))
        )
        got = read_audio(
            seg.file_path, seg.in_s, seg.in_s + span / SAMPLE_RATE, SAMPLE_RATE, channels=2
        )
        out[:, lo:hi] = mix.declick(
            mix.padded(got[:, :span] if got is not None else None, hi - lo), SAMPLE_RATE
        )
        clips.append(
            AudioClip(
                path=str(seg.file_path),
                in_s=seg.in_s,
                out_s=seg.in_s + span / SAMPLE_RATE,
                start_s=lo / SAMPLE_RATE,
                end_s=(lo + span) / SAMPLE_RATE,
            )
        )
    return out, clips


def load_music(
    path: Path, n: int, *, fade_out_s: float = 1.0
) -> tuple[np.ndarray, list[AudioClip]]:
    """``path``'s sound ``(2, n)`` at :data:`SAMPLE_RATE`, looped or trimmed to ``n`` samples and
    faded, with one clip per pass through the file."""
    length = min(audio_duration(path), n / SAMPLE_RATE + 1.0)
    got = read_audio(path, 0.0, length, SAMPLE_RATE, channels=2) if length > 0 else None
    if got is None or not np.any(got):
        raise MediaError(f"music file has no audio: {path}")
    track = mix.fit_length(
        got, n, SAMPLE_RATE, loop_crossfade_s=LOOP_CROSSFADE_S, fade_out_s=fade_out_s
    )
    clips: list[AudioClip] = []
    start, period = 0, max(1, got.shape[1] - int(LOOP_CROSSFADE_S * SAMPLE_RATE))
    while start < n:  # a pass ends where the next one's crossfade begins
        m = n - start if n - start <= got.shape[1] else period
        clips.append(
            AudioClip(
                path=str(path),
                in_s=0.0,
                out_s=m / SAMPLE_RATE,
                start_s=start / SAMPLE_RATE,
                end_s=(start + m) / SAMPLE_RATE,
            )
        )
        start += period
    return track, clips


def _narration(spec: SoundSpec, n: int) -> tuple[np.ndarray, list[AudioClip]]:
    from scipy.signal import resample_poly

    out, clips = mix.silence(n), []
    for vo in spec.narration:
        rate = vo.speech.sample_rate
        g = math.gcd(SAMPLE_RATE, rate)
        samples = resample_poly(vo.speech.samples, SAMPLE_RATE // g, rate // g).astype(np.float32)
        lo = int(round(vo.start_s * SAMPLE_RATE))
        hi = min(n, lo + samples.shape[0])
        if hi <= lo:
            continue
        if hi < lo + samples.shape[0]:
            log.warning(
                "shot %d: narration runs past the end; cut at %.2f s", vo.shot + 1, n / SAMPLE_RATE
            )
        out[:, lo:hi] += samples[: hi - lo]
        clips.append(
            AudioClip(
                path=vo.path,
                in_s=0.0,
                out_s=(hi - lo) / SAMPLE_RATE,
                start_s=lo / SAMPLE_RATE,
                end_s=hi / SAMPLE_RATE,
                text=vo.text,
                shot=vo.shot,
            )
        )
    return out, clips


def _level(stem: np.ndarray, target: float) -> None:
    """Scale `stem` in place to `target` integrated loudness (silence stays silent)."""
    lufs = loudness.integrated_lufs(stem.T, SAMPLE_RATE)
    if math.isfinite(lufs):
        stem *= np.float32(10 ** ((target - lufs) / 20))


def _db(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None


def _mix(spec: SoundSpec, plans: list[SegmentPlan], rate: Fraction, n: int) -> Mixed:
    stems: dict[str, np.ndarray] = {}
    clips: dict[str, list[AudioClip]] = {}
    levelled = spec.target_lufs is not None
    if spec.narration:
        stems["narration"], clips["narration"] = _narration(spec, n)
        if levelled:
            _level(stems["narration"], NARRATION_LUFS)
    if spec.music is not None:
        stems["music"], clips["music"] = load_music(spec.music, n, fade_out_s=spec.music_fade_s)
        if levelled:
            _level(stems["music"], MUSIC_LUFS)
    if spec.source_audio != "mute":
        stems["sources"], clips["sources"] = _sources(plans, rate, n)
    if "narration" in stems and spec.duck_db > 0:
        envelope = mix.speech_envelope(stems["narration"], SAMPLE_RATE)
        for name in ("music", "sources") if spec.source_audio == "duck" else ("music",):
            if name in stems:
                stems[name] = mix.duck(stems[name], envelope, spec.duck_db)
    total = mix.mix(list(stems.values())) if stems else mix.silence(n)
    measured = None
    if spec.target_lufs is not None:
        total, measured = loudness.master(
            total.T, SAMPLE_RATE, spec.target_lufs, spec.max_true_peak_dbtp - CODEC_HEADROOM_DB
        )
        total = np.ascontiguousarray(total.T, dtype=np.float32)
    written = _write_stems(spec.stems_dir, stems, total) if spec.stems_dir is not None else {}
    sound = Sound(
        stems=[
            _stem(name, stems[name], clips[name], written.get(name))
            for name in STEMS
            if name in stems
        ],
        voice=spec.voice,
        source_audio=spec.source_audio,
        duck_db=spec.duck_db,
        target_lufs=spec.target_lufs,
        max_true_peak_dbtp=spec.max_true_peak_dbtp if levelled else None,
        integrated_lufs=_db(measured.integrated_lufs) if measured else None,
        true_peak_dbtp=_db(measured.true_peak_dbtp) if measured else None,
    )
    return Mixed(total, sound, stems)


def _stem(name: str, samples: np.ndarray, clips: list[AudioClip], path: Path | None) -> Stem:
    measured = loudness.measure(samples.T, SAMPLE_RATE)
    return Stem(
        name=name,
        clips=clips,
        integrated_lufs=_db(measured.integrated_lufs),
        true_peak_dbtp=_db(measured.true_peak_dbtp),
        path=str(path) if path is not None else None,
    )


def _write_stems(folder: Path, stems: dict[str, np.ndarray], total: np.ndarray) -> dict[str, Path]:
    """Each stem and the mix as float32 stereo WAV in `folder` (each written under a temporary
    name, then renamed)."""
    from scipy.io import wavfile

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise MediaError(f"--stems folder {str(folder)!r} does not exist")
    written = {}
    for name, samples in {**stems, "mix": total}.items():
        path = folder / f"{name}.wav"
        with atomic_path(path) as tmp:
            wavfile.write(tmp, SAMPLE_RATE, np.ascontiguousarray(samples.T))
        written[name] = path
    return written


__all__ = [
    "AudioTrack",
    "MUSIC_LUFS",
    "Mixed",
    "NARRATION_LUFS",
    "SAMPLE_RATE",
    "SOURCE_AUDIO",
    "SoundSpec",
    "Voiceover",
    "load_music",
    "parse_audio",
]
