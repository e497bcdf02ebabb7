"""Rendering one planned shot: reuse → a trimmed source range; restyle and fill → frames from a
generator. A model's frames are written as a labelled segment under the library's `generated/`
and cached there by everything that determines them (so re-running a make regenerates nothing
unchanged). A draft's frames stream straight into the output encoder (a `DraftStream`, made when
assembly reaches the shot; no segment file) unless `keep_segments` asks for the file.

A failed generation in a final render falls back to the draft renderer for that shot, and the
shot says so (`fallback`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from rag_video.generate.assemble import Segment
from rag_video.generate.base import (
    FillContext,
    GenerationError,
    Generator,
    GenResult,
    ModelUnavailable,
)
from rag_video.generate.rights import keeps_pixels
from rag_video.generate.shot import ShotJob, SourceClip
from rag_video.media.clip import clip_duration_frames, iter_clip
from rag_video.media.encode import VideoWriter, frame_rate
from rag_video.media.timecode import frames_of
from rag_video.store import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class RenderSettings:
    fps: float
    size: tuple[int, int]
    fit: str
    steps: int
    seed: int
    generated_dir: Path
    gen_size: tuple[int, int] | None = None
    keep_segments: bool = False  # write draft shots to segment files too (else they stream)


def _frame_at(ref: dict | None, size, fit) -> np.ndarray | None:
    if not ref:
        return None
    clip = ref.get("crop")
    return next(
        iter_clip(
            ref["path"],
            ref["time_s"],
            1,
            fps=25,
            size=size,
            fit=fit,
            crop=clip,
            crop_origin_s=ref.get("in_s", ref["time_s"]),
        )
    )


def _boundary(clip: SourceClip, time_s: float, role: str) -> dict[str, Any]:
    """A frame of a neighbouring shot's clip, as a reference {shot_id, path, in_s, crop, time_s,
    role}."""
    return {
        "shot_id": clip.shot_id,
        "path": clip.path,
        "in_s": clip.in_s,
        "crop": clip.crop,
        "time_s": time_s,
        "role": role,
    }


def _boundaries(
    jobs: list[ShotJob], i: int, s: RenderSettings
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The previous shot's last shown frame and the next shot's first, when they show footage
    whose licence permits derivatives (a fill is conditioned on them)."""
    prev = jobs[i - 1].source[-1] if i > 0 and jobs[i - 1].source else None
    nxt = jobs[i + 1].source[0] if i + 1 < len(jobs) and jobs[i + 1].source else None
    prev = None if prev is None or keeps_pixels(prev.license) else prev
    nxt = None if nxt is None or keeps_pixels(nxt.license) else nxt
    first = (
        _boundary(prev, max(prev.in_s, prev.out_s - 1.0 / s.fps), "previous shot's last frame")
        if prev
        else None
    )
    last = _boundary(nxt, nxt.in_s, "next shot's first frame") if nxt else None
    return first, last


def fill_context(jobs: list[ShotJob], i: int, s: RenderSettings) -> FillContext:
    """The retrieved frames a fill is conditioned on: its best partial match's keyframe, and the
    neighbouring shots' boundary frames when they show source footage."""
    first, last = _boundaries(jobs, i, s)
    ref = jobs[i].reference
    own = (
        ref
        if ref is not None and ref.get("role", "best partial match") == "best partial match"
        else None
    )
    return FillContext(
        reference=_frame_at(own, s.size, s.fit),
        first=_frame_at(first, s.size, s.fit),
        last=_frame_at(last, s.size, s.fit),
    )


def name_reference(jobs: list[ShotJob], i: int, s: RenderSettings) -> None:
    """Record what a fill starts from: its best partial match, else the neighbour frame it pans
    over."""
    job = jobs[i]
    if job.reference is not None:
        job.reference.setdefault("role", "best partial match")
    elif job.decision == "fill":
        first, last = _boundaries(jobs, i, s)
        job.reference = first or last


