"""The faiss import and its OpenMP threads: how many CPUs the index may use, and when a search
runs on one thread.

faiss is imported here, lazily (``rag-video --help`` must not pay for it), and every index module
gets it through :func:`load_faiss`, which sets the thread count once. Either faiss build works:
faiss-cpu (the default dependency) or faiss-gpu-cu12 (README, "GPU"); GPU symbols are only touched
in `index.gpu`, after ``faiss.get_num_gpus()`` says there is a GPU.

threadpoolctl could scope the thread count too, but it is not a dependency, and it finds the
OpenMP runtime by walking the loaded libraries on each use: too slow for a ~1 ms search, and it
would also throttle torch's OpenMP. faiss's own ``omp_set_num_threads`` does the job here.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag_video.index.errors import IndexUnavailable

SERIAL_QUERIES = 8  # smaller batches search on one OpenMP thread (see omp_threads)

_threads_configured = False


def cpu_budget() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup v2 CPU quota, and by
    ``RAG_VIDEO_FAISS_THREADS`` when set."""
    env = os.environ.get("RAG_VIDEO_FAISS_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"RAG_VIDEO_FAISS_THREADS must be an integer, got {env!r}") from None
    cpus = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def load_faiss() -> Any:
    """Import faiss and set its OpenMP thread count once (oversubscribed threads ruin latency)."""
    global _threads_configured
    try:
        import faiss
    except ImportError as exc:
        raise IndexUnavailable(
            f"faiss is not installed ({exc}): pip install faiss-cpu, or faiss-gpu-cu12 for a GPU"
        ) from None

    if not _threads_configured:
        faiss.omp_set_num_threads(cpu_budget())
        _threads_configured = True
    return faiss


@contextlib.contextmanager
def omp_threads(n_queries: int) -> Iterator[None]:
    """Run a search of fewer than SERIAL_QUERIES queries on one OpenMP thread. FAISS parallelises
    over queries, so a single query gains nothing from a thread team, and waking one costs: on a
    loaded 2-core machine a 1-query flat search at 20k x 512-d took 20 ms p50 with 2 threads and
    1.4 ms with one."""
    if n_queries >= SERIAL_QUERIES:
        yield
        return
    faiss = load_faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
