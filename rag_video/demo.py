"""`rag-video demo`: ingest the bundled sample footage and make a short video from a sample script.

Works offline: without cached embedding weights the footage is still cut and described, and `make`
matches shots by their sidecar descriptions (full-text) instead of by embeddings.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)
SAMPLES = Path(__file__).parent / "samples"
FOOTAGE = SAMPLES / "footage"
SCRIPT = SAMPLES / "scripts" / "demo.yaml"


def run_demo(lib, out: str | Path) -> dict:
    """Ingest the samples into `lib` (a no-op when already there) and make `out` from demo.yaml."""
    summary = lib.ingest([FOOTAGE])
    log.warning(
        "demo library %s: %d files, %d shots (%d embeddings deferred)",
        lib.path,
        summary.files,
        summary.shots,
        summary.deferred_embeddings,
    )
    return lib.make(SCRIPT, out)
