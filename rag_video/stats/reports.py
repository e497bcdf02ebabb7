"""The report catalogue: each canned report's SQL beside its title and chart description.

Every report is one read-only SQL query through the sandboxed session of `rag_video.sql`, so the
numbers are exactly what `rag-video sql` would give. Reports: an overview, hours and shots per
source and per folder, a shot-length histogram, the resolution / frame-rate / codec mix, failed
files with their errors, embedding coverage by model, most-used and never-used shots (from the
`renders` table: rows per `shot_id`) and the reuse / restyle / fill share of every `make` run.

This module owns the report data model (`Chart`, `ReportSpec`, `Report`, `LibraryStats`, with
its JSON form) and running the reports (`compute_stats`, `run_report`); showing them is
`rag_video.stats.text` (terminal) and `rag_video.stats.html` (HTML page with SVG charts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag_video.sql import DEFAULT_TIMEOUT_S, SqlSession
from rag_video.store import Store

DEFAULT_TOP = 20
LENGTH_EDGES = (0.0, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)  # seconds; the last bin is open-ended
DECISIONS = ("reuse", "restyle", "fill")
TOTAL = "_total"  # window column carrying a limited report's row count before LIMIT


# ---- report definitions --------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """How a report is drawn: `kind` hbar | vbar | stacked; `label` column; `values` columns."""

    kind: str
    label: str
    values: tuple[str, ...]
    unit: str = ""


@dataclass(frozen=True)
class ReportSpec:
    """One canned report: its SQL (given the row limit), title, chart and percentage columns."""

    name: str
    title: str
    sql: Callable[[int], str]
    chart: Chart | None = None
    percent: tuple[str, ...] = ()


@dataclass
class Report:
    """The rows of one report. `total_rows` counts rows before the `top` limit."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    total_rows: int
    chart: Chart | None = None
    percent: tuple[str, ...] = ()

    @property
    def truncated(self) -> bool:
        return self.total_rows > len(self.rows)

    def column(self, name: str) -> list[Any]:
        """The values of one column."""
        return [r[name] for r in self.rows]


