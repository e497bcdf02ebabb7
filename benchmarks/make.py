"""Make benchmark: a fixed 10-shot, 30 s script over a library of the sample footage, drafted at
1280x720. Prints one JSON line: plan, retrieval, render and encode seconds, total, and the ratio of
make time to output duration (target: a 30 s 720p draft in under 6 s on 2 cores, i.e. <= 0.2).

    python benchmarks/make.py [--size 1280x720] [--preset ultrafast] [--table]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = ROOT / "rag_video" / "samples" / "footage"
TEXTS = [
    "a rabbit stretches in a sunny meadow",
    "an astronaut in an orange spacesuit",
    "a cup of coffee on a saucer",
    "a tabby cat looking at the camera",
    "a rocket on the launch pad",
    "galaxies in deep space",
    "a dragon flying over a volcano",
    "a rabbit under a tree",
    "an old camera on a tripod",
    "a city street at night",
]


def script(path: Path) -> Path:
    shots = [{"text": t, "duration": 3.0} for t in TEXTS]
    path.write_text(json.dumps({"title": "benchmark", "shots": shots}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument(
        "--preset", default=None, help="x264 preset [default: make's draft default]"
    )
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    w, h = map(int, args.size.split("x"))
    from rag_video import open_library

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # No embeddings: offline there are no real CLIP weights, and random ones would make every
        # decision a fill. Text matching over the sidecars gives the realistic
        # reuse/restyle/fill mix.
        lib = open_library(tmp / "lib", workers=1, embed=False)
        t = time.perf_counter()
        lib.ingest([FOOTAGE])
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        m = lib.make(
            script(tmp / "board.json"), tmp / "out.mp4", size=(w, h), fps=24, preset=args.preset
        )
        total = time.perf_counter() - t
    timings = m["timings"]
    result = {
        "shots": len(m["shots"]),
        "duration_s": m["duration_s"],
        "size": f"{w}x{h}",
        "decisions": {
            d: sum(s["decision"] == d for s in m["shots"]) for d in ("reuse", "restyle", "fill")
        },
        **timings,
        "make_s": round(total, 3),
        "make_over_duration": round(total / m["duration_s"], 3),
        "ingest_library_s": round(ingest_s, 2),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
    }
    if args.table:
        for k, v in result.items():
            print(f"{k:22} {v}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
