"""Canned reports over a library: what a producer asks about their footage and their renders.

Output: terminal tables (`print_stats`), one JSON document (`LibraryStats.to_json`), or a
self-contained HTML page with inline SVG charts (`render_html`; no script, no external assets).

Modules, importing downward: `reports` (the catalogue: each report's SQL beside its title and
chart description, the data model and running the reports) ← `text` (how values are shown, the
terminal tables) ← `svg` (the charts) ← `html` (the page).
"""

from rag_video.stats.html import html_table, render_html, write_html
from rag_video.stats.reports import (
    DECISIONS,
    DEFAULT_TOP,
    LENGTH_EDGES,
    REPORT_NAMES,
    REPORTS,
    Chart,
    LibraryStats,
    Report,
    ReportSpec,
    compute_stats,
    length_bins,
    run_report,
)
from rag_video.stats.svg import chart_svg
from rag_video.stats.text import display_value, print_stats, report_title

__all__ = [
    "DECISIONS",
    "DEFAULT_TOP",
    "LENGTH_EDGES",
    "REPORTS",
    "REPORT_NAMES",
    "Chart",
    "LibraryStats",
    "Report",
    "ReportSpec",
    "chart_svg",
    "compute_stats",
    "display_value",
    "html_table",
    "length_bins",
    "print_stats",
    "render_html",
    "report_title",
    "run_report",
    "write_html",
]
