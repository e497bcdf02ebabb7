"""Loudness: the one meter every audio check uses (BS.1770 integrated loudness, true peak) and
the normaliser that brings a mix to a target.

Samples are float (-1..1 full scale), ``(n,)`` mono or ``(n, channels)``, at ``rate`` Hz.

- :func:`integrated_lufs`: ITU-R BS.1770-4 K-weighted, gated loudness (pyloudnorm). A signal
  shorter than the 400 ms gating block is measured as one block of its own length; silence (or
  audio entirely under the -70 LUFS gate) is ``-inf``, without warnings.
- :func:`true_peak_dbtp`: the peak of the signal oversampled (polyphase, scipy
  ``resample_poly``) by 4× at 44.1/48 kHz, more at lower rates so the oversampled rate is at
  least 176.4 kHz, as BS.1770-4 Annex 2 describes; dB relative to full scale, ``-inf`` for
  silence.
- :func:`normalize`: one gain to the target loudness, reduced if needed so the true peak stays
  under the ceiling. It is a plain gain, not a limiter: a very peaky signal ends up quieter than
  the target rather than compressed (:func:`normalize_gain_db` says by how much).
- :func:`limit`: a look-ahead true-peak limiter; :func:`master`: gain to the target, the
  limiter at the ceiling, measured and corrected until both hold — the last step of every mix.

A mix in :mod:`rag_video.media.mix`'s ``(channels, n)`` layout goes in as ``mix.T`` (a view: no
copy); :func:`limit` and :func:`master` return an array of the input's memory layout, so the
``.T`` of their result is ``(channels, n)`` and C-contiguous again. They work in float32 for
float32 input, a chunk at a time where they can (measuring with :func:`integrated_lufs` still
makes a float64 copy).
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

BLOCK_S = 0.4  # BS.1770 gating block
MIN_OVERSAMPLED_HZ = 176_400
MAX_CHANNELS = 5  # BS.1770 channel weights known to pyloudnorm (L, R, C, Ls, Rs)
CHUNK = 1 << 16  # samples (per channel) oversampled at once by the limiter
_MARGIN = 16  # samples of context either side of a chunk: more than the resampler's half-length
_AIM_LU = 0.1  # master stops correcting once this close to the target
TOLERANCE_LU = 0.5
"""How far from its target :func:`master` may land before it warns."""
_PLATEAU = 0.02  # LU per dB of gain: less, and the limiter takes all of it
MAX_PASSES = 8
"""Most gain-limit-measure passes :func:`master` makes (2-4 on speech at -14 LUFS)."""
MAX_STEP_DB = 12.0
"""Most :func:`master` changes its gain by from one pass to the next."""


@dataclass(frozen=True)
class Loudness:
    """What :func:`measure` reports about a signal."""

    integrated_lufs: float
    true_peak_dbtp: float
    duration_s: float


def _checked(samples: np.ndarray, rate: int, *, max_channels: int | None = None) -> np.ndarray:
    """``samples`` as an array, validated, not copied."""
    if not (isinstance(rate, numbers.Integral) and rate > 0):
        raise ValueError(f"rate must be a positive int (Hz), got {rate!r}")
    x = np.asarray(samples)
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] == 0):
        raise ValueError(f"samples must be (n,) or (n, channels), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"samples must be float (-1..1 full scale), got {x.dtype}")
    if max_channels is not None and x.ndim == 2 and x.shape[1] > max_channels:
        raise ValueError(f"samples must have at most {max_channels} channels, got {x.shape[1]}")
    if not math.isfinite(float(np.sum(x, dtype=np.float64))):  # no whole-size temporary
        raise ValueError("samples must be finite (no NaN or inf)")
    return x


def _audio(samples: np.ndarray, rate: int, *, max_channels: int | None = None) -> np.ndarray:
    return _checked(samples, rate, max_channels=max_channels).astype(np.float64, copy=False)


def integrated_lufs(samples: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS, BS.1770-4) of ``samples``; ``-inf`` for silence."""
    import pyloudnorm

    x = _audio(samples, rate, max_channels=MAX_CHANNELS)
    n = x.shape[0]
    if n == 0 or not np.any(x):
        return -math.inf
    block = min(BLOCK_S, n / rate * (1 - 1e-9))
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(pyloudnorm.Meter(rate, block_size=block).integrated_loudness(x))
    return value if math.isfinite(value) else -math.inf


