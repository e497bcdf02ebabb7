"""The files `make` writes beside OUT.mp4: manifest, OpenTimelineIO timeline, storyboard, credits, SRT.

Every writer takes the manifest dict (keys in DESIGN.md, "Manifest"; the exact contract is the
`Manifest` model below) and writes exactly the `path` it is given, in UTF-8, non-atomically:
the caller passes temporary names and renames them all at the end, so a failed `make` leaves no
partial outputs. The writers never infer anything from `path` (an OTIO file may be written to
``.OUT.otio.1234.tmp``). The `*_text` / `build_timeline` functions return the content without
writing.

- `write_manifest`: the manifest as given, JSON with indent 2 (extra keys kept).
- `write_otio`: a Timeline (name = title or script file stem, global start 0 at the output fps)
  with one video track, a Clip per shot. ``reuse`` clips reference the ORIGINAL source file
  (available range = the whole file at the source fps, source range = the shot's in point and
  its planned duration, in source frames); ``restyle``/``fill`` clips reference the drafted or
  generated segment as their own media (0..duration at the output fps). Every clip carries
  ``metadata["rag_video"]`` (decision, score, reason, generator, model, source shot…) and one
  Marker spanning it (name = caption or text, colour per decision). A shot without media becomes
  a Gap; a hole between shots' output times too.
- `write_html`: a self-contained storyboard (inline CSS, thumbnails as base64 data URIs, no
  script, nothing fetched), every text escaped.
- `write_credits`: plain text; each source used with title, creator and license ("unknown" when
  missing), then a line per drafted or generated segment.
- `write_srt`: the shots' captions at their output times; shots without a caption are skipped.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rag_video.errors import UsageError
from rag_video.media.subtitles import format_srt

log = logging.getLogger(__name__)

Decision = Literal["reuse", "restyle", "fill"]
DECISIONS: tuple[str, ...] = ("reuse", "restyle", "fill")
DECISION_COLORS: dict[str, str] = {"reuse": "#2e7d32", "restyle": "#e65100", "fill": "#6a1b9a"}
"""Badge colour per decision in the storyboard (green, orange, purple)."""
MARKER_COLORS: dict[str, str] = {"reuse": "GREEN", "restyle": "ORANGE", "fill": "PURPLE"}
"""OTIO marker colour per decision."""


class ManifestError(UsageError):
    """A manifest that does not follow the contract; the message names the field."""


# ---------------------------------------------------------------- the manifest contract


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reason(_Record):
    """Why a shot got its decision: its score against the thresholds, runner-up, override."""

    score: float | None = None
    reuse_threshold: float | None = None
    fill_threshold: float | None = None
    runner_up: float | None = None
    override: str | None = None
    text: str = ""
    coverage: dict[str, Any] | None = None  # {method, why}: how footage covers the planned duration


class Source(_Record):
    """One clip a planned shot shows: a range of a source file (seconds), its speed and crop.

    ``duration_s`` is what the clip lasts in the output (``(out_s - in_s) / speed``, plus any held
    frames); ``crop`` is its crop track (:mod:`rag_video.generate.reframe`), None for a letterbox or
    an old manifest; ``out_start_s``/``out_end_s`` where it lands in the output."""

    shot_id: str
    path: str
    in_s: float = Field(ge=0)
    out_s: float = Field(ge=0)
    fps: float = Field(gt=0)
    source_duration_s: float = Field(gt=0)
    speed: float = Field(default=1.0, gt=0, le=1)
    duration_s: float | None = None
    crop: dict[str, Any] | None = None
    shot_ids: list[str] = []
    out_start_s: float | None = None
    out_end_s: float | None = None


class Candidate(_Record):
    """One retrieved candidate of a shot."""

    shot_id: str
    score: float
    path: str = ""
    start_s: float | None = None


class ManifestShot(_Record):
    """One planned shot of the output and how it was rendered."""

    index: int
    text: str
    caption: str | None = None
    duration_s: float = Field(gt=0)
    out_start_s: float = Field(ge=0)
    out_end_s: float = Field(gt=0)
    decision: Decision
    score: float | None = None
    reason: Reason = Reason()
    source: list[Source] = []
    reference: dict[str, Any] | None = None
    dropped: list[dict[str, Any]] = []
    too_short: list[dict[str, Any]] = []
    segment: str | None = None
    generator: str = ""
    model: str | None = None
    steps: int = 0
    strength: float | None = None
    seed: int | None = None
    seconds: float = 0.0
    candidates: list[Candidate] = []
    fallback: str | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _clip_list(cls, value: Any) -> Any:
        """One clip (manifests before coverage) or none is a list of clips too."""
        if value is None:
            return []
        return [value] if isinstance(value, Mapping) else value


class Credit(_Record):
    """Attribution of one source file."""

    path: str
    title: str | None = None
    license: str | None = None
    creator: str | None = None


class Manifest(_Record):
    """A `make` run: output format, shots in output order, credits."""

    run_id: str = ""
    script: str = ""
    library: str = ""
    created_at: str = ""
    fps: float = Field(gt=0)
    size: tuple[int, int]
    aspect: str = ""
    duration_s: float = Field(ge=0)
    output: str = ""
    title: str | None = None
    shots: list[ManifestShot]
    credits: list[Credit] = []


def parse_manifest(manifest: Mapping[str, Any] | Manifest) -> Manifest:
    """Validate a manifest dict against the contract; `ManifestError` names the first bad field."""
    if isinstance(manifest, Manifest):
        return manifest
    try:
        return Manifest.model_validate(dict(manifest))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "manifest"
        got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
        raise ManifestError(f"manifest: {where}: {err['msg']}{got}"[:300]) from None
    except TypeError as exc:
        raise ManifestError(f"manifest: not a mapping (got {type(manifest).__name__})") from exc


def _write(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to exactly `path` (UTF-8, "\\n" line ends) and return it."""
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return path


