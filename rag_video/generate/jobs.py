"""The planned shots of a make, decided and resolved to media: plan-wide retrieval, the
reuse/restyle/fill decision and coverage of every shot (:mod:`candidates`, :mod:`decide`,
:mod:`coverage`), then per shot the source clips it shows (the best trim window of each covered
range, its speed and crop track) and the keyframe a fill starts from. A saved manifest's shots
are taken as they were decided (``make --from``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rag_video.generate import candidates as candidates_of
from rag_video.generate.coverage import Piece
from rag_video.generate.decide import decide
from rag_video.generate.manifest import parse_manifest
from rag_video.generate.plan import Plan
from rag_video.generate.reframe import crop_for
from rag_video.generate.rights import (
    Licences,
    RightsPolicy,
    clip_fit,
    enforce,
    reference_candidate,
    screen,
)
from rag_video.generate.shot import Candidate, Reason, ShotJob, SourceClip
from rag_video.generate.text_match import TEXT_FILL, TEXT_REUSE
from rag_video.media.timecode import frames_of
from rag_video.retrieve.query import Searcher


def _keyframe(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The middle keyframe of a source shot row, as a reference {shot_id, path, time_s}."""
    if not row or not row.get("keyframe_times"):
        return None
    times = row["keyframe_times"]
    return {"shot_id": row["shot_id"], "path": row["path"], "time_s": times[len(times) // 2]}


def source_clip(
    rows: list[dict[str, Any]],
    piece: Piece,
    source_duration: float,
    size: tuple[int, int],
    fit: str,
) -> SourceClip:
    """One clip of a covered shot: the best trim window of its source range, its speed and crop."""
    from rag_video.generate.trim import best_trim_start, sample_range

    first, last = rows[piece.rows[0]], rows[piece.rows[-1]]
    start, end = first["start_s"], last["end_s"]
    need = min(piece.length_s * piece.speed, end - start)  # source seconds shown (a hold: fewer)
    # one decode serves the trim window and the reframe track (measured on the chosen window's
    # frames)
    sampled = sample_range(first["path"], start, end) if end - start - need > 1e-6 else None
    in_s = best_trim_start(first["path"], start, end, need, sampled=sampled)
    out_s = in_s + need
    window = None
    if sampled is not None:
        frames, rate = sampled
        k = frames_of(in_s - start, rate)
        window = (frames[k : k + max(1, frames_of(need, rate))], rate)
    return SourceClip(
        shot_id=first["shot_id"],
        shot_ids=[rows[j]["shot_id"] for j in piece.rows],
        path=first["path"],
        in_s=in_s,
        out_s=out_s,
        speed=piece.speed,
        duration_s=piece.length_s,
        crop=crop_for(
            first["path"], in_s, out_s, (first["width"], first["height"]), size, fit, sampled=window
        ),
        fps=first["fps"],
        source_duration_s=source_duration,
        shot_start_s=start,
        shot_end_s=end,
        handle_before_s=in_s - start,
        handle_after_s=end - out_s,
    )


def plan_jobs(
    searcher: Searcher,
    plan: Plan,
    size: tuple[int, int],
    fps: float,
    *,
    thresholds: tuple[float, float],
    min_cut: float,
    fit: str,
    order: tuple[str, ...],
    fresh: bool,
    seed: int,
    rights: RightsPolicy | None = None,
) -> tuple[list[ShotJob], str]:
    """Retrieve for the whole plan, decide and cover every shot, and resolve the media it uses.

    `thresholds` are (reuse, fill) on the vector scale (text matches have their own); `fresh`
    penalises shots earlier renders used; `rights` refuses and restricts footage by its licence
    (:mod:`rights`). Returns the jobs and the retrieval mode."""
    from rag_video import progress

    ret = candidates_of.retrieve(
        searcher, plan, size[0] / size[1], min_cut=min_cut, letterbox=fit == "letterbox"
    )
    policy = rights or RightsPolicy()
    licences = Licences.read(searcher.store, (r["source_id"] for r in ret.rows))
    real_time = screen(ret.rows, ret.scores, ret.dropped, licences, policy)
    reuse_th, fill_th = thresholds if ret.mode == "vector" else (TEXT_REUSE, TEXT_FILL)
    penalty = candidates_of.usage_penalty(searcher.store, ret.rows) if fresh and ret.rows else None
    choices = decide(
        plan,
        ret,
        reuse_threshold=reuse_th,
        fill_threshold=fill_th,
        fresh_penalty=penalty,
        fps=fps,
        min_cut=min_cut,
        order=order,
        real_time=real_time,
    )
    by_id = {r["shot_id"]: r for r in ret.rows}
    table = searcher.store.read("sources", columns=["source_id", "duration_s"]).to_pydict()
    lengths = dict(zip(table["source_id"], table["duration_s"], strict=True))
    jobs = []
    with progress.bar(len(plan.shots), "plan") as advance:
        for shot, choice in zip(plan.shots, choices, strict=False):
            best = reference_candidate(choice.candidates, licences)  # never no-derivative
            partial = choice.candidate or (by_id.get(best["shot_id"]) if best else None)
            clips = []
            if choice.decision in ("reuse", "restyle") and choice.coverage is not None:
                clips = [
                    source_clip(
                        ret.rows,
                        p,
                        lengths[(row := ret.rows[p.rows[0]])["source_id"]],
                        size,
                        clip_fit(licences.of(row["shot_id"]), fit),
                    )
                    for p in choice.coverage.pieces
                    if p.length_s > 1e-6
                ]
            jobs.append(
                ShotJob(
                    index=shot.index,
                    text=shot.text,
                    caption=shot.caption,
                    duration_s=shot.duration_s,
                    style=shot.style,
                    decision=choice.decision,
                    score=choice.score,
                    reason=Reason.model_validate(choice.reason),
                    candidates=[Candidate.model_validate(c) for c in choice.candidates],
                    source=clips,
                    reference=_keyframe(partial),
                    dropped=choice.dropped,
                    too_short=choice.too_short,
                    seed=seed,
                )
            )
            advance()
    return enforce(jobs, licences, policy), ret.mode


def jobs_from_manifest(manifest: Mapping[str, Any]) -> list[ShotJob]:
    """The saved decisions of an earlier make (for --from): no re-planning; what they render to
    is made afresh (no segment, no fallback yet)."""
    jobs = parse_manifest(manifest).shots
    for job in jobs:
        job.segment, job.fallback = None, None
    return jobs
