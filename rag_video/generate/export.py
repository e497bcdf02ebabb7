"""The files `make` writes beside OUT.mp4: manifest, OpenTimelineIO timeline, storyboard,
credits, SRT.

Every writer takes the manifest dict (keys in DESIGN.md, "Manifest"; the exact contract is the
`Manifest` model of `generate.manifest`) and writes exactly the `path` it is given, in UTF-8,
non-atomically: the caller passes temporary names and renames them all at the end, so a failed
`make` leaves no partial outputs. The writers never infer anything from `path` (an OTIO file may
be written to ``.OUT.otio.1234.tmp``). The `*_text` / `build_timeline` functions return the
content without writing.

- `write_manifest`: the manifest as given, JSON with indent 2 (extra keys kept).
- `write_otio`: a Timeline (name = title or script file stem, global start 0 at the output fps)
  with one video track, a Clip per shot. ``reuse`` clips reference the ORIGINAL source file
  (available range = the whole file at the source fps, source range = the shot's in point and
  its planned duration, in source frames); ``restyle``/``fill`` clips reference the drafted or
  generated segment as their own media (0..duration at the output fps). Every clip carries
  ``metadata["rag_video"]`` (decision, score, reason, generator, model, source shot…) and one
  Marker spanning it (name = caption or text, colour per decision). A shot without media becomes
  a Gap; a hole between shots' output times too.
- the storyboard (`write_html`) is in `generate.storyboard`.
- `write_credits`: plain text; each source used with title, creator and license ("unknown" when
  missing), then a line per drafted or generated segment.
- `write_srt`: the shots' captions at their output times; shots without a caption are skipped.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag_video.generate.manifest import (
    Credit,
    Manifest,
    ManifestShot,
    Source,
    parse_manifest,
    title_of,
    write_exact,
)
from rag_video.media.subtitles import format_srt

log = logging.getLogger(__name__)

MARKER_COLORS: dict[str, str] = {"reuse": "GREEN", "restyle": "ORANGE", "fill": "PURPLE"}
"""OTIO marker colour per decision."""

# ---------------------------------------------------------------- OpenTimelineIO


def _file_url(path: str) -> str:
    """`file://` URI of an absolute form of `path` (percent-encoded)."""
    return Path(path).expanduser().absolute().as_uri()


def _frames(seconds: float, fps: float) -> int:
    """Nearest whole frame of a time (halves round up, not to even)."""
    return math.floor(seconds * fps + 0.5)


def _clip_metadata(shot: ManifestShot, clip: Source | None = None) -> dict[str, Any]:
    """The `rag_video` metadata of a clip: what the shot shows and how it was rendered."""
    meta: dict[str, Any] = {
        "index": shot.index,
        "text": shot.text,
        "caption": shot.caption,
        "decision": shot.decision,
        "score": shot.score,
        "reason": shot.reason.model_dump(),
        "generator": shot.generator,
        "model": shot.model,
        "steps": shot.steps,
        "strength": shot.strength,
        "seed": shot.seed,
        "seconds": shot.seconds,
        "fallback": shot.fallback,
        "segment": shot.segment,
        "coverage": shot.reason.coverage,
        "clips": len(shot.source),
        "source_shot_id": clip.shot_id
        if clip
        else (shot.source[0].shot_id if shot.source else None),
    }
    if clip is not None:
        meta.update(
            source_path=clip.path,
            source_in_s=clip.in_s,
            source_out_s=clip.out_s,
            speed=clip.speed,
            crop=clip.crop,
            shot_ids=clip.shot_ids or [clip.shot_id],
        )
    if shot.reference is not None:
        meta["reference"] = shot.reference
    return {"rag_video": meta}


def _source_clip(clip: Source, duration, otio):
    """A clip of the ORIGINAL source file: in point at the source fps, its output duration."""
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    available = tr(rt(0, clip.fps), rt(_frames(clip.source_duration_s, clip.fps), clip.fps))
    ref = otio.schema.ExternalReference(target_url=_file_url(clip.path), available_range=available)
    ref.name = Path(clip.path).name
    return ref, tr(rt(_frames(clip.in_s, clip.fps), clip.fps), duration.rescaled_to(clip.fps))


def _segment_clip(shot: ManifestShot, duration, otio):
    """A clip of the drafted/generated segment file, from its start, for the planned duration."""
    assert shot.segment is not None
    tr = otio.opentime.TimeRange
    start = otio.opentime.RationalTime(0, duration.rate)
    ref = otio.schema.ExternalReference(
        target_url=_file_url(shot.segment), available_range=tr(start, duration)
    )
    ref.name = Path(shot.segment).name
    return ref, tr(start, duration)


def _marker(shot: ManifestShot, source_range, otio):
    return otio.schema.Marker(
        name=(shot.caption or shot.text)[:200],
        marked_range=source_range,
        color=MARKER_COLORS[shot.decision],
        comment=shot.text,
        metadata={"rag_video": {"index": shot.index, "decision": shot.decision}},
    )


def _clip_spans(shot: ManifestShot, fps: float) -> list[int]:
    """Output frames of each clip of a reuse shot (from their output times, else their
    durations)."""
    start, end = _frames(shot.out_start_s, fps), _frames(shot.out_end_s, fps)
    timed = [
        (c.out_start_s, c.out_end_s)
        for c in shot.source
        if c.out_start_s is not None and c.out_end_s is not None
    ]
    if len(timed) == len(shot.source):
        return [_frames(b, fps) - _frames(a, fps) for a, b in timed]
    total, bounds = 0.0, []
    for c in shot.source:
        total += c.duration_s if c.duration_s is not None else (c.out_s - c.in_s) / c.speed
        bounds.append(start + _frames(total, fps))
    bounds[-1] = end
    return [b - a for a, b in zip([start, *bounds[:-1]], bounds, strict=False)]


def _shot_items(shot: ManifestShot, fps: float, otio) -> list:
    """The track items of one shot: a Clip per source clip, a Clip of its segment, or a Gap."""
    duration = otio.opentime.RationalTime(
        _frames(shot.out_end_s, fps) - _frames(shot.out_start_s, fps), fps
    )
    if shot.decision == "reuse" and shot.source:
        items = []
        for k, (clip, frames) in enumerate(zip(shot.source, _clip_spans(shot, fps), strict=False)):
            ref, source_range = _source_clip(clip, otio.opentime.RationalTime(frames, fps), otio)
            item = otio.schema.Clip(
                name=f"{shot.index:03d}.{k + 1} {shot.decision}: {shot.text[:60]}",
                media_reference=ref,
                source_range=source_range,
                metadata=_clip_metadata(shot, clip),
            )
            if clip.speed != 1.0:
                item.effects.append(
                    otio.schema.LinearTimeWarp(name="retime", time_scalar=clip.speed)
                )
            if k == 0:
                item.markers.append(_marker(shot, source_range, otio))
            items.append(item)
        return items
    if shot.segment is None:
        log.warning(
            "shot %d (%s) has no media (no source for reuse, no segment); a gap stands in",
            shot.index,
            shot.decision,
        )
        return [
            otio.schema.Gap(
                source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), duration),
                metadata=_clip_metadata(shot),
            )
        ]
    ref, source_range = _segment_clip(shot, duration, otio)
    clip = otio.schema.Clip(
        name=f"{shot.index:03d} {shot.decision}: {shot.text[:60]}",
        media_reference=ref,
        source_range=source_range,
        metadata=_clip_metadata(shot),
    )
    clip.markers.append(_marker(shot, source_range, otio))
    return [clip]


def build_timeline(manifest: Mapping[str, Any] | Manifest):
    """The `opentimelineio.schema.Timeline` of a manifest (one video track, a clip per shot)."""
    import opentimelineio as otio

    m = parse_manifest(manifest)
    fps = m.fps
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    cursor = 0
    for shot in sorted(m.shots, key=lambda s: (s.out_start_s, s.index)):
        start = _frames(shot.out_start_s, fps)
        if start > cursor:
            log.warning(
                "shot %d starts at %.3f s after a hole of %d frames; a gap fills it",
                shot.index,
                shot.out_start_s,
                start - cursor,
            )
            track.append(
                otio.schema.Gap(
                    source_range=otio.opentime.TimeRange(
                        otio.opentime.RationalTime(0, fps),
                        otio.opentime.RationalTime(start - cursor, fps),
                    )
                )
            )
        elif start < cursor:
            log.warning(
                "shot %d starts at %.3f s, overlapping the previous shot by %d frames",
                shot.index,
                shot.out_start_s,
                cursor - start,
            )
        track.extend(_shot_items(shot, fps, otio))
        cursor = max(cursor, _frames(shot.out_end_s, fps))
    meta = {
        "rag_video": {
            k: getattr(m, k)
            for k in ("run_id", "script", "library", "created_at", "aspect", "output", "duration_s")
        }
    }
    meta["rag_video"]["size"] = list(m.size)
    meta["rag_video"]["fps"] = fps
    return otio.schema.Timeline(
        name=title_of(m),
        tracks=[track],
        global_start_time=otio.opentime.RationalTime(0, fps),
        metadata=meta,
    )


def write_otio(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write the OpenTimelineIO timeline (``otio_json``) of `manifest` to exactly `path`."""
    import opentimelineio as otio

    return write_exact(path, otio.adapters.write_to_string(build_timeline(manifest), "otio_json"))


