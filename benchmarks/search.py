"""Benchmark: vector search through the library (FAISS index kept in step with the Lance table)
next to LanceDB's own search over the same table, same run.

Generates (once; reused when `--library` already holds the same data) a library whose `shots`
table holds `--n` 512-d unit vectors shaped like a real embedding cloud — a mixture of
`--clusters` clusters on the sphere with within-cluster spread (:func:`clustered_unit_vectors`),
not uniform noise — written with the Store and the real schemas, 100 shots per `ok` source.
`--queries` more vectors from the same mixture (not in the table) are the queries.

Measures:

- ``write_s``: writing the table (null when `--library` already held it);
- ``build_s``: `Library.build_index(--index-type)` (FAISS build + parameter tuning + save, and the
  full-text index on `shots.text`);
- ``recall_at_10``: of `lib.search(vector=q).limit(10)` against exact numpy search;
- ``p50_ms`` / ``p99_ms``: single-query latency of `lib.search(vector=q).limit(10).to_arrow()`, the
  whole path (staleness check, index search, fetching the result rows from Lance);
- ``faiss_p50_ms``: the FAISS index alone (`ShotIndex.search`, one query, k=10);
- ``lancedb_flat_p50_ms``: LanceDB's `table.search(q).distance_type("cosine").limit(10)` without a
  vector index (brute force), same table, same result columns;
- ``lancedb_ivfpq_p50_ms`` and ``lancedb_ivfpq_recall_at_10``: after LanceDB's own IVF_PQ index
  (cosine metric, default parameters), with ``lancedb_ivfpq_build_s``;
- ``speedup_vs_lancedb_flat``: ``lancedb_flat_p50_ms / p50_ms``.

Run: ``python benchmarks/search.py --n 200000 --queries 200 --json
[--index-type auto|flat|hnsw|ivf|ivfpq] [--library DIR]``; prints one JSON line. Importable:
``measure(n=..., queries=...) -> dict``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from rag_video import open_library, schema
from rag_video.store import Store

DIM = 512
CHUNK = 50_000
SHOTS_PER_SOURCE = 100
MODEL_ID = "ViT-B-32/none"  # a 512-d architecture; vector queries never load it
K = 10
LANCEDB_FLAT_QUERIES = 20  # brute force is slow: a sample of the queries is enough for its p50
RESULT_COLUMNS = ["shot_id", "path", "start_s", "end_s", "duration_s", "source_id", "row_key"]


# ---- the data ----------------------------------------------------------------------------------


def clustered_unit_vectors(
    n: int, dim: int, *, n_clusters: int, spread: float, seed: int
) -> np.ndarray:
    """`n` unit vectors around `n_clusters` random centres on the sphere (seeded, reproducible).

    centres = normalised standard normals; x = centres[label] + (spread / sqrt(dim)) * N(0, 1),
    normalised — so a point's cosine to its centre is about 1 / sqrt(1 + spread^2).
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, n_clusters, size=n)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        x = centres[labels[start:stop]] + (spread / np.sqrt(dim)) * rng.standard_normal(
            (stop - start, dim), dtype=np.float32
        )
        out[start:stop] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _sources_table(n_sources: int) -> pa.Table:
    now = pa.scalar(1_700_000_000_000_000, pa.timestamp("us", tz="UTC"))
    cols = {
        "source_id": pa.array([f"s{i:031x}" for i in range(n_sources)]),
        "path": pa.array([f"/footage/clip{i:06d}.mp4" for i in range(n_sources)]),
        "fps": pa.array(np.full(n_sources, 25.0)),
        "width": pa.array(np.full(n_sources, 1920, np.int32)),
        "height": pa.array(np.full(n_sources, 1080, np.int32)),
        "status": pa.array(["ok"] * n_sources),
        "ingested_at": pa.array(np.full(n_sources, now.value), pa.timestamp("us", tz="UTC")),
        "pipeline_version": pa.array(["bench"] * n_sources),
    }
    return _with_schema(cols, n_sources, schema.SOURCES)


