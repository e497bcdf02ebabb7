"""`rag-video verify OUT.mp4`: the content credentials (C2PA) of a rendered output."""

from __future__ import annotations

import click

from rag_video.cli.app import emit_json, json_option, main, settings, want_json


@main.command()
@click.argument("video", type=click.Path(dir_okay=False))
@click.option(
    "--trust-anchors",
    type=click.Path(dir_okay=False),
    help="PEM file of CA certificates to trust [default: the c2pa_trust_anchors setting].",
)
@json_option
def verify(video: str, trust_anchors: str | None) -> None:
    """Check a video's content credentials: signature, signer, ingredients, generated ranges.

    Exit 1 when the video has none, or they do not validate."""
    from rag_video.provenance import verify as check

    if trust_anchors is None:
        configured = settings().c2pa_trust_anchors
        trust_anchors = str(configured) if configured else None
    result = check(video, trust_anchors=trust_anchors)
    if want_json():
        emit_json(result.to_dict())
    elif not result.embedded:
        click.echo(result.message, err=True)
    else:
        click.echo(f"content credentials: {result.message}")
        if result.signer:
            click.echo(f"signer: {result.signer} (issued by {result.issuer}, {result.alg})")
        if result.claim_generator:
            click.echo(f"made by: {result.claim_generator}")
        click.echo(f"ingredients: {len(result.ingredients)}")
        for item in result.ingredients:
            digest = f"sha256 {item.sha256[:16]}…" if item.sha256 else "no hash"
            click.echo(f"  {item.title}  {digest}  {item.path or ''}".rstrip())
        click.echo(f"generated ranges: {len(result.generated)}")
        for span in result.generated:
            click.echo(f"  {span.describe()}")
    if not result.ok:
        raise SystemExit(1)