def clip_frames(clips: list[SourceClip], s: RenderSettings) -> list[np.ndarray]:
    """The frames a shot's clips show at the output rate and size (retimed, cropped, held)."""
    rate = frame_rate(s.fps)
    frames: list[np.ndarray] = []
    for clip in clips:
        n = max(1, frames_of(clip.length_s, s.fps))
        src_rate = rate / Fraction(clip.speed or 1.0).limit_denominator(10_000)
        content = min(n, max(1, clip_duration_frames(clip.in_s, clip.out_s, src_rate)))
        got = list(
            iter_clip(
                clip.path,
                clip.in_s,
                content,
                fps=src_rate,
                size=s.size,
                fit=s.fit,
                crop=clip.crop,
                crop_origin_s=clip.in_s,
            )
        )
        frames += got + got[-1:] * (n - len(got))
    return frames


def _cache_key(
    job: ShotJob,
    generator: Generator,
    model: str | None,
    s: RenderSettings,
    n_frames: int,
    context: dict,
) -> str:
    key = {
        "generator": generator.name,
        "model": model,
        "decision": job.decision,
        "prompt": job.text,
        "style": job.style,
        "strength": job.strength,
        "steps": s.steps,
        "seed": s.seed,
        "size": list(s.size),
        "fps": s.fps,
        "n_frames": n_frames,
        "inputs": context,
        "fit": s.fit,
        "gen_size": list(s.gen_size) if s.gen_size else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _write_segment(path: Path, frames: list[np.ndarray], s: RenderSettings, meta: dict) -> None:
    with VideoWriter(
        path,
        fps=s.fps,
        size=s.size,
        crf=16,
        preset="ultrafast",
        metadata={"rag_video_segment": job_label(meta)},
    ) as out:
        for frame in frames:
            out.write(frame)
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))


def job_label(meta: dict) -> str:
    return f"{meta.get('decision')} by {meta.get('generator')}"


def _generate(
    job: ShotJob, jobs: list[ShotJob], generator: Generator, s: RenderSettings, n_frames: int
) -> GenResult:
    if job.decision == "restyle":
        clip = clip_frames(job.source, s)
        clip = (clip + clip[-1:] * n_frames)[:n_frames]
        return generator.restyle(
            clip, job.text, job.style, job.strength or 0.5, s.size, s.steps, seed=s.seed
        )
    context = fill_context(jobs, job.index, s)
    return generator.fill(context, job.text, n_frames, s.size, s.steps, seed=s.seed)


def render_generated(
    job: ShotJob, jobs: list[ShotJob], generator: Generator, s: RenderSettings, model: str | None
) -> None:
    """Produce (or find cached) the segment of a restyle or fill shot; fills in job's spend."""
    n_frames = max(1, frames_of(job.duration_s, s.fps))
    name_reference(jobs, job.index, s)
    first, last = _boundaries(jobs, job.index, s)
    inputs = {
        "source": [c.model_dump() for c in job.source],
        "reference": job.reference,
        "neighbours": [first, last],
    }
    key = _cache_key(job, generator, model, s, n_frames, inputs)
    path = s.generated_dir / f"{key}.mp4"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        job.segment, job.generator, job.model = str(path), meta["generator"], meta.get("model")
        job.seed, job.latent_frames, job.cached, job.steps, job.seconds = (
            meta.get("seed"),
            0,
            True,
            0,
            0.0,
        )
        return
    result = _generate(job, jobs, generator, s, n_frames)
    meta = {
        "decision": job.decision,
        "generator": result.generator,
        "model": result.model,
        "steps": result.steps,
        "seconds": result.seconds,
        "seed": result.seed,
        "strength": job.strength,
        "prompt": job.text,
        "created": time.time(),
    }
    s.generated_dir.mkdir(parents=True, exist_ok=True)
    _write_segment(path, result.frames, s, meta)
    job.segment, job.generator, job.model = str(path), result.generator, result.model
    job.steps, job.seconds, job.seed = result.steps, result.seconds, result.seed
    job.latent_frames = result.latent_frames