# ---------------------------------------------------------------- credits


def _used_in(m: Manifest, path: str) -> str:
    """Which output shots use a source file, e.g. "shot 1 (reuse 1.00–3.00 s), shot 2 (restyle)"."""
    uses = []
    for s in m.shots:
        for c in s.source:
            if _same_file(c.path, path):
                uses.append(f"shot {s.index} ({s.decision} {c.in_s:.2f}–{c.out_s:.2f} s)")
        ref = s.reference
        if s.decision == "fill" and ref and _same_file(ref["path"], path):
            uses.append(
                f"shot {s.index} (fill from {ref.get('role', 'a frame')} at {ref['time_s']:.2f} s)"
            )
    return ", ".join(uses)


def _same_file(a: str, b: str) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


def _source_credits(m: Manifest) -> list[Credit]:
    """The manifest's credits, deduplicated by file, plus any used source missing from them."""
    out: list[Credit] = []
    for c in m.credits:
        if not any(_same_file(c.path, o.path) for o in out):
            out.append(c)
    for s in m.shots:
        paths = [c.path for c in s.source] + (
            [s.reference["path"]] if s.reference and s.decision == "fill" else []
        )
        for path in paths:
            if not any(_same_file(path, o.path) for o in out):
                out.append(Credit(path=path))
    return out


