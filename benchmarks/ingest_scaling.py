"""Benchmark: ingest throughput (files/s, shots/s) of the local and the Ray runner, 1 and 2
workers.

    python benchmarks/ingest_scaling.py [FOLDER] [--files 8] [--seconds 10] [--size 640x360] \
        [--table]

With no FOLDER it writes `--files` synthetic H.264 files (tests/synth.py: textured scenes with a
cut every 1.2-2.4 s) into a temporary folder. Every configuration ingests the same files with
`--no-embed` into a fresh library; the clock is the ingest's own `seconds` (discovery, analysis
and the driver's commits). `analyze_only` times the per-file work alone in this process (the
ceiling of one worker); `driver_commit_s_per_file` is what the local 1-worker run spends beyond it
per file (the driver's serial share: discovery and the Lance commits). Ray runs on one local Ray
started before the runs (`ray_start_s`) and warmed with one file, so its figures are steady-state
per-worker throughput; the local 2-worker figure includes starting its process pool, as a real
`--workers 2` run does. Prints one JSON line (`--table` adds a human table on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FPS = 25


def _synth():
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    import synth

    return synth


def build_inputs(
    folder: Path, files: int, seconds: float, size: tuple[int, int], seed: int = 11
) -> list[Path]:
    """Write `files` synthetic videos of `seconds` each with cuts every 30-60 frames."""
    synth = _synth()
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(files):
        lengths, total = [], round(seconds * FPS)
        while sum(lengths) < total:
            lengths.append(min(int(rng.integers(30, 61)), total - sum(lengths)))
        if len(lengths) > 1 and lengths[-1] < 15:  # no runt shot at the end
            lengths[-2] += lengths.pop()
        path = folder / f"scaling_{i:02d}.mp4"
        synth.make_video(path, [synth.Shot(n) for n in lengths], size=size, seed=seed + i)
        paths.append(path)
    return paths


def run_once(paths: list[Path], workers: int, ray: str | None) -> dict:
    """Ingest `paths` into a fresh library; returns the figures of that run."""
    from rag_video import open_library

    with tempfile.TemporaryDirectory() as lib_dir:
        lib = open_library(lib_dir, workers=workers, embed=False)
        summary = lib.ingest(paths, ray=ray, workers=workers)
    if summary.failed:
        raise RuntimeError(f"benchmark input failed to ingest: {summary.failures}")
    return {
        "files": summary.ingested,
        "shots": summary.shots,
        "seconds": round(summary.seconds, 3),
        "files_per_s": round(summary.ingested / summary.seconds, 3),
        "shots_per_s": round(summary.shots / summary.seconds, 2),
    }


def analyze_only(paths: list[Path]) -> dict:
    """The per-worker ceiling: `analyze_file` on each file in this process, no storage at all."""
    from rag_video.ingest.analyze import IngestOptions, analyze_file
    from rag_video.ingest.discover import content_id

    started = time.perf_counter()
    for path in paths:
        size = path.stat().st_size
        analyze_file(path, content_id(path, size), size, path.stat().st_mtime, IngestOptions())
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "files_per_s": round(len(paths) / seconds, 3)}


def measure(paths: list[Path], warm_up: Path) -> dict:
    """Analysis alone; local 1/2 workers; then Ray 1/2 workers on a local Ray started (and
    warmed) once."""
    import ray

    out = {
        "analyze_only": analyze_only(paths),
        "local_1": run_once(paths, 1, None),
        "local_2": run_once(paths, 2, None),
    }
    started = time.perf_counter()
    ray.init(include_dashboard=False, logging_level=logging.WARNING)
    out["ray_start_s"] = round(time.perf_counter() - started, 2)
    try:
        run_once([warm_up], 2, "local")
        out["ray_1"] = run_once(paths, 1, "local")
        out["ray_2"] = run_once(paths, 2, "local")
        out["ray_cpus"] = int(ray.cluster_resources().get("CPU", 0))
    finally:
        ray.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder", nargs="?", type=Path, help="ingest these videos instead of synthetic ones"
    )
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="640x360", help="WxH of the synthetic files")
    parser.add_argument("--table", action="store_true", help="also print a human table on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("RAG_VIDEO_PROGRESS", "0")
    with tempfile.TemporaryDirectory() as tmp:
        if args.folder:
            from rag_video.ingest.discover import iter_paths

            paths = list(iter_paths([args.folder]))
        else:
            width, height = (int(v) for v in args.size.lower().split("x"))
            paths = build_inputs(Path(tmp), args.files, args.seconds, (width, height))
        warm_up = Path(tmp) / "warm_up.mp4"
        _synth().make_video(warm_up, [_synth().Shot(20), _synth().Shot(20)], seed=99)
        figures = measure(paths, warm_up)
    result = {
        "benchmark": "ingest_scaling",
        "inputs": str(args.folder)
        if args.folder
        else f"{len(paths)} synthetic {args.size} {args.seconds:g}s h264 files",
        "n_files": len(paths),
        "embed": False,
        **figures,
        "local_speedup_2_vs_1": round(
            figures["local_2"]["files_per_s"] / figures["local_1"]["files_per_s"], 2
        ),
        "ray_speedup_2_vs_1": round(
            figures["ray_2"]["files_per_s"] / figures["ray_1"]["files_per_s"], 2
        ),
        "ray_vs_local_1_worker": round(
            figures["ray_1"]["files_per_s"] / figures["local_1"]["files_per_s"], 2
        ),
        "driver_commit_s_per_file": round(
            (figures["local_1"]["seconds"] - figures["analyze_only"]["seconds"]) / len(paths), 3
        ),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    if args.table:
        for key, value in result.items():
            print(f"{key:24} {value}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
