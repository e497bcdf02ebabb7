"""`make`: script → plan → plan-wide retrieval → reuse/restyle/fill → assembled video and exports,
stage by stage (how it renders is a `generate.options.MakeOptions`).

Outputs beside OUT.mp4: OUT.manifest.json (also the --json document), OUT.otio, OUT.html,
OUT.srt, OUT.credits.txt. All are written under temporary names and renamed together at the end,
so a failed make leaves no partial outputs (:mod:`record`); before the rename the quality checks
run on the video (:mod:`quality`, the manifest's `qc`). One `renders` row per clip shown is
appended last.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rag_video.errors import UsageError
from rag_video.generate import outputs, quality, rights
from rag_video.generate.assemble import assemble
from rag_video.generate.audio_plan import (
    generated_labels,
    shot_spans,
    soundtrack_for,
    timed_plan,
)
from rag_video.generate.base import Generator
from rag_video.generate.jobs import jobs_from_manifest, plan_jobs
from rag_video.generate.options import MakeOptions
from rag_video.generate.plan import Plan, load_plan, plan_from_dict
from rag_video.generate.record import (
    OUTPUT_SUFFIXES,
    build_manifest,
    record_renders,
    thumbnails,
    write_outputs,
)
from rag_video.generate.render import DraftStream, RenderSettings, render_job, segment_for
from rag_video.generate.shot import ShotJob
from rag_video.media.captions import caption_overlay, label_overlay
from rag_video.provenance import content_credentials
from rag_video.retrieve.query import Searcher
from rag_video.store import Store

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)
DEFAULT_FPS = 24.0
DEFAULT_HEIGHT = 720


def parse_aspect(aspect: str) -> float:
    w, _, h = aspect.partition(":")
    try:
        ratio = float(w) / float(h)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--aspect {aspect!r}: expected W:H such as 16:9") from None
    if ratio <= 0:
        raise UsageError(f"--aspect {aspect!r}: expected W:H such as 16:9")
    return ratio


def output_format(plan: Plan, opts: MakeOptions) -> tuple[float, tuple[int, int], str]:
    """(fps, (width, height), aspect) of the output."""
    aspect = opts.aspect or plan.aspect or "16:9"
    ratio = parse_aspect(aspect)
    if opts.size:
        size = opts.size
    elif ratio >= 1:
        size = (round(DEFAULT_HEIGHT * ratio / 2) * 2, DEFAULT_HEIGHT)
    else:
        size = (DEFAULT_HEIGHT, round(DEFAULT_HEIGHT / ratio / 2) * 2)
    if size[0] % 2 or size[1] % 2 or min(size) < 16:
        raise UsageError(
            f"--size {size[0]}x{size[1]}: width and height must be even and at least 16"
        )
    return float(opts.fps or plan.fps or DEFAULT_FPS), size, aspect


def check_output(out: Path, store: Store | None = None) -> Path:
    """The absolute output path, once it is safe to write (see generate/outputs.py: never a
    library source, its sidecar, the library's storage, or a file that is not a rag-video
    output); also removes the temporary files of killed makes."""
    out = Path(out).expanduser().absolute()
    if not out.parent.is_dir():
        raise UsageError(f"output folder {str(out.parent)!r} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"output folder {str(out.parent)!r} is not writable")
    if store is not None:
        outputs.check_outputs(store, out, OUTPUT_SUFFIXES.values())
        outputs.check_library_writable(store)
        outputs.clean_stale_partials(store, out, OUTPUT_SUFFIXES.values())
    return out


# ---- rendering --------------------------------------------------------------------------
def _generators(opts: MakeOptions, plan: Plan) -> tuple[Generator, Generator]:
    """(generator for restyle/fill shots, draft renderer used for drafts and fallbacks)."""
    from rag_video.generate.draft import DraftGenerator

    reference = next((s.image for s in plan.shots if s.image), None)
    draft = DraftGenerator(reference=reference)
    if not opts.final:
        return draft, draft
    from rag_video.generate.diffusion import DiffusionGenerator

    return DiffusionGenerator(
        restyle_model=opts.restyle_model, fill_model=opts.fill_model, gen_size=opts.gen_size
    ), draft


def render_all(
    jobs: list[ShotJob],
    generator: Generator,
    draft: Generator,
    rs: RenderSettings,
    opts: MakeOptions,
) -> dict[int, DraftStream]:
    """Render every restyle/fill shot (reuse shots need no rendering), within the time budget.

    Returns the streamed draft shots' frame sources by shot index (made during assembly)."""
    from rag_video import progress
    from rag_video.generate.diffusion import strength_from_score

    spent = 0.0
    streams: dict[int, DraftStream] = {}
    todo = [j for j in jobs if j.decision != "reuse"]
    with progress.bar(len(todo), "render") as advance:
        for job in todo:
            if (
                job.decision == "restyle" and job.strength is None
            ):  # on the scale the score came from
                reuse_th, fill_th = job.reason.reuse_threshold, job.reason.fill_threshold
                # a restyle shot was given a candidate, so a score
                assert job.score is not None and reuse_th is not None and fill_th is not None
                job.strength = strength_from_score(job.score, reuse_th, fill_th)
            over = opts.max_gen_seconds is not None and spent >= opts.max_gen_seconds
            use = draft if over else generator
            if over and generator is not draft:
                job.fallback = f"--max-gen-seconds {opts.max_gen_seconds:g} spent"
            stream = render_job(
                job, jobs, use, draft, rs, opts.model(job.decision) if use is not draft else None
            )
            if stream is not None:
                streams[job.index] = stream
            spent += job.seconds
            advance()
    return streams


