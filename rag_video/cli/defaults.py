"""Defaults in --help, read from where they live (never restated in a help string).

Settings defaults (rag_video.config.Settings) are cheap to read. The others (make's MakeOptions,
sql's and stats' limits) are looked up through `rag_video.library.option_defaults` only when that
command's help is shown or the command runs, so `rag-video --help` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from rag_video.config import Settings


def shown(value: Any) -> str:
    """A default as help text shows it: floats without trailing zeros."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting(name: str) -> Callable[[], Any]:
    """The built-in default of setting `name` (a config file or RAG_VIDEO_* may override it)."""
    return lambda: Settings.model_fields[name].default


def command_default(command: str, name: str) -> Callable[[], Any]:
    """The default of option `name` of `command` (see rag_video.library.option_defaults)."""

    def lookup() -> Any:
        from rag_video.library import option_defaults

        return option_defaults(command)[name]

    return lookup


class DefaultShown(click.Option):
    """An option whose help ends with `[default: ...]` from `shown_default`, a lookup called when
    the help is rendered. With `default=` the same lookup, the value is also what runs."""

    def __init__(
        self,
        param_decls: Sequence[str] | None = None,
        *,
        shown_default: Callable[[], Any],
        **attrs: Any,
    ) -> None:
        self.shown_default = shown_default
        super().__init__(param_decls, **attrs)

    def get_help_extra(self, ctx: click.Context) -> Any:
        """click's extras (env var, range), with the looked-up default."""
        extra = super().get_help_extra(ctx)
        extra["default"] = shown(self.shown_default())
        return extra


def option(*decls: str, shown_default: Callable[[], Any], **attrs: Any) -> Any:
    """`click.option` whose help shows `shown_default()` as its default."""
    return click.option(*decls, cls=DefaultShown, shown_default=shown_default, **attrs)


def count_option(name: str, lookup: Callable[[], Any], help_text: str) -> Any:
    """A positive whole-number option (`--top`, `--max-rows`) defaulting to `lookup()`."""
    return option(
        name,
        type=click.IntRange(min=1),
        default=lookup,
        shown_default=lookup,
        help=help_text,
    )