def _with_schema(cols: dict[str, pa.Array], n: int, table_schema: pa.Schema) -> pa.Table:
    arrays = [
        cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in table_schema
    ]
    return pa.Table.from_arrays(arrays, schema=table_schema)


def _shots_chunk(keys: np.ndarray, vectors: np.ndarray) -> pa.Table:
    """Shot rows for `keys` (shot i belongs to source i // SHOTS_PER_SOURCE, 2 s each)."""
    n = len(keys)
    owner = keys // SHOTS_PER_SOURCE
    start = (keys % SHOTS_PER_SOURCE) * 50
    source_id = [f"s{o:031x}" for o in owner]
    cols = {
        "row_key": pa.array(keys),
        "source_id": pa.array(source_id),
        "shot_id": pa.array([f"{s}:{f}" for s, f in zip(source_id, start, strict=False)]),
        "path": pa.array([f"/footage/clip{o:06d}.mp4" for o in owner]),
        "fps": pa.array(np.full(n, 25.0)),
        "width": pa.array(np.full(n, 1920, np.int32)),
        "height": pa.array(np.full(n, 1080, np.int32)),
        "start_frame": pa.array(start),
        "end_frame": pa.array(start + 50),
        "start_s": pa.array(start / 25.0),
        "end_s": pa.array((start + 50) / 25.0),
        "duration_s": pa.array(np.full(n, 2.0)),
        "transition_in": pa.array(["cut"] * n),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM),
        "embed_model": pa.array([MODEL_ID] * n),
    }
    return _with_schema(cols, n, schema.shots_schema(DIM))


def write_library(root: Path, vectors: np.ndarray) -> None:
    """Write `vectors` as the shots of a new library at `root` (shots first, then the ok
    sources)."""
    store = Store(root)
    n = len(vectors)
    with store.writer():
        keys = store.allocate_row_keys(n)
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            store.add(
                "shots",
                _shots_chunk(keys[start:stop], vectors[start:stop]),
                schema.shots_schema(DIM),
            )
        store.add("sources", _sources_table(-(-n // SHOTS_PER_SOURCE)), schema.SOURCES)


# ---- measuring ---------------------------------------------------------------------------------


def _percentile_ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000.0, q)), 3)


