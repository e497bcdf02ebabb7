"""Inline SVG charts of the reports: horizontal, vertical and stacked bars (no script)."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rag_video.stats.reports import Chart, Report
from rag_video.stats.text import cell_text, display_value, number_text

PALETTE = {"bar": "#3b6ea8", "reuse": "#2e8b57", "restyle": "#d9962b", "fill": "#c2453d"}


def chart_svg(report: Report) -> str:
    """The report's chart as inline SVG."""
    chart = _chart(report)
    labels = [chart_label(report, row) for row in report.rows]
    if chart.kind == "stacked":
        series = {name: [float(v or 0) for v in report.column(name)] for name in chart.values}
        return stacked_bars_svg(labels, series, title=report.title)
    values = [float(v or 0) for v in report.column(chart.values[0])]
    if chart.kind == "vbar":
        return vbars_svg(labels, values, title=report.title)
    return hbars_svg(labels, values, title=report.title, unit=chart.unit)


def chart_label(report: Report, row: dict[str, Any]) -> str:
    """A row's label on the chart: a shot as `file start–end s` (its id when the shot is gone)."""
    label = _chart(report).label
    if label == "shot_id" and row.get("path"):
        return f"{os.path.basename(row['path'])} {row['start_s']:g}–{row['end_s']:g} s"
    value = row[label]
    return (
        f"{value:g}" if isinstance(value, float) else cell_text(display_value(report, label, value))
    )


def hbars_svg(
    labels: Sequence[str], values: Sequence[float], *, title: str, unit: str = "", width: int = 760
) -> str:
    """Horizontal bars, one per label, longest bar = largest value."""
    row, top, left, right = 22, 8, 260, 90
    height = top + row * len(labels) + 8
    scale = (width - left - right) / (max(values, default=0) or 1)
    items = []
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        y = top + i * row
        w = max(value * scale, 0.0)
        items.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{esc(_clip(label, 36))}</text>'
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{PALETTE["bar"]}">'
            f"<title>{esc(label)}: {number_text(value)} {unit}</title></rect>"
            f'<text x="{left + w + 4:.1f}" y="{y + 15}">'
            f"{number_text(value)}{(' ' + unit) if unit else ''}</text>"
        )
    return _svg(width, height, title, "".join(items))


def vbars_svg(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    width: int = 760,
    height: int = 220,
) -> str:
    """Vertical bars (a histogram), labels under the bars, values above."""
    top, bottom, left = 20, 40, 10
    slot = (width - 2 * left) / max(len(labels), 1)
    scale = (height - top - bottom) / (max(values, default=0) or 1)
    items = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" '
        'stroke="#999"/>'
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        x = left + i * slot
        h = max(value * scale, 0.0)
        y = height - bottom - h
        items.append(
            f'<rect class="bar" x="{x + 4:.1f}" y="{y:.1f}" width="{slot - 8:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE["bar"]}">'
            f"<title>{esc(label)}: {number_text(value)}</title></rect>"
            f'<text x="{x + slot / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">'
            f"{number_text(value)}</text>"
            f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle">'
            f"{esc(label)}</text>"
        )
    return _svg(width, height, title, "".join(items))


def stacked_bars_svg(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, width: int = 760
) -> str:
    """One horizontal bar per label split into the shares of each series (0..1), with a legend."""
    row, top, left, right = 22, 30, 260, 20
    height = top + row * len(labels) + 8
    span = width - left - right
    items = []
    for j, name in enumerate(series):
        key_x = left + j * 110
        items.append(
            f'<rect x="{key_x}" y="6" width="12" height="12" fill="{PALETTE.get(name, "#888")}"/>'
            f'<text x="{key_x + 16}" y="16">{esc(name)}</text>'
        )
    for i, label in enumerate(labels):
        y, x = top + i * row, float(left)
        items.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{esc(_clip(label, 36))}</text>'
        )
        for name, values in series.items():
            w = max(values[i], 0.0) * span
            items.append(
                f'<rect class="bar" x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" '
                f'fill="{PALETTE.get(name, "#888")}"><title>{esc(label)} {esc(name)}: '
                f"{100 * values[i]:.1f} %</title></rect>"
            )
            x += w
    return _svg(width, height, title, "".join(items))


def _chart(report: Report) -> Chart:
    if report.chart is None:
        raise ValueError(f"report {report.name!r} has no chart")
    return report.chart


def _svg(width: int, height: int, title: str, body: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
        f"<title>{esc(title)}</title>{body}</svg>"
    )


def esc(value: Any) -> str:
    """`value` as text escaped for HTML/SVG content and attribute values."""
    return html.escape(str(value), quote=True)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else "…" + text[-(n - 1) :]
