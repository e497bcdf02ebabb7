"""Commands that read the library: search, sql, stats."""

from __future__ import annotations

import click

from rag_video.cli import render
from rag_video.cli.app import json_option, library, main
from rag_video.cli.defaults import command_default, count_option, option


@main.command()
@click.argument("text", required=False)
@click.option(
    "--image", type=click.Path(exists=True, dir_okay=False), help="Query by an image file."
)
@click.option("--like", "like", metavar="SHOT_ID", help="Shots like this one.")
@click.option(
    "--where", metavar="PREDICATE", help='Filter over shot columns, e.g. "duration_s > 2".'
)
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--diverse", is_flag=True, help="Diversify results (MMR) so one source doesn't fill them."
)
@click.option(
    "--contact-sheet",
    type=click.Path(dir_okay=False),
    help="Write the results' thumbnails as one JPEG.",
)
@json_option
def search(
    text: str | None,
    image: str | None,
    like: str | None,
    where: str | None,
    limit: int,
    diverse: bool,
    contact_sheet: str | None,
) -> None:
    """Find shots by text, image, or likeness to a shot."""
    if not any((text, image, like)):
        raise click.UsageError("give a TEXT query, --image FILE or --like SHOT_ID")
    lib = library()
    query = lib.search(text, image=image, like=like).where(where).limit(limit)
    if diverse:
        query = query.diversify(0.5)
    rows = query.to_list()
    if contact_sheet:
        lib.contact_sheet(rows, contact_sheet)
    render.search_results(rows)


@main.command()
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "parquet", "arrow"]),
    help="Output format [default table, or from the -o suffix].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write every row to FILE (json, csv, parquet, arrow; written atomically).",
)
@option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    shown_default=command_default("sql", "timeout"),
    help="Cancel the query after SECONDS.",
)
@count_option(
    "--max-rows",
    command_default("sql", "max_rows"),
    "Rows shown in table output (exports are complete).",
)
@json_option
def sql(
    query: str, fmt: str | None, output: str | None, timeout: float | None, max_rows: int
) -> None:
    """Run a read-only SQL query over sources, shots, renders and shots_with_source."""
    fmt = render.sql_format(fmt, output)
    table = library().sql(query, timeout=timeout, max_rows=max_rows + 1 if fmt == "table" else None)
    render.sql_result(table, query, fmt, output, max_rows=max_rows)


@main.command()
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write the reports with charts to FILE (self-contained HTML).",
)
@count_option("--top", command_default("stats", "top"), "Rows listed per report.")
@json_option
def stats(html_path: str | None, top: int) -> None:
    """Canned reports: hours, shot lengths, formats, failures, coverage, usage, make runs."""
    render.stats(library().stats(top=top), html_path)
