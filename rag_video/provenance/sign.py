"""Content credentials for a finished make: sign the rendered video with the configured key, or,
without one, leave an unsigned manifest definition beside it (OUT.c2pa.json) and say so once.

Signing writes the signed copy under a temporary name beside the video and renames it over the
video only once c2pa has finished: the unsigned file is never lost. When signing fails anyway
the unsigned video stays, the sidecar is written, and a warning says why.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from rag_video.provenance.credentials import definition, is_generated
from rag_video.provenance.keys import Credentials, load_credentials

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".c2pa.json"
NOT_SIGNED = (
    "content credentials not signed: set c2pa_key and c2pa_cert (rag-video.toml, or "
    "RAG_VIDEO_C2PA_KEY / RAG_VIDEO_C2PA_CERT) to sign; the unsigned manifest is in %s"
)


def sidecar_path(out: Path) -> Path:
    """OUT.c2pa.json beside OUT.mp4."""
    return Path(f"{Path(out).with_suffix('')}{SIDECAR_SUFFIX}")


def c2pa_context(verify_trust: bool, anchors: str | None = None) -> Any:
    """A c2pa Context: no thumbnails, no network, trust checked against `anchors` (PEM)."""
    import c2pa

    settings: dict[str, Any] = {
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {
            "verify_trust": verify_trust,
            "ocsp_fetch": False,
            "remote_manifest_fetch": False,
        },
    }
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    return c2pa.Context(settings=c2pa.Settings.from_dict(settings))


def sign_file(video: Path, manifest_definition: dict[str, Any], creds: Credentials) -> None:
    """Embed a signed C2PA manifest into the MP4 `video`, replacing it atomically."""
    import c2pa

    video = Path(video)
    signed = video.with_name(f"{video.stem}.signed{video.suffix}")  # same temp naming as make's
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(creds.alg.encode(), creds.chain_pem, creds.key_pem, None)
    )
    try:
        with (
            signer,
            c2pa.Builder(manifest_definition, c2pa_context(verify_trust=False)) as builder,
            open(video, "rb") as src,
            open(signed, "w+b") as dst,
        ):
            builder.sign(signer, "video/mp4", src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(signed, video)
    finally:
        signed.unlink(missing_ok=True)


def write_sidecar(manifest: dict[str, Any], path: Path) -> None:
    """The unsigned manifest definition as JSON (make writes it under a temporary name)."""
    doc = {"signed": False, "manifest": definition(manifest)}
    Path(path).write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")


def content_credentials(
    manifest: dict[str, Any], video: Path, key: Path | None, cert: Path | None
) -> dict[str, Any]:
    """Sign the make's rendered video (`video`, before it is renamed into place) when a key is
    configured; returns the manifest's `provenance` record. `sidecar` names OUT.c2pa.json when
    make must write it (write_outputs does, with the other side outputs)."""
    out = Path(manifest["output"])
    generated = sum(1 for s in manifest["shots"] if is_generated(s))
    creds = load_credentials(key, cert)
    if creds is None:
        log.warning(NOT_SIGNED, sidecar_path(out).name)
        return {"signed": False, "sidecar": str(sidecar_path(out)), "generated": generated}
    import c2pa

    try:
        sign_file(video, definition(manifest), creds)
    except (c2pa.C2paError, OSError) as exc:
        reason = " ".join(str(exc).split())
        log.warning(
            "content credentials not signed (%s); the unsigned manifest is in %s",
            reason,
            sidecar_path(out).name,
        )
        return {
            "signed": False,
            "sidecar": str(sidecar_path(out)),
            "generated": generated,
            "error": reason,
        }
    return {
        "signed": True,
        "sidecar": None,
        "generated": generated,
        "signer": creds.signer,
        "issuer": creds.issuer,
        "alg": creds.alg,
    }


__all__ = ["content_credentials", "sidecar_path", "sign_file", "write_sidecar", "SIDECAR_SUFFIX"]
