"""Checks on what callers hand the index: row keys, vectors and queries.

Each check returns the clean array (int64 keys, float32 unit vectors) or raises ``ValueError``
naming the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KeySet = set[int] | frozenset[int] | np.ndarray | list[int] | None


def as_keys(keys: Any, name: str) -> np.ndarray:
    """A 1-d int64 array of non-negative keys (``-1`` marks padding in results)."""
    arr = np.asarray(list(keys) if isinstance(keys, set | frozenset) else keys)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {int(arr.min())}")
    return arr


def check_unique(keys: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` when ``keys`` holds a key twice (naming up to five of them)."""
    uniq, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"{name} holds duplicates: {uniq[counts > 1][:5].tolist()}")


def as_unit_vectors(vectors: Any, dim: int | None, name: str) -> np.ndarray:
    """A C-contiguous float32 (n, dim) copy, L2-normalised; rejects non-finite and zero rows.

    Unlike :func:`rag_video.vectors.unit_rows`, a zero row is an error here: its cosine with
    anything is undefined, so it can be neither indexed nor searched for. A 1-d ``queries`` is
    one query.
    """
    arr = np.array(vectors, dtype=np.float32, order="C", copy=True)
    if arr.ndim == 1 and name == "queries":
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-d (n, dim), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} must have dim {dim}, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    if arr.shape[0] and norms.min() == 0:
        raise ValueError(f"{name} row {int(np.argmin(norms))} is all zeros (cosine undefined)")
    arr /= norms[:, None]
    return arr
