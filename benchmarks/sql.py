"""Benchmark: SQL reports over a generated library — DuckDB over Lance next to pandas, same run.

Generates (once; reused when `--library` already holds it) a library of `--shots` shots (default
1,000,000) over `--sources` sources (default 20,000; 1 % failed), written with the Store and the
real schemas: metadata columns filled, embeddings null (deferred), no thumbnails, plus 0.5 % orphan
shots whose source has no `ok` row (invisible to queries) and a `renders` table of `make` runs.

Then measures, best of `--repeats` after one warm-up:

- ``duckdb_s``: every canned report of `rag_video.stats` (group-by, join and filter queries) plus an
  ad-hoc ``filter`` query and a ``join`` query, each run through `SqlSession.query` — the sandboxed
  DuckDB connection scanning the Lance datasets (projection and filter pushdown) on every call;
- ``pandas_s``: the same questions answered with pandas on DataFrames loaded once
  (``pandas_load_s``, reading the metadata columns from Lance — embedding and thumbnail left out);
- ``session_open_s``: opening the sandboxed connection (opening the Lance tables, registering them,
  creating the views), once the imports are warm;
- ``results_match``: whether DuckDB and pandas gave the same answers (checked per query);
- ``filter_scans``: the filters and projections the ``filter`` query hands to each Lance scan.

Run: ``python benchmarks/sql.py [--library DIR] [--shots N] [--sources N] [--repeats R] [--table]``;
prints one JSON line. Importable: ``measure(library, shots=..., sources=...) -> dict``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rag_video import schema
from rag_video.sql import SqlSession
from rag_video.stats import LENGTH_EDGES, REPORTS, run_report
from rag_video.store import Store

RESOLUTIONS = [(1920, 1080), (3840, 2160), (1280, 720), (1080, 1920)]
FPS = [23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 60.0]
CODECS = ["h264", "hevc", "prores", "av1"]
LICENSES = ["CC-BY 4.0", "CC0", "all rights reserved", None]
TRANSITIONS = ["cut", "fade", "dissolve"]
DIM = 512
CHUNK = 250_000
TOP = 20

FILTER_SQL = """
    SELECT shot_id, path, start_s, duration_s FROM shots
    WHERE width = 3840 AND transition_in = 'cut' AND duration_s BETWEEN 2 AND 5 AND brightness > 0.6
    ORDER BY duration_s DESC, shot_id LIMIT 100"""
JOIN_SQL = """
    SELECT src.license, count(*) AS shots, sum(s.duration_s) / 3600.0 AS hours
    FROM shots s JOIN sources src USING (source_id)
    WHERE s.motion > 0.5
    GROUP BY src.license ORDER BY shots DESC, src.license"""


# ---- generating the library ----------------------------------------------------------------


def _ids(prefix: str, n: int, offset: int = 0) -> pa.Array:
    return pa.array([f"{prefix}{i + offset:031x}" for i in range(n)], pa.string())


def make_sources(n: int, rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
    """`n` sources (1 % failed); returns the table and the mask of ok rows."""
    ok = rng.random(n) >= 0.01
    res = rng.integers(0, len(RESOLUTIONS), n)
    cams, days = rng.integers(0, 20, n), rng.integers(0, 50, n)
    paths = [
        f"/footage/cam{c:02d}/day{d:03d}/clip{i:06d}.mp4"
        for i, (c, d) in enumerate(zip(cams, days, strict=False))
    ]
    status = np.where(ok, "ok", "failed")
    now = pa.scalar(1_700_000_000_000_000, pa.timestamp("us", tz="UTC"))
    cols = {
        "source_id": _ids("s", n),
        "path": pa.array(paths),
        "size_bytes": pa.array(rng.integers(10**6, 10**9, n)),
        "fps": pa.array(np.array(FPS)[rng.integers(0, len(FPS), n)]),
        "width": pa.array(np.array([r[0] for r in RESOLUTIONS], np.int32)[res]),
        "height": pa.array(np.array([r[1] for r in RESOLUTIONS], np.int32)[res]),
        "rotation": pa.array(np.zeros(n, np.int32)),
        "video_codec": pa.array(np.array(CODECS)[rng.integers(0, len(CODECS), n)]),
        "has_audio": pa.array(rng.random(n) < 0.7),
        "license": pa.array([LICENSES[i] for i in rng.integers(0, len(LICENSES), n)], pa.string()),
        "generated": pa.array(np.zeros(n, bool)),
        "status": pa.array(status),
        "error": pa.array([None if o else "no video stream" for o in ok], pa.string()),
        "ingested_at": pa.array(np.full(n, now.value), pa.timestamp("us", tz="UTC")),
        "pipeline_version": pa.array(["bench"] * n),
    }
    return _with_schema(cols, n, schema.SOURCES), ok


def _with_schema(cols: dict[str, pa.Array], n: int, table_schema: pa.Schema) -> pa.Table:
    arrays = [
        cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in table_schema
    ]
    return pa.Table.from_arrays(arrays, schema=table_schema)


def make_shots(
    sources: pa.Table, ok: np.ndarray, n_shots: int, rng: np.random.Generator
) -> tuple[pa.Table, np.ndarray]:
    """`n_shots` shots spread over the ok sources, plus 0.5 % orphans (source never committed);
    also each source's duration (the sum of its shots)."""
    n_orphans = n_shots // 200
    ok_idx = np.flatnonzero(ok)
    owner = np.sort(rng.choice(ok_idx, n_shots - n_orphans))
    duration = np.round(np.clip(rng.lognormal(1.1, 0.9, n_shots), 0.2, 300.0), 3)
    n_visible = n_shots - n_orphans
    fps = np.r_[sources.column("fps").to_numpy()[owner], np.full(n_orphans, 25.0)]
    starts = (
        pd.Series(duration[:n_visible]).groupby(owner).cumsum().to_numpy() - duration[:n_visible]
    )
    starts = np.r_[starts, np.zeros(n_orphans)]
    source_id = pa.concat_arrays(
        [sources.column("source_id").take(pa.array(owner)).combine_chunks(), _ids("o", n_orphans)]
    )
    start_frame = np.round(starts * fps).astype(np.int64)
    end_frame = np.maximum(np.round((starts + duration) * fps).astype(np.int64), start_frame + 1)
    shot_id = pc.binary_join_element_wise(
        source_id, pc.cast(pa.array(start_frame), pa.string()), ":"
    )
    owner_all = np.r_[owner, np.zeros(n_orphans, np.int64)]
    models = np.array(["ViT-B-32/laion2b_s34b_b79k", None], dtype=object)[
        (rng.random(n_shots) < 0.1).astype(int)
    ]
    cols = {
        "row_key": pa.array(np.arange(n_shots, dtype=np.int64)),
        "shot_id": shot_id,
        "source_id": source_id,
        "path": sources.column("path").take(pa.array(owner_all)),
        "fps": pa.array(fps),
        "width": sources.column("width").take(pa.array(owner_all)),
        "height": sources.column("height").take(pa.array(owner_all)),
        "start_frame": pa.array(start_frame),
        "end_frame": pa.array(end_frame),
        "start_s": pa.array(starts),
        "end_s": pa.array(starts + duration),
        "duration_s": pa.array(duration),
        "transition_in": pa.array(
            np.array(TRANSITIONS)[rng.choice(3, n_shots, p=[0.85, 0.1, 0.05])]
        ),
        "brightness": pa.array(rng.random(n_shots, np.float32)),
        "contrast": pa.array(rng.random(n_shots, np.float32)),
        "saturation": pa.array(rng.random(n_shots, np.float32)),
        "motion": pa.array(rng.random(n_shots, np.float32)),
        "embed_model": pa.array(models, pa.string()),
    }
    seconds = np.bincount(owner, weights=duration[:n_visible], minlength=sources.num_rows)
    return _with_schema(cols, n_shots, schema.shots_schema(DIM)), seconds


