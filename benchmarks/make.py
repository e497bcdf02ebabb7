"""Make benchmark: a fixed 10-shot, 30 s script over a library of the sample footage, drafted at
1280x720, on the path a user with CLIP weights takes, and the same run without embeddings beside it.

The embedded library uses the ViT-B-32 architecture with random weights saved once to a local
checkpoint (``open_clip_model.safetensors``) and loaded from that file, as real weights are
(``--pretrained /path/to/open_clip_model.safetensors``). Each make runs in a fresh process (imports
and encoder load included, as for `rag-video make`). Prints one JSON line: per run the encoder load,
query encoding, retrieval, planning, render and encode seconds (from the manifest's ``timings``
and the encoder's log records; ``encoder_load_s`` includes ``encoder_import_s``, the import of
torch and open_clip), the make's wall time inside the process and the process's wall
time; the decisions; and the ratio of make time to output duration (target: <= 6 s on 2 cores
with embeddings, i.e. <= 0.2). A third run, ``narrated``, makes the same script on the embedded
library with ``--narrate`` (eSpeak NG, each shot's text spoken and its shot lengthened to the
speech) over the demo's music bed (ducked, mastered to -14 LUFS), beside the silent one.

    python benchmarks/make.py [--size 1280x720] [--preset ultrafast] [--repeats 1] [--table]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = ROOT / "rag_video" / "samples" / "footage"
MUSIC = ROOT / "rag_video" / "samples" / "music" / "meadow.m4a"
MODEL = "ViT-B-32"
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
# `extra` fields of the encoder's log records (encoder_load_s includes encoder_import_s)
LOGGED = ("encoder_load_s", "encoder_import_s", "query_encode_s")


def script(path: Path) -> Path:
    """The benchmark's script: ten 3 s shots."""
    shots = [{"text": t, "duration": 3.0} for t in TEXTS]
    path.write_text(json.dumps({"title": "benchmark", "shots": shots}))
    return path


def save_checkpoint(path: Path) -> Path:
    """ViT-B-32 with random (seeded) weights, saved as an open_clip safetensors checkpoint."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model(MODEL, pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def build_libraries(tmp: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The two libraries of the sample footage: embedded from the checkpoint, and without
    embeddings; each with the settings its make opens it with."""
    from rag_video import open_library

    checkpoint = save_checkpoint(tmp / "open_clip_model.safetensors")
    kinds: dict[str, dict[str, Any]] = {
        "embedded": {"embed": True, "model": MODEL, "pretrained": str(checkpoint)},
        "no_embed": {"embed": False},
    }
    libraries = {}
    for kind, settings in kinds.items():
        root = tmp / f"lib_{kind}"
        lib = open_library(root, workers=1, **settings)
        lib.ingest([FOOTAGE])
        libraries[kind] = (root, settings)
    return libraries


class _Stages(logging.Handler):
    """Collects the seconds the encoder's log records carry (`LOGGED`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        for key in LOGGED:
            if hasattr(record, key):
                self.seconds[key] = self.seconds.get(key, 0.0) + float(getattr(record, key))


def child(
    root: str, settings: str, board: str, out: str, size: str, preset: str | None, narrate: bool
) -> None:
    """One make in this (fresh) process, as a user's: prints its stage seconds as JSON."""
    stages = _Stages()
    for name in ("rag_video.embed.encoder", "rag_video.retrieve.query"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.addHandler(stages)
    from rag_video import open_library

    w, h = map(int, size.split("x"))
    started = time.perf_counter()
    lib = open_library(root, create=False, **json.loads(settings))
    sound = {"narrate": True, "music": MUSIC} if narrate else {}
    manifest = lib.make(board, out, size=(w, h), fps=24, preset=preset, **sound)
    total = time.perf_counter() - started
    timings = dict(manifest["timings"])
    load = stages.seconds.get("encoder_load_s", 0.0)
    query = stages.seconds.get("query_encode_s", 0.0)
    run = {
        "encoder_load_s": round(load, 3),
        "encoder_import_s": round(stages.seconds.get("encoder_import_s", 0.0), 3),
        "query_encode_s": round(query, 3),
        "retrieval_s": round(timings.pop("retrieve_s") - load - query, 3),
        **timings,
        "make_s": round(total, 3),
        "duration_s": manifest["duration_s"],
        "shots": len(manifest["shots"]),
        "loudness_lufs": (manifest.get("sound") or {}).get("integrated_lufs"),
        "decisions": {
            d: sum(s["decision"] == d for s in manifest["shots"])
            for d in ("reuse", "restyle", "fill")
        },
    }
    print(json.dumps(run))


def run_make(
    root: Path,
    settings: dict[str, Any],
    board: Path,
    out: Path,
    args: Any,
    narrate: bool = False,
) -> dict:
    """One make in a fresh process; its stage seconds plus the process's wall time."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(root),
        json.dumps({k: v for k, v in settings.items() if k != "embed"}),
        str(board),
        str(out),
        "--size",
        args.size,
    ]
    if args.preset:
        cmd += ["--preset", args.preset]
    if narrate:
        cmd.append("--narrate")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"make in {root} failed:\n{proc.stderr[-3000:]}")
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    run["process_s"] = round(wall, 3)
    out.unlink(missing_ok=True)
    return run


def median_run(runs: list[dict]) -> dict:
    """The run of median make time (the machine is shared), with every repeat's make time."""
    ordered = sorted(runs, key=lambda r: r["make_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["make_s_runs"] = [r["make_s"] for r in runs]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument(
        "--preset", default=None, help="x264 preset [default: make's draft default]"
    )
    parser.add_argument("--repeats", type=int, default=1, help="makes per library (median)")
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--narrate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, metavar=("LIB", "SETTINGS", "SCRIPT", "OUT"))
    args = parser.parse_args()
    if args.child:
        child(*args.child, size=args.size, preset=args.preset, narrate=args.narrate)
        return
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        started = time.perf_counter()
        libraries = build_libraries(tmp)
        setup_s = time.perf_counter() - started
        board = script(tmp / "board.json")
        runs = {
            kind: median_run(
                [
                    run_make(root, settings, board, tmp / f"out_{kind}_{i}.mp4", args)
                    for i in range(args.repeats)
                ]
            )
            for kind, (root, settings) in libraries.items()
        }
        root, settings = libraries["embedded"]
        runs["narrated"] = median_run(
            [
                run_make(root, settings, board, tmp / f"out_narrated_{i}.mp4", args, True)
                for i in range(args.repeats)
            ]
        )
    embedded = runs["embedded"]
    result = {
        "size": args.size,
        "shots": embedded["shots"],
        "duration_s": embedded["duration_s"],
        "model": f"{MODEL} from a local safetensors checkpoint (random weights)",
        "embedded": embedded,
        "no_embed": runs["no_embed"],
        "narrated": runs["narrated"],
        "narrated_over_silent": round(runs["narrated"]["make_s"] / embedded["make_s"], 3),
        "make_over_duration": round(embedded["make_s"] / embedded["duration_s"], 3),
        "make_over_duration_no_embed": round(
            runs["no_embed"]["make_s"] / runs["no_embed"]["duration_s"], 3
        ),
        "setup_libraries_s": round(setup_s, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "machine": f"{platform.platform()} {platform.machine()} {os.cpu_count()} cores",
    }
    if args.table:
        for k, v in result.items():
            print(f"{k:28} {v}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