def _load(
    script: str | Path | None, from_manifest: dict | None, opts: MakeOptions
) -> tuple[Plan, Path]:
    if from_manifest is not None:
        return plan_from_dict(from_manifest["plan"]), Path(from_manifest["script"])
    if script is None:
        raise UsageError("make needs a script (or --from a saved manifest)")
    return load_plan(Path(script), by_sentence=opts.by_sentence), Path(script)


def _jobs(
    searcher: Searcher,
    plan: Plan,
    size: tuple[int, int],
    fps: float,
    opts: MakeOptions,
    from_manifest: dict | None,
) -> tuple[list[ShotJob], str]:
    if from_manifest is not None:
        saved = rights.for_saved(searcher.store, jobs_from_manifest(from_manifest), opts.rights)
        return saved, from_manifest.get("mode", "vector")
    return plan_jobs(
        searcher,
        plan,
        size,
        fps,
        thresholds=(opts.reuse_threshold, opts.fill_threshold),
        min_cut=opts.min_cut,
        fit=opts.fit,
        order=opts.order,
        fresh=opts.fresh,
        seed=opts.seed,
        rights=opts.rights,
    )


def make(
    searcher: Searcher,
    script: str | Path | None,
    out: str | Path,
    opts: MakeOptions,
    *,
    from_manifest: dict | None = None,
    lock_timeout: float = 30.0,
) -> dict:
    """Render `script` (or a saved manifest's plan) into `out`; returns the manifest."""
    store = searcher.store
    out = check_output(Path(out), store)
    clock = {"start": time.perf_counter()}

    def lap(name: str) -> None:
        now = time.perf_counter()
        clock[name], clock["start"] = now - clock["start"], now

    plan, script = _load(script, from_manifest, opts)
    fps, size, aspect = output_format(plan, opts)
    timed = timed_plan(plan, opts, store, fps)
    plan = timed.plan
    lap("plan_s")
    jobs, mode = _jobs(searcher, plan, size, fps, opts, from_manifest)
    licensing = rights.report(store, jobs, opts.rights)  # warns once about unknown licences
    lap("retrieve_s")
    generator, draft = _generators(opts, plan)
    try:
        streams = render_all(
            jobs,
            generator,
            draft,
            RenderSettings(
                fps,
                size,
                opts.frame_fit,
                opts.steps,
                opts.seed,
                store.generated_dir,
                opts.gen_size,
                opts.keep_segments,
            ),
            opts,
        )
    finally:
        generator.close()
    lap("render_s")
    run_id = uuid.uuid4().hex
    music = opts.music or plan.music
    segments = [seg for j in jobs for seg in segment_for(j, streams.get(j.index))]
    spans = shot_spans(jobs, segments, fps)
    sound, cues = soundtrack_for(timed, spans, opts, music)
    labels = generated_labels(jobs, spans, opts.label_text) if opts.label_generated else []
    report = assemble(
        segments,
        outputs.partial_name(out, run_id),
        fps=fps,
        size=size,
        fit=opts.frame_fit,
        transition=opts.transition,
        audio=sound,
        captions=cues,
        caption_overlay=caption_overlay if opts.burn_subtitles else None,
        labels=labels,
        label_overlay=partial(label_overlay, position=opts.label_position),
        crf=opts.crf,
        preset=opts.preset or ("veryfast" if opts.final else "ultrafast"),
        metadata={"rag_video_run": run_id},
    )
    lap("encode_s")
    drafted = sum(st.seconds for st in streams.values())  # streamed drafts render inside assembly
    clock["render_s"] += drafted
    clock["encode_s"] -= drafted
    manifest = build_manifest(run_id, script, store, out, plan, fps, size, aspect, jobs, report)
    manifest["rights"] = licensing
    manifest.update(
        mode=mode,
        final=opts.final,
        options=opts.replayable(),
        sound=report.sound.model_dump() if report.sound is not None else None,
        subtitles=[c.model_dump() for c in cues] if cues is not None else None,
        timing=[vars(t) for t in timed.timing],
        label={
            "text": opts.label_text,
            "position": opts.label_position,
            "spans": [c.model_dump() for c in labels],
        }
        if opts.label_generated
        else None,
        timings={k: round(v, 3) for k, v in clock.items() if k != "start"},
    )
    manifest["qc"] = quality.run_qc(Path(report.path), manifest, opts, searcher)
    if manifest["qc"] is not None:
        manifest["timings"]["qc_s"] = manifest["qc"]["seconds"]
    manifest["provenance"] = content_credentials(
        manifest, Path(report.path), opts.c2pa_key, opts.c2pa_cert
    )  # signs the video before its rename, or plans OUT.c2pa.json
    write_outputs(manifest, out, thumbnails(store, jobs), run_id, Path(report.path))
    record_renders(store, manifest, lock_timeout)
    return manifest