def _segment_line(shot: ManifestShot) -> str:
    """How a restyle/fill segment was made: generated by a model, or drafted without one."""
    how = (
        f"generated by {shot.model}" + (f" ({shot.generator})" if shot.generator else "")
        if shot.model
        else f"drafted without a model ({shot.generator or 'draft'} renderer)"
    )
    derived = "".join(f", from {Path(c.path).name} ({c.shot_id})" for c in shot.source)
    if not shot.source and shot.reference:
        ref = shot.reference
        derived = f", from {Path(ref['path']).name} ({ref.get('shot_id')}, {ref.get('role')})"
    extra = f"; fallback: {shot.fallback}" if shot.fallback else ""
    seg = f" -> {Path(shot.segment).name}" if shot.segment else ""
    return f"shot {shot.index} ({shot.decision}): {how}{derived}{extra}{seg}"


def credits_text(manifest: Mapping[str, Any] | Manifest) -> str:
    """The credits: each source used (name, title, creator, license), then each generated
    segment."""
    m = parse_manifest(manifest)
    lines = [f"Credits: {title_of(m)}"]
    made = " ".join(
        x
        for x in (
            "Made with rag-video",
            f"from library {m.library}" if m.library else "",
            f"on {m.created_at}" if m.created_at else "",
        )
        if x
    )
    lines += [made + (f" (run {m.run_id})." if m.run_id else "."), "", "Sources"]
    sources = _source_credits(m)
    if not sources:
        lines.append("  (none: every shot was generated)")
    for c in sources:
        lines.append(f"- {Path(c.path).name}")
        lines.append(f"    title: {c.title or 'untitled'}")
        lines.append(f"    creator: {c.creator or 'unknown'}")
        lines.append(f"    license: {c.license or 'unknown'}")
        used = _used_in(m, c.path)
        if used:
            lines.append(f"    used in: {used}")
    segments = [s for s in sorted(m.shots, key=lambda s: s.index) if s.decision != "reuse"]
    if segments:
        lines += ["", "Generated segments"] + [f"- {_segment_line(s)}" for s in segments]
    return "\n".join(lines) + "\n"


def write_credits(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write `credits_text(manifest)` to exactly `path`."""
    return write_exact(path, credits_text(manifest))


# ---------------------------------------------------------------- SRT


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
