"""What each command prints: a human table on stdout, or with --json one JSON document.

Each function takes what the Library returned."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import click

from rag_video.cli.app import emit_json, want_json
from rag_video.output import clip, plural, print_table

if TYPE_CHECKING:
    import pyarrow as pa

    from rag_video.ingest.pipeline import IngestSummary
    from rag_video.stats import LibraryStats

log = logging.getLogger("rag_video")

INGEST_COUNTS = ("files", "ingested", "unchanged", "failed", "shots", "seconds")
SEARCH_COLUMNS = ["rank", "shot_id", "path", "start_s", "end_s", "score"]


def ingest_summary(summary: IngestSummary) -> None:
    """The counts of an ingest run, and a table of the files that failed."""
    doc = summary.to_json()
    counts = {k: doc[k] for k in INGEST_COUNTS}
    if want_json():
        emit_json(
            counts
            | {"failures": doc["failures"], "deferred_embeddings": doc["deferred_embeddings"]}
        )
    else:
        print_table([counts], title="ingest")
        if summary.failures:
            print_table(summary.failures, title="failed files")


def result(doc: dict[str, Any], title: str, *, hidden: str) -> None:
    """A command's result dict: all of it as JSON, else one table row without its `hidden` list."""
    if want_json():
        emit_json(doc)
    else:
        print_table([{k: v for k, v in doc.items() if k != hidden}], title=title)


def info(doc: dict[str, Any], title: str) -> None:
    """A dict as key/value rows (index info)."""
    if want_json():
        emit_json(doc)
    else:
        print_table([{"key": k, "value": v} for k, v in doc.items()], title=title)


def optimized(doc: dict[str, Any]) -> None:
    """What optimize did: the rebuilt index, if any."""
    if want_json():
        emit_json(doc)
    else:
        info(doc["index"] or {"index": "none (no embeddings)"}, "optimized")


def names(values: list[str], key: str) -> None:
    """A list of names, one a line (JSON: {key: [...]})."""
    if want_json():
        emit_json({key: values})
    else:
        click.echo("\n".join(values))


def search_results(rows: list[dict[str, Any]]) -> None:
    """Search results: JSON rows without thumbnails, or a table of the main columns."""
    if want_json():
        emit_json({"results": [{k: v for k, v in r.items() if k != "thumbnail"} for r in rows]})
    else:
        print_table(
            [{k: r.get(k) for k in SEARCH_COLUMNS} for r in rows],
            title=plural(len(rows), "result"),
            columns=SEARCH_COLUMNS,
        )


def sql_format(fmt: str | None, output: str | None) -> str:
    """The format of a sql result: as given, else from the -o suffix (json with --json and no
    file), else table."""
    from rag_video.sqlformat import resolve_format

    return resolve_format("json" if want_json() and fmt is None and output is None else fmt, output)


def sql_result(table: pa.Table, query: str, fmt: str, output: str | None, *, max_rows: int) -> None:
    """A sql result on stdout or in `output`; with --json and a file, what was written."""
    from rag_video.sqlformat import write_result

    write_result(table, query, fmt, output, max_rows=max_rows)
    if output is not None and want_json():
        emit_json({"output": output, "format": fmt, "rows": table.num_rows})
    elif output is not None:
        log.info("wrote %d rows to %s", table.num_rows, output)


def stats(result: LibraryStats, html_path: str | None) -> None:
    """The reports as tables or one JSON document; also as an HTML page at `html_path`."""
    from rag_video.stats import print_stats, write_html

    if html_path:
        write_html(result, html_path)
    if want_json():
        emit_json(result.to_json())
    else:
        print_stats(result)


def make_manifest(manifest: dict[str, Any]) -> None:
    """A make run: the manifest as JSON, or one table row per planned shot."""
    if want_json():
        emit_json(manifest)
        return
    rows = [
        {
            "#": s["index"] + 1,
            "decision": s["decision"],
            "score": s["score"],
            "covered by": ((s.get("reason") or {}).get("coverage") or {}).get("method") or "",
            "source": " + ".join(c["shot_id"] for c in s["source"]) or None,
            "generator": s["generator"],
            "seconds": s["seconds"],
            "text": clip(s["text"], 50),
        }
        for s in manifest["shots"]
    ]
    print_table(
        rows, title=f"{manifest['output']} ({manifest['duration_s']:.2f}s)", whole=["source"]
    )
    sound = manifest.get("sound")
    if sound and sound.get("integrated_lufs") is not None:
        stems = ", ".join(s["name"] for s in sound["stems"]) or "silence"
        log.warning(
            "sound: %s; %.1f LUFS, true peak %.1f dBTP%s",
            stems,
            sound["integrated_lufs"],
            sound["true_peak_dbtp"],
            f"; voice {sound['voice']}" if sound.get("voice") else "",
        )
