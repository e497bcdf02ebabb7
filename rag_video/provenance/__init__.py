"""Content credentials (C2PA) for make's outputs: the manifest definition built from a make's
manifest (`credentials`), the configured signing identity (`keys`), signing the video in place
or writing the unsigned sidecar (`sign`), and reading them back (`readback`).

c2pa and cryptography are imported only when used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from rag_video.provenance.readback import Verification


def content_credentials(
    manifest: dict[str, Any], video: Path, key: Path | None, cert: Path | None
) -> dict[str, Any]:
    """Sign `video` (make's rendered file, before its rename) or plan the sidecar; returns the
    manifest's `provenance` record (see provenance.sign)."""
    from rag_video.provenance.sign import content_credentials as sign

    return sign(manifest, video, key, cert)


def verify(path: str | Path, *, trust_anchors: str | Path | None = None) -> Verification:
    """The content credentials of `path`, validated (see provenance.readback)."""
    from rag_video.provenance.readback import verify as check

    return check(path, trust_anchors=trust_anchors)


__all__ = ["content_credentials", "verify"]
