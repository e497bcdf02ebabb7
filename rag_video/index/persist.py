"""Saving and loading an index: the FAISS file, its JSON sidecar, and the checks on load.

A save writes the FAISS file under a fresh name, then the sidecar naming it replaces the old
sidecar (the commit point), then older index files are deleted; both writes go through
:func:`rag_video.store.atomic_path`, so a crash at any point leaves the previous index loadable.
A load reads the sidecar, then the file it names, and checks that the two agree.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag_video.index.errors import IndexUnavailable
from rag_video.index.policy import DEFAULT_EF_SEARCH, INDEX_TYPES
from rag_video.index.runtime import load_faiss
from rag_video.store import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

SIDECAR_NAME = "shots.index.json"
INDEX_PREFIX = "shots-"
INDEX_SUFFIX = ".faiss"
FORMAT_VERSION = 1


class IndexMeta(BaseModel):
    """The JSON sidecar written next to the FAISS file; its atomic replace commits a save."""

    model_config = ConfigDict(extra="ignore")

    format: int = FORMAT_VERSION
    index_file: str
    index_bytes: int = Field(ge=0)
    index_type: str
    requested_type: str
    dim: int = Field(ge=1)
    n: int = Field(ge=0)
    table_version: int
    model_id: str
    tombstones: list[int]
    rebuild_share: float = Field(gt=0, le=1)
    params: dict[str, float | int | None]
    created_at: str
    saved_at: str
    faiss_version: str


def utc_now() -> str:
    """The current UTC time as an ISO 8601 string to the second (the sidecar's timestamps)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def save_index(
    directory: str | os.PathLike[str], idmap: Any, meta_for: Callable[[str, int], IndexMeta]
) -> Path:
    """Write the ``IndexIDMap2`` ``idmap`` into ``directory`` atomically; returns the sidecar
    path. ``meta_for(index_file, index_bytes)`` makes the sidecar for the written file.

    Raises :class:`IndexUnavailable` when the folder cannot be made or a write fails; the
    previous index then stays the loadable one.
    """
    faiss = load_faiss()
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only library, or `index` is a file
        raise IndexUnavailable(f"cannot save index to {folder}: {exc.strerror or exc}") from None
    name = f"{INDEX_PREFIX}{uuid.uuid4().hex[:16]}{INDEX_SUFFIX}"
    try:
        with atomic_path(folder / name) as tmp:
            faiss.write_index(idmap, str(tmp))
        meta = meta_for(name, (folder / name).stat().st_size)
        atomic_write_text(folder / SIDECAR_NAME, meta.model_dump_json(indent=1))
        _fsync_dir(folder)
    except Exception as exc:
        if name != _current_index_file(folder):  # written but never committed
            (folder / name).unlink(missing_ok=True)
        raise IndexUnavailable(f"cannot save index to {folder}: {exc}") from exc
    _remove_old_files(folder, keep=name)
    return folder / SIDECAR_NAME


def load_index(directory: str | os.PathLike[str]) -> tuple[Any, IndexMeta]:
    """Read the index saved in ``directory``: its ``IndexIDMap2`` (with the saved
    efSearch/nprobe set) and its sidecar. Raises :class:`IndexUnavailable` when it is missing,
    corrupt or inconsistent with its sidecar."""
    folder = Path(directory)
    for attempt in range(3):
        meta = _read_meta(folder)
        try:
            idmap = _read_faiss(folder, meta)
            break
        except FileNotFoundError:
            # a concurrent save may have replaced the sidecar and deleted the file it named
            if attempt == 2 or _read_meta(folder).index_file == meta.index_file:
                raise IndexUnavailable(
                    f"index file {folder / meta.index_file} is missing"
                ) from None
    _check_loaded(idmap, meta, folder)
    return idmap, meta


def _check_loaded(idmap: Any, meta: IndexMeta, folder: Path) -> None:
    """Check the index against its sidecar and set its saved search parameter."""
    faiss = load_faiss()
    if idmap.d != meta.dim or idmap.ntotal != meta.n or meta.index_type not in INDEX_TYPES:
        raise IndexUnavailable(
            f"index in {folder} does not match its sidecar (d={idmap.d}, n={idmap.ntotal} "
            f"vs dim={meta.dim}, n={meta.n}, type={meta.index_type})"
        )
    base = faiss.downcast_index(idmap.index)
    expected = {
        "flat": faiss.IndexFlat,
        "hnsw": faiss.IndexHNSWFlat,
        "ivf": faiss.IndexIVFFlat,
        "ivfpq": faiss.IndexIVFPQ,
    }
    wrong_metric = base.metric_type != faiss.METRIC_INNER_PRODUCT
    if not isinstance(base, expected[meta.index_type]) or wrong_metric:
        raise IndexUnavailable(
            f"index in {folder} is a {type(base).__name__}, sidecar says {meta.index_type}"
        )
    if meta.index_type == "hnsw":
        base.hnsw.efSearch = int(meta.params.get("efSearch") or DEFAULT_EF_SEARCH)
    elif meta.index_type in ("ivf", "ivfpq"):
        base.nprobe = int(meta.params.get("nprobe") or 1)


def _fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_index_file(folder: Path) -> str | None:
    try:
        return json.loads((folder / SIDECAR_NAME).read_text()).get("index_file")
    except (OSError, ValueError, AttributeError):
        return None


def _remove_old_files(folder: Path, *, keep: str) -> None:
    """Delete index files and temp files other than ``keep`` (left by earlier saves or crashes)."""
    for path in folder.iterdir():
        old_index = path.name.startswith(INDEX_PREFIX) and path.name.endswith(INDEX_SUFFIX)
        if (old_index and path.name != keep) or (
            path.name.startswith(".") and path.name.endswith(".tmp")
        ):
            try:
                path.unlink()
            except OSError as exc:
                logger.warning("could not delete old index file %s: %s", path, exc)


def _read_meta(folder: Path) -> IndexMeta:
    path = folder / SIDECAR_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise IndexUnavailable(f"no index in {folder} (missing {SIDECAR_NAME})") from None
    except OSError as exc:
        raise IndexUnavailable(f"cannot read {path}: {exc}") from None
    try:
        meta = IndexMeta.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "document"
        raise IndexUnavailable(
            f"corrupt index sidecar {path}: {where}: {first.get('msg')}"
        ) from None
    if meta.format != FORMAT_VERSION:
        raise IndexUnavailable(
            f"index sidecar {path} has format {meta.format}, this version reads {FORMAT_VERSION}"
        )
    if Path(meta.index_file).name != meta.index_file:
        raise IndexUnavailable(f"corrupt index sidecar {path}: index_file={meta.index_file!r}")
    return meta


def _read_faiss(folder: Path, meta: IndexMeta) -> Any:
    """Read the FAISS file named by ``meta``; FileNotFoundError passes through for the retry."""
    faiss = load_faiss()
    path = folder / meta.index_file
    size = path.stat().st_size
    if size != meta.index_bytes:
        raise IndexUnavailable(
            f"corrupt index file {path}: {size} bytes, sidecar says {meta.index_bytes}"
        )
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise IndexUnavailable(f"corrupt index file {path}: {message}") from None
    if not isinstance(index, faiss.IndexIDMap2):  # read_index returns the owning, downcast proxy
        raise IndexUnavailable(
            f"corrupt index file {path}: expected an IndexIDMap2, got {type(index).__name__}"
        )
    return index
