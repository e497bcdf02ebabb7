"""Where `make` may write, and what killed makes left behind.

`check_outputs` refuses (a one-line UsageError, exit 2) any output path — OUT.mp4 and each of its
side outputs — that is:

- a library source, under its path or one of its aliases (symlinks resolved);
- a sidecar of one (`name.json`, `name.txt`, `name.srt` beside `name.mp4`): the footage's
  description and subtitles;
- inside the library's own storage (`lance/`, `index/`, `generated/`, `meta.json`, the locks,
  `rag-video.toml`); other folders of the library, such as `outputs/`, are fine;
- an existing file that is not a rag-video output. A previous output may be replaced: its video
  carries the `rag_video_run` container tag and its manifest a `run_id`; the other side outputs
  beside it are taken to be its own.

`clean_stale_partials` removes the temporary files of makes that were killed: make names them
with its pid (`.OUT.mp4.RUN.PID.partial.mp4`), so those of dead processes are known. Temporary
files without a pid (the segment encoder's, in `generated/` and beside OUT) are removed only
when no other make of the library is running: every make holds a shared lock on
`LIB/.make.lock` for the life of its process, and the cleaner needs it exclusively.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from rag_video.errors import UsageError
from rag_video.store import Store

log = logging.getLogger(__name__)

SIDECAR_SUFFIXES = (".json", ".txt", ".srt")  # what ingest reads beside a video (ingest/sidecar.py)
# the library's own entries (also how Library(create=False) recognises a library folder)
STORAGE = frozenset(
    {
        "lance",
        "index",
        "generated",
        "cache",  # the server's proxies
        "meta.json",
        ".write.lock",
        ".write.lock.holder",
        ".make.lock",
        "rag-video.toml",
    }
)
RUN_TAG = "rag_video_run"  # container tag of every make output (its run id)
MAKE_LOCK = ".make.lock"
_PID_PARTIAL = re.compile(r"\.[0-9a-f]{8}\.(?P<pid>\d+)\.partial")
_PARTIAL = re.compile(r"\.partial(?:\.|$)")
_LIBRARY_TEMP = re.compile(
    r"\.partial(?:\.|$)|\.tmp$"
)  # generated/ also has atomic_path's .tmp files

_make_lock: dict[str, IO[str]] = {}  # library root -> the open lock file this process holds
_cleaned: set[str] = set()  # libraries whose pid-less temporary files this process has cleaned


def output_paths(out: Path, suffixes: Iterable[str]) -> list[Path]:
    """OUT itself, then each side output `OUT-without-suffix + suffix`."""
    stem = out.with_suffix("")
    return [out, *(Path(f"{stem}{suffix}") for suffix in suffixes)]


def partial_name(path: Path, run_id: str) -> Path:
    """The temporary name make writes `path` under: hidden, beside it, with this process's pid."""
    return path.with_name(f".{path.name}.{run_id[:8]}.{os.getpid()}.partial{path.suffix}")


# ---- refusing outputs -------------------------------------------------------------------------


def check_outputs(store: Store, out: Path, suffixes: Iterable[str]) -> None:
    """Raise UsageError when make must not write `out` or one of its side outputs (see above)."""
    paths = output_paths(out, suffixes)
    label = f"-o {str(out)!r}"
    root = Path(os.path.realpath(store.root))
    for path in paths:
        real = Path(os.path.realpath(path))
        if real == root or (
            real.is_relative_to(root) and real.relative_to(root).parts[0] in STORAGE
        ):
            raise UsageError(
                f"{label}: {path} is inside the library's storage ({root}); write "
                f"outputs elsewhere (an outputs/ folder in the library is fine)"
            )
    for path, why in _footage_clashes(store, paths):
        raise UsageError(
            f"{label}: {path} is {why}; choose another name or folder (make never "
            f"writes over library footage or its sidecars)"
        )
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if not existing:
        return
    manifest = paths[1] if len(paths) > 1 and str(paths[1]).endswith(".manifest.json") else None
    ours = is_output_video(out) or (manifest is not None and is_output_manifest(manifest))
    for path in existing:
        if path.is_dir():
            raise UsageError(f"{label}: {path} is a folder")
        if path == out:
            mine = is_output_video(out)
        elif path == manifest:
            mine = is_output_manifest(path)
        else:
            mine = ours
        if not mine:
            raise UsageError(
                f"{label}: {path} exists and is not a rag-video output; refusing to "
                f"overwrite it (choose another name, or move it away)"
            )


