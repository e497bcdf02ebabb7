"""Rendering one planned shot: reuse → a trimmed source range; restyle and fill → frames from a
generator, written as a labelled segment under the library's `generated/` and cached there by
everything that determines them (so re-running a make regenerates nothing unchanged).

A failed generation in a final render falls back to the draft renderer for that shot, and the
shot says so (`fallback`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag_video.generate.assemble import Segment
from rag_video.generate.base import FillContext, GenerationError, GenResult, Generator, ModelUnavailable
from rag_video.media.clip import conform_frame, read_clip
from rag_video.media.encode import VideoWriter
from rag_video.media.seek import frames_at
from rag_video.store import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class ShotJob:
    """A planned shot with its decision and the media it draws on (the manifest's shot entry)."""

    index: int
    text: str
    caption: str | None
    duration_s: float
    style: str | None
    decision: str
    score: float | None
    reason: dict
    candidates: list[dict] = field(default_factory=list)
    source: dict | None = None  # {shot_id, path, in_s, out_s, fps, source_duration_s, handle_*}
    reference: dict | None = None  # {shot_id, path, time_s}: the keyframe a fill starts from
    strength: float | None = None
    segment: str | None = None
    generator: str = "source"
    model: str | None = None
    steps: int = 0
    seed: int | None = None
    seconds: float = 0.0
    latent_frames: int = 0
    cached: bool = False
    fallback: str | None = None


@dataclass
class RenderSettings:
    fps: float
    size: tuple[int, int]
    fit: str
    steps: int
    seed: int
    generated_dir: Path
    gen_size: tuple[int, int] | None = None


def _frame_at(ref: dict | None, size, fit) -> np.ndarray | None:
    if not ref:
        return None
    return conform_frame(frames_at(ref["path"], [ref["time_s"]])[0], size, fit)


def fill_context(jobs: list[ShotJob], i: int, s: RenderSettings) -> FillContext:
    """The retrieved frames a fill is conditioned on: its best partial match's keyframe, and the
    neighbouring shots' boundary frames when they show source footage."""
    prev = jobs[i - 1].source if i > 0 else None
    nxt = jobs[i + 1].source if i + 1 < len(jobs) else None
    first = {"path": prev["path"], "time_s": max(prev["in_s"], prev["out_s"] - 1.0 / s.fps)} if prev else None
    last = {"path": nxt["path"], "time_s": nxt["in_s"]} if nxt else None
    return FillContext(reference=_frame_at(jobs[i].reference, s.size, s.fit),
                       first=_frame_at(first, s.size, s.fit), last=_frame_at(last, s.size, s.fit))


def _cache_key(job: ShotJob, generator: Generator, model: str | None, s: RenderSettings,
               n_frames: int, context: dict) -> str:
    key = {"generator": generator.name, "model": model, "decision": job.decision, "prompt": job.text,
           "style": job.style, "strength": job.strength, "steps": s.steps, "seed": s.seed,
           "size": list(s.size), "fps": s.fps, "n_frames": n_frames, "inputs": context, "fit": s.fit}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _write_segment(path: Path, frames: list[np.ndarray], s: RenderSettings, meta: dict) -> None:
    with VideoWriter(path, fps=s.fps, size=s.size, crf=16, preset="ultrafast",
                     metadata={"rag_video_segment": job_label(meta)}) as out:
        for frame in frames:
            out.write(frame)
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))


def job_label(meta: dict) -> str:
    return f"{meta.get('decision')} by {meta.get('generator')}"


def _generate(job: ShotJob, jobs: list[ShotJob], generator: Generator, s: RenderSettings,
              n_frames: int) -> GenResult:
    if job.decision == "restyle":
        src = job.source
        clip = read_clip(src["path"], src["in_s"], src["out_s"], fps=s.fps, size=s.size, fit=s.fit)
        clip = (clip + clip[-1:] * n_frames)[:n_frames]
        return generator.restyle(clip, job.text, job.style, job.strength or 0.5, s.size, s.steps, seed=s.seed)
    context = fill_context(jobs, job.index, s)
    return generator.fill(context, job.text, n_frames, s.size, s.steps, seed=s.seed)


def render_generated(job: ShotJob, jobs: list[ShotJob], generator: Generator, s: RenderSettings,
                     model: str | None) -> None:
    """Produce (or find cached) the segment of a restyle or fill shot; fills in job's spend."""
    n_frames = max(1, round(job.duration_s * s.fps))
    inputs = {"source": job.source, "reference": job.reference,
              "neighbours": [jobs[i].source for i in (job.index - 1, job.index + 1) if 0 <= i < len(jobs)]}
    key = _cache_key(job, generator, model, s, n_frames, inputs)
    path = s.generated_dir / f"{key}.mp4"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        job.segment, job.generator, job.model = str(path), meta["generator"], meta.get("model")
        job.seed, job.latent_frames, job.cached, job.steps, job.seconds = meta.get("seed"), 0, True, 0, 0.0
        return
    result = _generate(job, jobs, generator, s, n_frames)
    meta = {"decision": job.decision, "generator": result.generator, "model": result.model,
            "steps": result.steps, "seconds": result.seconds, "seed": result.seed,
            "strength": job.strength, "prompt": job.text, "created": time.time()}
    s.generated_dir.mkdir(parents=True, exist_ok=True)
    _write_segment(path, result.frames, s, meta)
    job.segment, job.generator, job.model = str(path), result.generator, result.model
    job.steps, job.seconds, job.seed = result.steps, result.seconds, result.seed
    job.latent_frames = result.latent_frames


def render_job(job: ShotJob, jobs: list[ShotJob], generator: Generator, draft: Generator,
               s: RenderSettings, model: str | None) -> None:
    """Render a restyle/fill shot with `generator`, falling back to `draft` if generation fails."""
    try:
        render_generated(job, jobs, generator, s, model)
    except ModelUnavailable:
        raise
    except (GenerationError, RuntimeError, MemoryError) as exc:
        if generator is draft:
            raise
        job.fallback = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        log.warning("shot %d: generation failed (%s); using the draft render", job.index + 1, job.fallback)
        render_generated(job, jobs, draft, s, None)


def segment_for(job: ShotJob) -> Segment:
    """The assembly segment that shows `job`."""
    if job.decision == "reuse":
        src = job.source
        return Segment("source", path=src["path"], in_s=src["in_s"], out_s=src["out_s"],
                       duration_s=job.duration_s, handle_before_s=src.get("handle_before_s", 0.0),
                       handle_after_s=src.get("handle_after_s", 0.0), caption=job.caption,
                       name=f"shot {job.index + 1}")
    return Segment("file", path=job.segment, duration_s=job.duration_s, caption=job.caption, audio=False,
                   name=f"shot {job.index + 1}")
