"""The C2PA manifest definition of a make, built from its manifest (OUT.manifest.json's dict).

- **Ingredients**: every source file the output shows or was generated from (a reuse or restyle
  shot's clips, a restyle or fill shot's reference frame), as `componentOf` ingredients described
  by metadata (title, MIME type, path, SHA-256 of the whole file, the library's source id,
  licence, creator) rather than by the file itself: c2pa would otherwise read every source into
  the claim and look for credentials inside it, which for hours of footage costs more than the
  render. The SHA-256 is cached per (path, size, mtime) in the process.
- **Actions** (`c2pa.actions.v2`): one `c2pa.created` first (C2PA allows exactly one), its
  digital source type `composite`, or `compositeWithTrainedAlgorithmicMedia` when a model made
  part of it; then, per segment of the output, `c2pa.placed` (the source clip, with its in/out),
  `c2pa.cropped` (a centre crop or a reframe's moving window) or `c2pa.resized` (letterbox),
  `c2pa.color_adjustments` (a draft restyle's colour transfer), and `c2pa.edited` with
  `trainedAlgorithmicMedia` for what a diffusion model generated (restyle and fill), the model
  and pipeline named. Each carries its output time range twice: as C2PA's temporal region
  (`changes`, normal play time) and as `out_start_s`/`out_end_s` parameters.
- **`org.rag-video.segments`**: the run id and every shot's range, decision, generator, model and
  whether a model generated it, for readers that want the whole table.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import Any

from rag_video import __version__

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
COMPOSITE = IPTC + "composite"
COMPOSITE_AI = IPTC + "compositeWithTrainedAlgorithmicMedia"
ACTIONS_LABEL = "c2pa.actions.v2"
SEGMENTS_LABEL = "org.rag-video.segments"
META = "org.rag-video."  # prefix of rag-video's own ingredient metadata and action parameters
NOT_A_MODEL = frozenset({"source", "draft"})  # generators that run no model

_hashes: dict[tuple[str, int, int], str] = {}


def is_generated(shot: dict[str, Any]) -> bool:
    """Whether a model made the shot's pictures (a final restyle or fill, not its draft or
    fallback)."""
    return (
        shot.get("decision") in ("restyle", "fill")
        and (shot.get("generator") or "draft") not in NOT_A_MODEL
    )


def file_sha256(path: str | Path) -> str | None:
    """SHA-256 (hex) of the whole file, None when it cannot be read."""
    try:
        st = Path(path).stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _hashes:
            with open(path, "rb") as fh:
                _hashes[key] = hashlib.file_digest(fh, "sha256").hexdigest()
        return _hashes[key]
    except OSError:
        return None


def _mime(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def _used_files(shot: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(path, shot id) of the files a shot draws on: its clips, and the reference frame a
    restyle or fill was conditioned on."""
    files = [(c["path"], c.get("shot_id")) for c in shot.get("source") or [] if c.get("path")]
    ref = shot.get("reference")
    if shot.get("decision") != "reuse" and ref and ref.get("path"):
        files.append((ref["path"], ref.get("shot_id")))
    return files


