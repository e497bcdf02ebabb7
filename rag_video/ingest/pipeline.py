"""The local ingest runner: discover → decide what changed → analyze (processes) → embed → commit.

Analysis (decode, detection, keyframes) runs in `workers` processes; one embedding consumer in
this process batches keyframes across files; results commit one source at a time under the
library's write lock.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from rag_video import hooks, progress
from rag_video.ingest import commit as committer
from rag_video.ingest.analyze import (
    FileResult,
    IngestOptions,
    analyze_file,
    failed_result,
)
from rag_video.ingest.commit import Ready
from rag_video.ingest.discover import Candidate, discover
from rag_video.ingest.embedding import EmbedQueue
from rag_video.schema import SourceRow
from rag_video.store import Store, sql_str

log = logging.getLogger(__name__)
COMMIT_SECONDS = 5.0  # a batch commits early once its oldest result has waited this long


@dataclass
class IngestSummary:
    """What one ingest run did; its JSON form is the CLI's `--json` document."""

    files: int = 0
    ingested: int = 0
    unchanged: int = 0
    failed: int = 0
    shots: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)  # {"path", "error"}
    deferred_embeddings: int = 0

    def to_json(self) -> dict:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


def run_worker(candidate: Candidate, options: IngestOptions) -> FileResult:
    """Analyze one file; any unexpected error becomes a failed result, never a lost batch."""
    hooks.fire("worker.analyze", path=candidate.path)
    try:
        return analyze_file(
            candidate.path, candidate.source_id, candidate.size, candidate.mtime, options
        )
    except Exception as exc:  # noqa: BLE001 - a bug on one file must not stop the batch
        log.debug("internal error on %s", candidate.path, exc_info=True)
        return failed_result(
            candidate.path,
            candidate.source_id,
            candidate.size,
            candidate.mtime,
            f"internal error: {type(exc).__name__}: {exc}",
            options,
        )


