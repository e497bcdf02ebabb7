"""Commands that fill the library: ingest, embed, and building the index."""

from __future__ import annotations

import sys

import click

from rag_video.cli import render
from rag_video.cli.app import json_option, library, main
from rag_video.cli.defaults import option, setting
from rag_video.config import DETECTORS, INDEX_TYPES


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@option(
    "--detector",
    type=click.Choice(DETECTORS),
    shown_default=setting("detector"),
    help="Shot detector.",
)
@option(
    "--min-shot",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    shown_default=setting("min_shot"),
    help="Shortest shot kept.",
)
@option(
    "--embed/--no-embed",
    default=None,
    shown_default=lambda: "embed" if setting("embed")() else "no-embed",
    help="Embed keyframes now, or defer.",
)
@option(
    "--model",
    shown_default=setting("model"),
    help="open_clip model name, hf-hub: id or checkpoint.",
)
@click.option(
    "--pretrained", metavar="TAG|none", help="Weights tag; 'none' = random weights (tests)."
)
@click.option("--workers", type=click.IntRange(min=1), help="Decode/detect processes.")
@click.option(
    "--ray",
    "ray",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Run on Ray: alone, a local Ray for this run; 'auto' or ray://HOST:PORT joins a cluster.",
)
@json_option
def ingest(
    paths: tuple[str, ...],
    detector: str | None,
    min_shot: float | None,
    embed: bool | None,
    model: str | None,
    pretrained: str | None,
    workers: int | None,
    ray: str | None,
) -> None:
    """Cut footage into shots, describe and embed them."""
    summary = library(create=True).ingest(
        paths,
        detector=detector,
        min_shot=min_shot,
        embed=embed,
        model=model,
        pretrained=pretrained,
        workers=workers,
        ray=ray,
    )
    render.ingest_summary(summary)
    sys.exit(1 if summary.failed else 0)


@main.command()
@click.option("--model", help="open_clip model to embed with.")
@click.option("--pretrained", metavar="TAG|none", help="Weights tag; 'none' = random weights.")
@click.option("--reembed", is_flag=True, help="Embed every shot again (switching models).")
@json_option
def embed(model: str | None, pretrained: str | None, reembed: bool) -> None:
    """Fill deferred embeddings (or re-embed everything with --reembed)."""
    result = library().embed(model=model, pretrained=pretrained, reembed=reembed)
    render.result(result, "embed", hidden="problems")
    sys.exit(1 if result["deferred"] else 0)


@main.group()
def index() -> None:
    """Build or inspect the shot index (FAISS over the embeddings, plus full-text)."""


@index.command("build")
@option(
    "--index-type",
    type=click.Choice(INDEX_TYPES),
    shown_default=setting("index_type"),
    help="Index type (auto: chosen by size and memory).",
)
@json_option
def index_build(index_type: str | None) -> None:
    """(Re)build the index from the shots table."""
    render.info(library().build_index(index_type), "index")


@index.command("info")
@json_option
def index_info() -> None:
    """Show the index: type, size, parameters, whether it is up to date."""
    render.info(library().index_info(), "index")
