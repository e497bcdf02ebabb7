"""The subtitles of a make (`write_srt`): the shots' captions at their output times as SubRip;
shots without a caption are skipped."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag_video.generate.manifest import Manifest, parse_manifest, write_exact
from rag_video.media.subtitles import format_srt


def srt_text(manifest: Mapping[str, Any] | Manifest) -> str:
    """SubRip cues of the shots' captions at their output times, numbered from 1; no caption,
    no cue."""
    m = parse_manifest(manifest)
    shots = sorted(m.shots, key=lambda s: s.out_start_s)
    return format_srt([(s.out_start_s, s.out_end_s, s.caption or "") for s in shots])


def has_captions(manifest: Mapping[str, Any] | Manifest) -> bool:
    """Whether any shot has a caption (make writes OUT.srt only then)."""
    return any((s.caption or "").strip() for s in parse_manifest(manifest).shots)


def write_srt(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write `srt_text(manifest)` to exactly `path` (an empty file when no shot has a caption)."""
    return write_exact(path, srt_text(manifest))
