"""A reviewer's changes to a make run: per planned shot, another decision or another source shot,
applied to the run's saved manifest so that ``make --from`` renders the revised draft (the other
shots keep their decisions and clips; nothing is re-planned)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from rag_video.errors import UsageError
from rag_video.generate.coverage import Piece
from rag_video.generate.jobs import source_clip
from rag_video.generate.manifest import parse_manifest
from rag_video.generate.shot import Decision, Reason, ShotJob
from rag_video.store import Store, sql_str


class ShotChange(BaseModel):
    """What a reviewer changed on one planned shot: its decision, the source shot it shows, or
    both (None: keep)."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision | None = None
    shot_id: str | None = None


def _shot_row(store: Store, shot_id: str, index: int) -> dict[str, Any]:
    rows = store.visible_shots(where=f"shot_id = {sql_str(shot_id)}").to_pylist()
    if not rows:
        raise UsageError(f"shots.{index}.shot_id: no visible shot {shot_id!r} in the library")
    return rows[0]


def _revised(
    store: Store, job: ShotJob, change: ShotChange, size: tuple[int, int], fit: str
) -> ShotJob:
    decision = change.decision or ("reuse" if job.decision == "fill" else job.decision)
    shot_id = change.shot_id
    if shot_id is None and decision != "fill" and not job.source:
        if not job.candidates:
            raise UsageError(f"shots.{job.index}: no candidate to {decision}; pick a shot_id")
        shot_id = job.candidates[0].shot_id
    update: dict[str, Any] = {"decision": decision, "segment": None, "fallback": None}
    said = f"changed in review: {decision}" + (f" of {shot_id}" if shot_id else "")
    update["reason"] = Reason(**{**job.reason.model_dump(), "override": decision, "text": said})
    if shot_id is not None:
        row = _shot_row(store, shot_id, job.index)
        source = store.read(
            "sources", columns=["duration_s"], where=f"source_id = {sql_str(row['source_id'])}"
        ).to_pylist()
        clip = source_clip([row], Piece([0], job.duration_s), source[0]["duration_s"], size, fit)
        mid = row["keyframe_times"][len(row["keyframe_times"]) // 2] if row["keyframe_times"] else 0
        update["source"] = [clip]
        update["reference"] = {"shot_id": shot_id, "path": row["path"], "time_s": mid}
    if decision == "fill":
        update["source"] = []
    return job.model_copy(update=update)


def revise(
    store: Store, manifest: Mapping[str, Any], changes: Mapping[int, ShotChange], fit: str
) -> dict[str, Any]:
    """`manifest` with `changes` (by planned shot index) applied: a manifest for ``make --from``.

    Raises UsageError naming a shot index that is not in the run, or a shot id not in the
    library."""
    parsed = parse_manifest(manifest)
    jobs = {job.index: job for job in parsed.shots}
    for index in changes:
        if index not in jobs:
            raise UsageError(f"shots.{index}: the run has no planned shot {index}")
    size = (parsed.size[0], parsed.size[1])
    shots = [
        _revised(store, job, changes[job.index], size, fit) if job.index in changes else job
        for job in parsed.shots
    ]
    return {**manifest, "shots": [job.model_dump() for job in shots]}