@dataclass
class DraftStream:
    """A streamed draft shot's frame source (`Segment.stream`): calling it makes the shot's frames
    with the draft generator and yields them one by one, filling in the job's spend.

    The draft generator returns a whole shot at once, so one shot's frames are held while it
    streams (released as they are yielded); no other shot's are. ``seconds`` is the wall time
    spent making them (clip decode and draft)."""

    job: ShotJob
    jobs: list[ShotJob]
    generator: Generator
    settings: RenderSettings
    seconds: float = 0.0

    def __call__(self) -> Iterator[np.ndarray]:
        t0 = time.perf_counter()
        job, s = self.job, self.settings
        result = _generate(
            job, self.jobs, self.generator, s, max(1, frames_of(job.duration_s, s.fps))
        )
        self.seconds += time.perf_counter() - t0
        job.generator, job.model = result.generator, result.model
        job.steps, job.seconds, job.seed = result.steps, result.seconds, result.seed
        job.latent_frames = result.latent_frames
        return _drain(result.frames)


def _drain(frames: list[np.ndarray]) -> Iterator[np.ndarray]:
    """`frames` in order, each dropped from the list as it is yielded."""
    frames.reverse()
    while frames:
        yield frames.pop()


def stream_draft(
    job: ShotJob, jobs: list[ShotJob], draft: Generator, s: RenderSettings
) -> DraftStream:
    """Prepare a draft shot to stream into the output: no segment file, nothing cached."""
    name_reference(jobs, job.index, s)
    job.segment, job.generator, job.model, job.cached = None, draft.name, None, False
    job.steps, job.seconds, job.seed, job.latent_frames = 0, 0.0, s.seed, 0
    return DraftStream(job, jobs, draft, s)


def render_job(
    job: ShotJob,
    jobs: list[ShotJob],
    generator: Generator,
    draft: Generator,
    s: RenderSettings,
    model: str | None,
) -> DraftStream | None:
    """Render a restyle/fill shot with `generator`, falling back to `draft` if generation fails.

    A draft render streams (returned as a `DraftStream`) unless `s.keep_segments`."""
    if generator is draft and not s.keep_segments:
        return stream_draft(job, jobs, draft, s)
    try:
        render_generated(job, jobs, generator, s, model)
    except ModelUnavailable:
        raise
    except (GenerationError, RuntimeError, MemoryError) as exc:
        if generator is draft:
            raise
        job.fallback = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        log.warning(
            "shot %d: generation failed (%s); using the draft render", job.index + 1, job.fallback
        )
        if not s.keep_segments:
            return stream_draft(job, jobs, draft, s)
        render_generated(job, jobs, draft, s, None)
    return None


def segment_for(job: ShotJob, stream: DraftStream | None = None) -> list[Segment]:
    """The assembly segments that show `job`: one per clip of a reuse, its `stream` when the
    shot is a streamed draft, one file otherwise."""
    if job.decision == "reuse":
        if not job.source:
            raise ValueError(f"shot {job.index + 1}: a reuse needs at least one source clip")
        return [
            Segment(
                "source",
                path=c.path,
                in_s=c.in_s,
                out_s=c.out_s,
                duration_s=c.length_s,
                handle_before_s=c.handle_before_s,
                handle_after_s=c.handle_after_s,
                caption=job.caption,
                crop=c.crop,
                speed=c.speed or 1.0,
                name=f"shot {job.index + 1}" + (f".{k + 1}" if len(job.source) > 1 else ""),
            )
            for k, c in enumerate(job.source)
        ]
    if stream is not None:
        return [
            Segment(
                "stream",
                stream=stream,
                duration_s=job.duration_s,
                caption=job.caption,
                audio=False,
                name=f"shot {job.index + 1}",
            )
        ]
    return [
        Segment(
            "file",
            path=job.segment,
            duration_s=job.duration_s,
            caption=job.caption,
            audio=False,
            name=f"shot {job.index + 1}",
        )
    ]
