# Over 450 lines, kept whole for now (issue 11): the make pipeline, stage by stage; next cut: per-
# shot clip preparation apart.
"""`make`: script → plan → plan-wide retrieval → reuse/restyle/fill → assembled video and exports.

Outputs beside OUT.mp4: OUT.manifest.json (also the --json document), OUT.otio, OUT.html,
OUT.srt, OUT.credits.txt. All are written under temporary names and renamed together at the end,
so a failed make leaves no partial outputs. One `renders` row per planned shot is appended last.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rag_video import schema
from rag_video.errors import UsageError
from rag_video.generate import decide as deciding
from rag_video.generate import export, storyboard
from rag_video.generate import manifest as manifest_io
from rag_video.generate.assemble import assemble
from rag_video.generate.base import Generator
from rag_video.generate.coverage import DEFAULT_ORDER, parse_order
from rag_video.generate.plan import Plan, load_plan, plan_from_dict, plan_to_dict
from rag_video.generate.reframe import FITS, crop_for
from rag_video.generate.render import RenderSettings, ShotJob, render_job, segment_for
from rag_video.retrieve.query import Searcher
from rag_video.store import Store, sql_in

log = logging.getLogger(__name__)
DEFAULT_FPS = 24.0
DEFAULT_HEIGHT = 720
OUTPUT_SUFFIXES = {
    "manifest": ".manifest.json",
    "otio": ".otio",
    "html": ".html",
    "srt": ".srt",
    "credits": ".credits.txt",
}


@dataclass
class MakeOptions:
    """How a make renders (CLI flags; None means 'from the script, else the default')."""

    final: bool = False
    aspect: str | None = None
    size: tuple[int, int] | None = None
    fps: float | None = None
    fit: str = "auto"  # auto | crop | letterbox | reframe (auto: reframe when a crop keeps < 60 %)
    min_cut: float = 1.0  # shortest sub-shot when several shots cover one planned shot
    coverage: str = ",".join(DEFAULT_ORDER)
    transition: str = "cut"
    music: Path | None = None
    audio: bool = True
    burn_subtitles: bool = False
    crf: int = 20
    preset: str | None = None  # x264 preset; None: ultrafast for drafts, veryfast for final renders
    by_sentence: bool = False
    fresh: bool = False
    reuse_threshold: float = 0.28
    fill_threshold: float = 0.20
    steps: int = 20
    seed: int = 0
    max_gen_seconds: float | None = None
    restyle_model: str | None = None
    fill_model: str | None = None
    gen_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.reuse_threshold <= self.fill_threshold:
            raise UsageError(
                f"--reuse-threshold {self.reuse_threshold:g} must be above "
                f"--fill-threshold {self.fill_threshold:g}"
            )
        if self.fit not in FITS:
            raise UsageError(f"--fit {self.fit!r}: expected one of {', '.join(FITS)}")
        if not 0.1 <= self.min_cut <= 60:
            raise UsageError(f"--min-cut {self.min_cut:g}: expected 0.1 to 60 seconds")
        try:
            self.order = parse_order(self.coverage)
        except ValueError as exc:
            raise UsageError(f"--coverage {self.coverage!r}: {exc}") from None

    @property
    def frame_fit(self) -> str:
        """How generated and reference frames are conformed (crop or letterbox)."""
        return "letterbox" if self.fit == "letterbox" else "crop"

    def model(self, decision: str) -> str | None:
        """The diffusion model a final render uses for `decision` (None: the role's default)."""
        return self.restyle_model if decision == "restyle" else self.fill_model


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
    from rag_video.generate import outputs

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


# ---- planning ---------------------------------------------------------------------------
def _keyframe(row: dict | None) -> dict | None:
    if not row or not row.get("keyframe_times"):
        return None
    times = row["keyframe_times"]
    return {"shot_id": row["shot_id"], "path": row["path"], "time_s": times[len(times) // 2]}


def _clip(rows: list[dict], piece, source_duration: float, size: tuple[int, int], fit: str) -> dict:
    """One clip of a covered shot: the best trim window of its source range, its speed and crop."""
    from rag_video.generate.trim import best_trim_start, sample_range

    first, last = rows[piece.rows[0]], rows[piece.rows[-1]]
    start, end = first["start_s"], last["end_s"]
    need = min(
        piece.length_s * piece.speed, end - start
    )  # source seconds shown (a hold shows fewer)
    # one decode serves the trim window and the reframe track (measured on the chosen window's
    # frames)
    sampled = sample_range(first["path"], start, end) if end - start - need > 1e-6 else None
    in_s = best_trim_start(first["path"], start, end, need, sampled=sampled)
    out_s = in_s + need
    window = None
    if sampled is not None:
        frames, rate = sampled
        k = round((in_s - start) * rate)
        window = (frames[k : k + max(1, round(need * rate))], rate)
    return {
        "shot_id": first["shot_id"],
        "shot_ids": [rows[j]["shot_id"] for j in piece.rows],
        "path": first["path"],
        "in_s": in_s,
        "out_s": out_s,
        "speed": piece.speed,
        "duration_s": piece.length_s,
        "crop": crop_for(
            first["path"], in_s, out_s, (first["width"], first["height"]), size, fit, sampled=window
        ),
        "fps": first["fps"],
        "source_duration_s": source_duration,
        "shot_start_s": start,
        "shot_end_s": end,
        "handle_before_s": in_s - start,
        "handle_after_s": end - out_s,
    }


def plan_jobs(
    searcher: Searcher, plan: Plan, size: tuple[int, int], fps: float, opts: MakeOptions
) -> tuple[list[ShotJob], str]:
    """Retrieve for the whole plan, decide and cover every shot, and resolve the media it uses."""
    from rag_video import progress

    ratio = size[0] / size[1]
    ret = deciding.retrieve(
        searcher, plan, ratio, min_cut=opts.min_cut, letterbox=opts.fit == "letterbox"
    )
    reuse_th, fill_th = (
        (opts.reuse_threshold, opts.fill_threshold)
        if ret.mode == "vector"
        else (deciding.TEXT_REUSE, deciding.TEXT_FILL)
    )
    penalty = deciding.usage_penalty(searcher.store, ret.rows) if opts.fresh and ret.rows else None
    choices = deciding.decide(
        plan,
        ret,
        reuse_threshold=reuse_th,
        fill_threshold=fill_th,
        fresh_penalty=penalty,
        fps=fps,
        min_cut=opts.min_cut,
        order=opts.order,
    )
    by_id = {r["shot_id"]: r for r in ret.rows}
    lengths = dict(
        zip(
            *searcher.store.read("sources", columns=["source_id", "duration_s"])
            .to_pydict()
            .values(),
            strict=False,
        )
    )
    jobs = []
    with progress.bar(len(plan.shots), "plan") as advance:
        for shot, choice in zip(plan.shots, choices, strict=False):
            job = ShotJob(
                shot.index,
                shot.text,
                shot.caption,
                shot.duration_s,
                shot.style,
                choice.decision,
                choice.score,
                choice.reason,
                choice.candidates,
                seed=opts.seed,
                dropped=choice.dropped,
                too_short=choice.too_short,
            )
            partial = choice.candidate or (
                by_id.get(choice.candidates[0]["shot_id"]) if choice.candidates else None
            )
            if choice.decision in ("reuse", "restyle") and choice.coverage is not None:
                job.source = [
                    _clip(ret.rows, p, lengths[ret.rows[p.rows[0]]["source_id"]], size, opts.fit)
                    for p in choice.coverage.pieces
                    if p.length_s > 1e-6
                ]
            job.reference = _keyframe(partial)
            jobs.append(job)
            advance()
    return jobs, ret.mode


def jobs_from_manifest(manifest: dict) -> list[ShotJob]:
    """The saved decisions of an earlier make (for --from): no re-planning."""
    fields = ShotJob.__dataclass_fields__
    jobs = []
    for shot in manifest["shots"]:
        job = ShotJob(**{k: v for k, v in shot.items() if k in fields})
        if isinstance(job.source, dict):  # a manifest written before sources became clip lists
            job.source = [{"speed": 1.0, "crop": None, "duration_s": job.duration_s, **job.source}]
        jobs.append(job)
    return jobs


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
) -> None:
    """Render every restyle/fill shot (reuse shots need no rendering), within the time budget."""
    from rag_video import progress
    from rag_video.generate.diffusion import strength_from_score

    spent = 0.0
    todo = [j for j in jobs if j.decision != "reuse"]
    with progress.bar(len(todo), "render") as advance:
        for job in todo:
            if (
                job.decision == "restyle" and job.strength is None
            ):  # on the scale the score came from
                assert job.score is not None  # a restyle shot was given a candidate, so a score
                job.strength = strength_from_score(
                    job.score, job.reason["reuse_threshold"], job.reason["fill_threshold"]
                )
            over = opts.max_gen_seconds is not None and spent >= opts.max_gen_seconds
            use = draft if over else generator
            if over and generator is not draft:
                job.fallback = f"--max-gen-seconds {opts.max_gen_seconds:g} spent"
            render_job(
                job, jobs, use, draft, rs, opts.model(job.decision) if use is not draft else None
            )
            spent += job.seconds
            advance()


# ---- outputs ----------------------------------------------------------------------------
def _media(job: ShotJob) -> list[dict]:
    """The clips and the reference frame a shot shows or draws on."""
    return [*job.source, *([job.reference] if job.reference else [])]


def _credits(store: Store, jobs: list[ShotJob]) -> list[dict]:
    ids = {m["shot_id"].split(":")[0] for j in jobs for m in _media(j)}
    rows = store.read(
        "sources",
        columns=["source_id", "path", "title", "license", "creator"],
        where=sql_in("source_id", sorted(ids)),
    ).to_pylist()
    return [
        {k: r[k] for k in ("path", "title", "license", "creator")}
        for r in sorted(rows, key=lambda r: r["path"])
    ]


def _thumbnails(store: Store, jobs: list[ShotJob]) -> dict[str, bytes]:
    ids = {c["shot_id"] for j in jobs for c in j.candidates} | {
        m["shot_id"] for j in jobs for m in _media(j)
    }
    rows = store.read(
        "shots", columns=["shot_id", "thumbnail"], where=sql_in("shot_id", sorted(ids))
    )
    return {r["shot_id"]: r["thumbnail"] for r in rows.to_pylist() if r["thumbnail"]}


def build_manifest(
    run_id: str,
    script: Path,
    store: Store,
    out: Path,
    plan: Plan,
    fps: float,
    size: tuple[int, int],
    aspect: str,
    jobs: list[ShotJob],
    report,
) -> dict:
    shots, placements = [], iter(report.segments)
    for job in jobs:
        entry = asdict(job)
        placed = [
            next(placements) for _ in range(len(job.source) if job.decision == "reuse" else 1)
        ]
        for clip, where in zip(
            entry["source"], placed if job.decision == "reuse" else [], strict=False
        ):
            clip.update(out_start_s=where.start_s, out_end_s=where.end_s)
        entry.update(out_start_s=placed[0].start_s, out_end_s=placed[-1].end_s)
        shots.append(entry)
    return {
        "run_id": run_id,
        "script": str(script),
        "library": str(store.root),
        "created_at": datetime.now(UTC).isoformat(),
        "fps": fps,
        "size": list(size),
        "aspect": aspect,
        "duration_s": report.duration_s,
        "output": str(out),
        "title": plan.title,
        "frames": report.frames,
        "has_audio": report.has_audio,
        "shots": shots,
        "credits": _credits(store, jobs),
        "plan": plan_to_dict(plan),
        "fallbacks": sum(1 for j in jobs if j.fallback),
    }


def _tmp(path: Path, run_id: str) -> Path:
    from rag_video.generate.outputs import partial_name

    return partial_name(path, run_id)  # carries the pid: a killed make's leftovers are known


def write_outputs(
    manifest: dict, out: Path, thumbnails: dict, run_id: str, video_tmp: Path
) -> dict[str, Path]:
    """Write every export to a temporary name, then rename them all (the video last but one)."""
    stem = out.with_suffix("")
    finals = {
        name: Path(f"{stem}{suffix}")
        for name, suffix in OUTPUT_SUFFIXES.items()
        if name != "srt" or export.has_captions(manifest)
    }
    temps = {name: _tmp(path, run_id) for name, path in finals.items()}
    try:
        manifest_io.write_manifest(manifest, temps["manifest"])
        export.write_otio(manifest, temps["otio"])
        storyboard.write_html(manifest, thumbnails, temps["html"])
        if "srt" in temps:
            export.write_srt(manifest, temps["srt"])
        export.write_credits(manifest, temps["credits"])
    except BaseException:
        for tmp in [*temps.values(), video_tmp]:
            tmp.unlink(missing_ok=True)
        raise
    os.replace(video_tmp, out)
    for name, tmp in temps.items():
        os.replace(tmp, finals[name])
    if (
        "srt" not in finals
    ):  # an earlier output's captions (check_outputs vouched for it) would mislead
        Path(f"{stem}{OUTPUT_SUFFIXES['srt']}").unlink(missing_ok=True)
    return {"video": out, **finals}


def record_renders(store: Store, manifest: dict, lock_timeout: float) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": manifest["run_id"],
            "shot_index": s["index"],
            "text": s["text"],
            "decision": s["decision"],
            "shot_id": clip.get("shot_id") if clip else None,
            "score": s["score"],
            "generator": s["generator"],
            "model": s["model"],
            "steps": s["steps"],
            "strength": s["strength"],
            "seed": s["seed"],
            "seconds": s["seconds"],
            "created_at": now,
        }
        for s in manifest["shots"]
        for clip in (s["source"] or [None])
    ]  # a row per clip
    with store.writer(lock_timeout):
        store.add("renders", schema.to_table(rows, schema.RENDERS), schema.RENDERS)


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
    if from_manifest is None:
        return plan_jobs(searcher, plan, size, fps, opts)
    jobs = jobs_from_manifest(from_manifest)
    for job in jobs:  # decisions and sources are kept; what they render to is made afresh
        job.segment, job.fallback = None, None
    return jobs, from_manifest.get("mode", "vector")


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
    lap("plan_s")
    jobs, mode = _jobs(searcher, plan, size, fps, opts, from_manifest)
    lap("retrieve_s")
    generator, draft = _generators(opts, plan)
    try:
        render_all(
            jobs,
            generator,
            draft,
            RenderSettings(
                fps, size, opts.frame_fit, opts.steps, opts.seed, store.generated_dir, opts.gen_size
            ),
            opts,
        )
    finally:
        generator.close()
    lap("render_s")
    run_id = uuid.uuid4().hex
    music = opts.music or plan.music
    segments = [seg for j in jobs for seg in segment_for(j)]
    report = assemble(
        segments,
        _tmp(out, run_id),
        fps=fps,
        size=size,
        fit=opts.frame_fit,
        transition=opts.transition,
        audio=(music or "sources") if opts.audio else "none",
        burn_subtitles=opts.burn_subtitles,
        crf=opts.crf,
        preset=opts.preset or ("veryfast" if opts.final else "ultrafast"),
        metadata={"rag_video_run": run_id},
    )
    lap("encode_s")
    manifest = build_manifest(run_id, script, store, out, plan, fps, size, aspect, jobs, report)
    manifest.update(
        mode=mode,
        final=opts.final,
        timings={k: round(v, 3) for k, v in clock.items() if k != "start"},
    )
    write_outputs(manifest, out, _thumbnails(store, jobs), run_id, Path(report.path))
    record_renders(store, manifest, lock_timeout)
    return manifest
