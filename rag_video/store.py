"""The one door to storage: the library directory, its LanceDB tables, meta file and write lock.

A library is a directory:

    lance/        LanceDB database (tables sources, shots, renders, runs)
    index/        FAISS index files (a rebuildable accelerator)
    generated/    drafted and generated segments
    meta.json     schema version and the row_key counter
    .write.lock   held by the one writer at a time (.write.lock.holder: its pid, while held)

Lance commits are atomic per table; the `sources` row is the commit marker of a source's shots
(see DESIGN.md), so readers only see shots whose source has an `ok` row.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from filelock import FileLock, Timeout

from rag_video import schema
from rag_video.errors import LibraryLocked, UsageError

os.environ.setdefault("LANCE_LOG", "error")
log = logging.getLogger(__name__)

TABLES = ("sources", "shots", "renders", "runs")
LOCK_NAME = ".write.lock"
HOLDER_NAME = ".write.lock.holder"  # "pid N" of the writer holding LOCK_NAME


def sql_str(value: str) -> str:
    """Quote a string literal for a Lance/DuckDB predicate."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[Any]) -> str:
    """`column IN (...)` for strings or ints; an always-false predicate when empty."""
    items = [sql_str(v) if isinstance(v, str) else str(int(v)) for v in values]
    return f"{column} IN ({', '.join(items)})" if items else "false"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; fsynced and renamed over `path` when the block
    succeeds, removed when it fails, so a reader never sees a partial file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 `text` to `path` through :func:`atomic_path`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


