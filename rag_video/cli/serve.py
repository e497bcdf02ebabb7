"""`rag-video serve`: the browser front end."""

from __future__ import annotations

import click

from rag_video.cli.app import library, main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False),
    help="File holding the access token (required to bind anything but loopback).",
)
def serve(host: str, port: int, token_file: str | None) -> None:
    """Search the library and review make runs in the browser (opens nothing by itself)."""
    from rag_video.server import serve as run_server
    from rag_video.server.security import check_bind, read_token_file

    token = read_token_file(token_file) if token_file else None
    check_bind(host, token)
    run_server(library(), host=host, port=port, token=token)
