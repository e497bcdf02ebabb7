"""Upkeep commands: prune, optimize, and listing the embedding models."""

from __future__ import annotations

from rag_video.cli import render
from rag_video.cli.app import json_option, library, main


@main.command()
@json_option
def prune() -> None:
    """Drop sources whose files are gone."""
    render.result(library().prune(), "prune", hidden="paths")


@main.command()
@json_option
def optimize() -> None:
    """Compact the tables and rebuild the index."""
    render.optimized(library().optimize())


@main.command()
@json_option
def models() -> None:
    """List the embedding model names open_clip knows (plus rag-video's own)."""
    from rag_video.library import Library

    render.names(Library.models(), "models")
