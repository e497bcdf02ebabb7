"""The storyboard: a self-contained HTML page of a make (inline CSS, thumbnails as base64 data
URIs, no script, nothing fetched), every text escaped. Each shot is a card: its decision and
reason, the score against the thresholds, the clips it shows with their crop window, the
candidates.
"""

from __future__ import annotations

import base64
import html
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rag_video.generate.manifest import (
    DECISIONS,
    Manifest,
    ManifestShot,
    Source,
    generation_spend,
    parse_manifest,
    title_of,
    write_exact,
)

log = logging.getLogger(__name__)

DECISION_COLORS: dict[str, str] = {"reuse": "#2e7d32", "restyle": "#e65100", "fill": "#6a1b9a"}
"""Badge colour per decision in the storyboard (green, orange, purple)."""


_CSS = """
:root { --fg:#1d1f23; --muted:#5f6673; --line:#dde1e7; --card:#fff; --bg:#f3f4f7; }
* { box-sizing: border-box; }
body { margin:0;
       font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:20px 28px 14px; background:#fff; border-bottom:1px solid var(--line); }
h1 { margin:0 0 6px; font-size:22px; }
.meta { color:var(--muted); font-size:12.5px; }
.stats { display:flex; flex-wrap:wrap; gap:8px; margin-top:10px; }
.stat { background:var(--bg); border:1px solid var(--line); border-radius:999px; padding:3px 11px;
        font-size:13px; }
.stat b { font-variant-numeric:tabular-nums; }
main { display:grid; grid-template-columns:repeat(auto-fill,minmax(380px,1fr)); gap:16px;
       padding:20px 28px 32px; }
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
.frame .crop { position:absolute; border:2px solid #ffeb3b;
               box-shadow:0 0 0 999px rgba(0,0,0,.45); }
.frame .croplabel { position:absolute; right:8px; top:8px; background:rgba(0,0,0,.62);
                    color:#ffeb3b; font-size:11px; border-radius:4px; padding:1px 6px; }
.frame { overflow:hidden; }
.frame .label { position:absolute; left:8px; bottom:8px; background:rgba(0,0,0,.62); color:#fff;
                font-size:11.5px; border-radius:4px; padding:1px 6px; }
.body { padding:10px 12px 12px; display:flex; flex-direction:column; gap:7px; }
.text { font-size:14.5px; }
.caption { color:#37474f; font-style:italic; border-left:3px solid var(--line); padding-left:8px; }
.reason { font-size:12.5px; }
.reason .why { color:var(--muted); }
.meter { position:relative; height:8px; background:#eceff3; border-radius:4px; margin:3px 0 2px; }
.meter .fill { position:absolute; left:0; top:0; bottom:0; background:var(--dc); border-radius:4px;
               opacity:.85; }
.meter .tick { position:absolute; top:-3px; bottom:-3px; width:2px; background:#455a64; }
.meter .tick.fillt { background:#9e9e9e; }
.meter .ru { position:absolute; top:-2px; bottom:-2px; width:2px; background:#000; opacity:.45; }
.kv { display:grid; grid-template-columns:auto 1fr; gap:1px 10px; font-size:12.5px; }
.kv dt { color:var(--muted); } .kv dd { margin:0; overflow-wrap:anywhere; }
.cands { display:flex; flex-wrap:wrap; gap:6px; padding-top:2px; }
.cand { flex:0 0 84px; font-size:11px; color:var(--muted); text-align:center;
        overflow-wrap:anywhere; }
.cand img, .cand .nothumb { width:84px; height:47px; object-fit:cover; border-radius:4px;
                            display:block; border:2px solid transparent; background:#d7dbe2; }
.cand.chosen img, .cand.chosen .nothumb { border-color:var(--dc); }
.cand .sc { color:var(--fg); font-weight:600; font-variant-numeric:tabular-nums; }
.section { font-size:11px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted);
           margin-top:3px; }
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
    mime = (
        "image/png"
        if image[:8] == b"\x89PNG\r\n\x1a\n"
        else "image/webp"
        if image[8:12] == b"WEBP"
        else "image/jpeg"
    )
    return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"


def _img(image: bytes | None, alt: str) -> str:
    return "" if image is None else f'<img src="{_data_uri(image)}" alt="{_e(alt)}" loading="lazy">'


def reason_summary(shot: ManifestShot) -> str:
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


def _meter(shot: ManifestShot) -> str:
    """A bar of the score with ticks at the thresholds and the runner-up, scaled to the largest
    value."""
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
        parts.append(
            f'<div class="tick fillt" style="left:{pct(r.fill_threshold)}" '
            f'title="fill threshold {r.fill_threshold:.3f}"></div>'
        )
    if r.reuse_threshold is not None:
        parts.append(
            f'<div class="tick" style="left:{pct(r.reuse_threshold)}" '
            f'title="reuse threshold {r.reuse_threshold:.3f}"></div>'
        )
    if r.runner_up is not None:
        parts.append(
            f'<div class="ru" style="left:{pct(r.runner_up)}" '
            f'title="runner-up {r.runner_up:.3f}"></div>'
        )
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
    return (
        f'<div class="crop" title="{_e(title)}" style="left:{100 * x:.1f}%;top:{100 * y:.1f}%;'
        f'width:{100 * crop["w"]:.1f}%;height:{100 * crop["h"]:.1f}%"></div>'
        f'<span class="croplabel">{_e(crop["mode"] + (" ↔" if pans else ""))}</span>'
    )


def _frame_html(shot: ManifestShot, thumbnails: Mapping[str, bytes]) -> str:
    """The chosen thumbnail with a label and its crop window, or a placeholder when there is
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
        return (
            f'<div class="frame">{_img(thumb, f"shot {shot.index} {label}")}{_crop_html(src)}'
            f'<span class="label">{_e(label)}</span></div>'
        )
    note = "generated — no source shot" if src is None else "no thumbnail"
    if shot.fallback:
        note += f" ({shot.fallback})"
    return f'<div class="frame"><div class="none">{_e(note)}</div></div>'


