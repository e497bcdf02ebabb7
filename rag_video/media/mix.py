"""Audio as arrays: silence, padding to a length, fades and declicking of float32 samples, and
the mix of stems: a music bed fitted to the video's length, ducked under the narration, summed.

Samples are ``(channels, n)`` float32 arrays at a sample rate the caller states; times are
seconds, turned into sample counts by truncation (``int(seconds * sample_rate)``). Nothing here
knows about files, plans or segments: reading is :mod:`rag_video.media.audio`, what goes where
in the output is the caller's. Loudness (measuring, mastering) is :mod:`rag_video.media.loudness`,
which takes ``(n, channels)``: pass ``mix.T`` (a view, no copy).

The mix of a make, stem by stem::

    music = fit_length(music, n, rate)                      # looped or trimmed, faded
    env = speech_envelope(narration, rate)                  # 1 where the narration speaks
    duck(music, env)                                        # -12 dB under speech, in place
    duck(source, env, depth_db=...)                         # the source's sound, if "duck"
    out = mix([narration, music, source])                   # one (channels, n) array
    mastered, loud = loudness.master(out.T, rate)           # mastered.T is (channels, n) again
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

DECLICK_S = 0.005
"""Length of the ramp at every audio cut, against clicks."""


def silence(n: int, channels: int = 2) -> np.ndarray:
    """``(channels, n)`` zeros (``n`` below 0 counts as 0)."""
    return np.zeros((channels, max(0, n)), dtype=np.float32)


def padded(samples: np.ndarray | None, n: int, channels: int = 2) -> np.ndarray:
    """``(channels, n)`` samples: the first ``n`` of ``samples``, then silence (all silence for
    None)."""
    out = silence(n, channels)
    if samples is not None:
        m = min(n, samples.shape[1])
        out[:, :m] = samples[:channels, :m]
    return out


def fade(
    samples: np.ndarray, sample_rate: int, *, in_s: float = 0.0, out_s: float = 0.0
) -> np.ndarray:
    """Linear fade-in over ``in_s`` and cosine fade-out over ``out_s`` seconds, in place.

    Each fade is capped by the length of ``samples``; negative lengths count as 0. Returns
    ``samples``.
    """
    m = samples.shape[1]
    n_in = min(int(max(0.0, in_s) * sample_rate), m)
    n_out = min(int(max(0.0, out_s) * sample_rate), m)
    if n_in:
        samples[:, :n_in] *= np.linspace(0.0, 1.0, n_in, endpoint=False, dtype=np.float32)
    if n_out:
        samples[:, m - n_out :] *= 0.5 + 0.5 * np.cos(
            np.linspace(0, math.pi, n_out, dtype=np.float32)
        )
    return samples


def declick(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Ramp both ends of ``samples`` over :data:`DECLICK_S`, in place; returns ``samples``."""
    return fade(samples, sample_rate, in_s=DECLICK_S, out_s=DECLICK_S)


CHUNK = 1 << 18
"""Samples per channel handled at once where a whole-length float temporary is avoidable."""
DETECTOR_S = 0.01
"""Window of the RMS level detector of :func:`speech_envelope`."""
CONTROL_S = 0.001
"""Hop of :func:`speech_envelope`'s control signal (interpolated to every sample)."""
MAX_DEPTH_DB = 60.0


def _seconds(name: str, value: float) -> float:
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _rate(rate: int) -> int:
    if not (isinstance(rate, numbers.Integral) and rate > 0):
        raise ValueError(f"rate must be a positive int (Hz), got {rate!r}")
    return int(rate)


def _stem(name: str, samples: np.ndarray, *, mono: bool = False) -> np.ndarray:
    x = np.asarray(samples)
    if mono and x.ndim == 1:
        x = x[np.newaxis]
    if x.ndim != 2 or x.shape[0] == 0:
        want = "(n,) or (channels, n)" if mono else "(channels, n)"
        raise ValueError(f"{name} must be {want}, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be float samples, got {x.dtype}")
    return x


