"""Test helpers: small footage folders with known shots, and library snapshots for comparisons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import synth

TINY = {"model": "RV-Tiny", "pretrained": "none"}

# Two videos, their shot starts known: A has cuts at 30 and 55; B has one cut at 40.
SPEC_A = [synth.Shot(30), synth.Shot(25), synth.Shot(35)]
SPEC_B = [synth.Shot(40), synth.Shot(30)]
STARTS_A = [0, 30, 55]
STARTS_B = [0, 40]


def fault_env(faults: dict | str | Path) -> dict[str, str]:
    """Environment that loads tests/faults.py as a rag_video.hooks plug-in with `faults` (a dict,
    or the path of a JSON file)."""
    value = json.dumps(faults) if isinstance(faults, dict) else str(faults)
    return {
        "RAG_VIDEO_PLUGINS": str(Path(__file__).with_name("faults.py")),
        "RAG_VIDEO_FAULTS": value,
    }


# Where make_footage keeps the one encoding of a.mp4 and b.mp4 it copies from; conftest sets it
# to a session folder. None: encode every time.
FOOTAGE_CACHE: Path | None = None


def _encode_footage(folder: Path) -> None:
    synth.make_video(folder / "a.mp4", SPEC_A, seed=1)
    synth.make_video(folder / "b.mp4", SPEC_B, seed=2)


def make_footage(folder: Path) -> dict[str, Path]:
    """Write a.mp4 (3 shots, 90 frames) and b.mp4 (2 shots, 70 frames) with a JSON sidecar for a.

    The videos are encoded once per session (into FOOTAGE_CACHE) and copied: the same bytes as a
    fresh encoding (fixed seeds), new files with new modification times."""
    folder.mkdir(parents=True, exist_ok=True)
    if FOOTAGE_CACHE is None:
        _encode_footage(folder)
    else:
        if not (FOOTAGE_CACHE / "b.mp4").exists():
            FOOTAGE_CACHE.mkdir(parents=True, exist_ok=True)
            _encode_footage(FOOTAGE_CACHE)
        for name in ("a.mp4", "b.mp4"):
            shutil.copyfile(FOOTAGE_CACHE / name, folder / name)
    (folder / "a.json").write_text(
        json.dumps(
            {
                "title": "Red cliffs",
                "description": "Cliffs at dawn",
                "tags": ["nature", "dawn"],
                "license": "CC-BY 4.0",
                "creator": "Test Camera",
            }
        )
    )
    return {"a": folder / "a.mp4", "b": folder / "b.mp4"}


def footage_library(root: Path, name: str = "lib", footage: Path | None = None, **settings):
    """(library at root/name with make_footage ingested, footage files): tiny model unless told."""
    from rag_video import open_library

    files = make_footage(footage or root / "footage")
    library = open_library(root / name, workers=1, **(settings or TINY))
    library.ingest([files["a"].parent])
    return library, files


def make_three(folder: Path) -> list[Path]:
    """a.mp4 and b.mp4 of make_footage plus c.mp4 (two 30-frame shots), sorted."""
    files = make_footage(folder)
    synth.make_video(folder / "c.mp4", [synth.Shot(30), synth.Shot(30)], seed=3)
    return sorted([files["a"], files["b"], folder / "c.mp4"])


def clean_snapshot(folder: Path, paths: list[Path]) -> dict:
    """Snapshot of a local, uninterrupted --no-embed ingest of `paths` into a library in
    `folder`."""
    from rag_video import open_library

    lib = open_library(folder / "lib", workers=1, **TINY)
    lib.ingest(paths, embed=False)
    return snapshot(lib)


def snapshot(lib) -> dict:
    """What must equal between a clean run and a crashed-then-resumed one."""
    sources = sorted((r["source_id"], r["path"], r["status"]) for r in lib.sources().to_pylist())
    shots = sorted(
        (r["shot_id"], r["start_frame"], r["end_frame"], r["embedding"] is not None)
        for r in lib.shots().to_pylist()
    )
    raw = lib.store.read("shots", columns=["shot_id"]).num_rows
    return {"sources": sources, "shots": shots, "raw_shot_rows": raw}
