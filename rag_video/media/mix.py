"""Audio as arrays: silence, padding to a length, fades and declicking of float32 samples.

Samples are ``(channels, n)`` float32 arrays at a sample rate the caller states; times are
seconds, turned into sample counts by truncation (``int(seconds * sample_rate)``). Nothing here
knows about files, plans or segments: reading is :mod:`rag_video.media.audio`, what goes where
in the output is the caller's.
"""

from __future__ import annotations

import math

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


__all__ = ["DECLICK_S", "declick", "fade", "padded", "silence"]
