"""Find the files to ingest and give each a content-derived `source_id`.

Folders are walked recursively (symlinks followed, loops cut by remembering each directory's
device and inode) for known video extensions; files named explicitly are always tried whatever
their extension. Only regular files are ever opened: FIFOs, sockets and devices are skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag_video.errors import UsageError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".mxf",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
        ".dv",
        ".y4m",
    }
)
SAMPLE_BYTES = 64 * 1024
SAMPLE_POINTS = 5


@dataclass(frozen=True)
class Candidate:
    """A regular file to ingest, with its content id."""

    path: Path
    size: int
    mtime: float
    source_id: str


def content_id(path: Path, size: int) -> str:
    """Stable id from the file's size and bytes sampled at evenly spaced offsets."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as fh:
        if size <= SAMPLE_BYTES * SAMPLE_POINTS:
            digest.update(fh.read())
        else:
            for i in range(SAMPLE_POINTS):
                fh.seek((size - SAMPLE_BYTES) * i // (SAMPLE_POINTS - 1))
                digest.update(fh.read(SAMPLE_BYTES))
    return digest.hexdigest()


def _walk(root: Path, seen: set[tuple[int, int]]) -> Iterator[Path]:
    try:
        st = root.stat()
    except OSError as exc:
        log.warning("skipping %s: %s", root, exc.strerror)
        return
    if (st.st_dev, st.st_ino) in seen:
        return
    seen.add((st.st_dev, st.st_ino))
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        log.warning("skipping %s: %s", root, exc.strerror)
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_dir():
                yield from _walk(path, seen)
            elif path.suffix.lower() in VIDEO_EXTENSIONS and entry.is_file():
                yield path
        except OSError:
            continue


def iter_paths(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Expand the command line's paths into files, each absolute and listed once."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists() and not path.is_symlink():
            raise UsageError(f"path {str(raw)!r} does not exist")
        found = _walk(path, seen_dirs) if path.is_dir() else [path]
        for file in found:
            file = file.absolute()
            if file not in seen_files:
                seen_files.add(file)
                yield file


def discover(paths: Iterable[str | os.PathLike]) -> tuple[list[Candidate], list[tuple[Path, str]]]:
    """Candidates to ingest, and the named paths that were refused with a reason."""
    candidates, refused = [], []
    for path in iter_paths(paths):
        try:
            st = path.stat()
        except OSError as exc:
            refused.append((path, f"cannot stat: {exc.strerror}"))
            continue
        if not stat.S_ISREG(st.st_mode):
            refused.append((path, "not a regular file (FIFO, socket or device): not opened"))
            continue
        try:
            sid = content_id(path, st.st_size)
        except OSError as exc:
            refused.append((path, f"cannot read: {exc.strerror}"))
            continue
        candidates.append(Candidate(path, st.st_size, st.st_mtime, sid))
    return candidates, refused
