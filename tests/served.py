"""The library the server tests serve: the bundled samples ingested with the tiny encoder and
the demo made from them, plus a file browsers cannot play (MPEG-4 Part 2 in MKV, with sound)
and a broken one (a failed source)."""

from __future__ import annotations

from pathlib import Path

import synth
from helpers import TINY

from rag_video import open_library

PROXY_FILE = "interview.mkv"
BROKEN_FILE = "broken.mp4"


def build(root: Path) -> dict:
    """Build the library in root/lib; returns {library, extra, demo} paths and the manifest."""
    lib = open_library(root / "lib", workers=1, **TINY)
    extra = root / "extra"
    extra.mkdir()
    synth.make_video(
        extra / PROXY_FILE,
        [synth.Shot(30), synth.Shot(30)],
        size=(320, 180),
        codec="mpeg4",
        audio=True,
    )
    synth.write_random_bytes(extra / BROKEN_FILE)
    lib.ingest([extra])
    manifest = lib.demo(root / "demo.mp4")
    return {"library": root / "lib", "demo": root / "demo.mp4", "manifest": manifest}
