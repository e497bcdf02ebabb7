"""Canned reports: every report equals a pandas computation on the same tables; libraries without
renders (or without anything); terminal, JSON and HTML output (inline SVG, checked in headless
Chromium when it is installed)."""

from __future__ import annotations

import datetime as dt
import html.parser
import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import rag_video
from rag_video import schema
from rag_video.cli import main
from rag_video.stats import LENGTH_EDGES, REPORT_NAMES, compute_stats, length_bins, render_html
from rag_video.store import Store

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
# path, width, height, fps, codec, duration_s, shot lengths (s), embed model per shot
SOURCES: list[tuple[str, int, int, float, str, int, list[float], list[str | None]]] = [
    (
        "/footage/cam1/a.mp4",
        1920,
        1080,
        25.0,
        "h264",
        0,
        [0.5, 1.5, 3.0, 9.0],
        ["M1", "M1", None, "M2"],
    ),
    ("/footage/cam1/b.mp4", 1920, 1080, 29.97, "hevc", 0, [2.0, 2.5, 70.0], ["M1", "M1", "M1"]),
    (
        "/footage/cam2/c.mp4",
        3840,
        2160,
        25.0,
        "h264",
        0,
        [16.0, 40.0, 1.0, 0.9, 5.0],
        [None, "M2", "M2", "M2", "M2"],
    ),
    ("/footage/d.mov", 1280, 720, 23.976, "prores", 0, [4.0], [None]),
    ("/footage/cam2/e.mp4", 1920, 1080, 25.0, "h264", 0, [], []),  # ok source with no shots
]
FAILED = [
    ("/footage/cam2/trunc.mp4", "cannot open: truncated"),
    ("/footage/bad.mp4", "no video stream"),
]


def sid(i: int) -> str:
    return f"{i:032x}"


def write_library(root, *, renders: bool = True) -> Store:
    """Sources (5 ok, 2 failed), 13 visible shots, 2 orphan shots, and (optionally) 3 make runs."""
    store = Store(root)
    source_rows: list[dict] = []
    shot_rows: list[dict] = []
    for i, (path, w, h, fps, codec, _, lengths, models) in enumerate(SOURCES):
        start = 0.0
        for length, model in zip(lengths, models, strict=False):
            shot_rows.append(
                {
                    "row_key": len(shot_rows),
                    "shot_id": f"{sid(i)}:{round(start * fps)}",
                    "source_id": sid(i),
                    "path": path,
                    "fps": fps,
                    "width": w,
                    "height": h,
                    "start_frame": round(start * fps),
                    "end_frame": round((start + length) * fps),
                    "start_s": start,
                    "end_s": start + length,
                    "duration_s": length,
                    "transition_in": "start" if start == 0 else "cut",
                    "embed_model": model,
                    "embedding": [0.1] * 8 if model else None,
                    "thumbnail": b"\xff\xd8jpeg",
                }
            )
            start += length
        source_rows.append(
            {
                "source_id": sid(i),
                "path": path,
                "width": w,
                "height": h,
                "fps": fps,
                "video_codec": codec,
                "duration_s": start,
                "frames": round(start * fps),
                "status": "ok",
                "ingested_at": T0,
            }
        )
    for j, (path, error) in enumerate(FAILED, start=len(SOURCES)):
        source_rows.append(
            {
                "source_id": sid(j),
                "path": path,
                "status": "failed",
                "error": error,
                "ingested_at": T0,
            }
        )
    for k in range(2):  # orphans: their source never got its ok row
        shot_rows.append(
            {
                "row_key": 100 + k,
                "shot_id": f"{'f' * 32}:{k}",
                "source_id": "f" * 32,
                "path": "/footage/ghost.mp4",
                "duration_s": 3.0,
                "embed_model": "M1",
            }
        )
    with store.writer():
        store.add(
            "shots", schema.to_table(shot_rows, schema.shots_schema(8)), schema.shots_schema(8)
        )
        store.add("sources", schema.to_table(source_rows, schema.SOURCES), schema.SOURCES)
        if renders:
            store.add(
                "renders", schema.to_table(render_rows(shot_rows), schema.RENDERS), schema.RENDERS
            )
    return store


