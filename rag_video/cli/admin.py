"""Upkeep commands: prune, optimize, and listing the embedding models and the voices."""

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


@main.command()
@json_option
def voices() -> None:
    """List the speech engines and the voices available here (for --voice ENGINE:VOICE)."""
    from dataclasses import asdict

    from rag_video.cli.app import emit_json, want_json
    from rag_video.library import Library
    from rag_video.output import print_table

    found = Library.voices()
    if want_json():
        emit_json(asdict(found))
        return
    print_table([vars(e) for e in found.engines], title="engines")
    print_table([vars(v) for v in found.voices], title=f"{len(found.voices)} voices")
