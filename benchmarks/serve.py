"""Benchmark: `rag-video serve` over real HTTP (uvicorn on loopback), against the obvious
alternatives in the same run.

Builds (in a temporary folder, or `--workdir`) a library of the bundled samples embedded with
`--model` (random weights: search latency does not depend on them) plus a `--seconds`-long
1280×720 MPEG-4 Part 2 + AAC MKV made from the Big Buck Bunny sample (a file browsers cannot
play), then measures:

- ``proxy_s`` / ``proxy_fps``: building that file's H.264 proxy (`server.media.build_proxy`,
  what the first request for it starts), and ``decode_s``: a plain threaded PyAV decode of the
  same file, the floor any transcode pays; ``proxy_vs_decode`` is their ratio;
- ``range_mb_s``: streaming the proxy as a browser does, 1 MiB ``Range`` requests one after
  another over HTTP (`SWEEPS` times), through the server's door, its id lookup and the proxy
  state; ``starlette_mb_s``: a bare Starlette app serving the same file with ``FileResponse``,
  same requests; ``range_vs_starlette``;
- ``search_p50_ms``: ``GET /api/search?q=...&limit=24`` over HTTP (warm: the encoder is loaded
  by a first search), and ``library_p50_ms``: ``Library.search(q).limit(24).to_list()`` in
  process, same queries; ``server_overhead_ms`` is the difference.

Run: ``python benchmarks/serve.py [--seconds 60] [--queries 30] [--workdir DIR]``; prints one
JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "rag_video" / "samples" / "footage"
SWEEPS = 5
QUERIES = (
    "a rabbit in a sunny meadow",
    "an astronaut on the moon",
    "a cup of coffee",
    "a rocket on the launch pad",
    "stars and galaxies",
    "a cat sleeping",
)


def make_mkv(out: Path, seconds: float) -> Path:
    """`seconds` of the Big Buck Bunny sample, looped, as MPEG-4 Part 2 + AAC in MKV."""
    with av.open(str(SAMPLES / "bigbuckbunny.mp4")) as src:
        frames = [f.to_ndarray(format="yuv420p") for f in src.decode(video=0)]
        fps = int(round(float(src.streams.video[0].average_rate)))
    n = int(seconds * fps)
    rate = 48_000
    with av.open(str(out), "w") as dst:
        video = dst.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        video.bit_rate = 4_000_000
        audio = dst.add_stream("aac", rate=rate)
        audio.layout = "stereo"
        t = np.arange(rate // fps) / rate
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(frames[k % len(frames)], format="yuv420p")
            for packet in video.encode(frame):
                dst.mux(packet)
            tone = 0.1 * np.sin(2 * np.pi * 440 * (t + k / fps)).astype(np.float32)
            block = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp")
            block.sample_rate, block.pts = rate, k * (rate // fps)
            for packet in audio.encode(block):
                dst.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                dst.mux(packet)
    return out


def plain_decode(path: Path) -> float:
    started = time.perf_counter()
    with av.open(str(path)) as c:
        c.streams.video[0].thread_type = "AUTO"
        for _ in c.decode(video=0):
            pass
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _uvicorn(app):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, http.client.HTTPConnection("127.0.0.1", port)


def _get(conn: http.client.HTTPConnection, url: str, headers: dict[str, str]) -> bytes:
    conn.request("GET", url, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status not in (200, 206):
        raise RuntimeError(f"GET {url}: {response.status} {body[:200]!r}")
    return body


def _sweep(conn: http.client.HTTPConnection, url: str, size: int) -> float:
    """Seconds to fetch `url` SWEEPS times in 1 MiB ranges."""
    block = 1 << 20
    started = time.perf_counter()
    for _ in range(SWEEPS):
        got = sum(
            len(_get(conn, url, {"Host": "127.0.0.1", "Range": f"bytes={i}-{i + block - 1}"}))
            for i in range(0, size, block)
        )
        assert got == size, (got, size)
    return time.perf_counter() - started


def bare_starlette(path: Path) -> float:
    """Seconds for the same sweeps from a Starlette app that only serves `path`."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Route

    app = Starlette(routes=[Route("/f", lambda _request: FileResponse(path))])
    server, conn = _uvicorn(app)
    try:
        return _sweep(conn, "/f", path.stat().st_size)
    finally:
        server.should_exit = True


def measure(seconds: float, queries: int, workdir: Path, model: str) -> dict:
    from rag_video import open_library
    from rag_video.server import create_app
    from rag_video.server.media import build_proxy

    extra = workdir / "extra"
    extra.mkdir(parents=True, exist_ok=True)
    mkv = make_mkv(extra / "bunny.mkv", seconds)
    lib = open_library(workdir / "lib", model=model, pretrained="none")
    lib.ingest([SAMPLES, extra])
    source = next(
        s for s in lib.sources().to_pylist() if s["path"] == str(mkv) and s["status"] == "ok"
    )

    decode_s = plain_decode(mkv)
    proxy = workdir / "proxy.mp4"
    started = time.perf_counter()
    build_proxy(mkv, proxy, source["frames"])
    proxy_s = time.perf_counter() - started
    served = workdir / "lib" / "cache" / "proxies" / f"{source['source_id']}.mp4"
    served.parent.mkdir(parents=True, exist_ok=True)
    os.replace(proxy, served)  # the server finds the proxy ready
    size = served.stat().st_size

    server, conn = _uvicorn(create_app(lib))
    try:
        host = {"Host": "127.0.0.1"}
        range_s = _sweep(conn, f"/media/source/{source['source_id']}", size)
        texts = [QUERIES[i % len(QUERIES)] for i in range(queries)]
        _get(conn, "/api/search?q=warm", host)  # loads the encoder and the index
        http_ms = []
        for q in texts:
            started = time.perf_counter()
            _get(conn, f"/api/search?{urllib.parse.urlencode({'q': q, 'limit': 24})}", host)
            http_ms.append((time.perf_counter() - started) * 1000)
        lib.search("warm").limit(24).to_list()
        direct_ms = []
        for q in texts:
            started = time.perf_counter()
            lib.search(q).limit(24).to_list()
            direct_ms.append((time.perf_counter() - started) * 1000)
    finally:
        server.should_exit = True
    starlette_s = bare_starlette(served)
    mb = size / 2**20 * SWEEPS
    search_p50, library_p50 = statistics.median(http_ms), statistics.median(direct_ms)
    return {
        "benchmark": "serve",
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "seconds": seconds,
        "proxy_s": round(proxy_s, 2),
        "proxy_fps": round(source["frames"] / proxy_s, 1),
        "decode_s": round(decode_s, 2),
        "proxy_vs_decode": round(proxy_s / decode_s, 2),
        "proxy_mb": round(size / 2**20, 1),
        "range_mb_s": round(mb / range_s, 1),
        "starlette_mb_s": round(mb / starlette_s, 1),
        "range_vs_starlette": round(starlette_s / range_s, 2),
        "queries": queries,
        "search_p50_ms": round(search_p50, 1),
        "library_p50_ms": round(library_p50, 1),
        "server_overhead_ms": round(search_p50 - library_p50, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("RAG_VIDEO_PROGRESS", "0")
    with tempfile.TemporaryDirectory(prefix="rag-video-bench-serve-") as tmp:
        result = measure(args.seconds, args.queries, args.workdir or Path(tmp), args.model)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