def fit_length(
    samples: np.ndarray,
    n: int,
    rate: int,
    *,
    loop_crossfade_s: float = 0.05,
    fade_in_s: float = DECLICK_S,
    fade_out_s: float = 1.0,
) -> np.ndarray:
    """A new float32 ``(channels, n)`` array: ``samples`` (``(channels, m)``) trimmed to ``n``,
    or looped until ``n`` — each repeat joined to the next by an equal-power (cos/sin)
    crossfade of ``loop_crossfade_s`` (at most half the track), so the seam does not click —
    then faded in over ``fade_in_s`` (linear) and out over ``fade_out_s`` (cosine), as
    :func:`fade`. With a crossfade of ``x`` seconds a track of ``m`` samples repeats every
    ``m - x·rate`` samples. Empty ``samples`` give silence."""
    x = _stem("samples", samples)
    if not (isinstance(n, numbers.Integral) and n >= 0):
        raise ValueError(f"n must be an int >= 0 (samples), got {n!r}")
    rate = _rate(rate)
    xfade_s = _seconds("loop_crossfade_s", loop_crossfade_s)
    in_s, out_s = _seconds("fade_in_s", fade_in_s), _seconds("fade_out_s", fade_out_s)
    channels, m = x.shape
    if m == 0:
        return silence(int(n), channels)
    out = np.empty((channels, int(n)), dtype=np.float32)
    if m >= n:
        out[:] = x[:, :n]
    else:
        k = min(int(xfade_s * rate), m // 2)
        # out = x[:k] then the loop unit repeated: x[k:m-k] and the seam (tail into head)
        theta = (np.arange(k, dtype=np.float32) + 0.5) * np.float32(math.pi / 2 / max(k, 1))
        seam = x[:, m - k :] * np.cos(theta) + x[:, :k] * np.sin(theta)
        unit = np.concatenate([x[:, k : m - k], seam], axis=1).astype(np.float32, copy=False)
        out[:, :k] = x[:, :k]
        pos = k
        while pos < n:
            step = min(unit.shape[1], n - pos)
            out[:, pos : pos + step] = unit[:, :step]
            pos += step
    return fade(out, rate, in_s=in_s, out_s=out_s)


def _control_hop(rate: int) -> int:
    return max(1, round(rate * CONTROL_S))


def _hop_power(x: np.ndarray, hop: int) -> np.ndarray:
    """Mean square over channels of each ``hop`` samples of ``x`` (the last hop zero-padded)."""
    channels, n = x.shape
    hops = -(-n // hop)
    power = np.zeros(hops, dtype=np.float64)
    step = max(1, CHUNK // hop) * hop
    for lo in range(0, n, step):
        block = np.asarray(x[:, lo : lo + step], dtype=np.float32)
        whole = block.shape[1] // hop
        sq = np.square(block)
        first = lo // hop
        power[first : first + whole] = (
            sq[:, : whole * hop].reshape(channels, whole, hop).sum(axis=(0, 2), dtype=np.float64)
        )
        if block.shape[1] % hop:
            power[first + whole] = float(sq[:, whole * hop :].sum(dtype=np.float64))
    return power / (channels * hop)


def _interpolate(control: np.ndarray, hop: int, n: int) -> np.ndarray:
    """``control`` (one value per hop) as ``(n,)`` float32: linear between hop centres."""
    out = np.empty(n, dtype=np.float32)
    centres = np.arange(control.shape[0], dtype=np.float64) * hop + (hop - 1) / 2
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        out[lo:hi] = np.interp(np.arange(lo, hi, dtype=np.float64), centres, control)
    return out


def speech_envelope(
    sidechain: np.ndarray,
    rate: int,
    *,
    threshold_db: float = -45.0,
    attack_s: float = 0.02,
    release_s: float = 0.3,
    hold_s: float = 0.15,
) -> np.ndarray:
    """Where ``sidechain`` (the narration stem, ``(channels, n)`` or ``(n,)``) speaks: a new
    ``(n,)`` float32 array in 0..1, the control signal of :func:`duck`.

    Speech is where the RMS level over :data:`DETECTOR_S` (mean power of the channels, dBFS: a
    full-scale sine reads -3 dB) is above ``threshold_db``, on a :data:`CONTROL_S` grid. The
    envelope is 1 from each onset to ``hold_s`` after the speech stops (so the pauses between
    words, shorter than ``hold_s``, stay ducked), rises to it over the ``attack_s`` *before*
    the onset (look-ahead: the duck is down when the first syllable starts) and falls from it
    over ``release_s``; both ramps are raised-cosine. Silence gives zeros."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    x = _stem("sidechain", sidechain, mono=True)
    rate = _rate(rate)
    if not (isinstance(threshold_db, numbers.Real) and math.isfinite(threshold_db)):
        raise ValueError(f"threshold_db must be a finite number (dBFS), got {threshold_db!r}")
    attack_s = _seconds("attack_s", attack_s)
    release_s = _seconds("release_s", release_s)
    hold_s = _seconds("hold_s", hold_s)
    n = x.shape[1]
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    hop = _control_hop(rate)
    hops_per_s = rate / hop
    power = uniform_filter1d(
        _hop_power(x, hop), max(1, round(DETECTOR_S * hops_per_s)), mode="constant"
    )
    on = power > 10.0 ** (float(threshold_db) / 10.0)
    if not on.any():
        return np.zeros(n, dtype=np.float32)
    held = round(hold_s * hops_per_s)
    if held:  # on[k] = any speech in [k - held, k]
        on = maximum_filter1d(on, held + 1, origin=held - (held + 1) // 2, mode="constant")
    idx = np.arange(on.shape[0])
    big = on.shape[0] + 1
    since = idx - np.maximum.accumulate(np.where(on, idx, -big))  # hops since the last "on"
    until = np.minimum.accumulate(np.where(on, idx, 2 * big)[::-1])[::-1] - idx  # to the next
    control = np.maximum(_ramp(until, attack_s * hops_per_s), _ramp(since, release_s * hops_per_s))
    return _interpolate(control, hop, n)


def _ramp(distance: np.ndarray, length: float) -> np.ndarray:
    """1 at distance 0 falling to 0 at ``length`` (raised cosine); a step for length < 1."""
    if length < 1:
        return (distance == 0).astype(np.float64)
    t = np.clip(distance / length, 0.0, 1.0)
    return 0.5 + 0.5 * np.cos(np.pi * t)


def duck(samples: np.ndarray, envelope: np.ndarray, depth_db: float = 12.0) -> np.ndarray:
    """``samples`` (``(channels, n)`` float) times the gain ``10^(-depth_db·envelope/20)``,
    **in place**; returns ``samples``. ``envelope`` is ``(n,)`` in 0..1
    (:func:`speech_envelope`); ``depth_db`` is in 0..:data:`MAX_DEPTH_DB`."""
    x = _stem("samples", samples)
    env = np.asarray(envelope)
    if env.shape != (x.shape[1],):
        raise ValueError(f"envelope must be ({x.shape[1]},) like samples, got shape {env.shape}")
    if not (isinstance(depth_db, numbers.Real) and 0 <= depth_db <= MAX_DEPTH_DB):
        raise ValueError(f"depth_db must be a number in 0..{MAX_DEPTH_DB:g} (dB), got {depth_db!r}")
    if depth_db == 0:
        return x
    k = np.float32(-float(depth_db) * math.log(10) / 20)
    for lo in range(0, x.shape[1], CHUNK):
        gain = np.exp(np.asarray(env[lo : lo + CHUNK], dtype=np.float32) * k)
        x[:, lo : lo + CHUNK] *= gain
    return x


def mix(stems: Sequence[np.ndarray]) -> np.ndarray:
    """The sum of ``stems``, all ``(channels, n)`` of one shape: a new float32 array."""
    if len(stems) == 0:
        raise ValueError("stems must hold at least one (channels, n) array, got none")
    first = _stem("stems[0]", stems[0])
    out = first.astype(np.float32, copy=True)
    for i, stem in enumerate(stems[1:], start=1):
        s = _stem(f"stems[{i}]", stem)
        if s.shape != out.shape:
            raise ValueError(f"stems[{i}] must have shape {out.shape} like stems[0], got {s.shape}")
        out += s
    return out


__all__ = [
    "DECLICK_S",
    "declick",
    "duck",
    "fade",
    "fit_length",
    "mix",
    "padded",
    "silence",
    "speech_envelope",
]