# ---------------------------------------------------------------- manifest JSON


def _json_default(value: Any) -> Any:
    """Paths and numpy scalars/arrays as plain JSON values."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"manifest: value of type {type(value).__name__} is not JSON-serialisable: {value!r}"[:200])


def manifest_json(manifest: Mapping[str, Any]) -> str:
    """The manifest dict as given (extra keys kept), as JSON with indent 2 and a final newline."""
    try:
        return json.dumps(dict(manifest), indent=2, ensure_ascii=False, allow_nan=False, default=_json_default) + "\n"
    except ValueError as exc:
        raise ManifestError(f"manifest: {exc}") from None


def write_manifest(manifest: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write `manifest_json(manifest)` to exactly `path`."""
    return _write(path, manifest_json(manifest))


# ---------------------------------------------------------------- OpenTimelineIO


def _file_url(path: str) -> str:
    """`file://` URI of an absolute form of `path` (percent-encoded)."""
    return Path(path).expanduser().absolute().as_uri()


def _frames(seconds: float, fps: float) -> int:
    """Nearest whole frame of a time (halves round up, not to even)."""
    return math.floor(seconds * fps + 0.5)


def _clip_metadata(shot: ManifestShot, clip: Source | None = None) -> dict[str, Any]:
    """The `rag_video` metadata of a clip: what the shot shows and how it was rendered."""
    meta: dict[str, Any] = {
        "index": shot.index, "text": shot.text, "caption": shot.caption, "decision": shot.decision,
        "score": shot.score, "reason": shot.reason.model_dump(), "generator": shot.generator,
        "model": shot.model, "steps": shot.steps, "strength": shot.strength, "seed": shot.seed,
        "seconds": shot.seconds, "fallback": shot.fallback, "segment": shot.segment,
        "coverage": shot.reason.coverage, "clips": len(shot.source),
        "source_shot_id": clip.shot_id if clip else (shot.source[0].shot_id if shot.source else None),
    }
    if clip is not None:
        meta.update(source_path=clip.path, source_in_s=clip.in_s, source_out_s=clip.out_s, speed=clip.speed,
                    crop=clip.crop, shot_ids=clip.shot_ids or [clip.shot_id])
    if shot.reference is not None:
        meta["reference"] = shot.reference
    return {"rag_video": meta}


