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
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np

BLOCK_S = 0.4  # BS.1770 gating block
MIN_OVERSAMPLED_HZ = 176_400
MAX_CHANNELS = 5  # BS.1770 channel weights known to pyloudnorm (L, R, C, Ls, Rs)


@dataclass(frozen=True)
class Loudness:
    """What :func:`measure` reports about a signal."""

    integrated_lufs: float
    true_peak_dbtp: float
    duration_s: float


def _audio(samples: np.ndarray, rate: int, *, max_channels: int | None = None) -> np.ndarray:
    if not (isinstance(rate, numbers.Integral) and rate > 0):
        raise ValueError(f"rate must be a positive int (Hz), got {rate!r}")
    x = np.asarray(samples)
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] == 0):
        raise ValueError(f"samples must be (n,) or (n, channels), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"samples must be float (-1..1 full scale), got {x.dtype}")
    if max_channels is not None and x.ndim == 2 and x.shape[1] > max_channels:
        raise ValueError(f"samples must have at most {max_channels} channels, got {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite (no NaN or inf)")
    return x.astype(np.float64, copy=False)


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
    from scipy.signal import resample_poly

    x = _audio(samples, rate)
    if x.shape[0] == 0 or not np.any(x):
        return -math.inf
    up = resample_poly(x, oversampling(rate), 1, axis=0)
    peak = max(float(np.max(np.abs(up))), float(np.max(np.abs(x))))
    return 20.0 * math.log10(peak)


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
