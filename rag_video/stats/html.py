"""The reports as one self-contained HTML page: tables plus inline SVG charts, no external
assets, no script."""

from __future__ import annotations

import os
from pathlib import Path

from rag_video.stats.reports import LibraryStats, Report
from rag_video.stats.svg import chart_svg, esc
from rag_video.stats.text import cell_text, display_value, report_title

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-size: 13px; }
th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
svg.chart { display: block; margin: .5em 0; } \
svg.chart text { font: 12px system-ui, sans-serif; fill: #333; }
p.note, p.empty { color: #666; }
"""


def render_html(stats: LibraryStats) -> str:
    """A self-contained HTML page: every report as a table, with an inline SVG chart where
    useful."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>rag-video library report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>rag-video library report</h1>",
        f'<p class="note">Library <code>{esc(stats.library)}</code>, '
        f"{esc(stats.created_at.isoformat(timespec='seconds'))}</p>",
    ]
    for report in stats.reports:
        parts.append(f'<section id="{report.name}"><h2>{esc(report_title(report))}</h2>')
        if report.chart is not None and report.rows:
            parts.append(chart_svg(report))
        parts.append(html_table(report))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(stats: LibraryStats, path: str | os.PathLike) -> Path:
    """Write `render_html(stats)` to `path` (atomically)."""
    from rag_video.errors import UsageError
    from rag_video.store import atomic_write_text

    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"--html {path}: folder {path.parent} does not exist")
    atomic_write_text(path, render_html(stats))
    return path


def html_table(report: Report) -> str:
    """A report's rows as an HTML table (a note when it is empty)."""
    if not report.rows:
        return f'<p class="empty">No rows.</p>{_header_only(report)}'
    head = "".join(f"<th>{esc(c)}</th>" for c in report.columns)
    body = []
    for row in report.rows:
        cells = []
        for c in report.columns:
            value = display_value(report, c, row[c])
            cls = (
                ' class="num"'
                if isinstance(row[c], (int, float)) and not isinstance(row[c], bool)
                else ""
            )
            cells.append(f"<td{cls}>{esc(cell_text(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _header_only(report: Report) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in report.columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody></tbody></table>"