def _footage_clashes(store: Store, paths: list[Path]) -> Iterable[tuple[Path, str]]:
    """(output path, why) for outputs that are a source file, an alias or a source's sidecar.

    Names are compared first (no file system access), then the candidates' resolved paths, so a
    library of many sources costs one column read."""
    names = {p.name: p for p in paths}
    real = {p: os.path.realpath(p) for p in paths}
    table = store.read("sources", columns=["path", "aliases"])
    for row in table.to_pylist():
        for source in [row["path"], *(row["aliases"] or [])]:
            if not source:
                continue
            src = Path(source)
            kinds = [(src, f"the library source {source}")]
            kinds += [
                (src.with_suffix(sfx), f"the {sfx} sidecar of the library source {source}")
                for sfx in SIDECAR_SUFFIXES
            ]
            for protected, why in kinds:
                path = names.get(protected.name)
                if path is not None and real[path] == os.path.realpath(protected):
                    yield path, why


def is_output_video(path: Path) -> bool:
    """True when `path` is a video make wrote (its container carries the run tag)."""
    if not path.is_file():
        return False
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return bool(container.metadata.get(RUN_TAG))
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return False


def is_output_manifest(path: Path) -> bool:
    """True when `path` is a manifest make wrote (a JSON object with a run id and shots)."""
    try:
        if not path.is_file() or path.stat().st_size > 256 * 2**20:
            return False
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and bool(doc.get("run_id")) and isinstance(doc.get("shots"), list)


def check_library_writable(store: Store) -> None:
    """make writes generated segments into the library and records its renders under the write
    lock: a read-only library is a one-line error before any work, not a traceback after it."""
    probe = store.generated_dir / f".probe.{os.getpid()}.tmp"
    try:
        store.generated_dir.mkdir(exist_ok=True)
        with open(store.root / ".write.lock", "a"):
            pass
        with open(probe, "w"):
            pass
        probe.unlink()
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise UsageError(
            f"library {store.root} cannot be written ({exc.strerror or exc}{where}): make "
            f"stores generated segments and records its renders there"
        ) from None


# ---- stale temporary files ----------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _hold_make_lock(store: Store) -> bool:
    """Hold the library's make lock (shared) for the life of this process; True when this
    process is the only make of the library right now (the lock could be taken exclusively)."""
    key = str(store.root)
    fh = _make_lock.get(key)
    if fh is None:
        try:
            fh = open(store.root / MAKE_LOCK, "a+")  # noqa: SIM115 - held until the process exits
        except OSError:
            return False
        _make_lock[key] = fh
    alone = False
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        alone = True
    except OSError:
        pass
    with contextlib.suppress(OSError):
        fcntl.flock(fh, fcntl.LOCK_SH)  # downgrade (or take) the shared hold
    return alone


def clean_stale_partials(store: Store, out: Path, suffixes: Iterable[str]) -> list[Path]:
    """Remove temporary files killed makes left beside `out` and in `generated/`; returns them."""
    alone = _hold_make_lock(store) and str(store.root) not in _cleaned
    if alone:
        _cleaned.add(str(store.root))  # later makes of this process may run beside this one
    finals = output_paths(out, suffixes)
    related = tuple(f".{p.name}." for p in finals) + tuple(f".{p.stem}." for p in finals)
    removed = []
    for folder, mine in (
        (out.parent, lambda n: _PARTIAL.search(n) and any(r in n for r in related)),
        (store.generated_dir, _LIBRARY_TEMP.search),
    ):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if not name.startswith(".") or not mine(name):
                continue
            match = _PID_PARTIAL.search(name)
            stale = not pid_alive(int(match["pid"])) if match else alone
            if stale and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    if removed:
        log.info("removed %d temporary files left by interrupted makes", len(removed))
    return removed
