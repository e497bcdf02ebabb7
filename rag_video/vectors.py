"""Vector helpers shared by the index and retrieval: one L2 normalisation with a zero guard."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

MIN_NORM = 1e-12  # norms below this are clamped to it, so zero rows stay zero (no 0/0 NaN)


def unit_rows(a: ArrayLike) -> np.ndarray:
    """``a`` (n, dim) as float32 with every row divided by its L2 norm, clamped below at
    :data:`MIN_NORM`: zero rows stay zero instead of becoming NaN. Always a new array.

    Where a zero vector is an error (an undefined cosine), check for it before calling this.
    """
    rows = np.array(a, dtype=np.float32, copy=True)
    rows /= np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), MIN_NORM)
    return rows
