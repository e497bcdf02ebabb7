"""Background jobs of the server (re-renders): one worker thread, each job's progress as a list
of events a client follows over server-sent events."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

KEEP_JOBS = 100  # finished jobs remembered (oldest forgotten first)


@dataclass
class Job:
    """A background job: ``queued`` → ``running`` → ``done`` (``result``) or ``failed``
    (``error``); ``events`` is its progress in order."""

    job_id: str
    kind: str
    status: str = "queued"
    result: dict[str, Any] | None = None
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def emit(self, **event: Any) -> None:
        with self._changed:
            self.events.append({"seq": len(self.events), **event})
            self._changed.notify_all()

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def to_json(self) -> dict[str, Any]:
        last = next((e for e in reversed(self.events) if e["type"] == "progress"), None)
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status,
            "progress": last,
            "result": self.result,
            "error": self.error,
        }

    def follow(self, timeout: float = 15.0) -> Iterator[dict[str, Any] | None]:
        """Every event from the first, waiting for new ones; None after `timeout` seconds without
        one (a keep-alive); ends after the job's last event."""
        seq = 0
        while True:
            with self._changed:
                while seq >= len(self.events) and not self.finished:
                    if not self._changed.wait(timeout):
                        break
                event = self.events[seq] if seq < len(self.events) else None
                if event is None and self.finished:
                    return
            if event is not None:
                seq += 1
            yield event


class Jobs:
    """The job registry and its single worker (renders share the machine's cores)."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rag-video-job")

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def submit(self, kind: str, work: Callable[[Job], dict[str, Any]]) -> Job:
        """Queue `work(job)`; its return value becomes the job's result."""
        job = Job(uuid.uuid4().hex, kind)
        with self._lock:
            self._jobs[job.job_id] = job
            done = [k for k, j in self._jobs.items() if j.finished]
            for key in done[: max(0, len(self._jobs) - KEEP_JOBS)]:
                del self._jobs[key]
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> None:
        from rag_video.errors import one_line

        job.status = "running"
        job.emit(type="status", status="running")
        try:
            job.result = work(job)
            job.status = "done"
            job.emit(type="done", result=job.result)
        except Exception as exc:  # noqa: BLE001 - a failed job reports why; the server goes on
            job.error, job.status = one_line(exc), "failed"
            log.warning("job %s failed: %s", job.job_id, job.error)
            job.emit(type="failed", error=job.error)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