def ingredients(manifest: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The ingredient definitions, and the label of each by path."""
    credits = {c["path"]: c for c in manifest.get("credits") or []}
    labels: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for shot in manifest["shots"]:
        for path, shot_id in _used_files(shot):
            if path in labels:
                continue
            labels[path] = f"rag-video-source-{len(labels)}"
            credit = credits.get(path, {})
            meta = {
                META + "path": path,
                META + "sha256": file_sha256(path),
                META + "source_id": shot_id.split(":")[0] if shot_id else None,
                META + "license": credit.get("license"),
                META + "creator": credit.get("creator"),
            }
            out.append(
                {
                    "title": credit.get("title") or Path(path).name,
                    "format": _mime(path),
                    "relationship": "componentOf",
                    "label": labels[path],
                    "metadata": {k: v for k, v in meta.items() if v is not None},
                }
            )
    return out, labels


def _span(start: float, end: float) -> dict[str, Any]:
    """The time-range fields every segment action carries."""
    return {
        "changes": [
            {
                "region": [
                    {
                        "type": "temporal",
                        "time": {"type": "npt", "start": f"{start:.3f}", "end": f"{end:.3f}"},
                    }
                ]
            }
        ],
        "parameters": {"out_start_s": round(start, 3), "out_end_s": round(end, 3)},
    }


def _action(name: str, start: float, end: float, ids: list[str], **params: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"action": name, **_span(start, end)}
    action["parameters"].update({k: v for k, v in params.items() if v is not None})
    if ids:
        action["parameters"]["ingredientIds"] = ids
    return action


def _fit_actions(clip: dict[str, Any], start: float, end: float, ids: list[str]) -> list[dict]:
    crop = clip.get("crop") or {}
    mode = crop.get("mode")
    if mode in ("crop", "reframe") and min(crop.get("w", 1.0), crop.get("h", 1.0)) < 1.0:
        action = _action(
            "c2pa.cropped", start, end, ids, mode=mode, w=crop.get("w"), h=crop.get("h")
        )
        action["description"] = (
            "reframed: the crop window follows the content" if mode == "reframe" else "centre crop"
        )
        return [action]
    if mode == "letterbox":
        return [_action("c2pa.resized", start, end, ids, mode=mode)]
    return []


def shot_actions(shot: dict[str, Any], labels: dict[str, str]) -> list[dict[str, Any]]:
    """The actions of one shot of the output, in order."""
    start, end = float(shot["out_start_s"]), float(shot["out_end_s"])
    index, decision = shot["index"], shot["decision"]
    actions: list[dict[str, Any]] = []
    for clip in shot.get("source") or []:
        c0 = float(clip.get("out_start_s", start)) if decision == "reuse" else start
        c1 = float(clip.get("out_end_s", end)) if decision == "reuse" else end
        ids = [labels[clip["path"]]] if clip.get("path") in labels else []
        actions.append(
            _action(
                "c2pa.placed",
                c0,
                c1,
                ids,
                shot_index=index,
                decision=decision,
                in_s=clip.get("in_s"),
                out_s=clip.get("out_s"),
                speed=clip.get("speed"),
            )
        )
        actions += _fit_actions(clip, c0, c1, ids)
    if decision == "reuse":
        return actions
    ref = shot.get("reference") or {}
    ids = [labels[ref["path"]]] if ref.get("path") in labels else []
    details = {"shot_index": index, "decision": decision, "model": shot.get("model")}
    if is_generated(shot):
        edited = _action(
            "c2pa.edited",
            start,
            end,
            ids,
            **details,
            generator=shot.get("generator"),
            steps=shot.get("steps"),
            strength=shot.get("strength"),
            seed=shot.get("seed"),
        )
        edited["digitalSourceType"] = TRAINED
        edited["softwareAgent"] = {"name": shot.get("generator") or "diffusion"}
        edited["description"] = f"{decision}: generated by {shot.get('model') or 'a model'}"
        actions.append(edited)
    elif decision == "restyle":
        actions.append(_action("c2pa.color_adjustments", start, end, ids, **details))
    else:  # a draft fill: a pan and zoom over a keyframe, or a title card
        draft = _action("c2pa.edited", start, end, ids, **details, fallback=shot.get("fallback"))
        draft["description"] = "draft fill: a pan and zoom over a still, no model"
        actions.append(draft)
    return actions


def definition(manifest: dict[str, Any]) -> dict[str, Any]:
    """The C2PA manifest definition (c2pa.Builder's JSON) of a make's output."""
    items, labels = ingredients(manifest)
    shots = manifest["shots"]
    generated = any(is_generated(s) for s in shots)
    created = {
        "action": "c2pa.created",
        "digitalSourceType": COMPOSITE_AI if generated else COMPOSITE,
        "softwareAgent": {"name": "rag-video", "version": __version__},
        "description": f"assembled by rag-video make from {len(shots)} planned shots",
        "parameters": {META + "run_id": manifest["run_id"]},
    }
    actions = [created, *(a for s in shots for a in shot_actions(s, labels))]
    segments = [
        {
            "index": s["index"],
            "text": s.get("text"),
            "decision": s["decision"],
            "out_start_s": round(float(s["out_start_s"]), 3),
            "out_end_s": round(float(s["out_end_s"]), 3),
            "generator": s.get("generator"),
            "model": s.get("model"),
            "generated": is_generated(s),
        }
        for s in shots
    ]
    return {
        "claim_generator_info": [{"name": "rag-video", "version": __version__}],
        "title": Path(manifest["output"]).name,
        "format": "video/mp4",
        "ingredients": items,
        "assertions": [
            {"label": ACTIONS_LABEL, "data": {"actions": actions}},
            {
                "label": SEGMENTS_LABEL,
                "data": {
                    "run_id": manifest["run_id"],
                    "duration_s": manifest.get("duration_s"),
                    "fps": manifest.get("fps"),
                    "final": bool(manifest.get("final")),
                    "segments": segments,
                },
            },
        ],
    }


__all__ = ["definition", "file_sha256", "is_generated", "shot_actions", "TRAINED"]