class Store:
    """A library directory and its tables. Reads never lock; writes happen inside `writer()`."""

    def __init__(self, root: str | os.PathLike, *, create: bool = True):
        self.root = Path(root).expanduser()
        if not self.root.exists():
            if not create:
                raise UsageError(f"library {self.root} does not exist")
            try:
                self.root.mkdir(parents=True)
            except OSError as exc:
                raise UsageError(
                    f"library {self.root} cannot be created ({exc.strerror or exc})"
                ) from None
        elif not self.root.is_dir():
            raise UsageError(f"library {self.root} is not a directory")
        self.lance_dir = self.root / "lance"
        self.index_dir = self.root / "index"
        self.generated_dir = self.root / "generated"
        self.meta_path = self.root / "meta.json"
        for folder in (self.lance_dir, self.index_dir, self.generated_dir):
            if folder.exists() and not folder.is_dir():
                raise UsageError(
                    f"library {self.root} is damaged: {folder} is a file, not a folder"
                )
        self._db = None
        self._lock: FileLock | None = None

    # ---- connection and tables -------------------------------------------------------------
    @property
    def db(self):
        if self._db is None:
            import lancedb

            self._db = lancedb.connect(str(self.lance_dir))
        return self._db

    def has_table(self, name: str) -> bool:
        return (self.lance_dir / f"{name}.lance").is_dir()

    def table(self, name: str):
        """The LanceDB table `name`, or None when it has not been created yet."""
        if not self.has_table(name):
            return None
        return self.db.open_table(name)

    def dataset(self, name: str):
        """The Lance dataset behind table `name` for reading (None before it exists). Reads go
        through pylance directly: importing lancedb costs a second that readers need not pay."""
        if not self.has_table(name):
            return None
        import lance

        return lance.dataset(str(self.lance_dir / f"{name}.lance"))

    def ensure_table(self, name: str, table_schema: pa.Schema):
        """Open `name`, creating it empty with `table_schema` when missing."""
        tbl = self.table(name)
        if tbl is None:
            self._require_writer()
            tbl = self.db.create_table(name, schema=table_schema)
        return tbl

    def version(self, name: str) -> int:
        ds = self.dataset(name)
        return 0 if ds is None else ds.version

    def shots_dim(self) -> int | None:
        ds = self.dataset("shots")
        return None if ds is None else schema.embedding_dim(ds.schema)

    # ---- reads ----------------------------------------------------------------------------
    def read(
        self, name: str, *, columns: list[str] | None = None, where: str | None = None
    ) -> pa.Table:
        """Rows of table `name` (empty with the right columns when the table does not exist)."""
        ds = self.dataset(name)
        if ds is None:
            empty = self.table_schema(name)
            return empty.empty_table().select(columns) if columns else empty.empty_table()
        return ds.to_table(columns=columns, filter=where)

    def table_schema(self, name: str) -> pa.Schema:
        """The schema of table `name` when it is created (one of TABLES)."""
        return {
            "sources": schema.SOURCES,
            "shots": schema.shots_schema(),
            "renders": schema.RENDERS,
            "runs": schema.RUNS,
        }[name]

    def ok_source_ids(self) -> set[str]:
        ids = self.read("sources", columns=["source_id"], where="status = 'ok'")
        return set(ids.column("source_id").to_pylist())

    def visible_shots(
        self, *, columns: list[str] | None = None, where: str | None = None
    ) -> pa.Table:
        """Shots whose source has an `ok` row: the only shots any query may see."""
        import pyarrow.compute as pc

        cols = None if columns is None else list(dict.fromkeys([*columns, "source_id"]))
        shots = self.read("shots", columns=cols, where=where)
        ok = pa.array(sorted(self.ok_source_ids()), pa.string())
        shots = shots.filter(pc.is_in(shots.column("source_id"), value_set=ok))
        return shots.select(columns) if columns else shots

    def embed_model(self) -> str | None:
        """The model that embedded the shots table (None when nothing is embedded yet)."""
        ds = self.dataset("shots")
        if ds is None:
            return None
        rows = ds.to_table(columns=["embed_model"], filter="embed_model IS NOT NULL", limit=1)
        return rows.column("embed_model")[0].as_py() if rows.num_rows else None

    # ---- writes ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, timeout: float = 30.0) -> Iterator[Store]:
        """Hold the library's write lock (re-entrant within a process)."""
        if self._lock is not None:
            yield self
            return
        lock_path = self.root / LOCK_NAME
        lock = FileLock(lock_path, timeout=timeout, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise LibraryLocked(
                f"library {self.root} is being written by {self._lock_holder()}; "
                f"waited {timeout:g}s (raise --lock-timeout or try later)"
            ) from None
        except OSError as exc:  # a read-only library (or a lock path that is not a file)
            raise UsageError(
                f"library {self.root} cannot be written: cannot open its write lock "
                f"{lock_path} ({exc.strerror or exc})"
            ) from None
        self._lock = lock
        holder = self.root / HOLDER_NAME
        with contextlib.suppress(OSError):  # only the message of a waiting writer needs it
            holder.write_text(f"pid {os.getpid()}")
        try:
            yield self
        finally:
            with contextlib.suppress(OSError):
                holder.unlink(missing_ok=True)
            self._lock = None
            lock.release()

    def _lock_holder(self) -> str:
        """Who holds the write lock, as its holder file says. The pid is kept beside the lock
        file: the lock file's contents are FileLock's (3.x truncates it on every open)."""
        try:
            return (self.root / HOLDER_NAME).read_text().strip() or "another process"
        except OSError:
            return "another process"

    def _require_writer(self) -> None:
        if self._lock is None:
            raise RuntimeError("write outside Store.writer()")

    def add(
        self, name: str, data: pa.Table | pa.RecordBatchReader, table_schema: pa.Schema
    ) -> None:
        self.ensure_table(name, table_schema).add(data)

    def upsert(self, name: str, key: str, data: pa.Table, table_schema: pa.Schema) -> None:
        """Insert rows of `data`, replacing existing rows with the same `key`."""
        tbl = self.ensure_table(name, table_schema)
        tbl.merge_insert(key).when_matched_update_all().when_not_matched_insert_all().execute(data)

    def delete(self, name: str, where: str) -> None:
        self._require_writer()
        tbl = self.table(name)
        if tbl is not None and where != "false":
            tbl.delete(where)

    def compact(self, names: Iterable[str]) -> None:
        """Compact tables `names` and drop their old versions (the caller holds the write lock,
        so no reader of ours is on an old version)."""
        import warnings
        from datetime import timedelta

        self._require_writer()
        for name in names:
            table = self.table(name)
            if table is not None:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
                    table.optimize(cleanup_older_than=timedelta(0))

    def update(self, name: str, where: str, values: dict[str, Any]) -> None:
        self._require_writer()
        tbl = self.table(name)
        if tbl is not None:
            tbl.update(where=where, values=values)

    def replace_table(self, name: str, data: pa.Table) -> None:
        """Overwrite a whole table (used when a re-embed changes the embedding width)."""
        self._require_writer()
        self.db.create_table(
            name, data=data, schema=data.schema, mode="overwrite", on_bad_vectors="null"
        )

    # ---- meta -----------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The meta file. A corrupt one (not JSON, no row-key counter) is rebuilt from the shots
        table, with a warning: the counter restarts past the largest row_key any row holds, so no
        key in the table is reused (a key only an index tombstone holds makes it rebuild)."""
        if not self.meta_path.exists():
            return {"schema_version": schema.SCHEMA_VERSION, "next_row_key": 0}
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or int(meta["next_row_key"]) < 0:
                raise ValueError("no row-key counter")
            return meta
        except OSError as exc:
            raise UsageError(
                f"library {self.root}: cannot read {self.meta_path} ({exc.strerror or exc})"
            ) from None
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            log.warning(
                "library %s: %s is corrupt (%s); rebuilding its row-key counter from the shots "
                "table",
                self.root,
                self.meta_path.name,
                " ".join(str(exc).split())[:120],
            )
            return self._rebuilt_meta()

    def _rebuilt_meta(self) -> dict[str, Any]:
        import pyarrow.compute as pc

        ds = self.dataset("shots")
        keys = ds.to_table(columns=["row_key"]).column("row_key") if ds is not None else None
        top = pc.max(keys).as_py() if keys is not None and len(keys) else None
        return {
            "schema_version": schema.SCHEMA_VERSION,
            "next_row_key": 0 if top is None else int(top) + 1,
        }

    def save_meta(self, meta: dict[str, Any]) -> None:
        self._require_writer()
        atomic_write_text(self.meta_path, json.dumps(meta, indent=1))

    def allocate_row_keys(self, n: int) -> np.ndarray:
        """Reserve `n` fresh row_keys. The counter is saved before any row uses them, so a crash
        can skip keys but never reuse one."""
        meta = self.meta()
        start = int(meta.get("next_row_key", 0))
        meta["next_row_key"] = start + n
        self.save_meta(meta)
        return np.arange(start, start + n, dtype=np.int64)
