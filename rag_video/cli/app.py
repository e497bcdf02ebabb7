"""The root `rag-video` group: global options, logging, and what every command shares (the
Library the global options name, `--json` after any command, one JSON document on stdout)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from rag_video import __version__
from rag_video.cli.defaults import option, setting
from rag_video.cli.errors import Main
from rag_video.jsonable import to_jsonable

if TYPE_CHECKING:
    from rag_video.config import Settings
    from rag_video.library import Library

log = logging.getLogger("rag_video")


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(dict)["json"] = True
    return value


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    expose_value=False,
    callback=_set_json,
    is_eager=True,
    help="Print one JSON document on stdout.",
)


def _obj() -> dict[str, Any]:
    obj: dict[str, Any] = click.get_current_context().find_root().ensure_object(dict)
    return obj


def settings() -> Settings:
    """The settings the global options name (library folder, lock timeout), without opening
    the library."""
    from rag_video.config import load_settings

    obj = _obj()
    return load_settings(library=obj.get("library_path"), lock_timeout=obj.get("lock_timeout"))


def library(*, create: bool = False) -> Library:
    """The Library named by the global options (opened on first use). Only commands that add
    footage (ingest, demo) create a missing library; the others refuse it."""
    obj = _obj()
    if "library" not in obj:
        from rag_video.library import Library

        obj["library"] = Library(settings(), create=create)
    lib: Library = obj["library"]
    return lib


def want_json() -> bool:
    """Whether --json was given, before or after the command."""
    return any((c.obj or {}).get("json") for c in _chain(click.get_current_context()))


def _chain(ctx: click.Context | None) -> Iterator[click.Context]:
    while ctx is not None:
        yield ctx
        ctx = ctx.parent


def emit_json(doc: Any) -> None:
    """`doc` as the one JSON document on stdout."""
    click.echo(json.dumps(doc, default=to_jsonable, ensure_ascii=False))


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rag-video")
@option(
    "--library",
    "library_path",
    metavar="DIR",
    envvar="RAG_VIDEO_LIBRARY",
    show_envvar=True,
    shown_default=setting("library"),
    help="Library directory.",
)
@json_option
@option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    shown_default=setting("lock_timeout"),
    help="How long a write waits for another process's write lock (env RAG_VIDEO_LOCK_TIMEOUT).",
)
@click.option("--debug", is_flag=True, help="Verbose logs and tracebacks.")
@click.option("--quiet", "-q", is_flag=True, help="Only errors on stderr; no progress.")
@click.pass_context
def main(
    ctx: click.Context,
    library_path: str | None,
    lock_timeout: float | None,
    debug: bool,
    quiet: bool,
) -> None:
    """rag-video: find the footage you already have, and make videos from it."""
    obj = ctx.ensure_object(dict)
    obj.update(library_path=library_path, lock_timeout=lock_timeout, debug=debug)
    level = logging.DEBUG if debug else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s: %(message)s", force=True
    )
    for noisy in ("httpx", "urllib3", "huggingface_hub", "filelock"):
        logging.getLogger(noisy).setLevel(level if debug else max(level, logging.ERROR))
    if not debug:  # third-party deprecation chatter is for developers, not users
        import warnings

        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    from rag_video import progress

    progress.set_quiet(quiet)
    progress.install_line_handler()  # without a terminal: one progress line per file