def oversampling(rate: int) -> int:
    """The true-peak oversampling factor at ``rate``: 4 at 44.1 kHz and above, more below."""
    return max(4, math.ceil(MIN_OVERSAMPLED_HZ / rate))


def true_peak_dbtp(samples: np.ndarray, rate: int) -> float:
    """True peak (dBTP) of ``samples``, every channel; ``-inf`` for silence."""
    x = _checked(samples, rate)
    if x.shape[0] == 0 or not np.any(x):
        return -math.inf
    # a chunk at a time (the same numbers as oversampling it whole, a fraction of the memory)
    return 20.0 * math.log10(max(float(peaks.max()) for _, peaks in _chunk_peaks(x, rate)))


def measure(samples: np.ndarray, rate: int) -> Loudness:
    """Integrated loudness, true peak and length of ``samples``."""
    x = _audio(samples, rate, max_channels=MAX_CHANNELS)
    return Loudness(integrated_lufs(x, rate), true_peak_dbtp(x, rate), x.shape[0] / rate)


def normalize_gain_db(
    samples: np.ndarray,
    rate: int,
    target_lufs: float = -14.0,
    max_true_peak_dbtp: float = -1.0,
) -> float:
    """The gain (dB) :func:`normalize` applies: to the target, less if the true peak would pass
    the ceiling; 0 for silence."""
    for name, value in (("target_lufs", target_lufs), ("max_true_peak_dbtp", max_true_peak_dbtp)):
        if not (isinstance(value, numbers.Real) and math.isfinite(value) and value <= 0):
            raise ValueError(f"{name} must be a finite number <= 0, got {value!r}")
    lufs = integrated_lufs(samples, rate)
    if not math.isfinite(lufs):
        return 0.0
    gain = float(target_lufs) - lufs
    peak = true_peak_dbtp(samples, rate)
    return min(gain, float(max_true_peak_dbtp) - peak)


def normalize(
    samples: np.ndarray,
    rate: int,
    target_lufs: float = -14.0,
    max_true_peak_dbtp: float = -1.0,
) -> np.ndarray:
    """``samples`` with one gain applied: integrated loudness at ``target_lufs`` unless that
    would put the true peak above ``max_true_peak_dbtp``, in which case the gain stops there.
    Returns a new array, float32 unless the input is float64; silence comes back unchanged."""
    gain_db = normalize_gain_db(samples, rate, target_lufs, max_true_peak_dbtp)
    x = np.asarray(samples)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    return (x.astype(np.float64) * 10 ** (gain_db / 20)).astype(dtype)


def _level(name: str, value: float) -> float:
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value <= 0):
        raise ValueError(f"{name} must be a finite number <= 0, got {value!r}")
    return float(value)