def _source_clip(clip: Source, duration, otio):
    """A clip of the ORIGINAL source file: in point at the source fps, its output duration."""
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    available = tr(rt(0, clip.fps), rt(_frames(clip.source_duration_s, clip.fps), clip.fps))
    ref = otio.schema.ExternalReference(target_url=_file_url(clip.path), available_range=available)
    ref.name = Path(clip.path).name
    return ref, tr(rt(_frames(clip.in_s, clip.fps), clip.fps), duration.rescaled_to(clip.fps))


def _segment_clip(shot: ManifestShot, duration, otio):
    """A clip of the drafted/generated segment file, from its start, for the planned duration."""
    assert shot.segment is not None
    tr = otio.opentime.TimeRange
    start = otio.opentime.RationalTime(0, duration.rate)
    ref = otio.schema.ExternalReference(target_url=_file_url(shot.segment), available_range=tr(start, duration))
    ref.name = Path(shot.segment).name
    return ref, tr(start, duration)


def _marker(shot: ManifestShot, source_range, otio):
    return otio.schema.Marker(name=(shot.caption or shot.text)[:200], marked_range=source_range,
                              color=MARKER_COLORS[shot.decision], comment=shot.text,
                              metadata={"rag_video": {"index": shot.index, "decision": shot.decision}})


def _clip_spans(shot: ManifestShot, fps: float) -> list[int]:
    """Output frames of each clip of a reuse shot (from their output times, else their durations)."""
    start, end = _frames(shot.out_start_s, fps), _frames(shot.out_end_s, fps)
    if all(c.out_start_s is not None and c.out_end_s is not None for c in shot.source):
        return [_frames(c.out_end_s, fps) - _frames(c.out_start_s, fps) for c in shot.source]  # type: ignore[arg-type]
    total, bounds = 0.0, []
    for c in shot.source:
        total += c.duration_s if c.duration_s is not None else (c.out_s - c.in_s) / c.speed
        bounds.append(start + _frames(total, fps))
    bounds[-1] = end
    return [b - a for a, b in zip([start, *bounds[:-1]], bounds)]


def _shot_items(shot: ManifestShot, fps: float, otio) -> list:
    """The track items of one shot: a Clip per source clip, a Clip of its segment, or a Gap."""
    duration = otio.opentime.RationalTime(_frames(shot.out_end_s, fps) - _frames(shot.out_start_s, fps), fps)
    if shot.decision == "reuse" and shot.source:
        items = []
        for k, (clip, frames) in enumerate(zip(shot.source, _clip_spans(shot, fps))):
            ref, source_range = _source_clip(clip, otio.opentime.RationalTime(frames, fps), otio)
            item = otio.schema.Clip(name=f"{shot.index:03d}.{k + 1} {shot.decision}: {shot.text[:60]}",
                                    media_reference=ref, source_range=source_range,
                                    metadata=_clip_metadata(shot, clip))
            if clip.speed != 1.0:
                item.effects.append(otio.schema.LinearTimeWarp(name="retime", time_scalar=clip.speed))
            if k == 0:
                item.markers.append(_marker(shot, source_range, otio))
            items.append(item)
        return items
    if shot.segment is None:
        log.warning("shot %d (%s) has no media (no source for reuse, no segment); a gap stands in", shot.index, shot.decision)
        return [otio.schema.Gap(source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), duration),
                                metadata=_clip_metadata(shot))]
    ref, source_range = _segment_clip(shot, duration, otio)
    clip = otio.schema.Clip(name=f"{shot.index:03d} {shot.decision}: {shot.text[:60]}", media_reference=ref,
                            source_range=source_range, metadata=_clip_metadata(shot))
    clip.markers.append(_marker(shot, source_range, otio))
    return [clip]


def _title(m: Manifest) -> str:
    return m.title or (Path(m.script).stem if m.script else "") or "rag-video"


