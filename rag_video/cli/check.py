"""`rag-video check OUT.mp4`: the quality checks of a rendered output."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rag_video.cli.app import emit_json, json_option, library, main, want_json
from rag_video.errors import UsageError


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
@json_option
def check(video: str, strict: bool, level: str, manifest: str | None) -> None:
    """Check a rendered video: black, frozen, flashes, seams, loudness, A/V, semantic."""
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
    encoder = library().load_encoder() if level == "full" else None
    report = run_checks(video, doc, level="full" if level == "full" else "fast", encoder=encoder)
    if want_json():
        emit_json(report.to_dict())
    else:
        for r in report.results:
            state = "skip" if r.skipped else ("ok" if r.passed else "FAIL")
            click.echo(f"{r.name:<12} {state:<5} {r.skipped or r.detail}")
    if strict and not report.passed:
        raise SystemExit(1)
