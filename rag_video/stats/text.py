"""How report values are shown to a person, and the reports as terminal tables."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from rag_video.stats.reports import LibraryStats, Report


def display_value(report: Report, column: str, value: Any) -> Any:
    """How a value is shown to a person: shares as percentages, times ISO 8601."""
    if value is None:
        return None
    if column in report.percent and isinstance(value, (int, float)):
        return f"{100 * value:.1f} %"
    if report.chart is not None and column == report.chart.label and isinstance(value, float):
        return f"{value:g}"  # a label (e.g. 23.976 fps), not a measurement to round
    if isinstance(value, (dt.datetime, dt.date)):
        return (
            value.isoformat(timespec="seconds")
            if isinstance(value, dt.datetime)
            else value.isoformat()
        )
    return value


def report_title(report: Report) -> str:
    """The title, saying when only the top rows are listed."""
    if report.truncated:
        return f"{report.title} (top {len(report.rows)} of {report.total_rows})"
    return report.title


def print_stats(stats: LibraryStats) -> None:
    """Every report as a terminal table on stdout."""
    from rag_video.output import print_table

    for report in stats.reports:
        rows = [
            {c: display_value(report, c, row[c]) for c in report.columns} for row in report.rows
        ]
        print_table(rows, title=report_title(report), columns=report.columns)


def cell_text(value: Any) -> str:
    """A value as table-cell text: None empty, floats as `number_text`."""
    if value is None:
        return ""
    if isinstance(value, float):
        return number_text(value)
    return str(value)


def number_text(value: float) -> str:
    """A number to at most 4 significant digits; whole floats without a point; NaN/inf empty."""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, float) and value != int(value):
        return f"{value:.4g}"
    return f"{int(value)}" if isinstance(value, float) else str(value)