def render_rows(shots: list[dict]) -> list[dict]:
    """Three make runs; shot 0 used three times, shot 5 twice, one render of a shot since
    deleted."""
    s = [r["shot_id"] for r in shots]
    plan = [
        ("run-a", "reuse", s[0]),
        ("run-a", "reuse", s[1]),
        ("run-a", "restyle", s[0]),
        ("run-a", "fill", None),
        ("run-b", "reuse", s[5]),
        ("run-b", "fill", None),
        ("run-b", "fill", None),
        ("run-c", "restyle", s[0]),
        ("run-c", "reuse", s[5]),
        ("run-c", "reuse", "deleted:0"),
    ]
    rows = []
    for n, (run, decision, shot) in enumerate(plan):
        created = T0 + dt.timedelta(hours={"run-a": 1, "run-b": 2, "run-c": 3}[run], seconds=n)
        rows.append(
            {
                "run_id": run,
                "shot_index": n,
                "decision": decision,
                "shot_id": shot,
                "seconds": 0.5 + n,
                "created_at": created,
                "generator": "draft",
            }
        )
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_library(tmp_path_factory.mktemp("stats") / "lib")


@pytest.fixture(scope="module")
def stats(store):
    return compute_stats(store, top=100)


@pytest.fixture(scope="module")
def frames(store):
    """The same tables in pandas: sources, visible shots, renders."""
    sources = store.read("sources").to_pandas()
    shots = store.read("shots").to_pandas()
    shots = shots[shots.source_id.isin(sources.source_id[sources.status == "ok"])]
    return {"sources": sources, "shots": shots, "renders": store.read("renders").to_pandas()}


def rows(report, columns):
    return [tuple(r[c] for c in columns) for r in report.rows]


def assert_rows(got, want):
    """Row tuples equal, floats within pytest.approx (which compares flat sequences only)."""
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=False):
        assert len(g) == len(w)
        for x, y in zip(g, w, strict=False):
            assert x == (pytest.approx(y) if isinstance(y, float) else y), (g, w)


def records(df: pd.DataFrame, columns):
    out = []
    for row in df[columns].itertuples(index=False):
        out.append(
            tuple(None if (isinstance(v, float) and np.isnan(v)) or v is pd.NaT else v for v in row)
        )
    return out


# ---- each report equals pandas ---------------------------------------------------------------


def test_overview(stats, frames):
    src, shots = frames["sources"], frames["shots"]
    ok = src[src.status == "ok"]
    assert stats["overview"].rows == [
        {
            "sources": 5,
            "failed": 2,
            "hours": pytest.approx(ok.duration_s.sum() / 3600),
            "shots": len(shots),
            "embedded_shots": int(shots.embed_model.notna().sum()),
            "make_runs": 3,
        }
    ]
    assert len(shots) == 13


def test_per_source(stats, frames):
    ok = frames["sources"][frames["sources"].status == "ok"].copy()
    ok["hours"] = ok.duration_s / 3600
    ok["shots"] = (
        ok.source_id.map(frames["shots"].groupby("source_id").size()).fillna(0).astype(int)
    )
    want = ok.sort_values(["hours", "path"], ascending=[False, True])
    assert_rows(
        rows(stats["per_source"], ["path", "hours", "shots"]),
        records(want, ["path", "hours", "shots"]),
    )
    assert stats["per_source"].rows[-1]["shots"] == 0  # e.mp4: ok, no shots


def test_per_folder(stats, frames):
    ok = frames["sources"][frames["sources"].status == "ok"].copy()
    ok["folder"] = ok.path.map(os.path.dirname)
    ok["shots"] = ok.source_id.map(frames["shots"].groupby("source_id").size()).fillna(0)
    want = (
        ok.groupby("folder")
        .agg(sources=("path", "size"), hours=("duration_s", "sum"), shots=("shots", "sum"))
        .reset_index()
    )
    want["hours"] /= 3600
    want = want.sort_values(["hours", "folder"], ascending=[False, True])
    assert_rows(
        rows(stats["per_folder"], ["folder", "sources", "hours", "shots"]),
        records(want, ["folder", "sources", "hours", "shots"]),
    )
    assert [r["folder"] for r in stats["per_folder"].rows] == [
        "/footage/cam1",
        "/footage/cam2",
        "/footage",
    ]


def test_shot_lengths(stats, frames):
    d = frames["shots"].duration_s.to_numpy()
    bin_of = np.searchsorted(np.array(LENGTH_EDGES[1:]), d, side="right")
    counts = np.bincount(bin_of, minlength=len(LENGTH_EDGES))
    seconds = np.bincount(bin_of, weights=d, minlength=len(LENGTH_EDGES))
    report = stats["shot_lengths"]
    assert [r["length"] for r in report.rows] == [label for _, label, _, _ in length_bins()]
    assert [r["shots"] for r in report.rows] == counts.tolist() == [2, 2, 3, 2, 1, 1, 1, 1]
    assert [r["hours"] for r in report.rows] == pytest.approx((seconds / 3600).tolist())
    assert [r["share"] for r in report.rows] == pytest.approx((counts / counts.sum()).tolist())
    assert report.rows[-1]["max_s"] is None and report.rows[-1]["min_s"] == 60.0