def make_renders(shots: pa.Table, n_runs: int, per_run: int, rng: np.random.Generator) -> pa.Table:
    """`n_runs` make runs of `per_run` planned shots; reuse/restyle pick library shots
    (Zipf-like)."""
    n = n_runs * per_run
    decision = np.array(["reuse", "restyle", "fill"])[rng.choice(3, n, p=[0.6, 0.25, 0.15])]
    visible = shots.num_rows - shots.num_rows // 200
    pick = np.minimum(rng.zipf(1.3, n) - 1, visible - 1)
    shot_id = shots.column("shot_id").take(pa.array(pick)).to_pylist()
    shot_id = [None if d == "fill" else s for d, s in zip(decision, shot_id, strict=False)]
    created = 1_700_000_000_000_000 + np.repeat(np.arange(n_runs), per_run) * 60_000_000
    cols = {
        "run_id": pa.array([f"run{r:05d}" for r in np.repeat(np.arange(n_runs), per_run)]),
        "shot_index": pa.array(np.tile(np.arange(per_run, dtype=np.int32), n_runs)),
        "decision": pa.array(decision),
        "shot_id": pa.array(shot_id, pa.string()),
        "score": pa.array(rng.random(n)),
        "generator": pa.array(["draft"] * n),
        "seconds": pa.array(rng.random(n) * 3),
        "created_at": pa.array(created, pa.timestamp("us", tz="UTC")),
    }
    return _with_schema(cols, n, schema.RENDERS)


