"""Ingest benchmark: single-pass ingest against plain decode and PySceneDetect, plus embedding.

    python benchmarks/ingest.py [FILE] [--skip-embed] [--table] [--decode-device auto|cpu|cuda]

With no FILE it builds a fixed 60 s 1280x720 H.264 file from the sample footage (crops, reversals
and cuts every 2-4 s) in the temp folder. Prints one JSON line:
decode_fps (plain PyAV decode, same run), ingest_fps (ingest --no-embed), ingest_vs_decode,
scenedetect_fps (PySceneDetect's own detect()), cli_s (wall time of `rag-video ingest FILE
--no-embed` in a fresh process) and cli_vs_decode (that over the plain decode's wall time, the
issue-12 target: <= 1.2), and the embedding figures of benchmarks/embed.py.
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

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "bigbuckbunny.mp4"
SIZE = (1280, 720)
FPS = 25
SCENEDETECT_BACKEND = "pyav"  # the alternative of issue 12: PySceneDetect decoding with PyAV


def _sample_frames() -> list[np.ndarray]:
    with av.open(str(SAMPLE)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def build_file(path: Path, seconds: int = 60, seed: int = 7) -> list[int]:
    """Write the fixed benchmark file; returns its cut frames. Each segment is a continuous run of
    the sample (cropped, forward or reversed, held on its last frame if longer than the sample), so
    the cuts are the only discontinuities."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = _sample_frames()
    cuts, n = [], 0
    part = path.with_name(f"{path.stem}.{os.getpid()}.part{path.suffix}")  # others may read path
    with av.open(str(part), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "20", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        while n < seconds * FPS:
            length = min(int(rng.integers(2 * FPS, 4 * FPS + 1)), seconds * FPS - n)
            zoom = rng.uniform(1.0, 2.5)
            w, h = int(SIZE[0] / zoom), int(SIZE[1] / zoom)
            x, y = int(rng.integers(0, SIZE[0] - w + 1)), int(rng.integers(0, SIZE[1] - h + 1))
            step = -1 if rng.random() < 0.5 else 1  # played forward or reversed, never wrapping
            span = min(length, len(frames))
            start = int(rng.integers(0, len(frames) - span + 1)) + (span - 1 if step < 0 else 0)
            for i in range(length):
                src = frames[min(max(start + step * i, 0), len(frames) - 1)][y : y + h, x : x + w]
                img = cv2.resize(src, SIZE, interpolation=cv2.INTER_LINEAR)
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
            n += length
            cuts.append(n)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(part, path)
    return cuts[:-1]


def plain_decode_fps(path: Path, device: str = "cpu") -> float:
    from rag_video.media.hwdecode import hwaccel, resolve_decode_device

    with av.open(str(path), hwaccel=hwaccel(resolve_decode_device(device))) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        t, n = time.perf_counter(), 0
        for _ in c.decode(stream):
            n += 1
    return n / (time.perf_counter() - t)


def cut_f1(found: list[int], truth: list[int] | None, tol: int = 2) -> float | None:
    """F1 of detected cut frames against the true ones (±tol frames)."""
    if truth is None:
        return None
    hits = sum(any(abs(f - c) <= tol for f in found) for c in truth)
    precision, recall = hits / max(1, len(found)), hits / max(1, len(truth))
    return round(2 * precision * recall / max(1e-9, precision + recall), 3)


def ingest_fps(path: Path, frames: int, device: str = "cpu") -> tuple[float, list[int]]:
    import cv2  # noqa: F401 - one-time imports are start-up, not per-frame throughput
    import lancedb  # noqa: F401
    import scenedetect  # noqa: F401

    from rag_video import open_library

    with tempfile.TemporaryDirectory() as lib_dir:
        lib = open_library(lib_dir, workers=1, embed=False, decode_device=device)
        t = time.perf_counter()
        lib.ingest([path])
        fps = frames / (time.perf_counter() - t)
        return fps, sorted(lib.shots().column("start_frame").to_pylist())[1:]


def cli_seconds(path: Path) -> float:
    """Wall time of ``rag-video ingest FILE --no-embed`` in a fresh process, start-up and commit
    included: the path a user takes."""
    import subprocess

    with tempfile.TemporaryDirectory() as lib_dir:
        command = [sys.executable, "-m", "rag_video", "--library", lib_dir, "ingest", str(path)]
        t = time.perf_counter()
        subprocess.run([*command, "--no-embed"], check=True, capture_output=True)
        return time.perf_counter() - t


def scenedetect_fps(path: Path, frames: int) -> tuple[float, list[int]]:
    from scenedetect import AdaptiveDetector, detect

    t = time.perf_counter()
    scenes = detect(str(path), AdaptiveDetector(), backend=SCENEDETECT_BACKEND)
    return frames / (time.perf_counter() - t), [s[0].frame_num for s in scenes[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--skip-embed", action="store_true", help="leave out the embedding figures")
    parser.add_argument("--images", type=int, default=128, help="images for the embedding figures")
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--decode-device", default="cpu", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    path, cuts = args.file, None
    if path is None:
        path = Path(tempfile.gettempdir()) / "rag-video-bench-60s-720p.mp4"
        cuts = build_file(path)
    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.demux(video=0)) - 1
    decode = plain_decode_fps(path, args.decode_device)
    ingest, our_cuts = ingest_fps(path, frames, args.decode_device)
    sd_fps, sd_cuts = scenedetect_fps(path, frames)
    cli_s = cli_seconds(path)
    result = {
        "file": str(path),
        "frames": frames,
        "true_cuts": None if cuts is None else len(cuts),
        "decode_device": args.decode_device,
        "decode_fps": round(decode, 1),
        "ingest_fps": round(ingest, 1),
        "ingest_vs_decode": round(ingest / decode, 3),
        "ingest_shots": len(our_cuts) + 1,
        "ingest_cut_f1": cut_f1(our_cuts, cuts),
        "scenedetect_backend": SCENEDETECT_BACKEND,
        "scenedetect_fps": round(sd_fps, 1),
        "scenedetect_scenes": len(sd_cuts) + 1,
        "scenedetect_cut_f1": cut_f1(sd_cuts, cuts),
        "ingest_vs_scenedetect": round(ingest / sd_fps, 2),
        "decode_s": round(frames / decode, 2),
        "cli_s": round(cli_s, 2),
        "cli_vs_decode": round(cli_s / (frames / decode), 3),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
    }
    if not args.skip_embed:
        sys.path.insert(0, str(Path(__file__).parent))
        from embed import measure

        result.update(measure(n_images=args.images))
    if args.table:
        for k, v in result.items():
            print(f"{k:28} {v}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