def build_timeline(manifest: Mapping[str, Any] | Manifest):
    """The `opentimelineio.schema.Timeline` of a manifest (one video track, a clip per shot)."""
    import opentimelineio as otio

    m = parse_manifest(manifest)
    fps = m.fps
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    cursor = 0
    for shot in sorted(m.shots, key=lambda s: (s.out_start_s, s.index)):
        start = _frames(shot.out_start_s, fps)
        if start > cursor:
            log.warning("shot %d starts at %.3f s after a hole of %d frames; a gap fills it", shot.index, shot.out_start_s, start - cursor)
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(start - cursor, fps))))
        elif start < cursor:
            log.warning("shot %d starts at %.3f s, overlapping the previous shot by %d frames", shot.index, shot.out_start_s, cursor - start)
        track.extend(_shot_items(shot, fps, otio))
        cursor = max(cursor, _frames(shot.out_end_s, fps))
    meta = {"rag_video": {k: getattr(m, k) for k in ("run_id", "script", "library", "created_at", "aspect", "output", "duration_s")}}
    meta["rag_video"]["size"] = list(m.size)
    meta["rag_video"]["fps"] = fps
    return otio.schema.Timeline(name=_title(m), tracks=[track], global_start_time=otio.opentime.RationalTime(0, fps),
                                metadata=meta)


