"""What a finished make records: the manifest (every shot placed in the output, the credits of
the sources it shows), the files beside OUT.mp4 (written under temporary names and renamed
together, so a failed make leaves no partial outputs), and one `renders` row per clip shown.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag_video import schema
from rag_video.generate.assemble import AssemblyReport, Placement
from rag_video.generate.export import storyboard
from rag_video.generate.export.credits import write_credits
from rag_video.generate.export.otio import write_otio
from rag_video.generate.export.subtitles import has_captions, write_srt
from rag_video.generate.manifest import write_manifest
from rag_video.generate.outputs import partial_name
from rag_video.generate.plan import Plan, plan_to_dict
from rag_video.generate.shot import ShotJob
from rag_video.provenance.sign import write_sidecar
from rag_video.store import Store, sql_in

OUTPUT_SUFFIXES = {
    "manifest": ".manifest.json",
    "otio": ".otio",
    "html": ".html",
    "srt": ".srt",
    "credits": ".credits.txt",
    "c2pa": ".c2pa.json",  # the unsigned content credentials, when no signing key is configured
}


def _credits(store: Store, jobs: list[ShotJob]) -> list[dict[str, Any]]:
    """Attribution of every source file the shots show or draw on, by path."""
    ids = {sid.split(":")[0] for j in jobs for sid in j.media_shot_ids()}
    rows = store.read(
        "sources",
        columns=["source_id", "path", "title", "license", "creator"],
        where=sql_in("source_id", sorted(ids)),
    ).to_pylist()
    return [
        {k: r[k] for k in ("path", "title", "license", "creator")}
        for r in sorted(rows, key=lambda r: r["path"])
    ]


def thumbnails(store: Store, jobs: list[ShotJob]) -> dict[str, bytes]:
    """The thumbnails of every source shot the storyboard shows: candidates, clips, references."""
    ids = {c.shot_id for j in jobs for c in j.candidates} | {
        sid for j in jobs for sid in j.media_shot_ids()
    }
    rows = store.read(
        "shots", columns=["shot_id", "thumbnail"], where=sql_in("shot_id", sorted(ids))
    )
    return {r["shot_id"]: r["thumbnail"] for r in rows.to_pylist() if r["thumbnail"]}


def placed(job: ShotJob, placements: list[Placement]) -> ShotJob:
    """`job` at its place in the output: a reuse's clips each at theirs, other shots as one
    segment (`placements` are the assembly's, one per segment of the shot)."""
    source = job.source
    if job.decision == "reuse":
        source = [
            clip.model_copy(update={"out_start_s": where.start_s, "out_end_s": where.end_s})
            for clip, where in zip(job.source, placements, strict=False)
        ]
    return job.model_copy(
        update={
            "source": source,
            "out_start_s": placements[0].start_s,
            "out_end_s": placements[-1].end_s,
        }
    )


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
    report: AssemblyReport,
) -> dict[str, Any]:
    """The manifest of a make (keys in DESIGN.md, "Manifest"), shots in output order."""
    shots, placements = [], iter(report.segments)
    for job in jobs:
        n = len(job.source) if job.decision == "reuse" else 1
        shots.append(placed(job, [next(placements) for _ in range(n)]).model_dump())
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


def write_outputs(
    manifest: dict[str, Any],
    out: Path,
    thumbnails: dict[str, bytes],
    run_id: str,
    video_tmp: Path,
) -> dict[str, Path]:
    """Write every export to a temporary name, then rename them all (the video last but one)."""
    stem = out.with_suffix("")
    finals = {
        name: Path(f"{stem}{suffix}")
        for name, suffix in OUTPUT_SUFFIXES.items()
        if (name != "srt" or has_captions(manifest))
        and (name != "c2pa" or bool((manifest.get("provenance") or {}).get("sidecar")))
    }
    # temporary names carry the pid: a killed make's leftovers are known
    temps = {name: partial_name(path, run_id) for name, path in finals.items()}
    try:
        write_manifest(manifest, temps["manifest"])
        write_otio(manifest, temps["otio"])
        storyboard.write_html(manifest, thumbnails, temps["html"])
        if "srt" in temps:
            write_srt(manifest, temps["srt"])
        write_credits(manifest, temps["credits"])
        if "c2pa" in temps:
            write_sidecar(manifest, temps["c2pa"])
    except BaseException:
        for tmp in [*temps.values(), video_tmp]:
            tmp.unlink(missing_ok=True)
        raise
    os.replace(video_tmp, out)
    for name, tmp in temps.items():
        os.replace(tmp, finals[name])
    if "srt" not in finals:  # an earlier output's captions (check_outputs vouched for) mislead
        Path(f"{stem}{OUTPUT_SUFFIXES['srt']}").unlink(missing_ok=True)
    if "c2pa" not in finals:  # the video is signed now: an earlier unsigned sidecar is stale
        Path(f"{stem}{OUTPUT_SUFFIXES['c2pa']}").unlink(missing_ok=True)
    return {"video": out, **finals}


def record_renders(store: Store, manifest: dict[str, Any], lock_timeout: float) -> None:
    """Append a `renders` row per clip of every shot (one for a shot without footage) and the
    run's `runs` row (where its output and manifest are)."""
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
    ]
    out = Path(manifest["output"])
    run = {
        "run_id": manifest["run_id"],
        "script": manifest["script"],
        "output": str(out),
        "manifest": f"{out.with_suffix('')}{OUTPUT_SUFFIXES['manifest']}",
        "title": manifest["title"],
        "duration_s": manifest["duration_s"],
        "shots": len(manifest["shots"]),
        "final": bool(manifest.get("final")),
        "created_at": now,
    }
    with store.writer(lock_timeout):
        store.add("renders", schema.to_table(rows, schema.RENDERS), schema.RENDERS)
        store.add("runs", schema.to_table([run], schema.RUNS), schema.RUNS)
