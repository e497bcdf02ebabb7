"""The OpenTimelineIO timeline of a make (`write_otio`).

A Timeline (name = title or script file stem, global start 0 at the output fps) with one video
track, a Clip per shot. ``reuse`` clips reference the ORIGINAL source file (available range = the
whole file at the source fps, source range = the shot's in point and its planned duration, in
source frames); ``restyle``/``fill`` clips reference the drafted or generated segment as their own
media (0..duration at the output fps). Every clip carries ``metadata["rag_video"]`` (decision,
score, reason, generator, model, source shot…) and one Marker spanning it (name = caption or text,
colour per decision). A shot without media becomes a Gap; a hole between shots' output times too.

A manifest with ``sound`` adds one audio track per stem that has clips, after the video track, in
:data:`~rag_video.generate.manifest.STEMS` order ("A1 narration", "A2 music", "A3 sources";
numbered among the tracks written): a Clip per audio clip referencing its file (source range =
its in..out points), placed at its output start with Gaps before and between clips, at
:data:`AUDIO_RATE`. The stem's ``--stems`` WAV and loudness are in the track's metadata.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag_video.generate.manifest import (
    STEMS,
    AudioClip,
    Manifest,
    Sound,
    Stem,
    parse_manifest,
    title_of,
    write_exact,
)
from rag_video.generate.shot import ShotJob, SourceClip
from rag_video.media.timecode import frames_of

log = logging.getLogger(__name__)

MARKER_COLORS: dict[str, str] = {"reuse": "GREEN", "restyle": "ORANGE", "fill": "PURPLE"}
"""OTIO marker colour per decision."""
AUDIO_RATE = 48_000
"""The rate of audio tracks' times. Sample-accurate: the mix places every clip to the sample,
and times at the output fps would move a clip up to half a frame from where it is heard (an
editor relinking the WAVs would hear the drift against the rendered mix); 48 kHz in/out points
and placements round-trip to 1/48000 s, far within a frame at any fps. Positions are counted
in whole samples from the clips' output times, so gaps never accumulate rounding."""


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


def _samples(seconds: float) -> int:
    return frames_of(seconds, AUDIO_RATE)


def _audio_clip(clip: AudioClip, stem: str, available_s: float, otio: Any) -> Any:
    """A clip of an audio file (speech WAV, music, a source's sound) from its in to its out
    point; the reference's available range runs from 0 to at least the file's last out point."""
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    ref = otio.schema.ExternalReference(
        target_url=_file_url(clip.path),
        available_range=tr(rt(0, AUDIO_RATE), rt(_samples(available_s), AUDIO_RATE)),
    )
    ref.name = Path(clip.path).name
    start = _samples(clip.in_s)
    label = (clip.text or "").strip() or Path(clip.path).name
    prefix = f"{clip.shot:03d} " if clip.shot is not None else ""
    return otio.schema.Clip(
        name=f"{prefix}{stem}: {label[:60]}",
        media_reference=ref,
        source_range=tr(
            rt(start, AUDIO_RATE), rt(max(0, _samples(clip.out_s) - start), AUDIO_RATE)
        ),
        metadata={
            "rag_video": {
                "stem": stem,
                "shot": clip.shot,
                "text": clip.text,
                **clip.model_dump(include={"path", "in_s", "out_s", "start_s", "end_s"}),
            }
        },
    )


def _audio_track(stem: Stem, number: int, available: Mapping[str, float], otio: Any) -> Any:
    """The track of one stem: its clips at their output starts, Gaps before and between."""
    track = otio.schema.Track(
        name=f"A{number} {stem.name}",
        kind=otio.schema.TrackKind.Audio,
        metadata={
            "rag_video": stem.model_dump(
                include={"name", "path", "integrated_lufs", "true_peak_dbtp"}
            )
        },
    )
    cursor = 0
    for clip in sorted(stem.clips, key=lambda c: (c.start_s, c.in_s)):
        start = _samples(clip.start_s)
        if start > cursor:
            track.append(_gap(start - cursor, AUDIO_RATE, otio))
        elif start < cursor:
            log.warning(
                "%s clip %s at %.3f s overlaps the clip before by %.3f s; it follows it instead",
                stem.name,
                Path(clip.path).name,
                clip.start_s,
                (cursor - start) / AUDIO_RATE,
            )
        item = _audio_clip(clip, stem.name, available[clip.path], otio)
        track.append(item)
        cursor = max(cursor, start) + item.source_range.duration.to_frames()
    return track


def _gap(frames: int, rate: float, otio: Any) -> Any:
    """A Gap of `frames` at `rate` (a hole in a track)."""
    rt = otio.opentime.RationalTime
    return otio.schema.Gap(source_range=otio.opentime.TimeRange(rt(0, rate), rt(frames, rate)))


def _audio_tracks(sound: Sound, otio: Any) -> list[Any]:
    """One audio track per stem with clips, in STEMS order (other names after, as given)."""
    available: dict[str, float] = {}
    for stem in sound.stems:
        for clip in stem.clips:
            available[clip.path] = max(available.get(clip.path, 0.0), clip.out_s)
    order = {name: k for k, name in enumerate(STEMS)}
    stems = sorted((s for s in sound.stems if s.clips), key=lambda s: order.get(s.name, len(STEMS)))
    return [_audio_track(stem, k + 1, available, otio) for k, stem in enumerate(stems)]


def build_timeline(manifest: Mapping[str, Any] | Manifest):
    """The `opentimelineio.schema.Timeline` of a manifest: one video track, a clip per shot, and
    (a manifest with ``sound``) an audio track per stem with clips."""
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
            track.append(_gap(start - cursor, fps, otio))
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
    tracks = [track]
    if m.sound is not None:
        meta["rag_video"]["sound"] = m.sound.model_dump(exclude={"stems"})
        tracks += _audio_tracks(m.sound, otio)
    return otio.schema.Timeline(
        name=title_of(m),
        tracks=tracks,
        global_start_time=otio.opentime.RationalTime(0, fps),
        metadata=meta,
    )


def write_otio(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write the OpenTimelineIO timeline (``otio_json``) of `manifest` to exactly `path`."""
    import opentimelineio as otio

    return write_exact(path, otio.adapters.write_to_string(build_timeline(manifest), "otio_json"))