def generate(root: Path, *, shots: int, sources: int, seed: int = 0) -> float:
    """Write the benchmark library into `root`; returns the seconds it took."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    store = Store(root)
    src, ok = make_sources(sources, rng)
    shot_table, seconds = make_shots(src, ok, shots, rng)
    src = src.set_column(
        src.schema.get_field_index("duration_s"),
        schema.SOURCES.field("duration_s"),
        pa.array(np.where(ok, seconds, np.nan), from_pandas=True),
    )
    frames = np.round(seconds * src.column("fps").to_numpy()).astype(np.int64)
    src = src.set_column(
        src.schema.get_field_index("frames"), schema.SOURCES.field("frames"), pa.array(frames)
    )
    renders = make_renders(shot_table, 2_000, 25, rng)
    with store.writer():
        for start in range(0, shot_table.num_rows, CHUNK):
            store.add("shots", shot_table.slice(start, CHUNK), schema.shots_schema(DIM))
        store.add("sources", src, schema.SOURCES)
        store.add("renders", renders, schema.RENDERS)
    (root / "bench.json").write_text(json.dumps({"shots": shots, "sources": sources, "seed": seed}))
    return time.perf_counter() - t0


# ---- the pandas side -----------------------------------------------------------------------

SHOT_COLUMNS = [
    f.name for f in schema.shots_schema(DIM) if f.name not in ("embedding", "thumbnail")
]


def load_frames(store: Store) -> dict[str, pd.DataFrame]:
    """sources, visible shots (metadata columns only) and renders as DataFrames."""
    sources = store.read("sources").to_pandas()
    shots = store.read("shots", columns=SHOT_COLUMNS).to_pandas()
    ok = sources.loc[sources.status == "ok", "source_id"]
    shots = shots[shots.source_id.isin(ok)]
    return {"sources": sources, "shots": shots, "renders": store.read("renders").to_pandas()}


def _top(df: pd.DataFrame, by: list[str], ascending: list[bool]) -> pd.DataFrame:
    return df.sort_values(by, ascending=ascending, kind="stable").head(TOP).reset_index(drop=True)


def pd_per_source(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    n = f["shots"].groupby("source_id").size().rename("shots")
    src = f["sources"][f["sources"].status == "ok"].join(n, on="source_id")
    out = pd.DataFrame(
        {
            "path": src.path,
            "hours": src.duration_s / 3600.0,
            "shots": src.shots.fillna(0).astype("int64"),
        }
    )
    return _top(out, ["hours", "path"], [False, True])


def pd_per_folder(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    n = f["shots"].groupby("source_id").size().rename("shots")
    src = f["sources"][f["sources"].status == "ok"].join(n, on="source_id")
    src = src.assign(folder=src.path.str.rsplit("/", n=1).str[0])
    out = (
        src.groupby("folder")
        .agg(sources=("source_id", "size"), hours=("duration_s", "sum"), shots=("shots", "sum"))
        .reset_index()
    )
    out["hours"] = out.hours / 3600.0
    out["shots"] = out.shots.fillna(0).astype("int64")
    return _top(out, ["hours", "folder"], [False, True])


def pd_shot_lengths(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    d = f["shots"].duration_s.dropna()
    edges = list(LENGTH_EDGES[1:])
    bins = np.searchsorted(np.array(edges), d.to_numpy(), side="right")
    counts = np.bincount(bins, minlength=len(LENGTH_EDGES))
    return pd.DataFrame({"shots": counts})


def pd_mix(column: Callable[[pd.DataFrame], pd.Series]) -> Callable[[dict], pd.DataFrame]:
    def run(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
        src = f["sources"][f["sources"].status == "ok"]
        out = src.assign(key=column(src)).groupby("key").size().rename("sources").reset_index()
        return _top(out, ["sources", "key"], [False, True])

    return run


def pd_failed(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    src = f["sources"]
    return _top(src.loc[src.status == "failed", ["path", "error"]], ["path"], [True])


def pd_coverage(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    out = (
        f["shots"].embed_model.fillna("(not embedded)").value_counts().rename("shots").reset_index()
    )
    return out.sort_values(["shots", "embed_model"], ascending=[False, True]).reset_index(drop=True)


def pd_most_used(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    r = f["renders"].dropna(subset=["shot_id"])
    out = r.groupby("shot_id").size().rename("uses").reset_index()
    return _top(out, ["uses", "shot_id"], [False, True])


def pd_usage(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    used = f["shots"].shot_id.isin(f["renders"].shot_id.dropna().unique()).sum()
    return pd.DataFrame({"shots": [len(f["shots"])], "used_shots": [int(used)]})


def pd_never_used(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    shots = f["shots"]
    unused = shots[~shots.shot_id.isin(f["renders"].shot_id.dropna().unique())]
    return _top(unused[["shot_id", "duration_s"]], ["duration_s", "shot_id"], [False, True])


def pd_per_run(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    r = f["renders"]
    out = pd.crosstab(r.run_id, r.decision, normalize="index").reset_index()
    created = r.groupby("run_id").created_at.min().rename("created_at")
    out = out.join(created, on="run_id")
    return _top(out, ["created_at", "run_id"], [False, True])


def pd_filter(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    s = f["shots"]
    hit = s[
        (s.width == 3840)
        & (s.transition_in == "cut")
        & s.duration_s.between(2, 5)
        & (s.brightness > 0.6)
    ]
    return hit.sort_values(["duration_s", "shot_id"], ascending=[False, True]).head(100)[
        ["shot_id"]
    ]


def pd_join(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    s = f["shots"]
    j = s[s.motion > 0.5].merge(f["sources"][["source_id", "license"]], on="source_id")
    out = j.groupby("license", dropna=False).agg(shots=("shot_id", "size")).reset_index()
    return out.sort_values(["shots"], ascending=False).reset_index(drop=True)


PANDAS: dict[str, Callable[[dict], pd.DataFrame]] = {
    "per_source": pd_per_source,
    "per_folder": pd_per_folder,
    "shot_lengths": pd_shot_lengths,
    "resolutions": pd_mix(lambda s: s.width.astype(str) + "x" + s.height.astype(str)),
    "frame_rates": pd_mix(lambda s: s.fps.round(3)),
    "codecs": pd_mix(lambda s: s.video_codec.fillna("?")),
    "failed": pd_failed,
    "coverage": pd_coverage,
    "most_used": pd_most_used,
    "usage": pd_usage,
    "never_used": pd_never_used,
    "per_run": pd_per_run,
    "filter": pd_filter,
    "join": pd_join,
}

# which column of the DuckDB result equals which pandas column (checked per query)
COMPARE = {
    "per_source": ("shots", "shots"),
    "per_folder": ("folder", "folder"),
    "shot_lengths": ("shots", "shots"),
    "resolutions": ("resolution", "key"),
    "frame_rates": ("sources", "sources"),
    "codecs": ("codec", "key"),
    "failed": ("path", "path"),
    "coverage": ("shots", "shots"),
    "most_used": ("shot_id", "shot_id"),
    "usage": ("used_shots", "used_shots"),
    "never_used": ("shot_id", "shot_id"),
    "per_run": ("run_id", "run_id"),
    "filter": ("shot_id", "shot_id"),
    "join": ("shots", "shots"),
}


# ---- measuring -----------------------------------------------------------------------------


def best_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Shortest wall time of `repeats` calls of `fn` after one warm-up, and the last result."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def duckdb_queries(session: SqlSession) -> dict[str, Callable[[], list]]:
    """Each report (and the ad-hoc filter and join) as a callable returning its compared column."""

    def report(spec):
        def run():
            rep = run_report(session, spec, TOP)
            return rep.column(COMPARE[spec.name][0])

        return run

    def adhoc(sql, name):
        return lambda: session.query(sql).column(COMPARE[name][0]).to_pylist()

    queries = {spec.name: report(spec) for spec in REPORTS if spec.name in PANDAS}
    queries["filter"] = adhoc(FILTER_SQL, "filter")
    queries["join"] = adhoc(JOIN_SQL, "join")
    return queries


def _same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    return all(
        (x == y) or (isinstance(x, float) and abs(x - y) < 1e-9) for x, y in zip(a, b, strict=False)
    )


def measure(
    library: Path, *, shots: int = 1_000_000, sources: int = 20_000, repeats: int = 3
) -> dict:
    """Generate the library when needed, then time every query with DuckDB and with pandas."""
    meta = library / "bench.json"
    generated_s = None
    if not meta.exists() or json.loads(meta.read_text()) != {
        "shots": shots,
        "sources": sources,
        "seed": 0,
    }:
        if library.exists() and any(library.iterdir()):
            raise SystemExit(
                f"--library {library}: not empty and not a benchmark library of this size"
            )
        generated_s = generate(library, shots=shots, sources=sources)
    store = Store(library)
    open_s, _ = best_seconds(lambda: SqlSession(store).close(), repeats)
    session = SqlSession(store, timeout=600)
    duck, answers = {}, {}
    for name, fn in duckdb_queries(session).items():
        duck[name], answers[name] = best_seconds(fn, repeats)
    pushdown = session.scans(FILTER_SQL)
    session.close()
    t0 = time.perf_counter()
    frames = load_frames(store)
    load_s = time.perf_counter() - t0
    pand, match = {}, {}
    for name, fn in PANDAS.items():
        pand[name], df = best_seconds(lambda fn=fn: fn(frames), repeats)
        match[name] = _same(answers[name], df[COMPARE[name][1]].tolist())
    return {
        "benchmark": "sql",
        "shots": shots,
        "sources": sources,
        "visible_shots": len(frames["shots"]),
        "renders": len(frames["renders"]),
        "cpus": os.cpu_count(),
        "generate_s": None if generated_s is None else round(generated_s, 2),
        "session_open_s": round(open_s, 4),
        "duckdb_s": {k: round(v, 4) for k, v in duck.items()},
        "pandas_s": {k: round(v, 4) for k, v in pand.items()},
        "pandas_load_s": round(load_s, 3),
        "duckdb_max_s": round(max(duck.values()), 4),
        "filter_scans": pushdown,
        "results_match": all(match.values()),
        "mismatches": [k for k, v in match.items() if not v],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--library",
        type=Path,
        help="benchmark library (generated when missing; "
        "default: a temporary directory removed afterwards)",
    )
    parser.add_argument("--shots", type=int, default=1_000_000)
    parser.add_argument("--sources", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--table", action="store_true", help="also print a human table after the JSON"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="rag-video-sql-bench-") as tmp:
        library = args.library or Path(tmp) / "lib"
        result = measure(library, shots=args.shots, sources=args.sources, repeats=args.repeats)
    print(json.dumps(result))
    if args.table:
        print(f"{'query':<14} {'duckdb_s':>9} {'pandas_s':>9}")
        for name, seconds in result["duckdb_s"].items():
            print(f"{name:<14} {seconds:>9.4f} {result['pandas_s'][name]:>9.4f}")


if __name__ == "__main__":
    main()