@pytest.mark.parametrize(
    ("name", "label", "key"),
    [
        (
            "resolutions",
            "resolution",
            lambda s: s.width.astype(int).astype(str) + "x" + s.height.astype(int).astype(str),
        ),
        ("frame_rates", "fps", lambda s: s.fps.round(3)),
        ("codecs", "codec", lambda s: s.video_codec),
    ],
)
def test_format_mix(stats, frames, name, label, key):
    ok = frames["sources"][frames["sources"].status == "ok"]
    ok = ok.assign(key=key(ok))
    want = (
        ok.groupby("key").agg(sources=("path", "size"), hours=("duration_s", "sum")).reset_index()
    )
    want["hours"] /= 3600
    want["share"] = want.sources / want.sources.sum()
    want = want.sort_values(["sources", "key"], ascending=[False, True])
    assert_rows(
        rows(stats[name], [label, "sources", "hours", "share"]),
        records(want, ["key", "sources", "hours", "share"]),
    )


def test_failed_files_with_errors(stats, frames):
    failed = frames["sources"][frames["sources"].status == "failed"].sort_values("path")
    assert rows(stats["failed"], ["path", "error"]) == records(failed, ["path", "error"])
    assert rows(stats["failed"], ["path", "error"]) == [
        ("/footage/bad.mp4", "no video stream"),
        ("/footage/cam2/trunc.mp4", "cannot open: truncated"),
    ]


def test_embedding_coverage_by_model(stats, frames):
    counts = frames["shots"].embed_model.fillna("(not embedded)").value_counts()
    want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert (
        rows(stats["coverage"], ["model", "shots"])
        == want
        == [("M1", 5), ("M2", 5), ("(not embedded)", 3)]
    )
    assert sum(r["share"] for r in stats["coverage"].rows) == pytest.approx(1.0)


def test_most_used_shots(stats, frames):
    r = frames["renders"].dropna(subset=["shot_id"])
    uses = (
        r.groupby("shot_id").agg(uses=("run_id", "size"), runs=("run_id", "nunique")).reset_index()
    )
    uses["path"] = uses.shot_id.map(frames["shots"].set_index("shot_id").path)
    want = uses.sort_values(["uses", "shot_id"], ascending=[False, True])
    assert rows(stats["most_used"], ["shot_id", "uses", "runs", "path"]) == records(
        want, ["shot_id", "uses", "runs", "path"]
    )
    top = stats["most_used"].rows[0]
    assert (top["uses"], top["runs"], top["path"]) == (3, 2, "/footage/cam1/a.mp4")
    assert top["last_used"] == T0 + dt.timedelta(hours=3, seconds=7)
    assert ("deleted:0", None) in rows(stats["most_used"], ["shot_id", "path"])


def test_usage_and_never_used_shots(stats, frames):
    shots, used_ids = frames["shots"], set(frames["renders"].shot_id.dropna())
    unused = shots[~shots.shot_id.isin(used_ids)].sort_values(
        ["duration_s", "shot_id"], ascending=[False, True]
    )
    assert rows(stats["never_used"], ["shot_id", "duration_s"]) == records(
        unused, ["shot_id", "duration_s"]
    )
    assert stats["never_used"].total_rows == len(unused) == 10
    assert stats["usage"].rows == [
        {
            "shots": 13,
            "used_shots": 3,
            "never_used_shots": 10,
            "never_used_share": pytest.approx(10 / 13),
        }
    ]


def test_share_per_make_run(stats, frames):
    r = frames["renders"]
    share = pd.crosstab(r.run_id, r.decision, normalize="index")
    agg = r.groupby("run_id").agg(
        created_at=("created_at", "min"), shots=("run_id", "size"), seconds=("seconds", "sum")
    )
    want = agg.join(share).fillna(0).reset_index().sort_values("created_at", ascending=False)
    columns = ["run_id", "shots", "reuse", "restyle", "fill", "seconds"]
    assert_rows(rows(stats["per_run"], columns), records(want, columns))
    assert [r["run_id"] for r in stats["per_run"].rows] == ["run-c", "run-b", "run-a"]
    assert stats["per_run"].rows[2]["created_at"] == T0 + dt.timedelta(hours=1)
    for row in stats["per_run"].rows:
        assert row["reuse"] + row["restyle"] + row["fill"] == pytest.approx(1.0)


