"""Progress on stderr: rich bars on a terminal, one log line per step otherwise.

The mode: ``RAG_VIDEO_PROGRESS=0`` (or --quiet) turns progress off, ``RAG_VIDEO_PROGRESS=1`` forces
bars, ``RAG_VIDEO_PROGRESS=lines`` forces lines; by default a terminal gets bars and anything else
(a log file, a pipe, CI) gets lines through the ``rag_video.progress`` logger, which the CLI prints
as plain lines (a library user sees them only after configuring logging). While bars are shown,
log records written to stderr go above the bars instead of into their line.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator

from rag_video.output import clip

line_log = logging.getLogger("rag_video.progress")
LINE_INTERVAL_S = 2.0  # throttled line mode: at most one line per task this often (and the last)
OFF_VALUES = ("0", "false", "no", "off", "")
_quiet = False

Advance = Callable[..., None]  # advance(n=1, description=None, item=None)


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def mode() -> str:
    """'bars', 'lines' or 'off' (see the module docstring)."""
    env = os.environ.get("RAG_VIDEO_PROGRESS")
    if env is not None:
        value = env.strip().lower()
        return "off" if value in OFF_VALUES else "lines" if value == "lines" else "bars"
    if _quiet:
        return "off"
    return "bars" if sys.stderr.isatty() else "lines"


def enabled() -> bool:
    """Whether progress bars are drawn."""
    return mode() == "bars"


class _StderrHandler(logging.StreamHandler):
    """A handler that always writes to the current sys.stderr (which tests and rich swap)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def install_line_handler() -> None:
    """Print progress lines on stderr as they are (the CLI calls this once)."""
    for handler in list(line_log.handlers):
        if isinstance(handler, _StderrHandler):
            line_log.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    line_log.addHandler(handler)
    line_log.setLevel(logging.INFO)
    line_log.propagate = False


@contextlib.contextmanager
def bars(*tasks: tuple[str, int], every_step: bool = False) -> Iterator[list[Advance]]:
    """Several progress bars shown together (the stages of one job), one `advance` per task.

    `advance(n=1, description=None, item=None)`: `item` names what was just done (a file) and goes
    into the bar's description or the line. In line mode every step is a line when `every_step`
    (one line per file), else at most one line per task every LINE_INTERVAL_S seconds."""
    current = "off" if _observer.get() is not None else mode()
    if current == "off" or not any(total > 0 for _, total in tasks):
        yield [_observed(description, total) for description, total in tasks]
    elif current == "lines":
        yield [_line_advance(description, total, every_step) for description, total in tasks]
    else:
        with _rich_bars(tasks) as advances:
            yield advances


Observer = Callable[[str, int, int, "str | None"], None]  # (task, done, total, item)
_observer: contextvars.ContextVar[Observer | None] = contextvars.ContextVar(
    "rag_video_progress_observer", default=None
)


@contextlib.contextmanager
def observe(callback: Observer) -> Iterator[None]:
    """Send this context's progress to `callback(task, done, total, item)` instead of stderr
    (a server's background job reports its progress this way)."""
    token = _observer.set(callback)
    try:
        yield
    finally:
        _observer.reset(token)


def _observed(base: str, total: int) -> Advance:
    callback = _observer.get()
    if callback is None:
        return _noop
    done = [0]

    def advance(n: int = 1, description: str | None = None, item: str | None = None) -> None:
        done[0] += n
        callback(description or base, done[0], total, item)

    return advance


@contextlib.contextmanager
def bar(total: int, description: str, *, every_step: bool = False) -> Iterator[Advance]:
    """One progress bar; yields `advance(n=1, description=None, item=None)`."""
    with bars((description, total), every_step=every_step) as (advance,):
        yield advance


def _noop(n: int = 1, description: str | None = None, item: str | None = None) -> None:
    return None


def _line_advance(base: str, total: int, every_step: bool) -> Advance:
    state = {"done": 0, "last": 0.0}

    def advance(n: int = 1, description: str | None = None, item: str | None = None) -> None:
        label = description or base
        state["done"] += n
        now = time.monotonic()
        if every_step or state["done"] >= total or now - state["last"] >= LINE_INTERVAL_S:
            state["last"] = now
            line_log.info("%s %d/%d%s", label, state["done"], total, f" {item}" if item else "")

    return advance


@contextlib.contextmanager
def _rich_bars(tasks: tuple[tuple[str, int], ...]) -> Iterator[list[Advance]]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    width = max(len(description) for description, _ in tasks) + 42  # room for an item's name
    with (
        Progress(*columns, console=Console(stderr=True), transient=False) as progress,
        _logs_above(progress.console),
    ):
        ids = [progress.add_task(description, total=max(total, 0)) for description, total in tasks]

        def advancer(task, base: str) -> Advance:
            def advance(
                n: int = 1, description: str | None = None, item: str | None = None
            ) -> None:
                label = description or (f"{base} {item}" if item else None)
                if label:
                    progress.update(task, advance=n, description=clip(label, width))
                else:
                    progress.update(task, advance=n)

            return advance

        yield [
            advancer(task, description) for task, (description, _) in zip(ids, tasks, strict=False)
        ]


class _AboveBars(io.TextIOBase):
    """A stream whose lines are printed by a rich console above its live bars (unwrapped, with no
    markup: a log line is text)."""

    def __init__(self, console) -> None:
        self._console, self._buffer = console, ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self.write("\n")


@contextlib.contextmanager
def _logs_above(console) -> Iterator[None]:
    """Route log handlers that write to stderr through `console`, so that warnings print above
    the live bars instead of into their line."""
    swapped = []
    streams = {id(sys.stderr), id(sys.__stderr__)}
    for logger in (logging.getLogger(), logging.getLogger("rag_video")):
        for handler in logger.handlers:
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, _StderrHandler)
                and id(handler.stream) in streams
            ):
                swapped.append((handler, handler.setStream(_AboveBars(console))))
    try:
        yield
    finally:
        for handler, stream in swapped:
            handler.flush()
            handler.setStream(stream)
