"""Named points of long-running work that plug-ins may observe; rag-video itself registers nothing.

Ingest fires ``commit.shots_written`` (a batch's shots are written, its sources rows not yet),
``commit.source_committed`` (once per source of a committed batch), ``commit.shots_chunk``
(``index``: each chunk of the streamed shots write) and ``worker.analyze`` (``path``: a worker
starts on a file, in whatever process or Ray worker it runs). A plug-in registers callbacks with
:func:`register`; plug-ins named in ``RAG_VIDEO_PLUGINS`` (comma-separated module names or
``.py`` paths) are imported on the first :func:`fire` of each process, so worker processes load
them too. Monitoring, tracing and the crash-and-resume tests' fault injection are such plug-ins.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

PLUGINS_ENV = "RAG_VIDEO_PLUGINS"
_callbacks: dict[str, list[Callable[..., None]]] = {}
_loaded = False


def register(point: str, callback: Callable[..., None]) -> None:
    """Call ``callback(**info)`` each time ``point`` fires in this process."""
    _callbacks.setdefault(point, []).append(callback)


def fire(point: str, **info: Any) -> None:
    """Run the callbacks registered for ``point`` (after loading the configured plug-ins once)."""
    if not _loaded:
        _load_plugins()
    for callback in _callbacks.get(point, ()):
        callback(**info)


def _load_plugins() -> None:
    global _loaded
    _loaded = True
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(
                f"rag_video_plugin_{Path(name).stem}", name
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"{PLUGINS_ENV}: cannot load {name!r}")
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        else:
            importlib.import_module(name)
