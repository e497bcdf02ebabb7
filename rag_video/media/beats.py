"""Beats of a music signal: where its pulse falls, in seconds, for cutting on the beat.

:func:`beat_times` runs librosa's dynamic-programming beat tracker on the onset strength of the
downmixed signal (resampled to 22 050 Hz), then moves each beat to the strongest onset near it
on a fine onset envelope (1.45 ms frames). librosa's beats sit on 23 ms frames and lag the attack
they belong to by 5-35 ms on a click track; refined, they land within a few milliseconds of it.

Samples are float (-1..1 full scale), ``(channels, n)`` as the mix holds them (see
:mod:`rag_video.media.mix`) or ``(n,)`` mono.
"""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np

log = logging.getLogger(__name__)

ANALYSIS_RATE = 22_050
"""Rate (Hz) the signal is resampled to before tracking (librosa's own default)."""
TRACK_HOP = 512
"""Hop (samples at :data:`ANALYSIS_RATE`) of the onset envelope the tracker follows."""
REFINE_HOP = 32
REFINE_FFT = 256
REFINE_MELS = 32
REFINE_BEFORE_S = 0.070
"""How far before a tracked beat its onset is looked for (the tracker lags the attack)."""
REFINE_AFTER_S = 0.070
"""How far after a tracked beat its onset is looked for (at the ends the tracker can lead)."""
REFINE_MIN_STRENGTH = 0.2
"""An onset a beat moves to is at least this fraction of the median onset at the beats."""
MIN_SECONDS = 1.0
"""Signals shorter than this have no beats."""
SILENT_PEAK = 10 ** (-60 / 20)
"""Signals whose peak is under -60 dBFS count as silence (no beats)."""
MAX_CHANNELS = 8


def _mono(samples: np.ndarray, rate: int) -> np.ndarray:
    """Validated samples downmixed to one float32 channel."""
    if isinstance(rate, bool) or not (isinstance(rate, numbers.Integral) and rate > 0):
        raise ValueError(f"rate must be a positive int (Hz), got {rate!r}")
    if not isinstance(samples, np.ndarray):
        raise ValueError(f"samples must be a numpy array, got {type(samples).__name__}")
    if samples.ndim not in (1, 2) or (
        samples.ndim == 2 and not 1 <= samples.shape[0] <= MAX_CHANNELS
    ):
        raise ValueError(
            f"samples must be (n,) or (channels, n) with 1 to {MAX_CHANNELS} channels, "
            f"got shape {samples.shape}"
        )
    if not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"samples must be float (-1..1 full scale), got dtype {samples.dtype}")
    if not np.all(np.isfinite(samples)):
        raise ValueError("samples must be finite, got NaN or inf")
    mono = samples if samples.ndim == 1 else samples.mean(axis=0)
    return np.ascontiguousarray(mono, dtype=np.float32)


def beat_times(samples: np.ndarray, rate: int) -> np.ndarray:
    """Times (seconds, float64, ascending) of the beats of ``samples`` at ``rate`` Hz.

    Silence (peak under -60 dBFS) or a signal shorter than 1 s has no beats: an empty array.
    The tracker may leave out a weak first or last beat. On a click track every beat it reports
    lies within a few milliseconds of its click.

    Cost: librosa loads on the first call, 6-8 s (``import librosa`` itself is lazy, 5 ms; its
    beat and onset modules pull in numba and scipy.stats); each call then takes about 0.1 s for
    20 s of 48 kHz stereo (2-core machine).

    Raises ``ValueError`` naming the argument for a ``rate`` that is not a positive int, and for
    ``samples`` that are not a float array ``(n,)`` or ``(channels, n)``, or hold NaN or inf.
    """
    mono = _mono(samples, rate)
    if mono.size < MIN_SECONDS * rate or float(np.max(np.abs(mono))) < SILENT_PEAK:
        return np.empty(0, dtype=np.float64)
    import librosa

    y = (
        mono
        if rate == ANALYSIS_RATE
        else librosa.resample(mono, orig_sr=rate, target_sr=ANALYSIS_RATE)
    )
    envelope = librosa.onset.onset_strength(y=y, sr=ANALYSIS_RATE, hop_length=TRACK_HOP)
    _, tracked = librosa.beat.beat_track(
        onset_envelope=envelope, sr=ANALYSIS_RATE, hop_length=TRACK_HOP, units="time"
    )
    tracked = np.asarray(tracked, dtype=np.float64)
    if tracked.size == 0:
        return tracked
    fine = librosa.onset.onset_strength(
        y=y, sr=ANALYSIS_RATE, hop_length=REFINE_HOP, n_fft=REFINE_FFT, n_mels=REFINE_MELS
    )
    beats = _refine(tracked, fine, ANALYSIS_RATE / REFINE_HOP)
    log.debug("beats: %d tracked in %.1f s of music", beats.size, mono.size / rate)
    return beats


def _refine(tracked: np.ndarray, envelope: np.ndarray, frame_rate: float) -> np.ndarray:
    """Each tracked beat moved to the strongest onset of ``envelope`` (frames at ``frame_rate``
    per second, frame ``k`` centred on ``k / frame_rate``) in the window around it; a beat with
    no onset there, or only one under a fifth of the median onset at the beats, stays."""
    peaks: list[tuple[int, float]] = []
    for beat in tracked:
        lo = max(0, math.ceil((beat - REFINE_BEFORE_S) * frame_rate))
        hi = min(envelope.size, math.floor((beat + REFINE_AFTER_S) * frame_rate) + 1)
        k = lo + int(np.argmax(envelope[lo:hi])) if hi > lo else -1
        peaks.append((k, float(envelope[k]) if k >= 0 else 0.0))
    floor = REFINE_MIN_STRENGTH * float(np.median([strength for _, strength in peaks]))
    out = tracked.copy()
    for j, (k, strength) in enumerate(peaks):
        if k >= 0 and strength > 0 and strength >= floor:
            out[j] = k / frame_rate
    return np.unique(out)


__all__ = ["beat_times"]
