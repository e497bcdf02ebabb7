"""The CPU search strategies over an index's internal positions, each honouring a candidate
mask (a bool array over positions, None = every position):

* :meth:`InnerIndex.exhaustive` scans every candidate (exact, except PQ distances for ivfpq);
* :meth:`InnerIndex.approximate` walks the HNSW graph or the IVF lists with a selector, widening
  the search for narrow filters.

Both return ``(scores, positions)``, each (q, k), padded with ``-1`` positions. The choice among
them, the GPU copy and the refill of short rows is :meth:`ShotIndex._search_positions`'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag_video.index.runtime import load_faiss

EF_SEARCH_CAP = 2048


def selector(mask: np.ndarray | None) -> tuple[Any, Any]:
    """An ``IDSelectorBitmap`` over positions, with the bitmap it reads (keep both alive)."""
    if mask is None:
        return None, None
    faiss = load_faiss()
    bitmap = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap)), bitmap


@dataclass(frozen=True)
class InnerIndex:
    """The inner FAISS index of a ShotIndex (it searches positions, not row keys), its type and
    its build-time search parameters (``nlist``, ``nprobe``, ``efSearch``)."""

    base: Any
    index_type: str
    params: dict[str, Any]

    def exhaustive(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scan every candidate: exact for flat, hnsw (its flat storage) and ivf; PQ distances
        for ivfpq. The selector is checked before any distance is computed, so a small candidate
        set costs little even in a big index."""
        faiss = load_faiss()
        if self.index_type in ("ivf", "ivfpq"):
            params = faiss.SearchParametersIVF(nprobe=int(self.params["nlist"]), max_codes=0)
            target = self.base
        else:
            params = faiss.SearchParameters()
            target = (
                self.base if self.index_type == "flat" else faiss.downcast_index(self.base.storage)
            )
        return _search(target, params, queries, k, mask)

    def approximate(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None, selectivity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Search the approximate structure with a selector, widening efSearch/nprobe by
        1/sqrt(selectivity): measured at 200k x 512-d with a 10% filter, efSearch 256 -> 810 keeps
        recall@10 at 0.98 in ~2.4 ms (1/selectivity costs 3x the time for +0.01 recall)."""
        faiss = load_faiss()
        boost = 1.0 / math.sqrt(max(selectivity, 1e-6))
        if self.index_type == "hnsw":
            ef = min(EF_SEARCH_CAP, math.ceil(max(int(self.params["efSearch"]), k) * boost))
            params = faiss.SearchParametersHNSW(efSearch=max(ef, k))
        else:
            nprobe = min(int(self.params["nlist"]), math.ceil(int(self.params["nprobe"]) * boost))
            params = faiss.SearchParametersIVF(nprobe=nprobe)
        return _search(self.base, params, queries, k, mask)


def _search(
    target: Any, params: Any, queries: np.ndarray, k: int, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``target.search`` with ``params``, restricted to the positions of ``mask``."""
    sel, _bitmap = selector(mask)  # the selector reads the bitmap: keep it alive for the call
    if sel is not None:
        params.sel = sel
    return target.search(queries, k, params=params)