def write_otio(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write the OpenTimelineIO timeline (``otio_json``) of `manifest` to exactly `path`."""
    import opentimelineio as otio

    return _write(path, otio.adapters.write_to_string(build_timeline(manifest), "otio_json"))


# ---------------------------------------------------------------- storyboard HTML

_CSS = """
:root { --fg:#1d1f23; --muted:#5f6673; --line:#dde1e7; --card:#fff; --bg:#f3f4f7; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:20px 28px 14px; background:#fff; border-bottom:1px solid var(--line); }
h1 { margin:0 0 6px; font-size:22px; }
.meta { color:var(--muted); font-size:12.5px; }
.stats { display:flex; flex-wrap:wrap; gap:8px; margin-top:10px; }
.stat { background:var(--bg); border:1px solid var(--line); border-radius:999px; padding:3px 11px; font-size:13px; }
.stat b { font-variant-numeric:tabular-nums; }
main { display:grid; grid-template-columns:repeat(auto-fill,minmax(380px,1fr)); gap:16px; padding:20px 28px 32px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; overflow:hidden;
        display:flex; flex-direction:column; border-top:4px solid var(--dc); }
.top { display:flex; align-items:center; gap:8px; padding:10px 12px 8px; }
.num { font-weight:700; font-size:15px; }
.time { color:var(--muted); font-variant-numeric:tabular-nums; font-size:12.5px; }
.badge { margin-left:auto; color:#fff; background:var(--dc); border-radius:5px; padding:2px 8px;
         font-size:11.5px; font-weight:700; text-transform:uppercase; letter-spacing:.04em; }
.frame { position:relative; aspect-ratio:16/9; background:#23262d; }
.frame img { width:100%; height:100%; object-fit:cover; display:block; }
.frame .none { position:absolute; inset:0; display:flex; align-items:center; justify-content:center;
               color:#c9ced8; font-size:13px; padding:12px; text-align:center; }
.frame .crop { position:absolute; border:2px solid #ffeb3b; box-shadow:0 0 0 999px rgba(0,0,0,.45); }
.frame .croplabel { position:absolute; right:8px; top:8px; background:rgba(0,0,0,.62); color:#ffeb3b;
                    font-size:11px; border-radius:4px; padding:1px 6px; }
.frame { overflow:hidden; }
.frame .label { position:absolute; left:8px; bottom:8px; background:rgba(0,0,0,.62); color:#fff;
                font-size:11.5px; border-radius:4px; padding:1px 6px; }
.body { padding:10px 12px 12px; display:flex; flex-direction:column; gap:7px; }
.text { font-size:14.5px; }
.caption { color:#37474f; font-style:italic; border-left:3px solid var(--line); padding-left:8px; }
.reason { font-size:12.5px; }
.reason .why { color:var(--muted); }
.meter { position:relative; height:8px; background:#eceff3; border-radius:4px; margin:3px 0 2px; }
.meter .fill { position:absolute; left:0; top:0; bottom:0; background:var(--dc); border-radius:4px; opacity:.85; }
.meter .tick { position:absolute; top:-3px; bottom:-3px; width:2px; background:#455a64; }
.meter .tick.fillt { background:#9e9e9e; }
.meter .ru { position:absolute; top:-2px; bottom:-2px; width:2px; background:#000; opacity:.45; }
.kv { display:grid; grid-template-columns:auto 1fr; gap:1px 10px; font-size:12.5px; }
.kv dt { color:var(--muted); } .kv dd { margin:0; overflow-wrap:anywhere; }
.cands { display:flex; flex-wrap:wrap; gap:6px; padding-top:2px; }
.cand { flex:0 0 84px; font-size:11px; color:var(--muted); text-align:center; overflow-wrap:anywhere; }
.cand img, .cand .nothumb { width:84px; height:47px; object-fit:cover; border-radius:4px; display:block;
                            border:2px solid transparent; background:#d7dbe2; }
.cand.chosen img, .cand.chosen .nothumb { border-color:var(--dc); }
.cand .sc { color:var(--fg); font-weight:600; font-variant-numeric:tabular-nums; }
.section { font-size:11px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin-top:3px; }
"""


def _e(value: Any) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _clock(seconds: float) -> str:
    """``m:ss.ss`` of a time in seconds."""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _data_uri(image: bytes) -> str:
    """A base64 data URI of a JPEG (or PNG/WebP) thumbnail."""
    mime = "image/png" if image[:8] == b"\x89PNG\r\n\x1a\n" else "image/webp" if image[8:12] == b"WEBP" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def _img(image: bytes | None, alt: str) -> str:
    return "" if image is None else f'<img src="{_data_uri(image)}" alt="{_e(alt)}" loading="lazy">'


def reason_summary(shot: ManifestShot) -> str:
    """One line on why the shot got its decision: score vs thresholds, runner-up, override."""
    r = shot.reason
    score = shot.score if shot.score is not None else r.score
    parts = []
    if r.override:
        parts.append(f"set by the script: {r.override}" + (f" (score {score:.3f})" if score is not None else ""))
    elif score is None:
        parts.append("no candidate")
    elif r.reuse_threshold is not None and score >= r.reuse_threshold:
        parts.append(f"score {score:.3f} ≥ reuse {r.reuse_threshold:.3f}")
    elif r.fill_threshold is not None and score < r.fill_threshold:
        parts.append(f"score {score:.3f} < fill {r.fill_threshold:.3f}")
    elif r.fill_threshold is not None and r.reuse_threshold is not None:
        parts.append(f"fill {r.fill_threshold:.3f} ≤ score {score:.3f} < reuse {r.reuse_threshold:.3f}")
    else:
        parts.append(f"score {score:.3f}")
    if r.runner_up is not None:
        parts.append(f"runner-up {r.runner_up:.3f}")
    if r.coverage and r.coverage.get("method") not in (None, "single"):
        parts.append(f"coverage: {r.coverage['method']}")
    return " · ".join(parts)


def _meter(shot: ManifestShot) -> str:
    """A bar of the score with ticks at the thresholds and the runner-up, scaled to the largest value."""
    r = shot.reason
    score = shot.score if shot.score is not None else r.score
    values = [v for v in (score, r.reuse_threshold, r.fill_threshold, r.runner_up) if v is not None]
    if score is None or not values or max(values) <= 0:
        return ""
    top = max(values) * 1.15

    def pct(v: float) -> str:
        return f"{100 * min(max(v, 0.0), top) / top:.1f}%"

    parts = [f'<div class="fill" style="width:{pct(score)}"></div>']
    if r.fill_threshold is not None:
        parts.append(f'<div class="tick fillt" style="left:{pct(r.fill_threshold)}" title="fill threshold {r.fill_threshold:.3f}"></div>')
    if r.reuse_threshold is not None:
        parts.append(f'<div class="tick" style="left:{pct(r.reuse_threshold)}" title="reuse threshold {r.reuse_threshold:.3f}"></div>')
    if r.runner_up is not None:
        parts.append(f'<div class="ru" style="left:{pct(r.runner_up)}" title="runner-up {r.runner_up:.3f}"></div>')
    return f'<div class="meter">{"".join(parts)}</div>'


def _render_line(shot: ManifestShot) -> str:
    """Generator, model, steps, strength, seed and seconds of a shot, as a short line."""
    bits = [shot.generator or "—"]
    if shot.model:
        bits.append(shot.model)
    if shot.steps:
        bits.append(f"{shot.steps} steps")
    if shot.strength is not None:
        bits.append(f"strength {shot.strength:g}")
    if shot.seed is not None:
        bits.append(f"seed {shot.seed}")
    bits.append(f"{shot.seconds:.2f} s")
    return " · ".join(bits)


def _crop_html(clip: Source | None) -> str:
    """The crop window drawn over the thumbnail (its first position; "pans" when it moves)."""
    crop = clip.crop if clip is not None else None
    if not crop or crop.get("mode") == "letterbox" or (crop["w"] >= 0.999 and crop["h"] >= 0.999):
        return ""
    x, y = crop["track"][0][1], crop["track"][0][2]
    pans = len(crop["track"]) > 1
    title = f"{crop['mode']} window {crop['w']:.0%}×{crop['h']:.0%}" + (", panning" if pans else "")
    return (f'<div class="crop" title="{_e(title)}" style="left:{100 * x:.1f}%;top:{100 * y:.1f}%;'
            f'width:{100 * crop["w"]:.1f}%;height:{100 * crop["h"]:.1f}%"></div>'
            f'<span class="croplabel">{_e(crop["mode"] + (" ↔" if pans else ""))}</span>')


def _frame_html(shot: ManifestShot, thumbnails: Mapping[str, bytes]) -> str:
    """The chosen thumbnail with a label and its crop window, or a placeholder when there is none."""
    src = shot.source[0] if shot.source else None
    ref_id = (shot.reference or {}).get("shot_id")
    thumb = thumbnails.get(src.shot_id) if src is not None else thumbnails.get(ref_id) if ref_id else None
    if thumb is not None:
        label = {"reuse": "source", "restyle": "source, restyled", "fill": "reference"}[shot.decision]
        if shot.decision == "fill" and shot.reference and shot.reference.get("role"):
            label = f"reference: {shot.reference['role']}"
        return (f'<div class="frame">{_img(thumb, f"shot {shot.index} {label}")}{_crop_html(src)}'
                f'<span class="label">{_e(label)}</span></div>')
    note = "generated — no source shot" if src is None else "no thumbnail"
    if shot.fallback:
        note += f" ({shot.fallback})"
    return f'<div class="frame"><div class="none">{_e(note)}</div></div>'


def _details_html(shot: ManifestShot) -> str:
    """Source/segment and render details as a definition list."""
    rows = []
    for k, c in enumerate(shot.source):
        speed = f" at {c.speed:.2f}x" if c.speed != 1.0 else ""
        rows.append((f"clip {k + 1}" if len(shot.source) > 1 else "source",
                     f"{Path(c.path).name} {_clock(c.in_s)}–{_clock(c.out_s)}{speed} ({c.shot_id})"))
    if shot.reason.coverage and shot.reason.coverage.get("method"):
        rows.append(("coverage", f"{shot.reason.coverage['method']}: {shot.reason.coverage.get('why', '')}"))
    if shot.reference and shot.decision == "fill":
        rows.append(("reference", f"{Path(shot.reference['path']).name} @{_clock(shot.reference['time_s'])} "
                                  f"({shot.reference.get('role', '')})"))
    for d in shot.dropped:
        rows.append(("dropped", f"{d['shot_id']}: {d['why']}"))
    for d in shot.too_short:
        rows.append(("too short", f"{d['shot_id']}: {d['why']}"))
    if shot.segment:
        rows.append(("segment", Path(shot.segment).name))
    rows.append(("render", _render_line(shot)))
    if shot.fallback:
        rows.append(("fallback", shot.fallback))
    return '<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows) + "</dl>"


def _candidates_html(shot: ManifestShot, thumbnails: Mapping[str, bytes]) -> str:
    """The candidates' thumbnails with their scores; the chosen one outlined."""
    if not shot.candidates:
        return ""
    chosen = {c.shot_id for c in shot.source}
    cells = []
    for c in shot.candidates:
        thumb = thumbnails.get(c.shot_id)
        pic = _img(thumb, f"candidate {c.shot_id}") if thumb is not None else '<div class="nothumb"></div>'
        where = Path(c.path).name + (f" @{_clock(c.start_s)}" if c.start_s is not None else "")
        cls = "cand chosen" if c.shot_id in chosen else "cand"
        cells.append(f'<div class="{cls}" title="{_e(c.shot_id)}">{pic}<div class="sc">{c.score:.3f}</div>'
                     f'<div>{_e(where)}</div></div>')
    return f'<div class="section">candidates</div><div class="cands">{"".join(cells)}</div>'


def _card_html(shot: ManifestShot, thumbnails: Mapping[str, bytes]) -> str:
    """One shot's card."""
    caption = f'<div class="caption">{_e(shot.caption)}</div>' if shot.caption else ""
    why = f'<div class="why">{_e(shot.reason.text)}</div>' if shot.reason.text else ""
    return (
        f'<article class="card" style="--dc:{DECISION_COLORS[shot.decision]}">'
        f'<div class="top"><span class="num">#{shot.index}</span>'
        f'<span class="time">{_clock(shot.out_start_s)}–{_clock(shot.out_end_s)} · {shot.duration_s:.2f} s</span>'
        f'<span class="badge">{_e(shot.decision)}</span></div>'
        f"{_frame_html(shot, thumbnails)}"
        f'<div class="body"><div class="text">{_e(shot.text)}</div>{caption}'
        f'<div class="reason"><b>{_e(reason_summary(shot))}</b>{_meter(shot)}{why}</div>'
        f"{_details_html(shot)}{_candidates_html(shot, thumbnails)}</div></article>"
    )


def generation_spend(manifest: Mapping[str, Any] | Manifest) -> dict[str, float]:
    """What restyle/fill shots cost: segment count, denoiser steps and render seconds summed."""
    m = parse_manifest(manifest)
    made = [s for s in m.shots if s.decision != "reuse"]
    return {"segments": len(made), "steps": sum(s.steps for s in made), "seconds": sum(s.seconds for s in made)}


def _header_html(m: Manifest) -> str:
    counts = {d: sum(s.decision == d for s in m.shots) for d in DECISIONS}
    spend = generation_spend(m)
    stats = [f"<b>{len(m.shots)}</b> shots", f"<b>{m.duration_s:.2f}</b> s",
             f"<b>{m.fps:g}</b> fps", f"<b>{m.size[0]}×{m.size[1]}</b>" + (f" ({_e(m.aspect)})" if m.aspect else "")]
    stats += [f'<span style="color:{DECISION_COLORS[d]}">●</span> <b>{counts[d]}</b> {d}' for d in DECISIONS]
    stats.append(f"generation: <b>{spend['segments']}</b> segments · <b>{spend['steps']}</b> steps · "
                 f"<b>{spend['seconds']:.1f}</b> s")
    meta = " · ".join(_e(x) for x in (
        Path(m.output).name if m.output else "", f"script {Path(m.script).name}" if m.script else "",
        f"library {m.library}" if m.library else "", m.created_at, f"run {m.run_id}" if m.run_id else "") if x)
    return (f"<header><h1>{_e(_title(m))}</h1><div class=\"meta\">{meta}</div>"
            f'<div class="stats">{"".join(f"<span class=stat>{s}</span>" for s in stats)}</div></header>')


def storyboard_html(manifest: Mapping[str, Any] | Manifest, thumbnails: Mapping[str, bytes] | None = None) -> str:
    """The self-contained HTML storyboard of a manifest; `thumbnails` maps shot_id → JPEG bytes."""
    m = parse_manifest(manifest)
    thumbs = thumbnails or {}
    cards = "".join(_card_html(s, thumbs) for s in sorted(m.shots, key=lambda s: s.index))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"rag-video\"><title>{_e(_title(m))} — storyboard</title>"
            f"<style>{_CSS}</style></head><body>{_header_html(m)}<main>{cards}</main></body></html>\n")


def write_html(manifest: Mapping[str, Any] | Manifest, thumbnails: Mapping[str, bytes] | None,
               path: str | os.PathLike) -> Path:
    """Write `storyboard_html(manifest, thumbnails)` to exactly `path`."""
    return _write(path, storyboard_html(manifest, thumbnails))


# ---------------------------------------------------------------- credits


def _used_in(m: Manifest, path: str) -> str:
    """Which output shots use a source file, e.g. "shot 1 (reuse 1.00–3.00 s), shot 2 (restyle)"."""
    uses = []
    for s in m.shots:
        for c in s.source:
            if _same_file(c.path, path):
                uses.append(f"shot {s.index} ({s.decision} {c.in_s:.2f}–{c.out_s:.2f} s)")
        ref = s.reference
        if s.decision == "fill" and ref and _same_file(ref["path"], path):
            uses.append(f"shot {s.index} (fill from {ref.get('role', 'a frame')} at {ref['time_s']:.2f} s)")
    return ", ".join(uses)


def _same_file(a: str, b: str) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


def _source_credits(m: Manifest) -> list[Credit]:
    """The manifest's credits, deduplicated by file, plus any used source missing from them."""
    out: list[Credit] = []
    for c in m.credits:
        if not any(_same_file(c.path, o.path) for o in out):
            out.append(c)
    for s in m.shots:
        paths = [c.path for c in s.source] + ([s.reference["path"]] if s.reference and s.decision == "fill" else [])
        for path in paths:
            if not any(_same_file(path, o.path) for o in out):
                out.append(Credit(path=path))
    return out


def _segment_line(shot: ManifestShot) -> str:
    """How a restyle/fill segment was made: generated by a model, or drafted without one."""
    how = (f"generated by {shot.model}" + (f" ({shot.generator})" if shot.generator else "")
           if shot.model else f"drafted without a model ({shot.generator or 'draft'} renderer)")
    derived = "".join(f", from {Path(c.path).name} ({c.shot_id})" for c in shot.source)
    if not shot.source and shot.reference:
        derived = f", from {Path(shot.reference['path']).name} ({shot.reference.get('shot_id')}, {shot.reference.get('role')})"
    extra = f"; fallback: {shot.fallback}" if shot.fallback else ""
    seg = f" -> {Path(shot.segment).name}" if shot.segment else ""
    return f"shot {shot.index} ({shot.decision}): {how}{derived}{extra}{seg}"


def credits_text(manifest: Mapping[str, Any] | Manifest) -> str:
    """The credits: each source used (name, title, creator, license), then each generated segment."""
    m = parse_manifest(manifest)
    lines = [f"Credits: {_title(m)}"]
    made = " ".join(x for x in ("Made with rag-video", f"from library {m.library}" if m.library else "",
                                f"on {m.created_at}" if m.created_at else "") if x)
    lines += [made + (f" (run {m.run_id})." if m.run_id else "."), "", "Sources"]
    sources = _source_credits(m)
    if not sources:
        lines.append("  (none: every shot was generated)")
    for c in sources:
        lines.append(f"- {Path(c.path).name}")
        lines.append(f"    title: {c.title or 'untitled'}")
        lines.append(f"    creator: {c.creator or 'unknown'}")
        lines.append(f"    license: {c.license or 'unknown'}")
        used = _used_in(m, c.path)
        if used:
            lines.append(f"    used in: {used}")
    segments = [s for s in sorted(m.shots, key=lambda s: s.index) if s.decision != "reuse"]
    if segments:
        lines += ["", "Generated segments"] + [f"- {_segment_line(s)}" for s in segments]
    return "\n".join(lines) + "\n"


def write_credits(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write `credits_text(manifest)` to exactly `path`."""
    return _write(path, credits_text(manifest))


# ---------------------------------------------------------------- SRT


def srt_text(manifest: Mapping[str, Any] | Manifest) -> str:
    """SubRip cues of the shots' captions at their output times, numbered from 1; no caption, no cue."""
    m = parse_manifest(manifest)
    shots = sorted(m.shots, key=lambda s: s.out_start_s)
    return format_srt([(s.out_start_s, s.out_end_s, s.caption or "") for s in shots])


def has_captions(manifest: Mapping[str, Any] | Manifest) -> bool:
    """Whether any shot has a caption (make writes OUT.srt only then)."""
    return any((s.caption or "").strip() for s in parse_manifest(manifest).shots)


def write_srt(manifest: Mapping[str, Any] | Manifest, path: str | os.PathLike) -> Path:
    """Write `srt_text(manifest)` to exactly `path` (an empty file when no shot has a caption)."""
    return _write(path, srt_text(manifest))