@dataclass
class LibraryStats:
    """Every report of one library, in display order."""

    library: str
    created_at: dt.datetime
    reports: list[Report] = field(default_factory=list)

    def __iter__(self) -> Iterator[Report]:
        """The reports, in display order (`for report in lib.stats()`, `list(lib.stats())`)."""
        return iter(self.reports)

    def __len__(self) -> int:
        return len(self.reports)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def names(self) -> list[str]:
        """The reports' names, for `stats[name]`."""
        return [r.name for r in self.reports]

    def __getitem__(self, name: str) -> Report:
        """The report called `name` (see `names()`); a KeyError naming the others otherwise."""
        for report in self.reports:
            if report.name == name:
                return report
        raise KeyError(f"report {name!r} is not one of {', '.join(self.names())}")

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready document.

        Shape: {library, created_at, reports: {name: {title, total_rows, rows}}}.
        """
        from rag_video.jsonable import to_jsonable

        return {
            "library": self.library,
            "created_at": self.created_at.isoformat(),
            "reports": {
                r.name: {
                    "title": r.title,
                    "total_rows": r.total_rows,
                    "rows": [to_jsonable(row, finite=True) for row in r.rows],
                }
                for r in self.reports
            },
        }


def _overview(_top: int) -> str:
    return """
        SELECT (SELECT count(*) FROM sources WHERE status = 'ok') AS sources,
               (SELECT count(*) FROM sources WHERE status = 'failed') AS failed,
               (SELECT coalesce(sum(duration_s), 0) / 3600.0
                FROM sources WHERE status = 'ok') AS hours,
               (SELECT count(*) FROM shots) AS shots,
               (SELECT count(embed_model) FROM shots) AS embedded_shots,
               (SELECT count(DISTINCT run_id) FROM renders) AS make_runs"""


def _per_source(top: int) -> str:
    return f"""
        WITH n AS (SELECT source_id, count(*) AS shots FROM shots GROUP BY source_id)
        SELECT src.path, src.duration_s / 3600.0 AS hours, coalesce(n.shots, 0) AS shots,
               count(*) OVER () AS {TOTAL}
        FROM sources src LEFT JOIN n USING (source_id)
        WHERE src.status = 'ok'
        ORDER BY hours DESC NULLS LAST, src.path LIMIT {top}"""


def _per_folder(top: int) -> str:
    return f"""
        WITH n AS (SELECT source_id, count(*) AS shots FROM shots GROUP BY source_id),
             src AS (SELECT source_id, regexp_extract(path, '^(.*)/[^/]*$', 1) AS folder, duration_s
                     FROM sources WHERE status = 'ok')
        SELECT folder, count(*) AS sources, coalesce(sum(src.duration_s), 0) / 3600.0 AS hours,
               coalesce(sum(n.shots), 0)::BIGINT AS shots, count(*) OVER () AS {TOTAL}
        FROM src LEFT JOIN n USING (source_id)
        GROUP BY folder ORDER BY hours DESC, folder LIMIT {top}"""


def length_bins(
    edges: Sequence[float] = LENGTH_EDGES,
) -> list[tuple[int, str, float, float | None]]:
    """(bin, label, min_s, max_s) of the shot-length histogram; the last bin has no upper edge."""
    bins = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        bins.append((i, f"{lo:g}–{hi:g} s" if hi is not None else f"≥ {lo:g} s", float(lo), hi))
    return bins


def _shot_lengths(_top: int) -> str:
    bins = length_bins()
    case = " ".join(f"WHEN duration_s < {hi!r} THEN {i}" for i, _, _, hi in bins if hi is not None)
    values = ", ".join(
        f"({i}, '{label}', {lo!r}, {'NULL' if hi is None else repr(hi)})"
        for i, label, lo, hi in bins
    )
    return f"""
        WITH b AS (SELECT CASE {case} ELSE {len(bins) - 1} END AS bin, duration_s
                   FROM shots WHERE duration_s IS NOT NULL),
             counts AS (SELECT bin, count(*) AS shots, sum(duration_s) AS seconds
                        FROM b GROUP BY bin),
             bins(bin, length, min_s, max_s) AS (VALUES {values})
        SELECT bins.length, bins.min_s, bins.max_s::DOUBLE AS max_s,
               coalesce(counts.shots, 0) AS shots,
               coalesce(counts.seconds, 0) / 3600.0 AS hours,
               coalesce(counts.shots / sum(counts.shots) OVER (), 0) AS share
        FROM bins LEFT JOIN counts USING (bin) ORDER BY bins.bin"""


def _mix(expr: str, label: str) -> Callable[[int], str]:
    def sql(top: int) -> str:
        return f"""
            SELECT {expr} AS {label}, count(*) AS sources,
                   coalesce(sum(duration_s), 0) / 3600.0 AS hours,
                   count(*) / sum(count(*)) OVER () AS share, count(*) OVER () AS {TOTAL}
            FROM sources WHERE status = 'ok'
            GROUP BY 1 ORDER BY sources DESC, 1 LIMIT {top}"""

    return sql


def _failed(top: int) -> str:
    return f"""
        SELECT path, error, ingested_at, count(*) OVER () AS {TOTAL}
        FROM sources WHERE status = 'failed' ORDER BY path LIMIT {top}"""


def _coverage(_top: int) -> str:
    return """
        SELECT coalesce(embed_model, '(not embedded)') AS model, count(*) AS shots,
               count(*) / sum(count(*)) OVER () AS share
        FROM shots GROUP BY 1 ORDER BY shots DESC, model"""


def _most_used(top: int) -> str:
    return f"""
        WITH u AS (SELECT shot_id, count(*) AS uses, count(DISTINCT run_id) AS runs,
                          max(created_at) AS last_used
                   FROM renders WHERE shot_id IS NOT NULL GROUP BY shot_id)
        SELECT u.shot_id, s.path, s.start_s, s.end_s, u.uses, u.runs, u.last_used,
               count(*) OVER () AS {TOTAL}
        FROM u LEFT JOIN shots s USING (shot_id)
        ORDER BY u.uses DESC, u.shot_id LIMIT {top}"""


def _usage(_top: int) -> str:
    return """
        WITH used AS (SELECT DISTINCT shot_id FROM renders WHERE shot_id IS NOT NULL),
             n AS (SELECT count(*) AS shots, count(used.shot_id) AS used_shots
                   FROM shots LEFT JOIN used USING (shot_id))
        SELECT shots, used_shots, shots - used_shots AS never_used_shots,
               CASE WHEN shots > 0 THEN (shots - used_shots) / shots ELSE 0 END AS never_used_share
        FROM n"""


def _never_used(top: int) -> str:
    return f"""
        SELECT s.shot_id, s.path, s.start_s, s.end_s, s.duration_s, count(*) OVER () AS {TOTAL}
        FROM shots s
        WHERE NOT EXISTS (SELECT 1 FROM renders r WHERE r.shot_id = s.shot_id)
        ORDER BY s.duration_s DESC, s.shot_id LIMIT {top}"""


def _per_run(top: int) -> str:
    shares = ", ".join(f"count_if(decision = '{d}') / count(*) AS {d}" for d in DECISIONS)
    return f"""
        SELECT run_id, min(created_at) AS created_at, count(*) AS shots, {shares},
               coalesce(sum(seconds), 0) AS seconds, count(*) OVER () AS {TOTAL}
        FROM renders GROUP BY run_id ORDER BY created_at DESC, run_id LIMIT {top}"""


REPORTS: tuple[ReportSpec, ...] = (
    ReportSpec("overview", "Library overview", _overview),
    ReportSpec(
        "per_source",
        "Hours and shots per source",
        _per_source,
        Chart("hbar", "path", ("hours",), "h"),
    ),
    ReportSpec(
        "per_folder",
        "Hours and shots per folder",
        _per_folder,
        Chart("hbar", "folder", ("hours",), "h"),
    ),
    ReportSpec(
        "shot_lengths",
        "Shot-length histogram",
        _shot_lengths,
        Chart("vbar", "length", ("shots",)),
        ("share",),
    ),
    ReportSpec(
        "resolutions",
        "Resolution mix",
        _mix("width::VARCHAR || 'x' || height::VARCHAR", "resolution"),
        Chart("hbar", "resolution", ("sources",)),
        ("share",),
    ),
    ReportSpec(
        "frame_rates",
        "Frame-rate mix",
        _mix("round(fps, 3)", "fps"),
        Chart("hbar", "fps", ("sources",)),
        ("share",),
    ),
    ReportSpec(
        "codecs",
        "Codec mix",
        _mix("coalesce(video_codec, '?')", "codec"),
        Chart("hbar", "codec", ("sources",)),
        ("share",),
    ),
    ReportSpec("failed", "Failed files", _failed),
    ReportSpec(
        "coverage",
        "Embedding coverage by model",
        _coverage,
        Chart("hbar", "model", ("shots",)),
        ("share",),
    ),
    ReportSpec("most_used", "Most-used shots", _most_used, Chart("hbar", "shot_id", ("uses",))),
    ReportSpec("usage", "Shot usage", _usage, None, ("never_used_share",)),
    ReportSpec("never_used", "Never-used shots (longest first)", _never_used),
    ReportSpec(
        "per_run",
        "Reuse / restyle / fill share per make run",
        _per_run,
        Chart("stacked", "run_id", DECISIONS),
        DECISIONS,
    ),
)
REPORT_NAMES = tuple(spec.name for spec in REPORTS)


# ---- computing -----------------------------------------------------------------------------


def compute_stats(
    store: Store,
    *,
    top: int = DEFAULT_TOP,
    timeout: float = DEFAULT_TIMEOUT_S,
    only: Sequence[str] | None = None,
) -> LibraryStats:
    """Run the canned reports (all, or those named in `only`) over one snapshot of the library."""
    from rag_video.errors import UsageError

    if top < 1:
        raise UsageError(f"top={top}: must be at least 1")
    unknown = sorted(set(only or ()) - set(REPORT_NAMES))
    if unknown:
        raise UsageError(f"report {unknown[0]!r} is not one of {', '.join(REPORT_NAMES)}")
    stats = LibraryStats(library=str(store.root), created_at=dt.datetime.now(dt.UTC))
    with SqlSession(store, timeout=timeout) as session:
        for spec in REPORTS:
            if only is None or spec.name in only:
                stats.reports.append(run_report(session, spec, top))
    return stats


def run_report(session: SqlSession, spec: ReportSpec, top: int) -> Report:
    """One report's rows (its SQL run through the sandboxed session)."""
    table = session.query(spec.sql(top))
    total = table.num_rows
    if TOTAL in table.column_names:
        totals = table.column(TOTAL).to_pylist()
        total = int(totals[0]) if totals else 0
        table = table.drop_columns([TOTAL])
    return Report(
        name=spec.name,
        title=spec.title,
        columns=table.column_names,
        rows=table.to_pylist(),
        total_rows=total,
        chart=spec.chart,
        percent=spec.percent,
    )
