"""Seconds to whole frames: the one rounding rule of rag-video.

A time in seconds becomes a number of frames at a rate by rounding to the nearest frame, a half
frame rounding up (2.5 → 3; never Python's ``round``, which sends 2.5 to 2 and 3.5 to 4). The
product is computed exactly on the fractions the numbers stand for: a float time is read to the
microsecond (0.1 s is one tenth, not its binary neighbour) and a float rate to a millionth
(29.97002997… fps is 30000/1001), so a time on a half frame rounds the same way at every call site
and float noise (``0.1 * 25 == 2.5000000000000004``) never tips it.
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Rational

_DENOMINATOR = 1_000_000
_HALF = Fraction(1, 2)

Number = float | int | Fraction


def exact(value: Number, name: str = "value") -> Fraction:
    """``value`` as the fraction it stands for (floats to a denominator of at most 10⁶).

    Raises ``ValueError`` naming ``name`` for infinities and NaN.
    """
    if isinstance(value, Rational):
        return Fraction(value)
    try:
        return Fraction(value).limit_denominator(_DENOMINATOR)
    except (OverflowError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None


def frames_of(seconds: Number, fps: Number) -> int:
    """Nearest whole number of frames in ``seconds`` at ``fps``; a half frame rounds up."""
    return math.floor(exact(seconds, "seconds") * exact(fps, "fps") + _HALF)


def frames_within(seconds: Number, fps: Number) -> int:
    """Whole frames that fit in ``seconds`` at ``fps`` (rounded down, exactly)."""
    return math.floor(exact(seconds, "seconds") * exact(fps, "fps"))


__all__ = ["exact", "frames_of", "frames_within"]
