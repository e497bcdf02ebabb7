"""The subtitles of a make (`write_srt`) as SubRip: the manifest's ``subtitles`` cues (a narrated
make's words, at their output times) when it has them, else the shots' captions at their output
times (shots without a caption skipped)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag_video.generate.manifest import Manifest, parse_manifest, write_exact
from rag_video.media.subtitles import format_srt


def _cues(m: Manifest) -> list[tuple[float, float, str]]:
    if m.subtitles is not None:
        return [(c.start_s, c.end_s, c.text) for c in sorted(m.subtitles, key=lambda c: c.start_s)]
    shots = sorted(m.shots, key=lambda s: s.out_start_s)
    return [(s.out_start_s, s.out_end_s, s.caption or "") for s in shots]


def srt_text(manifest: Mapping[str, Any] | Manifest) -> str:
    """SubRip cues numbered from 1: the manifest's ``subtitles`` (in start order, their lines
    kept) when it is not None, else one cue per captioned shot at its output times. Cues with no
    text are skipped."""
    return format_srt(_cues(parse_manifest(manifest)))


def has_captions(manifest: Mapping[str, Any] | Manifest) -> bool:
    """Whether `srt_text` has a cue: a subtitle cue with text, or (a manifest without
    ``subtitles``) a shot with a caption. make writes OUT.srt only then."""
    return any(text.strip() for _, _, text in _cues(parse_manifest(manifest)))


def write_srt(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write `srt_text(manifest)` to exactly `path` (an empty file when it has no cue)."""
    return write_exact(path, srt_text(manifest))
