"""The OpenTimelineIO timeline of a make (`write_otio`).

A Timeline (name = title or script file stem, global start 0 at the output fps) with one video
track, a Clip per shot. ``reuse`` clips reference the ORIGINAL source file (available range = the
whole file at the source fps, source range = the shot's in point and its planned duration, in
source frames); ``restyle``/``fill`` clips reference the drafted or generated segment as their own
media (0..duration at the output fps). Every clip carries ``metadata["rag_video"]`` (decision,
score, reason, generator, model, source shot…) and one Marker spanning it (name = caption or text,
colour per decision). A shot without media becomes a Gap; a hole between shots' output times too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag_video.generate.manifest import Manifest, parse_manifest, title_of, write_exact
from rag_video.generate.shot import ShotJob, SourceClip
from rag_video.media.timecode import frames_of

log = logging.getLogger(__name__)

MARKER_COLORS: dict[str, str] = {"reuse": "GREEN", "restyle": "ORANGE", "fill": "PURPLE"}
"""OTIO marker colour per decision."""


def _file_url(path: str) -> str:
    """`file://` URI of an absolute form of `path` (percent-encoded)."""
    return Path(path).expanduser().absolute().as_uri()


def _clip_metadata(shot: ShotJob, clip: SourceClip | None = None) -> dict[str, Any]:
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


def _source_clip(clip: SourceClip, duration, otio):
    """A clip of the ORIGINAL source file: in point at the source fps, its output duration."""
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    available = tr(rt(0, clip.fps), rt(frames_of(clip.source_duration_s, clip.fps), clip.fps))
    ref = otio.schema.ExternalReference(target_url=_file_url(clip.path), available_range=available)
    ref.name = Path(clip.path).name
    return ref, tr(rt(frames_of(clip.in_s, clip.fps), clip.fps), duration.rescaled_to(clip.fps))


def _segment_clip(shot: ShotJob, duration, otio):
    """A clip of the drafted/generated segment file, from its start, for the planned duration."""
    assert shot.segment is not None
    tr = otio.opentime.TimeRange
    start = otio.opentime.RationalTime(0, duration.rate)
    ref = otio.schema.ExternalReference(
        target_url=_file_url(shot.segment), available_range=tr(start, duration)
    )
    ref.name = Path(shot.segment).name
    return ref, tr(start, duration)


def _marker(shot: ShotJob, source_range, otio):
    return otio.schema.Marker(
        name=(shot.caption or shot.text)[:200],
        marked_range=source_range,
        color=MARKER_COLORS[shot.decision],
        comment=shot.text,
        metadata={"rag_video": {"index": shot.index, "decision": shot.decision}},
    )


def _clip_spans(shot: ShotJob, fps: float) -> list[int]:
    """Output frames of each clip of a reuse shot (from their output times, else their
    durations)."""
    start, end = frames_of(shot.out_start_s, fps), frames_of(shot.out_end_s, fps)
    timed = [
        (c.out_start_s, c.out_end_s)
        for c in shot.source
        if c.out_start_s is not None and c.out_end_s is not None
    ]
    if len(timed) == len(shot.source):
        return [frames_of(b, fps) - frames_of(a, fps) for a, b in timed]
    total, bounds = 0.0, []
    for c in shot.source:
        total += c.length_s
        bounds.append(start + frames_of(total, fps))
    bounds[-1] = end
    return [b - a for a, b in zip([start, *bounds[:-1]], bounds, strict=False)]


def _shot_items(shot: ShotJob, fps: float, otio) -> list:
    """The track items of one shot: a Clip per source clip, a Clip of its segment, or a Gap."""
    duration = otio.opentime.RationalTime(
        frames_of(shot.out_end_s, fps) - frames_of(shot.out_start_s, fps), fps
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
        start = frames_of(shot.out_start_s, fps)
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
        cursor = max(cursor, frames_of(shot.out_end_s, fps))
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
