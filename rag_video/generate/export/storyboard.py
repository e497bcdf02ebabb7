"""The storyboard: a self-contained HTML page of a make (inline CSS, thumbnails as base64 data
URIs, no script, nothing fetched), every text escaped. Each shot is a card: its decision and
reason, the score against the thresholds, the clips it shows with their crop window, the
candidates.

The markup is the Jinja2 template ``rag_video/templates/storyboard.html.j2`` (autoescaped); this
module works out what each card shows.
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_video.generate.manifest import (
    Manifest,
    generation_spend,
    parse_manifest,
    title_of,
    write_exact,
)
from rag_video.generate.shot import DECISIONS, ShotJob, SourceClip

if TYPE_CHECKING:
    import jinja2

log = logging.getLogger(__name__)

DECISION_COLORS: dict[str, str] = {"reuse": "#2e7d32", "restyle": "#e65100", "fill": "#6a1b9a"}
"""Badge colour per decision in the storyboard (green, orange, purple)."""

TEMPLATE = "storyboard.html.j2"


def _escaped(value: Any) -> Any:
    """What a template prints for ``value``: markup as it is, anything else as escaped text
    (``None`` as nothing). The stdlib's escaping (``&quot;``, ``&#x27;``), as the page always had.
    """
    from markupsafe import Markup

    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


@functools.cache
def _template() -> jinja2.Template:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rag_video", "templates"),
        autoescape=True,
        finalize=_escaped,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(TEMPLATE)


def _clock(seconds: float) -> str:
    """``m:ss.ss`` of a time in seconds."""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


def _data_uri(image: bytes) -> str:
    """A base64 data URI of a JPEG (or PNG/WebP) thumbnail."""
    mime = (
        "image/png"
        if image[:8] == b"\x89PNG\r\n\x1a\n"
        else "image/webp"
        if image[8:12] == b"WEBP"
        else "image/jpeg"
    )
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def reason_summary(shot: ShotJob) -> str:
    """One line on why the shot got its decision: score vs thresholds, runner-up, override."""
    r = shot.reason
    score = shot.score if shot.score is not None else r.score
    parts = []
    if r.override:
        parts.append(
            f"set by the script: {r.override}"
            + (f" (score {score:.3f})" if score is not None else "")
        )
    elif score is None:
        parts.append("no candidate")
    elif r.reuse_threshold is not None and score >= r.reuse_threshold:
        parts.append(f"score {score:.3f} ≥ reuse {r.reuse_threshold:.3f}")
    elif r.fill_threshold is not None and score < r.fill_threshold:
        parts.append(f"score {score:.3f} < fill {r.fill_threshold:.3f}")
    elif r.fill_threshold is not None and r.reuse_threshold is not None:
        parts.append(
            f"fill {r.fill_threshold:.3f} ≤ score {score:.3f} < reuse {r.reuse_threshold:.3f}"
        )
    else:
        parts.append(f"score {score:.3f}")
    if r.runner_up is not None:
        parts.append(f"runner-up {r.runner_up:.3f}")
    if r.coverage and r.coverage.get("method") not in (None, "single"):
        parts.append(f"coverage: {r.coverage['method']}")
    return " · ".join(parts)


def _meter(shot: ShotJob) -> dict[str, Any] | None:
    """A bar of the score with ticks at the thresholds and the runner-up, scaled to the largest
    value (None without a score)."""
    r = shot.reason
    score = shot.score if shot.score is not None else r.score
    values = [v for v in (score, r.reuse_threshold, r.fill_threshold, r.runner_up) if v is not None]
    if score is None or not values or max(values) <= 0:
        return None
    top = max(values) * 1.15

    def pct(v: float) -> str:
        return f"{100 * min(max(v, 0.0), top) / top:.1f}%"

    ticks = [
        {"cls": cls, "left": pct(v), "title": f"{what} {v:.3f}"}
        for cls, what, v in (
            ("tick fillt", "fill threshold", r.fill_threshold),
            ("tick", "reuse threshold", r.reuse_threshold),
            ("ru", "runner-up", r.runner_up),
        )
        if v is not None
    ]
    return {"score": pct(score), "ticks": ticks}


def _render_line(shot: ShotJob) -> str:
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


def _crop(clip: SourceClip | None) -> dict[str, str] | None:
    """The crop window drawn over the thumbnail (its first position; "pans" when it moves)."""
    crop = clip.crop if clip is not None else None
    if not crop or crop.get("mode") == "letterbox" or (crop["w"] >= 0.999 and crop["h"] >= 0.999):
        return None
    x, y = crop["track"][0][1], crop["track"][0][2]
    pans = len(crop["track"]) > 1
    return {
        "title": f"{crop['mode']} window {crop['w']:.0%}×{crop['h']:.0%}"
        + (", panning" if pans else ""),
        "left": f"{100 * x:.1f}%",
        "top": f"{100 * y:.1f}%",
        "width": f"{100 * crop['w']:.1f}%",
        "height": f"{100 * crop['h']:.1f}%",
        "label": crop["mode"] + (" ↔" if pans else ""),
    }


def _frame(shot: ShotJob, thumbnails: Mapping[str, bytes]) -> dict[str, Any]:
    """The chosen thumbnail with a label and its crop window, or the note shown when there is
    none."""
    src = shot.source[0] if shot.source else None
    ref_id = (shot.reference or {}).get("shot_id")
    thumb = (
        thumbnails.get(src.shot_id)
        if src is not None
        else thumbnails.get(ref_id)
        if ref_id
        else None
    )
    if thumb is not None:
        label = {"reuse": "source", "restyle": "source, restyled", "fill": "reference"}[
            shot.decision
        ]
        if shot.decision == "fill" and shot.reference and shot.reference.get("role"):
            label = f"reference: {shot.reference['role']}"
        return {
            "thumb": _data_uri(thumb),
            "alt": f"shot {shot.index} {label}",
            "label": label,
            "crop": _crop(src),
        }
    note = "generated — no source shot" if src is None else "no thumbnail"
    if shot.fallback:
        note += f" ({shot.fallback})"
    return {"thumb": None, "note": note}


def _details(shot: ShotJob) -> list[tuple[str, str]]:
    """Source/segment and render details, as (term, description) rows."""
    rows = []
    for k, c in enumerate(shot.source):
        speed = f" at {c.speed:.2f}x" if c.speed != 1.0 else ""
        rows.append(
            (
                f"clip {k + 1}" if len(shot.source) > 1 else "source",
                f"{Path(c.path).name} {_clock(c.in_s)}–{_clock(c.out_s)}{speed} ({c.shot_id})",
            )
        )
    if shot.reason.coverage and shot.reason.coverage.get("method"):
        rows.append(
            ("coverage", f"{shot.reason.coverage['method']}: {shot.reason.coverage.get('why', '')}")
        )
    if shot.reference and shot.decision == "fill":
        rows.append(
            (
                "reference",
                f"{Path(shot.reference['path']).name} @{_clock(shot.reference['time_s'])} "
                f"({shot.reference.get('role', '')})",
            )
        )
    for d in shot.dropped:
        rows.append(("dropped", f"{d['shot_id']}: {d['why']}"))
    for d in shot.too_short:
        rows.append(("too short", f"{d['shot_id']}: {d['why']}"))
    if shot.segment:
        rows.append(("segment", Path(shot.segment).name))
    rows.append(("render", _render_line(shot)))
    if shot.fallback:
        rows.append(("fallback", shot.fallback))
    return rows


def _candidates(shot: ShotJob, thumbnails: Mapping[str, bytes]) -> list[dict[str, Any]]:
    """The candidates with their thumbnails and scores; the chosen ones marked."""
    chosen = {c.shot_id for c in shot.source}
    out = []
    for c in shot.candidates:
        thumb = thumbnails.get(c.shot_id)
        out.append(
            {
                "shot_id": c.shot_id,
                "thumb": _data_uri(thumb) if thumb is not None else None,
                "score": c.score,
                "where": Path(c.path).name
                + (f" @{_clock(c.start_s)}" if c.start_s is not None else ""),
                "chosen": c.shot_id in chosen,
            }
        )
    return out


def _card(shot: ShotJob, thumbnails: Mapping[str, bytes]) -> dict[str, Any]:
    """What one shot's card shows."""
    return {
        "color": DECISION_COLORS[shot.decision],
        "index": shot.index,
        "start": _clock(shot.out_start_s),
        "end": _clock(shot.out_end_s),
        "duration_s": shot.duration_s,
        "decision": shot.decision,
        "frame": _frame(shot, thumbnails),
        "text": shot.text,
        "caption": shot.caption,
        "summary": reason_summary(shot),
        "meter": _meter(shot),
        "why": shot.reason.text,
        "details": _details(shot),
        "candidates": _candidates(shot, thumbnails),
    }


