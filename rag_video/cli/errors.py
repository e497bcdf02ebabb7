"""Every error of a command as one line on stderr and an exit code (a traceback only with --debug).

Exit codes: 0 ok, 1 some inputs failed, 2 bad usage or input (click's usage errors and
rag_video.errors.UsageError), 3 internal error (a bug), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from rag_video.errors import RagVideoError, one_line

EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class Main(click.Group):
    """The root group: turns every error into one line on stderr and an exit code."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """click's context; errors in the global options (before any command runs) as one line."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            usage_error(exc)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report what it raised as one line and an exit code."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise
        except click.ClickException as exc:
            usage_error(exc)
        except RagVideoError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            click.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if (ctx.obj or {}).get("debug"):  # where it was interrupted; still exit 130
                import traceback

                traceback.print_exc()
            newline = "\n" if sys.stderr.isatty() else ""  # end the terminal's ^C echo
            click.echo(
                f"{newline}error: interrupted (what was committed stays; run the command again "
                "to finish)",
                err=True,
            )
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as exc:  # a bug: one line, the traceback with --debug
            if (ctx.obj or {}).get("debug"):
                raise
            click.echo(
                f"error: internal error: {type(exc).__name__}: {one_line(exc)} "
                "(rerun with --debug for the traceback)",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL)


def usage_error(exc: click.ClickException) -> NoReturn:
    """click's own errors in rag-video's format: one line, with where to find the usage; then
    exit with click's code (2 for usage errors). `rag-video` or `rag-video index` alone still
    print their help (click's NoArgsIsHelpError is re-raised)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        raise exc
    ctx = getattr(exc, "ctx", None)
    hint = (
        f" (see '{ctx.command_path} --help')" if isinstance(exc, click.UsageError) and ctx else ""
    )
    click.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
    raise click.exceptions.Exit(exc.exit_code) from None