def _timed(fn, inputs) -> tuple[list[float], list]:
    times, outs = [], []
    for x in inputs:
        t0 = time.perf_counter()
        outs.append(fn(x))
        times.append(time.perf_counter() - t0)
    return times, outs


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row positions of the exact top-k inner products, per query (numpy)."""
    out = []
    for q in queries:
        scores = base @ q
        top = np.argpartition(-scores, k)[:k]
        out.append(top[np.argsort(-scores[top])])
    return np.asarray(out)


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f[:K]) & set(t.tolist())) for f, t in zip(found, truth, strict=False))
    return round(hits / (len(truth) * K), 4)


def _lancedb_search(table, q: np.ndarray, *, flat: bool) -> list[int]:
    query = (
        table.search(q, vector_column_name="embedding")
        .distance_type("cosine")
        .select([*RESULT_COLUMNS, "_distance"])
        .limit(K)
    )
    if flat:
        query = query.bypass_vector_index()
    return query.to_arrow().column("row_key").to_pylist()


def _library_matches(root: Path, n: int, spec: dict) -> bool:
    try:
        return (
            json.loads((root / "bench.json").read_text()) == spec
            and Store(root).read("shots", columns=["row_key"]).num_rows == n
        )
    except (OSError, ValueError):
        return False


def measure(
    *,
    n: int,
    queries: int,
    index_type: str | None = None,
    library: Path | None = None,
    clusters: int = 3000,
    spread: float = 0.6,
    seed: int = 0,
) -> dict:
    """Generate (or reuse) the library and measure; returns the JSON-ready figures."""
    vectors = clustered_unit_vectors(
        n + queries, DIM, n_clusters=clusters, spread=spread, seed=seed
    )
    base, qs = vectors[:n], vectors[n:]
    cleanup = library is None
    root = Path(tempfile.mkdtemp(prefix="rv-search-bench-")) if library is None else Path(library)
    spec = {"n": n, "queries": queries, "clusters": clusters, "spread": spread, "seed": seed}
    try:
        t0 = time.perf_counter()
        reused = _library_matches(root, n, spec)
        if not reused:
            shutil.rmtree(root, ignore_errors=True)
            write_library(root, base)
            (root / "bench.json").write_text(json.dumps(spec))
        write_s = None if reused else round(time.perf_counter() - t0, 2)
        return {
            "n": n,
            "queries": queries,
            "write_s": write_s,
            **_measure_on(root, base, qs, index_type),
        }
    finally:
        if cleanup:
            shutil.rmtree(root, ignore_errors=True)


def _measure_on(root: Path, base: np.ndarray, qs: np.ndarray, index_type: str | None) -> dict:
    lib = open_library(root)
    t0 = time.perf_counter()
    info = lib.build_index(index_type)
    build_s = time.perf_counter() - t0
    truth = exact_top_k(base, qs, K)  # row_key == position: keys were allocated from 0
    search = lambda q: lib.search(vector=q).limit(K).to_arrow()  # noqa: E731
    _timed(search, qs[:5])  # warm-up: load the index, open the tables
    times, results = _timed(search, qs)
    found = [r.column("row_key").to_pylist() for r in results]
    index = lib._searcher().index.load()
    faiss_times, _ = _timed(lambda q: index.search(q[None, :], K), qs)
    out = {
        "index": info["type"],
        "params": info["params"],
        "build_s": round(build_s, 2),
        "recall_at_10": _recall(found, truth),
        "p50_ms": _percentile_ms(times, 50),
        "p99_ms": _percentile_ms(times, 99),
        "faiss_p50_ms": _percentile_ms(faiss_times, 50),
    }
    out.update(_lancedb_figures(lib.store.table("shots"), qs, truth))
    out["speedup_vs_lancedb_flat"] = round(out["lancedb_flat_p50_ms"] / out["p50_ms"], 1)
    return out


def _lancedb_figures(table, qs: np.ndarray, truth: np.ndarray) -> dict:
    from lancedb.index import IvfPq

    sample = qs[:LANCEDB_FLAT_QUERIES]
    _lancedb_search(table, sample[0], flat=True)
    flat_times, _ = _timed(lambda q: _lancedb_search(table, q, flat=True), sample)
    t0 = time.perf_counter()
    table.create_index("embedding", config=IvfPq(distance_type="cosine"), replace=True)
    build_s = time.perf_counter() - t0
    _lancedb_search(table, qs[0], flat=False)
    ivf_times, found = _timed(lambda q: _lancedb_search(table, q, flat=False), qs)
    return {
        "lancedb_flat_p50_ms": _percentile_ms(flat_times, 50),
        "lancedb_ivfpq_p50_ms": _percentile_ms(ivf_times, 50),
        "lancedb_ivfpq_recall_at_10": _recall(found, truth),
        "lancedb_ivfpq_build_s": round(build_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="vectors in the table")
    parser.add_argument("--queries", type=int, default=200, help="query vectors")
    parser.add_argument(
        "--index-type", choices=["auto", "flat", "hnsw", "ivf", "ivfpq"], default=None
    )
    parser.add_argument("--clusters", type=int, default=3000)
    parser.add_argument("--spread", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--library", type=Path, help="keep the generated library here (reused next time)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line (the default output)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s: %(message)s"
    )
    os.environ.setdefault("RAG_VIDEO_PROGRESS", "0")
    result = measure(
        n=args.n,
        queries=args.queries,
        index_type=args.index_type,
        library=args.library,
        clusters=args.clusters,
        spread=args.spread,
        seed=args.seed,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
