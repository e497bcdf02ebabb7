"""GPU use: whether an index goes to the GPU, the copy there, and the unfiltered GPU search.

The CPU index stays the one that is saved and that serves filtered searches; the GPU holds a copy
of the flat or IVF inner index (faiss has no GPU HNSW) for unfiltered searches.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from rag_video.index.errors import IndexUnavailable
from rag_video.index.runtime import load_faiss

logger = logging.getLogger(__name__)

GPU_MAX_K = 2048  # faiss GPU indexes return at most this many neighbours

UseGpu = bool | Literal["auto"]


def gpu_count() -> int:
    """GPUs faiss sees (0 with a CPU-only faiss build)."""
    faiss = load_faiss()
    try:
        return int(faiss.get_num_gpus())
    except AttributeError:  # a CPU-only faiss build
        return 0


def want_gpu(use_gpu: UseGpu, index_type: str) -> bool:
    """Whether an ``index_type`` index should get a GPU copy: ``"auto"`` when faiss sees a GPU,
    ``True`` requires one (:class:`IndexUnavailable` otherwise); hnsw always stays on the CPU."""
    if use_gpu not in (True, False, "auto"):
        raise ValueError(f"use_gpu must be True, False or 'auto', got use_gpu={use_gpu!r}")
    if use_gpu is False:
        return False
    gpus = gpu_count()
    if use_gpu is True and gpus == 0:
        raise IndexUnavailable("use_gpu=True but faiss sees no GPU (faiss.get_num_gpus() == 0)")
    if index_type == "hnsw":
        if use_gpu is True:
            logger.info("hnsw indexes stay on the CPU (faiss has no GPU HNSW)")
        return False
    return gpus > 0


def to_gpu(base: Any, index_type: str, params: dict[str, Any]) -> Any:
    """A copy of the inner index ``base`` on every GPU (with its nprobe), or None when faiss
    cannot make one (a warning says why; searches then run on the CPU)."""
    faiss = load_faiss()
    try:
        gpu = faiss.index_cpu_to_all_gpus(base)
        if index_type in ("ivf", "ivfpq"):
            faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", int(params["nprobe"]))
    except (RuntimeError, AttributeError) as exc:
        logger.warning(
            "could not move the %s index to the GPU (%s); searching on the CPU", index_type, exc
        )
        return None
    return gpu


def gpu_search(
    gpu: Any, queries: np.ndarray, k: int, mask: np.ndarray | None, n_total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Search the GPU copy on internal positions. GPU indexes take no selectors: over-fetch by
    the number of masked positions, drop them, and leave short rows to the caller's CPU refill.
    Returns ``(scores, positions)``, each (q, k), padded with ``-inf`` / ``-1``."""
    banned = 0 if mask is None else n_total - int(mask.sum())
    fetch = min(n_total, k + banned)
    scores, pos = gpu.search(queries, fetch)
    if mask is not None:
        ok = (pos >= 0) & mask[np.maximum(pos, 0)]
        order = np.argsort(~ok, axis=1, kind="stable")
        pos = np.where(ok, pos, -1)
        scores = np.take_along_axis(scores, order, axis=1)
        pos = np.take_along_axis(pos, order, axis=1)
    pos, scores = pos[:, :k], scores[:, :k]
    if pos.shape[1] < k:
        pad = k - pos.shape[1]
        pos = np.pad(pos, ((0, 0), (0, pad)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    return np.ascontiguousarray(scores), np.ascontiguousarray(pos)
