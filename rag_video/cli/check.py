"""`rag-video check OUT.mp4`: the quality checks of a rendered output."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rag_video.cli.app import emit_json, json_option, library, main, want_json
from rag_video.errors import UsageError


def _thresholds(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for value in values:
        name, eq, number = value.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            raise click.BadParameter(f"expected CHECK.FIELD=NUMBER, got {value!r}") from None
        if not eq or not name.strip():
            raise click.BadParameter(f"expected CHECK.FIELD=NUMBER, got {value!r}")
    return out or None


qc_threshold_option = click.option(
    "--qc-threshold",
    "qc_thresholds",
    multiple=True,
    callback=_thresholds,
    metavar="CHECK.FIELD=VALUE",
    help="Set a check's threshold, e.g. frozen.min_s=3 (repeatable; names and defaults in "
    "the README).",
)
"""`--qc-threshold`, of check and make: a `{"check.field": value}` dict, or None."""


@main.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True, help="Exit 1 when a check failed.")
@click.option(
    "--qc", "level", type=click.Choice(["fast", "full"]), default="fast", show_default=True
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False),
    help="Manifest JSON [default: OUT.manifest.json beside the video, if present].",
)
@qc_threshold_option
@json_option
def check(
    video: str,
    strict: bool,
    level: str,
    manifest: str | None,
    qc_thresholds: dict[str, float] | None,
) -> None:
    """Check a rendered video: black, frozen, flashes, seams, loudness, A/V, semantic."""
    from rag_video.generate.quality import check_qc_options
    from rag_video.qc import run_checks

    if not Path(video).is_file():
        raise UsageError(f"VIDEO: no such file {video!r}")
    mpath = Path(manifest) if manifest else Path(video).with_suffix(".manifest.json")
    doc = None
    if manifest or mpath.is_file():
        try:
            doc = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"--manifest: cannot read {str(mpath)!r}: {e}") from e
    check_qc_options(level, qc_thresholds)  # a bad threshold is one line, before any work
    encoder = library().load_encoder() if level == "full" else None
    report = run_checks(
        video,
        doc,
        level="full" if level == "full" else "fast",
        thresholds=qc_thresholds,
        encoder=encoder,
    )
    if want_json():
        emit_json(report.to_dict())
    else:
        for r in report.results:
            state = "skip" if r.skipped else ("ok" if r.passed else "FAIL")
            click.echo(f"{r.name:<12} {state:<5} {r.skipped or r.detail}")
    if strict and not report.passed:
        raise SystemExit(1)
