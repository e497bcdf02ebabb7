"""Progress bars on stderr (rich), off with --quiet or RAG_VIDEO_PROGRESS=0."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    env = os.environ.get("RAG_VIDEO_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return not _quiet and sys.stderr.isatty()


@contextlib.contextmanager
def bar(total: int, description: str) -> Iterator[Callable[..., None]]:
    """A progress bar; yields `advance(n=1, description=None)`."""
    if not enabled() or total <= 0:
        yield lambda n=1, description=None: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int = 1, description: str | None = None) -> None:
            progress.update(task, advance=n, **({"description": description} if description else {}))

        yield advance