def _header(m: Manifest) -> dict[str, Any]:
    """What the page header shows: the run's facts and its counts per decision."""
    meta = [
        Path(m.output).name if m.output else "",
        f"script {Path(m.script).name}" if m.script else "",
        f"library {m.library}" if m.library else "",
        m.created_at,
        f"run {m.run_id}" if m.run_id else "",
    ]
    return {
        "meta": [x for x in meta if x],
        "shots": len(m.shots),
        "duration_s": m.duration_s,
        "fps": m.fps,
        "size": m.size,
        "aspect": m.aspect,
        "decisions": [
            {
                "name": d,
                "color": DECISION_COLORS[d],
                "count": sum(s.decision == d for s in m.shots),
            }
            for d in DECISIONS
        ],
        "spend": generation_spend(m),
    }


def storyboard_html(
    manifest: Mapping[str, Any] | Manifest, thumbnails: Mapping[str, bytes] | None = None
) -> str:
    """The self-contained HTML storyboard of a manifest; `thumbnails` maps shot_id → JPEG bytes."""
    m = parse_manifest(manifest)
    thumbs = thumbnails or {}
    return _template().render(
        title=title_of(m),
        header=_header(m),
        cards=[_card(s, thumbs) for s in sorted(m.shots, key=lambda s: s.index)],
    )


def write_html(
    manifest: Mapping[str, Any] | Manifest,
    thumbnails: Mapping[str, bytes] | None,
    path: str | os.PathLike[str],
) -> Path:
    """Write `storyboard_html(manifest, thumbnails)` to exactly `path`."""
    return write_exact(path, storyboard_html(manifest, thumbnails))


__all__ = ["DECISION_COLORS", "reason_summary", "storyboard_html", "write_html"]