def _analyze_all(
    todo: list[Candidate], options: IngestOptions, workers: int
) -> Iterator[FileResult]:
    if workers <= 1 or len(todo) <= 1:
        for candidate in todo:
            yield run_worker(candidate, options)
        return
    context = multiprocessing.get_context("spawn")
    queue = list(reversed(todo))
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_leave_sigint_to_parent
    ) as pool:
        running: dict[Future[FileResult], Candidate] = {}
        try:
            while queue or running:
                while queue and len(running) < workers * 2:
                    candidate = queue.pop()
                    with _sigint_ignored():  # a worker spawned here starts deaf to Ctrl-C
                        running[pool.submit(run_worker, candidate, options)] = candidate
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    candidate = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        yield failed_result(
                            candidate.path,
                            candidate.source_id,
                            candidate.size,
                            candidate.mtime,
                            "worker process died reading this file",
                            options,
                        )
                        yield from _analyze_all(
                            list(reversed(queue)) + list(running.values()), options, workers
                        )
                        return
        except (
            BaseException
        ):  # Ctrl-C, or the consumer stopped: do not wait for the files in flight
            _stop_workers(pool)
            raise


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this (main) thread for the block. A process spawned meanwhile inherits
    the ignored disposition through exec, so a Ctrl-C that lands while it is still importing
    (before `_leave_sigint_to_parent` runs) cannot print a traceback from it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _leave_sigint_to_parent() -> None:
    """In worker processes: ignore Ctrl-C. The parent stops the workers itself and says so in one
    line, instead of every worker printing a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


Runner = Callable[[list[Candidate], IngestOptions], Iterator[Ready]]


class LocalRunner:
    """Analyze in `workers` local processes; embed here, batching keyframes across files.

    `stages` names the progress bars of a run: analysis and embedding advance separately (a
    batch of keyframes spans files, so embedding lags analysis), or one bar without embeddings.
    """

    def __init__(self, embed_queue: EmbedQueue, workers: int = 1):
        self.embed_queue, self.workers = embed_queue, workers

    @property
    def stages(self) -> tuple[str, ...]:
        return ("analyze", "embed") if self.embed_queue.load is not None else ("ingest",)

    def __call__(
        self,
        todo: list[Candidate],
        options: IngestOptions,
        analyzed: Callable[[FileResult], None] | None = None,
    ) -> Iterator[Ready]:
        for result in _analyze_all(todo, options, self.workers):
            if analyzed is not None:
                analyzed(result)
            yield from self.embed_queue.put(result)
        yield from self.embed_queue.flush()


def local_runner(embed_queue: EmbedQueue, workers: int = 1) -> LocalRunner:
    """The local runner (see LocalRunner)."""
    return LocalRunner(embed_queue, workers)


class Ingest:
    """One ingest run over a set of paths; `runner` turns files into results ready to commit."""

    def __init__(
        self, store: Store, options: IngestOptions, runner: Runner, dim: int, commit_batch: int = 32
    ):
        self.store, self.options, self.runner, self.dim = store, options, runner, dim
        self.commit_batch = commit_batch
        self.summary = IngestSummary()
        self._existing = {
            r["source_id"]: SourceRow.from_row(r) for r in store.read("sources").to_pylist()
        }
        self._new_aliases: dict[str, list[str]] = {}  # same content at several paths this run
        self._pending: list[Ready] = []
        self._pending_since = 0.0

    def _triage(self, candidates: list[Candidate]) -> list[Candidate]:
        """Record unchanged files (moves and copies become path updates) and return the rest."""
        todo, seen = [], {}
        for cand in candidates:
            row = self._existing.get(cand.source_id)
            current = (  # the file's row when it is up to date, else None
                row
                if row is not None
                and row.ok
                and row.pipeline_version == self.options.pipeline_version
                else None
            )
            if cand.source_id in seen:
                self.summary.unchanged += 1
                if current is not None:
                    self._alias(cand, current.path)
                else:
                    self._new_aliases.setdefault(cand.source_id, []).append(str(cand.path))
                continue
            seen[cand.source_id] = cand
            if current is not None:
                self._alias(cand, current.path)
                self.summary.unchanged += 1
                self.summary.shots += self._shot_count(cand.source_id)
            else:
                todo.append(cand)
        return todo

    def _shot_count(self, source_id: str) -> int:
        ds = self.store.dataset("shots")
        return 0 if ds is None else ds.count_rows(filter=f"source_id = {sql_str(source_id)}")

    def _alias(self, cand: Candidate, known_path: str) -> None:
        """`cand` has content already in the library under `known_path`: move or alias it."""
        rows = self.store.read("sources", where=f"source_id = {sql_str(cand.source_id)}")
        if not rows.num_rows:
            return
        row, path = SourceRow.from_row(rows.to_pylist()[0]), str(cand.path)
        aliases = row.aliases or []
        if path == row.path or path in aliases:
            return
        if Path(row.path).is_file() and Path(row.path) != cand.path:
            committer.set_path(self.store, row, row.path, [*aliases, path])
        else:
            committer.set_path(self.store, row, path, [*aliases, row.path])
        committer.retire_paths(self.store, {path: cand.source_id})
        log.info("%s: same content as %s", path, known_path)

    def _queue(self, ready: Ready) -> None:
        """Collect a result; commit the batch when it is full or has waited long enough."""
        result = ready.result
        extra = self._new_aliases.get(result.source.source_id)
        if extra and result.ok:
            aliases = sorted(set(result.source.aliases or []) | set(extra))
            result.source = replace(result.source, aliases=aliases)
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(ready)
        if result.ok:
            self.summary.ingested += 1
            self.summary.shots += len(result.shots)
            if ready.vectors is None:
                self.summary.deferred_embeddings += len(result.shots)
        else:
            self._fail(result.source.path, result.source.error or "")
        if (
            len(self._pending) >= self.commit_batch
            or time.monotonic() - self._pending_since >= COMMIT_SECONDS
        ):
            self._flush()

    def _flush(self) -> None:
        """Commit the pending batch; a file that could not be committed counts as failed."""
        if self._pending:
            sent = {ready.source.source_id: ready for ready in self._pending}
            for failed in committer.commit(self.store, self._pending, self.dim):
                ready = sent[failed.source.source_id]
                if ready.result.ok:
                    self.summary.ingested -= 1
                    self.summary.shots -= len(ready.result.shots)
                    if ready.vectors is None:
                        self.summary.deferred_embeddings -= len(ready.result.shots)
                    self.summary.failed += 1
                    self.summary.failures.append(
                        {"path": failed.source.path, "error": failed.source.error}
                    )
            self._pending = []

    def _fail(self, path: str, error: str) -> None:
        self.summary.failed += 1
        self.summary.failures.append({"path": path, "error": error})
        log.warning("%s: %s", path, error)

    def run(self, paths: Iterable[str | Path]) -> IngestSummary:
        started = time.perf_counter()
        candidates, refused = discover(paths)
        self.summary.files = len(candidates) + len(refused)
        for path, error in refused:
            self._queue(
                Ready(failed_result(path, f"unreadable:{path}", 0, 0.0, error, self.options))
            )
        self._flush()
        committer.cleanup(self.store)
        todo = self._triage(candidates)
        stages = tuple(getattr(self.runner, "stages", ("ingest",)))
        with progress.bars(*[(stage, len(todo)) for stage in stages], every_step=True) as advances:
            callbacks = (
                {"analyzed": lambda r: advances[0](item=_name(r))} if len(stages) > 1 else {}
            )
            queue = getattr(self.runner, "embed_queue", None)
            for ready in self.runner(todo, self.options, **callbacks):
                self._queue(ready)
                deferred = len(stages) > 1 and queue is not None and queue.unavailable
                advances[-1](
                    item=_name(ready.result), description="embed (deferred)" if deferred else None
                )
            self._flush()
        self.summary.seconds = time.perf_counter() - started
        return self.summary


def _name(result: FileResult) -> str:
    return Path(result.source.path).name


def ingest(
    store: Store,
    paths: Iterable[str | Path],
    *,
    options: IngestOptions,
    runner: Runner,
    dim: int,
    commit_batch: int = 32,
) -> IngestSummary:
    """Ingest `paths` into the library at `store` under its write lock (re-entrant: a caller
    that holds it, as `Library.ingest` does with its own timeout, keeps it)."""
    with store.writer():
        return Ingest(store, options, runner, dim, commit_batch).run(paths)