def _details_html(shot: ManifestShot) -> str:
    """Source/segment and render details as a definition list."""
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
    return (
        '<dl class="kv">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows) + "</dl>"
    )


def _candidates_html(shot: ManifestShot, thumbnails: Mapping[str, bytes]) -> str:
    """The candidates' thumbnails with their scores; the chosen one outlined."""
    if not shot.candidates:
        return ""
    chosen = {c.shot_id for c in shot.source}
    cells = []
    for c in shot.candidates:
        thumb = thumbnails.get(c.shot_id)
        pic = (
            _img(thumb, f"candidate {c.shot_id}")
            if thumb is not None
            else '<div class="nothumb"></div>'
        )
        where = Path(c.path).name + (f" @{_clock(c.start_s)}" if c.start_s is not None else "")
        cls = "cand chosen" if c.shot_id in chosen else "cand"
        cells.append(
            f'<div class="{cls}" title="{_e(c.shot_id)}">{pic}<div class="sc">{c.score:.3f}</div>'
            f"<div>{_e(where)}</div></div>"
        )
    return f'<div class="section">candidates</div><div class="cands">{"".join(cells)}</div>'


def _card_html(shot: ManifestShot, thumbnails: Mapping[str, bytes]) -> str:
    """One shot's card."""
    caption = f'<div class="caption">{_e(shot.caption)}</div>' if shot.caption else ""
    why = f'<div class="why">{_e(shot.reason.text)}</div>' if shot.reason.text else ""
    return (
        f'<article class="card" style="--dc:{DECISION_COLORS[shot.decision]}">'
        f'<div class="top"><span class="num">#{shot.index}</span>'
        f'<span class="time">{_clock(shot.out_start_s)}–{_clock(shot.out_end_s)} · '
        f"{shot.duration_s:.2f} s</span>"
        f'<span class="badge">{_e(shot.decision)}</span></div>'
        f"{_frame_html(shot, thumbnails)}"
        f'<div class="body"><div class="text">{_e(shot.text)}</div>{caption}'
        f'<div class="reason"><b>{_e(reason_summary(shot))}</b>{_meter(shot)}{why}</div>'
        f"{_details_html(shot)}{_candidates_html(shot, thumbnails)}</div></article>"
    )


def _header_html(m: Manifest) -> str:
    counts = {d: sum(s.decision == d for s in m.shots) for d in DECISIONS}
    spend = generation_spend(m)
    stats = [
        f"<b>{len(m.shots)}</b> shots",
        f"<b>{m.duration_s:.2f}</b> s",
        f"<b>{m.fps:g}</b> fps",
        f"<b>{m.size[0]}×{m.size[1]}</b>" + (f" ({_e(m.aspect)})" if m.aspect else ""),
    ]
    stats += [
        f'<span style="color:{DECISION_COLORS[d]}">●</span> <b>{counts[d]}</b> {d}'
        for d in DECISIONS
    ]
    stats.append(
        f"generation: <b>{spend['segments']}</b> segments · <b>{spend['steps']}</b> steps · "
        f"<b>{spend['seconds']:.1f}</b> s"
    )
    meta = " · ".join(
        _e(x)
        for x in (
            Path(m.output).name if m.output else "",
            f"script {Path(m.script).name}" if m.script else "",
            f"library {m.library}" if m.library else "",
            m.created_at,
            f"run {m.run_id}" if m.run_id else "",
        )
        if x
    )
    return (
        f'<header><h1>{_e(title_of(m))}</h1><div class="meta">{meta}</div>'
        f'<div class="stats">{"".join(f"<span class=stat>{s}</span>" for s in stats)}</div>'
        "</header>"
    )


def storyboard_html(
    manifest: Mapping[str, Any] | Manifest, thumbnails: Mapping[str, bytes] | None = None
) -> str:
    """The self-contained HTML storyboard of a manifest; `thumbnails` maps shot_id → JPEG bytes."""
    m = parse_manifest(manifest)
    thumbs = thumbnails or {}
    cards = "".join(_card_html(s, thumbs) for s in sorted(m.shots, key=lambda s: s.index))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="rag-video"><title>{_e(title_of(m))} — storyboard</title>'
        f"<style>{_CSS}</style></head><body>{_header_html(m)}<main>{cards}</main></body></html>\n"
    )


def write_html(
    manifest: Mapping[str, Any] | Manifest,
    thumbnails: Mapping[str, bytes] | None,
    path: str | os.PathLike,
) -> Path:
    """Write `storyboard_html(manifest, thumbnails)` to exactly `path`."""
    return write_exact(path, storyboard_html(manifest, thumbnails))
