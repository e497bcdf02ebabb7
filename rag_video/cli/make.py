"""Commands that make videos: make (from a script or a saved manifest) and demo.

`make`'s flags become one MakeOptions (built and validated by Library.make_options: a bad value is
one line naming the option, exit 2) handed to Library.make."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from rag_video.cli import render
from rag_video.cli.app import json_option, library, main
from rag_video.cli.check import qc_threshold_option
from rag_video.cli.defaults import command_default, option, setting, shown


def _size(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[int, int] | None:
    if value is None:
        return None
    w, _, h = value.lower().partition("x")
    if not (w.isdigit() and h.isdigit()):
        raise click.BadParameter(f"expected WxH such as 1280x720, got {value!r}")
    return int(w), int(h)


def _made(name: str) -> Callable[[], Any]:
    return command_default("make", name)


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
@option(
    "--size",
    callback=_size,
    shown_default=lambda: f"{shown(_made('height')())}p at the aspect",
    help="Output WxH.",
)
@option(
    "--fps",
    type=click.FloatRange(min=1, max=240),
    shown_default=lambda: f"the script's, else {shown(_made('fps')())}",
    help="Output frame rate.",
)
@option(
    "--fit",
    type=click.Choice(["auto", "crop", "letterbox", "reframe"]),
    shown_default=_made("fit"),
    help="How a source meets the output aspect: centre crop, letterbox, or reframe (a crop "
    "window that follows the content); auto: reframe when a crop keeps < 60 %.",
)
@option(
    "--min-cut",
    type=float,
    shown_default=_made("min_cut"),
    help="Shortest sub-shot when several shots cover one planned shot, in seconds.",
)
@option(
    "--coverage",
    shown_default=_made("coverage"),
    help="Order of the ways to cover a planned shot longer than its match, from "
    "single,continue,montage,retime.",
)
@option("--transition", type=click.Choice(["cut", "crossfade"]), shown_default=_made("transition"))
@click.option(
    "--music", type=click.Path(exists=True, dir_okay=False), help="Soundtrack (trimmed, faded)."
)
@click.option(
    "--no-audio",
    is_flag=True,
    help="No music and no source audio (a silent audio stream; not with narration).",
)
@click.option(
    "--narrate/--no-narrate",
    default=None,
    help="Speak every shot (a storyboard shot's narration, else its text) / speak none "
    "[default: a storyboard's narration: fields].",
)
@option(
    "--voice",
    shown_default=lambda: f"the script's voice:, else {setting('voice')()}",
    help="Narration voice ENGINE:VOICE (see `rag-video voices`); giving one narrates.",
)
@option("--speech-rate", type=float, shown_default=_made("speech_rate"), help="Speaking pace.")
@option(
    "--breath",
    type=float,
    shown_default=_made("breath"),
    help="Seconds of quiet after a shot's narration before its cut.",
)
@click.option("--beat-sync", is_flag=True, help="Move cuts to the music's beats.")
@option(
    "--beat-tolerance",
    type=float,
    shown_default=_made("beat_tolerance"),
    help="Share of a shot a cut may move to reach a beat.",
)
@option(
    "--duck",
    type=float,
    shown_default=_made("duck"),
    help="dB the music (and ducked source audio) drops under the narration.",
)
@option(
    "--source-audio",
    type=click.Choice(["keep", "duck", "mute"]),
    shown_default=_made("source_audio"),
    help="The footage's own sound under narration.",
)
@option(
    "--loudness",
    type=float,
    shown_default=_made("loudness"),
    help="Integrated loudness of the mix, LUFS (-23 for broadcast).",
)
@option(
    "--true-peak", type=float, shown_default=_made("true_peak"), help="True-peak ceiling, dBTP."
)
@click.option(
    "--stems",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Also write the narration, music, source-audio stems and the mix as WAV here.",
)
@click.option(
    "--label-generated",
    is_flag=True,
    help="Mark restyled and filled segments on screen (recorded in the manifest).",
)
@option("--label-text", shown_default=_made("label_text"), help="The mark's text.")
@option(
    "--label-position",
    type=click.Choice(["top-left", "top-right", "bottom-left", "bottom-right"]),
    shown_default=_made("label_position"),
)
@click.option(
    "--burn-subtitles",
    is_flag=True,
    help="Burn the subtitles into the picture (the narration's cues, else the captions).",
)
@option("--crf", type=click.IntRange(0, 51), shown_default=_made("crf"))
@click.option("--preset", help="x264 preset [default: ultrafast for drafts, veryfast for --final].")
@click.option("--by-sentence", is_flag=True, help="Plain text: one shot per sentence.")
@click.option("--fresh", is_flag=True, help="Prefer shots earlier renders did not use.")
@click.option(
    "--commercial",
    is_flag=True,
    help="A commercial production: refuse footage whose licence is non-commercial (NC).",
)
@click.option(
    "--licenses",
    metavar="IDS",
    help="Use only footage under these SPDX licences, e.g. CC0-1.0,CC-BY-4.0 (unknown "
    "licences are then refused too).",
)
@option(
    "--reuse-threshold",
    type=float,
    shown_default=setting("reuse_threshold"),
    help="Cosine score at or above which a shot is reused.",
)
@option(
    "--fill-threshold",
    type=float,
    shown_default=setting("fill_threshold"),
    help="Cosine score below which a shot is generated.",
)
@click.option("--restyle-model", help="diffusers model id or folder for restyle (with --final).")
@click.option("--fill-model", help="diffusers model id or folder for fill (with --final).")
@click.option(
    "--gen-size", callback=_size, help="Generation WxH [default: the model's native size]."
)
@option("--steps", type=click.IntRange(min=1), shown_default=_made("steps"))
@option("--seed", type=int, shown_default=_made("seed"))
@click.option(
    "--max-gen-seconds", type=click.FloatRange(min=0), help="Generation budget; then drafts."
)
@click.option(
    "--keep-segments",
    is_flag=True,
    help="Also write drafted shots to segment files in the library (by default they stream "
    "into the output and the manifest's segment is null).",
)
@option(
    "--qc",
    type=click.Choice(["off", "fast", "full"]),
    shown_default=_made("qc"),
    help="Quality checks of the output, recorded in the manifest's qc: fast (picture and "
    "sound), full (also CLIP similarity of each shot to its text; loads the image tower), off.",
)
@qc_threshold_option
@click.option(
    "--strict", is_flag=True, help="Exit 1 when a quality check failed (the outputs are written)."
)
@json_option
def make(
    script: str | None,
    out: str,
    draft: bool,
    from_manifest: str | None,
    no_audio: bool,
    strict: bool,
    **fields: Any,
) -> None:
    """Make a video from a script: reuse, restyle, or fill each planned shot."""
    if not script and not from_manifest:
        raise click.UsageError("give a SCRIPT or --from OUT.manifest.json")
    lib = library()
    ctx = click.get_current_context()
    if from_manifest:  # what was not given on the command line takes the saved run's options
        fields = {
            k: v
            for k, v in fields.items()
            if ctx.get_parameter_source(k) != ParameterSource.DEFAULT
        }
    replay_audio = from_manifest and ctx.get_parameter_source("no_audio") == ParameterSource.DEFAULT
    audio = None if replay_audio else not no_audio
    manifest = lib.make(
        script, out, from_manifest=from_manifest, final=not draft, audio=audio, **fields
    )
    render.make_manifest(manifest)
    qc_failed = manifest.get("qc") is not None and not manifest["qc"]["passed"]
    sys.exit(1 if manifest["fallbacks"] or (strict and qc_failed) else 0)


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
def demo(out: str) -> None:
    """Build a library from the bundled sample footage and make a short video from a sample
    script."""
    render.make_manifest(library(create=True).demo(out))
