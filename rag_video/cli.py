# Over 450 lines, kept whole for now (issue 11): command declarations for every subcommand; next
# cut: output shaping and make's options model apart.
"""The `rag-video` command line: parse, call the Library, print. Nothing else lives here.

stdout carries results (a table, or exactly one JSON document with --json); logs, warnings and
progress go to stderr. Every error is one line on stderr, `error: ...` (a traceback only with
--debug). Exit codes: 0 ok, 1 some inputs failed, 2 bad usage or input, 3 internal error (a bug),
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import click

from rag_video import __version__
from rag_video.config import DETECTORS, INDEX_TYPES
from rag_video.errors import RagVideoError, one_line
from rag_video.output import clip, plural, print_table

log = logging.getLogger("rag_video")


def _set_json(ctx: click.Context, _param, value: bool) -> bool:
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


def _obj() -> dict:
    return click.get_current_context().find_root().ensure_object(dict)


def library(*, create: bool = False):
    """The Library named by the global options (opened on first use). Only commands that add
    footage (ingest, demo) create a missing library; the others refuse it."""
    obj = _obj()
    if "library" not in obj:
        from rag_video.config import load_settings
        from rag_video.library import Library

        settings = load_settings(
            library=obj.get("library_path"), lock_timeout=obj.get("lock_timeout")
        )
        obj["library"] = Library(settings, create=create)
    return obj["library"]


def want_json() -> bool:
    ctx = click.get_current_context()
    return any((c.obj or {}).get("json") for c in _chain(ctx))


def _chain(ctx: click.Context | None) -> Iterator[click.Context]:
    while ctx is not None:
        yield ctx
        ctx = ctx.parent


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, default=_json_default, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class Main(click.Group):
    """Turns every error into one line on stderr and an exit code (tracebacks only with --debug)."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:  # errors in the global options, before any command runs
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            _usage_error(exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise
        except click.ClickException as exc:
            _usage_error(exc)
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


def _usage_error(exc: click.ClickException) -> NoReturn:
    """click's own errors in rag-video's format: one line, with where to find the usage; then
    exit with click's code. `rag-video` or `rag-video index` alone still print their help
    (click's NoArgsIsHelpError is re-raised)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        raise exc
    ctx = getattr(exc, "ctx", None)
    hint = (
        f" (see '{ctx.command_path} --help')" if isinstance(exc, click.UsageError) and ctx else ""
    )
    click.echo(f"error: {' '.join(exc.format_message().split())}{hint}", err=True)
    raise click.exceptions.Exit(exc.exit_code) from None


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rag-video")
@click.option(
    "--library",
    "library_path",
    metavar="DIR",
    envvar="RAG_VIDEO_LIBRARY",
    help="Library directory [env RAG_VIDEO_LIBRARY; default ./rag-video-library].",
)
@json_option
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="How long a write waits for another process's write lock "
    "[env RAG_VIDEO_LOCK_TIMEOUT; default 30].",
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


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--detector", type=click.Choice(DETECTORS), help="Shot detector [default adaptive].")
@click.option(
    "--min-shot",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Shortest shot kept [default 0.6].",
)
@click.option(
    "--embed/--no-embed", default=None, help="Embed keyframes now, or defer [default embed]."
)
@click.option("--model", help="open_clip model name, hf-hub: id or checkpoint [default ViT-B-32].")
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
def ingest(paths, detector, min_shot, embed, model, pretrained, workers, ray) -> None:
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
    doc = summary.to_json()
    if want_json():
        emit_json(
            {k: doc[k] for k in ("files", "ingested", "unchanged", "failed", "shots", "seconds")}
            | {"failures": doc["failures"], "deferred_embeddings": doc["deferred_embeddings"]}
        )
    else:
        print_table(
            [{k: doc[k] for k in ("files", "ingested", "unchanged", "failed", "shots", "seconds")}],
            title="ingest",
        )
        if summary.failures:
            print_table(summary.failures, title="failed files")
    sys.exit(1 if summary.failed else 0)


@main.command()
@click.option("--model", help="open_clip model to embed with.")
@click.option("--pretrained", metavar="TAG|none", help="Weights tag; 'none' = random weights.")
@click.option("--reembed", is_flag=True, help="Embed every shot again (switching models).")
@json_option
def embed(model, pretrained, reembed) -> None:
    """Fill deferred embeddings (or re-embed everything with --reembed)."""
    result = library().embed(model=model, pretrained=pretrained, reembed=reembed)
    if want_json():
        emit_json(result)
    else:
        print_table([{k: v for k, v in result.items() if k != "problems"}], title="embed")
    sys.exit(1 if result["deferred"] else 0)


@main.command()
@json_option
def prune() -> None:
    """Drop sources whose files are gone."""
    result = library().prune()
    if want_json():
        emit_json(result)
    else:
        print_table([{k: v for k, v in result.items() if k != "paths"}], title="prune")


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
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Cancel the query after SECONDS [default 60].",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Rows shown in table output (exports are complete).",
)
@json_option
def sql(query, fmt, output, timeout, max_rows) -> None:
    """Run a read-only SQL query over sources, shots, renders and shots_with_source."""
    from rag_video.sqlformat import resolve_format, write_result

    fmt = resolve_format("json" if want_json() and fmt is None and output is None else fmt, output)
    table = library().sql(query, timeout=timeout, max_rows=max_rows + 1 if fmt == "table" else None)
    write_result(table, query, fmt, output, max_rows=max_rows)
    if output is not None and want_json():
        emit_json({"output": output, "format": fmt, "rows": table.num_rows})
    elif output is not None:
        log.info("wrote %d rows to %s", table.num_rows, output)


@main.command()
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write the reports with charts to FILE (self-contained HTML).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Rows listed per report.",
)
@json_option
def stats(html_path, top) -> None:
    """Canned reports: hours, shot lengths, formats, failures, coverage, usage, make runs."""
    from rag_video.stats import print_stats, write_html

    result = library().stats(top=top)
    if html_path:
        write_html(result, html_path)
    if want_json():
        emit_json(result.to_json())
    else:
        print_stats(result)


@main.command()
@json_option
def models() -> None:
    """List the embedding model names open_clip knows (plus rag-video's own)."""
    from rag_video.embed import list_models

    names = list_models()
    if want_json():
        emit_json({"models": names})
    else:
        click.echo("\n".join(names))


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
def search(text, image, like, where, limit, diverse, contact_sheet) -> None:
    """Find shots by text, image, or likeness to a shot."""
    if not any((text, image, like)):
        raise click.UsageError("give a TEXT query, --image FILE or --like SHOT_ID")
    query = library().search(text, image=image, like=like).where(where).limit(limit)
    if diverse:
        query = query.diversify(0.5)
    rows = query.to_list()
    if contact_sheet:
        from rag_video.retrieve.sheet import contact_sheet as write_sheet

        write_sheet(rows, contact_sheet)
    shown = ["rank", "shot_id", "path", "start_s", "end_s", "score"]
    if want_json():
        emit_json({"results": [{k: v for k, v in r.items() if k != "thumbnail"} for r in rows]})
    else:
        print_table(
            [{k: r.get(k) for k in shown} for r in rows],
            title=plural(len(rows), "result"),
            columns=shown,
        )


@main.group()
def index() -> None:
    """Build or inspect the shot index (FAISS over the embeddings, plus full-text)."""


@index.command("build")
@click.option(
    "--index-type",
    type=click.Choice(INDEX_TYPES),
    help="Index type [default: chosen by size and memory].",
)
@json_option
def index_build(index_type) -> None:
    """(Re)build the index from the shots table."""
    _print_info(library().build_index(index_type), "index")


@index.command("info")
@json_option
def index_info() -> None:
    """Show the index: type, size, parameters, whether it is up to date."""
    _print_info(library().index_info(), "index")


@main.command()
@json_option
def optimize() -> None:
    """Compact the tables and rebuild the index."""
    result = library().optimize()
    if want_json():
        emit_json(result)
    else:
        _print_info(result["index"] or {"index": "none (no embeddings)"}, "optimized")


def _print_info(info: dict, title: str) -> None:
    if want_json():
        emit_json(info)
    else:
        print_table([{"key": k, "value": v} for k, v in info.items()], title=title)


def _size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    w, _, h = value.lower().partition("x")
    if not (w.isdigit() and h.isdigit()):
        raise click.BadParameter(f"expected WxH such as 1280x720, got {value!r}")
    return int(w), int(h)


@main.command()
@click.argument("script", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="OUT.mp4"
)
@click.option(
    "--draft/--final",
    default=True,
    help="Draft renders restyle/fill without a model (default); --final uses the diffusion models.",
)
@click.option(
    "--from",
    "from_manifest",
    type=click.Path(exists=True, dir_okay=False),
    help="Re-render a saved OUT.manifest.json without re-planning.",
)
@click.option("--aspect", help="16:9, 9:16, 1:1 or any W:H [default: the script's, else 16:9].")
@click.option("--size", help="Output WxH [default: 720p at the aspect].")
@click.option(
    "--fps", type=click.FloatRange(min=1, max=240), help="Output frame rate [default 24]."
)
@click.option(
    "--fit",
    type=click.Choice(["auto", "crop", "letterbox", "reframe"]),
    help="How a source meets the output aspect: centre crop, letterbox, or reframe (a crop "
    "window that follows the content) [default auto: reframe when a crop keeps < 60 %].",
)
@click.option(
    "--min-cut",
    type=float,
    help="Shortest sub-shot when several shots cover one planned shot, in seconds [default 1.0].",
)
@click.option(
    "--coverage",
    help="Order of the ways to cover a planned shot longer than its match, from "
    "single,continue,montage,retime [default: that order].",
)
@click.option(
    "--transition", type=click.Choice(["cut", "crossfade"]), default="cut", show_default=True
)
@click.option(
    "--music", type=click.Path(exists=True, dir_okay=False), help="Soundtrack (trimmed, faded)."
)
@click.option("--no-audio", is_flag=True, help="Silent output (no music, no source audio).")
@click.option("--burn-subtitles", is_flag=True, help="Burn captions into the picture.")
@click.option("--crf", type=click.IntRange(0, 51), default=20, show_default=True)
@click.option("--preset", help="x264 preset [default: ultrafast for drafts, veryfast for --final].")
@click.option("--by-sentence", is_flag=True, help="Plain text: one shot per sentence.")
@click.option("--fresh", is_flag=True, help="Prefer shots earlier renders did not use.")
@click.option(
    "--reuse-threshold", type=float, help="Cosine score at or above which a shot is reused."
)
@click.option("--fill-threshold", type=float, help="Cosine score below which a shot is generated.")
@click.option("--restyle-model", help="diffusers model id or folder for restyle (with --final).")
@click.option("--fill-model", help="diffusers model id or folder for fill (with --final).")
@click.option("--gen-size", help="Generation WxH [default: the model's native size].")
@click.option("--steps", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--max-gen-seconds", type=click.FloatRange(min=0), help="Generation budget; then drafts."
)
@json_option
def make(
    script,
    out,
    draft,
    from_manifest,
    aspect,
    size,
    fps,
    fit,
    min_cut,
    coverage,
    transition,
    music,
    no_audio,
    burn_subtitles,
    crf,
    preset,
    by_sentence,
    fresh,
    reuse_threshold,
    fill_threshold,
    restyle_model,
    fill_model,
    gen_size,
    steps,
    seed,
    max_gen_seconds,
) -> None:
    """Make a video from a script: reuse, restyle, or fill each planned shot."""
    if not script and not from_manifest:
        raise click.UsageError("give a SCRIPT or --from OUT.manifest.json")
    manifest = library().make(
        script,
        out,
        from_manifest=from_manifest,
        final=not draft,
        aspect=aspect,
        size=_size(size),
        fps=fps,
        fit=fit,
        min_cut=min_cut,
        coverage=coverage,
        transition=transition,
        music=music,
        audio=not no_audio,
        burn_subtitles=burn_subtitles,
        crf=crf,
        preset=preset,
        by_sentence=by_sentence,
        fresh=fresh,
        reuse_threshold=reuse_threshold,
        fill_threshold=fill_threshold,
        restyle_model=restyle_model,
        fill_model=fill_model,
        gen_size=_size(gen_size),
        steps=steps,
        seed=seed,
        max_gen_seconds=max_gen_seconds,
    )
    _print_make(manifest)
    sys.exit(1 if manifest["fallbacks"] else 0)


def _print_make(manifest: dict) -> None:
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


@main.command()
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    default="rag-video-demo.mp4",
    show_default=True,
)
@json_option
def demo(out) -> None:
    """Build a library from the bundled sample footage and make a short video from a sample
    script."""
    from rag_video.demo import run_demo

    manifest = run_demo(library(create=True), out)
    _print_make(manifest)
