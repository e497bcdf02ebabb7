"""Fault injection for the crash-and-resume tests: a rag_video.hooks plug-in (loaded through
RAG_VIDEO_PLUGINS in every process, Ray workers included) that kills its process at a named point.

The faults are a JSON document in RAG_VIDEO_FAULTS, or the path of a JSON file read at each hook
(so a running Ray cluster's workers see a test's faults); `helpers.fault_env` builds both. Only
processes that load it as a plug-in register its callbacks; tests never import it.

- ``{"kill_at": "after_sources=N" | "between_writes" | "inside_write"}``: the ingest driver dies
  (exit 137) after N committed sources, between a batch's shots and sources writes, or in the
  middle of the streamed shots write;
- ``{"kill_worker": {"name": FILE_NAME, "mode": "once" | "always", "file": PATH}}``: the worker
  analysing FILE_NAME dies — once (PATH marks that it happened) or on every attempt (each appends
  a line to PATH).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rag_video import hooks

FAULTS_ENV = "RAG_VIDEO_FAULTS"
_committed = 0


def _faults() -> dict:
    value = os.environ.get(FAULTS_ENV, "")
    if value and not value.lstrip().startswith("{"):
        path = Path(value)
        value = path.read_text() if path.exists() else ""
    return json.loads(value) if value.strip() else {}


def _die() -> None:
    os._exit(137)


def _kill_at(point: str) -> bool:
    return _faults().get("kill_at", "").partition("=")[0] == point


def _source_committed(**_info) -> None:
    global _committed
    _committed += 1
    name, _, count = _faults().get("kill_at", "").partition("=")
    if name == "after_sources" and _committed >= int(count or 1):
        _die()


def _worker(path, **_info) -> None:
    spec = _faults().get("kill_worker")
    if not spec or Path(path).name != spec["name"]:
        return
    mark = Path(spec["file"])
    if spec["mode"] == "once":
        if mark.exists():
            return
        mark.touch()
    else:
        with open(mark, "a") as fh:
            fh.write(f"{os.getpid()}\n")
    _die()


hooks.register("commit.shots_written", lambda **_: _kill_at("between_writes") and _die())
hooks.register(
    "commit.shots_chunk", lambda index, **_: index == 1 and _kill_at("inside_write") and _die()
)
hooks.register("commit.source_committed", _source_committed)
hooks.register("worker.analyze", _worker)