def _chunk_peaks(x: np.ndarray, rate: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(lo, peaks)`` for each chunk of ``x`` from sample ``lo``: at each of its samples the
    largest magnitude, over every channel, of ``x`` and of its oversampled version (as
    :func:`true_peak_dbtp` defines it) from that sample up to the next; float64. The chunks
    overlap by more than the resampler's filter, so the values are those of the whole signal
    oversampled at once."""
    from scipy.signal import resample_poly

    n = x.shape[0]
    up = oversampling(rate)
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        a, b = max(0, lo - _MARGIN), min(n, hi + _MARGIN)
        chunk = np.asarray(x[a:b], dtype=np.float64)
        over = resample_poly(chunk, up, 1, axis=0)[(lo - a) * up : (hi - a) * up]
        np.abs(over, out=over)
        columns = over.reshape(hi - lo, -1)  # every phase of every channel, per sample
        peaks = np.abs(chunk[lo - a : hi - a]).reshape(hi - lo, -1).max(axis=1)
        for j in range(columns.shape[1]):  # faster than a max over a short last axis
            np.maximum(peaks, columns[:, j], out=peaks)
        yield lo, peaks


def _peak_envelope(x: np.ndarray, rate: int) -> np.ndarray:
    """``(n,)`` float32: :func:`_chunk_peaks` of every sample; its max is the true peak."""
    out = np.empty(x.shape[0], dtype=np.float32)
    for lo, peaks in _chunk_peaks(x, rate):
        out[lo : lo + peaks.shape[0]] = peaks
    return out


LOOKAHEAD_S = 0.005
"""The limiter's look-ahead: its gain is fully down this long before a peak (and falls at most
:data:`STEP_DB` per look-ahead on the way down)."""
RELEASE_S = 0.05
"""After a peak (and :data:`HOLD_S`) the limiter's gain recovers at most :data:`STEP_DB` per
``RELEASE_S``: a small reduction comes back quickly, a large one slowly."""
HOLD_S = 0.01
"""The limiter's gain stays down at least this long after a peak (a period of 100 Hz: it does
not follow the waveform of a low voice)."""
STEP_DB = 6.0
_SAFETY_DB = -1e-4  # the limiter aims this far under its ceiling: float rounding


def _peak_db(x: np.ndarray, rate: int) -> np.ndarray:
    """:func:`_peak_envelope` in dB, float32 (``-inf`` where the signal is 0)."""
    env = _peak_envelope(x, rate)
    with np.errstate(divide="ignore"):
        np.log10(env, out=env)
    env *= np.float32(20.0)
    return env


def _cone(gain: np.ndarray, fall: float, rise: float) -> None:
    """``gain`` (dB) lowered in place so that it rises at most ``rise`` dB per sample after any
    sample and falls at most ``fall`` dB per sample before one: ``min_j gain[j] + slope·|k-j|``
    (two running minima, a chunk at a time in float64)."""
    n = gain.shape[0]
    carry = math.inf
    for lo in range(0, n, CHUNK):  # from the past: recovering at `rise`
        seg = gain[lo : lo + CHUNK].astype(np.float64)
        ramp = rise * np.arange(seg.shape[0], dtype=np.float64)
        got = np.minimum(np.minimum.accumulate(seg - ramp) + ramp, carry + rise + ramp)
        carry = float(got[-1])
        gain[lo : lo + CHUNK] = got
    carry = math.inf
    for lo in reversed(range(0, n, CHUNK)):  # from the future: coming down at `fall`
        seg = gain[lo : lo + CHUNK].astype(np.float64)
        ramp = fall * np.arange(seg.shape[0], dtype=np.float64)
        ahead = np.minimum.accumulate((seg + ramp)[::-1])[::-1] - ramp
        got = np.minimum(ahead, carry + fall * seg.shape[0] - ramp)
        carry = float(got[0])
        gain[lo : lo + CHUNK] = got


def _gain_db(
    peak_db: np.ndarray, ceiling_db: float, lookahead: int, release: int, hold: int
) -> np.ndarray:
    """The limiter's gain in dB (float32 ``(n,)``, at most 0) for a signal whose true-peak
    envelope is ``peak_db``: at no sample above ``ceiling_db - peak_db``.

    What each sample needs, ``min(0, ceiling_db - peak_db)``, becomes the least needed over
    ``[k - hold, k + lookahead]`` (flat from a look-ahead before a peak to a hold after it),
    then lowered so that it falls at most :data:`STEP_DB` per ``lookahead`` and recovers at
    most :data:`STEP_DB` per ``release`` samples (:func:`_cone`), then smoothed by two
    running means of radius ``lookahead // 2``: a weighted mean over
    ``[k - lookahead, k + lookahead]``, where every value is at most what a peak at ``k``
    needs — so the gain never exceeds it at a peak."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    need = np.subtract(np.float32(ceiling_db), peak_db, dtype=np.float32)
    np.minimum(need, np.float32(0.0), out=need)
    hold = max(hold, lookahead)
    size = lookahead + hold + 1
    # scipy's window is [k - size//2 - origin, k + (size-1)//2 - origin]: here [k - hold, k + L]
    gain = minimum_filter1d(need, size, origin=hold - size // 2, mode="nearest")
    _cone(gain, STEP_DB / lookahead, STEP_DB / release)
    half = lookahead // 2
    if half:
        uniform_filter1d(gain, 2 * half + 1, output=need, mode="nearest")
        uniform_filter1d(need, 2 * half + 1, output=gain, mode="nearest")
    return gain


def _to_linear(gain_db: np.ndarray, extra_db: float = 0.0) -> np.ndarray:
    """``10^((gain_db + extra_db)/20)`` in place (float32); returns ``gain_db``."""
    k = np.float32(math.log(10) / 20)
    gain_db += np.float32(extra_db)
    gain_db *= k
    np.exp(gain_db, out=gain_db)
    return gain_db


def _apply(
    x: np.ndarray, gain: np.ndarray | np.float32, out: np.ndarray | None = None
) -> np.ndarray:
    """``x`` times ``gain`` (one per sample, or one for all), into ``out`` (new if None:
    ``x``'s layout, float32 unless ``x`` is float64)."""
    if out is None:
        out = np.empty_like(x, dtype=np.float64 if x.dtype == np.float64 else np.float32)
    for lo in range(0, x.shape[0], CHUNK):
        g: np.ndarray | np.float32 = gain
        if isinstance(gain, np.ndarray):
            g = gain[lo : lo + CHUNK, np.newaxis] if x.ndim == 2 else gain[lo : lo + CHUNK]
        np.multiply(x[lo : lo + CHUNK], g, out=out[lo : lo + CHUNK])
    return out


def _samples_of(name: str, seconds: float, rate: int) -> int:
    """``seconds`` (> 0) as a count of samples, at least 1."""
    if not (isinstance(seconds, numbers.Real) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {seconds!r}")
    return max(1, round(float(seconds) * rate))


def limit(
    samples: np.ndarray,
    rate: int,
    ceiling_dbtp: float = -1.0,
    *,
    lookahead_s: float = LOOKAHEAD_S,
    release_s: float = RELEASE_S,
) -> np.ndarray:
    """``samples`` through a look-ahead true-peak limiter: a new array (the input's layout,
    float32 unless the input is float64) whose true peak is at most ``ceiling_dbtp``.

    The gain comes from the true-peak envelope (the signal oversampled as
    :func:`true_peak_dbtp`): fully down ``lookahead_s`` before a peak, held :data:`HOLD_S`
    after it, recovering at most :data:`STEP_DB` per ``release_s``, smoothed (see
    :func:`_gain_db`); audio far from any peak over the ceiling is untouched. It aims 0.0001 dB
    under the ceiling: a moving gain can add inter-sample overshoot of its own (so far well
    under that; :func:`master` measures its result and corrects for any)."""
    x = _checked(samples, rate)
    ceiling = _level("ceiling_dbtp", ceiling_dbtp)
    lookahead = _samples_of("lookahead_s", lookahead_s, rate)
    release = _samples_of("release_s", release_s, rate)
    hold = round(HOLD_S * rate)
    gain = _gain_db(_peak_db(x, rate), ceiling + _SAFETY_DB, lookahead, release, hold)
    return _apply(x, _to_linear(gain))


def master(
    samples: np.ndarray,
    rate: int,
    target_lufs: float = -14.0,
    max_true_peak_dbtp: float = -1.0,
) -> tuple[np.ndarray, Loudness]:
    """The mastered ``samples`` (a new array, the input's layout, float32 unless the input is
    float64) and their :class:`Loudness`, measured.

    A gain to ``target_lufs`` (BS.1770 integrated), the true-peak limiter of :func:`limit` (its
    default timings) at ``max_true_peak_dbtp``, then measured: the gain is corrected for what
    the limiter took (secant steps) and the ceiling lowered by any overshoot, until the
    loudness is within 0.1 LU of the target and the true peak at most the ceiling, in at most
    :data:`MAX_PASSES` passes. Silence (``-inf`` LUFS) comes back unchanged. A target the audio
    cannot reach under the ceiling (dense audio, a very loud target) ends at its last pass,
    with a warning if that is more than :data:`TOLERANCE_LU` short: the returned loudness says
    where it landed."""
    x = _checked(samples, rate, max_channels=MAX_CHANNELS)
    target = _level("target_lufs", target_lufs)
    ceiling = _level("max_true_peak_dbtp", max_true_peak_dbtp)
    start = integrated_lufs(x, rate)
    if not math.isfinite(start):
        same = np.array(x, dtype=np.float64 if x.dtype == np.float64 else np.float32)
        return same, measure(same, rate)
    peak_db = _peak_db(x, rate)
    timing = (round(LOOKAHEAD_S * rate), round(RELEASE_S * rate), round(HOLD_S * rate))
    aim, out = ceiling + _SAFETY_DB, None
    tried: list[tuple[float, float]] = []
    gain = target - start
    top = float(np.max(peak_db))
    for _ in range(MAX_PASSES):
        if top + gain <= aim:  # nothing to limit: one gain
            out = _apply(x, np.float32(10 ** (gain / 20)), out)
        else:
            curve = _to_linear(_gain_db(peak_db, aim - gain, *timing), gain)
            out = _apply(x, curve, out)
            del curve
        lufs = integrated_lufs(out, rate)
        tried.append((gain, lufs))
        if abs(target - lufs) > _AIM_LU:
            step = _next_gain(tried, target)
            if step is not None:
                gain = step
                continue
            break
        loud = Loudness(lufs, true_peak_dbtp(out, rate), x.shape[0] / rate)
        if loud.true_peak_dbtp <= ceiling:
            return out, loud
        aim -= loud.true_peak_dbtp - ceiling + 0.001  # the gain's own overshoot: aim under it
    assert out is not None
    loud = Loudness(tried[-1][1], true_peak_dbtp(out, rate), x.shape[0] / rate)
    if abs(loud.integrated_lufs - target) <= TOLERANCE_LU and loud.true_peak_dbtp <= ceiling:
        return out, loud
    log.warning(
        "master: %.2f LUFS, %.2f dBTP after %d passes (target %.1f LUFS, ceiling %.1f dBTP)",
        loud.integrated_lufs,
        loud.true_peak_dbtp,
        len(tried),
        target,
        ceiling,
    )
    return out, loud


def _next_gain(tried: list[tuple[float, float]], target: float) -> float | None:
    """The next gain (dB) for :func:`master` from the (gain, loudness) pairs tried, or None when
    more gain no longer raises the loudness (the limiter takes all of it: the target is out of
    reach). Once the target is bracketed, a secant step between the closest pair either side;
    before that, from the last two pairs, stretched by half again (the limiter takes a growing
    share of each dB, so a secant alone falls short), after the first pass a step by the error.
    Steps are at most :data:`MAX_STEP_DB`."""
    gain, lufs = tried[-1]
    below = [p for p in tried if p[1] < target]
    above = [p for p in tried if p[1] > target]
    if below and above:
        (g0, l0), (g1, l1) = max(below, key=lambda p: p[1]), min(above, key=lambda p: p[1])
        return g0 + (g1 - g0) * (target - l0) / (l1 - l0)
    step = target - lufs
    if len(tried) > 1:
        g0, l0 = tried[-2]
        if g0 != gain:
            slope = (lufs - l0) / (gain - g0)
            if lufs < target and slope < _PLATEAU:
                return None
            step = 1.5 * step / min(1.5, max(_PLATEAU, slope))
    return gain + min(MAX_STEP_DB, max(-MAX_STEP_DB, step))