def test_top_limits_rows_and_keeps_the_total(store):
    small = compute_stats(store, top=2, only=["per_source", "never_used", "failed"])
    assert [r.name for r in small.reports] == [
        "per_source",
        "failed",
        "never_used",
    ]  # display order
    assert [(len(r.rows), r.total_rows, r.truncated) for r in small.reports] == [
        (2, 5, True),
        (2, 2, False),
        (2, 10, True),
    ]


# ---- libraries without renders, or without anything ------------------------------------------


def test_reports_without_a_renders_table(tmp_path):
    store = write_library(tmp_path / "lib", renders=False)
    assert not store.has_table("renders")
    got = compute_stats(store)
    assert got["per_run"].rows == [] and got["most_used"].rows == []
    assert got["usage"].rows[0]["never_used_shots"] == 13 and got["never_used"].total_rows == 13
    assert got["overview"].rows[0]["make_runs"] == 0


def test_reports_on_an_empty_library(tmp_path):
    got = compute_stats(Store(tmp_path / "empty"))
    assert [r.name for r in got.reports] == list(REPORT_NAMES)
    assert got["overview"].rows == [
        {"sources": 0, "failed": 0, "hours": 0.0, "shots": 0, "embedded_shots": 0, "make_runs": 0}
    ]
    assert [r["shots"] for r in got["shot_lengths"].rows] == [0] * len(LENGTH_EDGES)
    assert got["usage"].rows[0]["never_used_share"] == 0
    assert "<svg" in render_html(got)


# ---- CLI and Python --------------------------------------------------------------------------


def cli(store, *args, code=0):
    result = CliRunner().invoke(
        main, ["--library", str(store.root), "stats", *args], catch_exceptions=False
    )
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def test_library_stats_is_the_same_report(store, stats):
    got = rag_video.open_library(store.root).stats(top=100)
    assert [r.rows for r in got.reports] == [r.rows for r in stats.reports]


def test_cli_json_document(store, stats):
    doc = json.loads(cli(store, "--json", "--top", "3").stdout)
    assert list(doc["reports"]) == list(REPORT_NAMES)
    assert (
        doc["reports"]["never_used"]["total_rows"] == 10
        and len(doc["reports"]["never_used"]["rows"]) == 3
    )
    assert (
        doc["reports"]["per_run"]["rows"][0]["created_at"]
        == (T0 + dt.timedelta(hours=3, seconds=7)).isoformat()
    )
    assert doc["reports"]["failed"]["rows"][0] == {
        "path": "/footage/bad.mp4",
        "error": "no video stream",
        "ingested_at": T0.isoformat(),
    }


def test_cli_terminal_tables(store):
    out = cli(store).stdout
    for title in (
        "Hours and shots per folder",
        "Shot-length histogram",
        "Codec mix",
        "Failed files",
        "Embedding coverage by model",
        "Most-used shots",
        "Reuse / restyle / fill share",
    ):
        assert title in out
    assert "no video stream" in out and "/footage/cam2" in out and "%" in out


class Parsed(html.parser.HTMLParser):
    """Counts the tags of an HTML document and collects external references."""

    def __init__(self):
        super().__init__()
        self.tags, self.external = {}, []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name in ("src", "href") and value and "://" in value:
                self.external.append(value)


def test_html_report_is_self_contained_with_charts(store, tmp_path):
    target = tmp_path / "report.html"
    cli(store, "--html", str(target), "--top", "5")
    text = target.read_text()
    doc = Parsed()
    doc.feed(text)
    charted = [
        "per_source",
        "per_folder",
        "shot_lengths",
        "resolutions",
        "frame_rates",
        "codecs",
        "coverage",
        "most_used",
        "per_run",
    ]
    assert doc.tags["svg"] == len(charted) and doc.tags["section"] == len(REPORT_NAMES)
    assert doc.tags.get("script", 0) == 0 and doc.external == [] and "@import" not in text
    assert doc.tags["table"] == len(REPORT_NAMES)
    # one bar per row: sources 5, folders 3, length bins 8, 3 resolutions, 3 rates, 3 codecs,
    # 3 models, 4 used shot ids, and 3 runs x 3 decisions
    assert text.count('class="bar"') == 5 + 3 + 8 + 3 + 3 + 3 + 3 + 4 + 3 * 3
    assert "no video stream" in text and "run-c" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert "folder" in cli(store, "--html", str(tmp_path / "nope" / "r.html"), code=2).stderr


CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed")
def test_html_report_renders_in_headless_chromium(stats, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(stats))
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("<svg") == 9 and dom.count("<rect") >= 40 and "Never-used shots" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1000,1400", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    bar_blue = np.all(np.abs(pixels - [0x3B, 0x6E, 0xA8]) <= 3, axis=1).sum()
    assert bar_blue > 2000  # the bar charts were painted
