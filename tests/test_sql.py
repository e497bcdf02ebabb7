"""Read-only SQL: the DuckDB sandbox (settings and every refused statement class), results equal to
pyarrow on the same tables, pushdown into the Lance scan, output formats and export round-trips."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import synth
from click.testing import CliRunner
from helpers import TINY, make_footage

import rag_video
from rag_video import schema
from rag_video.cli import main
from rag_video.errors import UsageError
from rag_video.sql import SANDBOX, SqlSession, display_columns, run_sql
from rag_video.sqlcheck import SqlError

ORPHAN = "0rphan000000000000000000000000000"


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """Two ingested videos (5 shots, embedded with the tiny model), one failed file, one orphan
    shot (its source never committed) and three renders rows."""
    root = tmp_path_factory.mktemp("sql")
    footage = make_footage(root / "footage")
    synth.write_random_bytes(root / "footage" / "junk.mp4")
    library = rag_video.open_library(root / "lib", **TINY)
    library.ingest([footage["a"].parent])
    store = library.store
    row = store.read("shots").slice(0, 1)
    row = row.set_column(row.schema.get_field_index("source_id"), "source_id", pa.array([ORPHAN]))
    row = row.set_column(
        row.schema.get_field_index("shot_id"), "shot_id", pa.array([f"{ORPHAN}:0"])
    )
    row = row.set_column(
        row.schema.get_field_index("row_key"), "row_key", pa.array([10_000], pa.int64())
    )
    shot_ids = sorted(library.shots().column("shot_id").to_pylist())
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    renders = schema.to_table(
        [
            {
                "run_id": "r1",
                "shot_index": 0,
                "decision": "reuse",
                "shot_id": shot_ids[0],
                "created_at": when,
            },
            {
                "run_id": "r1",
                "shot_index": 1,
                "decision": "fill",
                "shot_id": None,
                "created_at": when,
            },
            {
                "run_id": "r2",
                "shot_index": 0,
                "decision": "restyle",
                "shot_id": shot_ids[0],
                "created_at": when,
            },
        ],
        schema.RENDERS,
    )
    with store.writer():
        store.add("shots", row, row.schema)
        store.add("renders", renders, schema.RENDERS)
    return library


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """Real files outside the library that no query may read."""
    root = tmp_path_factory.mktemp("outside")
    (root / "secret.csv").write_text("a,b\nSECRET,1\n")
    (root / "secret.txt").write_text("SECRET\n")
    pq.write_table(pa.table({"a": ["SECRET"]}), root / "secret.parquet")
    (root / "secret.json").write_text('[{"a": "SECRET"}]')
    return root


def cli(lib, *args, code=0):
    result = CliRunner().invoke(
        main, ["--library", str(lib.path), "sql", *args], catch_exceptions=False
    )
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def table_versions(lib) -> dict:
    return {name: lib.store.version(name) for name in ("sources", "shots", "renders")}


# ---- the sandbox ---------------------------------------------------------------------------


def test_duckdb_settings_are_the_sandbox_and_locked(lib):
    with SqlSession(lib.store) as session:
        got = {name: session.setting(name) for name in SANDBOX}
        locked = session.setting("lock_configuration")
    assert got == {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "python_enable_replacements": False,
        "temp_directory": "",
    }
    assert locked is True


@pytest.mark.parametrize(
    "statement",
    [
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "SET autoload_known_extensions = true",
        "PRAGMA threads = 1",
        "SET allow_unsigned_extensions = true",
        "SET GLOBAL temp_directory = '/tmp'",
    ],
)
def test_locked_configuration_holds_even_past_the_statement_check(lib, statement):
    """Straight to DuckDB, bypassing rag-video's check: the engine itself refuses."""
    with SqlSession(lib.store) as session:
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            session.con.execute(statement)
        assert session.setting("enable_external_access") is False
        assert session.setting("lock_configuration") is True


def test_engine_refuses_outside_files_even_past_the_check(lib, outside):
    local_python_variable = pa.table({"a": ["SECRET"]})  # DuckDB must not scan Python variables
    assert local_python_variable.num_rows == 1
    with SqlSession(lib.store) as session:
        with pytest.raises(duckdb.PermissionException):
            session.con.execute(f"SELECT * FROM read_text('{outside / 'secret.txt'}')").fetchall()
        with pytest.raises(duckdb.Error):
            session.con.execute("SELECT * FROM local_python_variable").fetchall()


REFUSED = [
    # COPY / EXPORT (writing files)
    ("COPY shots TO '{out}/x.csv'", "refused: COPY"),
    ("COPY (SELECT * FROM shots) TO '{out}/x.parquet' (FORMAT parquet)", "refused: COPY"),
    ("COPY shots FROM '{out}/secret.csv'", "refused: COPY"),
    ("EXPORT DATABASE '{out}/dump'", "refused: EXPORT"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}/x.csv'", "refused: EXPLAIN COPY"),
    # reading outside files
    ("SELECT * FROM read_csv('{out}/secret.csv')", "refused: Cannot access file"),
    ("SELECT * FROM read_csv_auto('{out}/secret.csv')", "refused: Cannot access file"),
    ("SELECT * FROM read_text('{out}/secret.txt')", "refused: Cannot access file"),
    ("SELECT * FROM read_blob('{out}/secret.txt')", "refused: Cannot access file"),
    ("SELECT * FROM read_parquet('{out}/secret.parquet')", "refused: Cannot access file"),
    ("SELECT * FROM parquet_metadata('{out}/secret.parquet')", "refused: Cannot access file"),
    ("SELECT * FROM read_json('{out}/secret.json')", "refused: Cannot access file"),
    ("SELECT * FROM glob('{out}/*')", "refused: Cannot access file"),
    ("SELECT * FROM sniff_csv('{out}/secret.csv')", "refused: Cannot access file"),
    ("SELECT * FROM '{out}/secret.csv'", "refused: Cannot access file"),
    ("SELECT * FROM query('SELECT 1')", "refused: function query()"),
    # ATTACH / DETACH
    ("ATTACH '{out}/other.duckdb' AS other", "refused: ATTACH"),
    ("ATTACH ':memory:' AS other", "refused: ATTACH"),
    ("DETACH memory", "refused: DETACH"),
    # extensions
    ("INSTALL httpfs", "refused: INSTALL"),
    ("FORCE INSTALL httpfs", "refused: FORCE"),
    ("LOAD httpfs", "refused: LOAD"),
    ("UPDATE EXTENSIONS", "refused: UPDATE"),
    # settings
    ("SET enable_external_access = true", "refused: SET"),
    ("SET lock_configuration = false", "refused: SET"),
    ("RESET lock_configuration", "refused: RESET"),
    ("PRAGMA enable_profiling", "refused: PRAGMA"),
    ("USE memory", "refused: USE"),
    ("CALL pragma_version()", "refused: CALL"),
    # modifications
    ("DELETE FROM shots", "refused: DELETE"),
    ("TRUNCATE shots", "refused: TRUNCATE"),
    ("UPDATE sources SET status = 'failed'", "refused: UPDATE"),
    ("INSERT INTO renders (run_id) VALUES ('x')", "refused: INSERT"),
    ("DROP VIEW shots", "refused: DROP"),
    ("CREATE TABLE t AS SELECT * FROM shots", "refused: CREATE"),
    ("CREATE OR REPLACE TEMP VIEW shots AS SELECT * FROM _shots", "refused: CREATE"),
    ("CREATE MACRO m(x) AS x", "refused: CREATE"),
    ("ALTER VIEW shots RENAME TO s", "refused: ALTER"),
    ("VACUUM", "refused: VACUUM"),
    ("CHECKPOINT", "refused: CHECKPOINT"),
    ("BEGIN TRANSACTION", "refused: BEGIN"),
    ("WITH d AS (DELETE FROM _shots RETURNING *) SELECT count(*) FROM d", "refused: DELETE inside"),
    (
        "WITH d AS (INSERT INTO _renders (run_id) VALUES ('x') RETURNING *) SELECT * FROM d",
        "refused: INSERT inside",
    ),
    (
        "SELECT (WITH d AS (UPDATE _sources SET status = 'x' RETURNING 1) SELECT count(*) FROM d)",
        "refused: UPDATE inside",
    ),
    ("EXPLAIN ANALYZE DELETE FROM shots", "refused: EXPLAIN DELETE"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "refused: EXPLAIN CREATE"),
    ("SELECT 1; DROP VIEW shots", "refused: exactly one statement"),
    ("PIVOT shots ON transition_in USING count(*)", "refused: PIVOT"),
]


@pytest.mark.parametrize(("statement", "message"), REFUSED, ids=[s for s, _ in REFUSED])
def test_refused_statement_is_one_line_exit_2(lib, outside, statement, message):
    before = table_versions(lib)
    result = cli(lib, statement.format(out=outside), code=2)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr
    assert "SECRET" not in result.stdout + result.stderr
    assert result.stdout == ""
    assert table_versions(lib) == before
    assert sorted(p.name for p in outside.iterdir()) == [
        "secret.csv",
        "secret.json",
        "secret.parquet",
        "secret.txt",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1",
        "WITH a AS (SELECT 2 AS x) SELECT x FROM a",
        "FROM sources",
        "VALUES (1)",
        "TABLE renders",
        "DESCRIBE shots",
        "SHOW TABLES",
        "SUMMARIZE renders",
        "EXPLAIN SELECT * FROM shots",
        "EXPLAIN ANALYZE SELECT count(*) FROM shots",
        "SELECT 1 UNION ALL SELECT 2",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
        "SELECT * FROM r",
    ],
)
def test_read_only_statement_kinds_are_accepted(lib, statement):
    assert isinstance(lib.sql(statement), pa.Table)


def test_python_api_refuses_with_sql_error(lib):
    with pytest.raises(SqlError, match="refused: DELETE"):
        lib.sql("delete from shots")
    with pytest.raises(UsageError):
        lib.sql("select * from read_csv('/etc/passwd')")


def test_timeout_cancels_the_query(lib):
    result = cli(lib, "select count(*) from range(1000000000000)", "--timeout", "0.3", code=2)
    assert "timeout" in result.stderr and result.stderr.count("\n") == 1
    with pytest.raises(SqlError, match="0.3s timeout"):
        lib.sql("select count(*) from range(1000000000000)", timeout=0.3)


# ---- results -------------------------------------------------------------------------------


def test_views_follow_the_commit_marker(lib):
    raw = lib.sql("select shot_id from _shots").column("shot_id").to_pylist()
    visible = lib.sql("select shot_id from shots").column("shot_id").to_pylist()
    assert f"{ORPHAN}:0" in raw and f"{ORPHAN}:0" not in visible
    assert sorted(visible) == sorted(lib.shots().column("shot_id").to_pylist())
    assert len(visible) == 5
    sources = lib.sql(
        "select status, count(*) n from sources group by status order by status"
    ).to_pylist()
    assert sources == [{"status": "failed", "n": 1}, {"status": "ok", "n": 2}]


def test_group_by_equals_pyarrow(lib):
    got = lib.sql(
        "select source_id, count(*) as n, sum(duration_s) as seconds, max(end_frame) as last "
        "from shots group by source_id order by source_id"
    )
    shots = lib.shots()
    want = (
        shots.group_by("source_id")
        .aggregate([("shot_id", "count"), ("duration_s", "sum"), ("end_frame", "max")])
        .sort_by("source_id")
    )
    assert got.column("source_id").to_pylist() == want.column("source_id").to_pylist()
    assert got.column("n").to_pylist() == want.column("shot_id_count").to_pylist()
    assert got.column("seconds").to_pylist() == pytest.approx(
        want.column("duration_s_sum").to_pylist()
    )
    assert got.column("last").to_pylist() == want.column("end_frame_max").to_pylist()
    sources = (
        lib.sources().filter(pc.equal(lib.sources().column("status"), "ok")).sort_by("source_id")
    )
    assert got.column("last").to_pylist() == sources.column("frames").to_pylist()


def test_join_view_equals_pyarrow_join(lib):
    got = lib.sql(
        "select shot_id, title, license, source_duration_s from shots_with_source order by shot_id"
    )
    want = (
        lib.shots()
        .select(["shot_id", "source_id"])
        .join(lib.sources().select(["source_id", "title", "license", "duration_s"]), "source_id")
        .sort_by("shot_id")
    )
    assert got.column("shot_id").to_pylist() == want.column("shot_id").to_pylist()
    assert got.column("title").to_pylist() == want.column("title").to_pylist()
    assert got.column("license").to_pylist() == want.column("license").to_pylist()
    assert got.column("source_duration_s").to_pylist() == want.column("duration_s").to_pylist()
    assert got.column("title").to_pylist().count("Red cliffs") == 3


def test_filter_equals_pyarrow_and_vectors_are_queryable(lib):
    got = lib.sql(
        "select shot_id, embedding from shots where start_frame > 0 and transition_in = 'cut' "
        "order by shot_id"
    )
    shots = lib.shots().sort_by("shot_id")
    mask = pc.and_(
        pc.greater(shots.column("start_frame"), 0), pc.equal(shots.column("transition_in"), "cut")
    )
    want = shots.filter(mask)
    assert got.column("shot_id").to_pylist() == want.column("shot_id").to_pylist()
    assert got.num_rows == 3
    assert got.column("embedding").to_pylist() == want.column("embedding").to_pylist()


# ---- pushdown into the Lance scan ----------------------------------------------------------


def test_explain_shows_filter_and_projection_in_the_arrow_scans(lib):
    query = "select shot_id from shots where start_frame > 10 and transition_in = 'cut'"
    with SqlSession(lib.store) as session:
        shots_scan, sources_scan = session.scans(query)
        plan = session.query(f"EXPLAIN (FORMAT json) {query}").column("explain_value")[0].as_py()
    assert shots_scan == {
        "filters": ['("start_frame" > 10)', "(\"transition_in\" = 'cut')"],
        "projections": ["shot_id", "source_id"],
    }
    assert sources_scan == {"filters": ["(\"status\" = 'ok')"], "projections": ["source_id"]}
    assert plan.count("PYTHON_ARROW_SCAN") >= 2 and '"name": "FILTER"' not in plan
    assert "embedding" not in plan and "thumbnail" not in plan


def test_lance_scanner_receives_columns_and_filter(lib, monkeypatch):
    """Spy on the real LanceDataset.scanner: DuckDB hands Lance the projection and the filter."""
    from lance.dataset import LanceDataset

    calls = []
    real = LanceDataset.scanner

    def spy(self, *args, **kwargs):
        calls.append((self.uri, kwargs.get("columns"), str(kwargs.get("filter"))))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LanceDataset, "scanner", spy)
    got = lib.sql("select shot_id from shots where start_frame > 10")
    assert got.num_rows == 3
    shot_scans = [c for c in calls if c[0].rstrip("/").endswith("shots.lance")]
    assert len(shot_scans) == 1
    _, columns, where = shot_scans[0]
    assert sorted(columns) == ["shot_id", "source_id"]
    assert where == "(start_frame > 10)"
    source_scans = [c for c in calls if c[0].rstrip("/").endswith("sources.lance")]
    assert [(c[1], c[2]) for c in source_scans] == [(["source_id"], '(status == "ok")')]


def test_sql_works_on_an_empty_library(tmp_path):
    library = rag_video.open_library(tmp_path / "empty")
    assert library.sql("select count(*) as n from renders").to_pylist() == [{"n": 0}]
    assert library.sql("select count(*) as n from shots_with_source").to_pylist() == [{"n": 0}]


# ---- table output --------------------------------------------------------------------------


def test_table_hides_vectors_and_thumbnails_unless_named(lib):
    star = cli(lib, "select * from (select shot_id, embedding, thumbnail from shots)").stdout
    assert "shot_id" in star and "embedding" not in star and "thumbnail" not in star
    everything = lib.sql("select * from shots")
    shown = display_columns(everything, "select * from shots").column_names
    assert shown == [c for c in everything.column_names if c not in ("embedding", "thumbnail")]
    named = cli(lib, "select shot_id, embedding, thumbnail from shots").stdout
    assert (
        "embedding" in named and "thumbnail" in named and "bytes>" in named and "values]" in named
    )
    t = lib.sql("select *, embedding from shots")
    assert "embedding" in display_columns(t, "select *, embedding from shots").column_names
    assert "thumbnail" not in display_columns(t, "select *, embedding from shots").column_names
    aliased = lib.sql("select thumbnail as thumb from shots")
    assert display_columns(aliased, "select thumbnail as thumb from shots").column_names == [
        "thumb"
    ]


def test_table_row_limit_but_exports_are_complete(lib, tmp_path):
    result = cli(lib, "select range as i from range(25)", "--max-rows", "4")
    body = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert len(body) == 4
    assert "more than 4 rows" in result.stderr
    assert (
        len(
            json.loads(
                cli(
                    lib, "select range as i from range(25)", "--format", "json", "--max-rows", "4"
                ).stdout
            )
        )
        == 25
    )
    cli(lib, "select range as i from range(2500)", "-o", str(tmp_path / "all.csv"))
    assert (tmp_path / "all.csv").read_text().count("\n") == 2501
    assert len(run_sql(lib.store, "select range from range(2500)", max_rows=7)) == 7


# ---- JSON, CSV, Parquet, Arrow -------------------------------------------------------------


def test_json_is_an_array_of_rows_with_plain_types(lib):
    query = (
        "select path, ingested_at, frames, 1.25::decimal(5, 2) as dec, 'nan'::double as nan, "
        "date '2024-02-29' as day, interval 90 seconds as span from sources where status = 'ok' "
        "order by path"
    )
    rows = json.loads(cli(lib, query, "--format", "json").stdout)
    assert [Path(r["path"]).name for r in rows] == ["a.mp4", "b.mp4"]
    assert [r["frames"] for r in rows] == [90, 70]
    when = dt.datetime.fromisoformat(rows[0]["ingested_at"])
    assert when.tzinfo is not None and rows[0]["ingested_at"][10] == "T"
    assert rows[0]["dec"] == 1.25 and rows[0]["nan"] is None and rows[0]["day"] == "2024-02-29"
    assert rows[0]["span"] == {"months": 0, "days": 0, "nanoseconds": 90 * 10**9}
    assert json.loads(cli(lib, "select 1 as one", "--json").stdout) == [{"one": 1}]


def test_json_vectors_and_thumbnails_are_plain(lib):
    rows = json.loads(
        cli(
            lib,
            "select shot_id, embedding, thumbnail from shots order by shot_id",
            "--format",
            "json",
        ).stdout
    )
    want = lib.shots().sort_by("shot_id")
    assert [r["embedding"] for r in rows] == want.column("embedding").to_pylist()
    assert [base64.b64decode(r["thumbnail"]) for r in rows] == want.column("thumbnail").to_pylist()
    assert all(base64.b64decode(r["thumbnail"])[:2] == b"\xff\xd8" for r in rows)  # JPEG


def test_csv_has_iso_timestamps_and_json_lists(lib):
    text = cli(
        lib,
        "select path, ingested_at, tags from sources where title is not null",
        "--format",
        "csv",
    ).stdout
    header, row = text.splitlines()
    assert header == '"path","ingested_at","tags"'
    assert "T" in row.split(",")[1] and '""nature""' in row


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("parquet", "out.parquet"),
        ("arrow", "out.arrow"),
        (None, "out.parquet"),
        (None, "out.feather"),
    ],
)
def test_exports_round_trip(lib, tmp_path, fmt, name):
    query = "select * from shots_with_source order by shot_id"
    target = tmp_path / name
    target.write_text("old")
    args = [query, "-o", str(target)] + (["--format", fmt] if fmt else [])
    cli(lib, *args)
    back = (
        pq.read_table(target)
        if target.suffix == ".parquet"
        else pa.ipc.open_file(target).read_all()
    )
    want = lib.sql(query)
    assert back.schema.equals(want.schema, check_metadata=False)
    assert back.equals(want)
    assert (
        back.num_rows == 5 and "embedding" in back.column_names and "thumbnail" in back.column_names
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # the temporary file was renamed


def test_failed_query_leaves_an_existing_export_untouched(lib, tmp_path):
    target = tmp_path / "keep.parquet"
    target.write_text("old")
    cli(lib, "select * from nope", "-o", str(target), code=2)
    cli(lib, "drop view shots", "-o", str(target), code=2)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [
        "keep.parquet"
    ]


def test_export_format_errors_are_exit_2(lib, tmp_path):
    assert "add -o FILE" in cli(lib, "select 1", "--format", "parquet", code=2).stderr
    assert (
        "cannot tell the format"
        in cli(lib, "select 1", "-o", str(tmp_path / "x.bin"), code=2).stderr
    )
    assert (
        "does not exist"
        in cli(lib, "select 1", "-o", str(tmp_path / "no" / "x.csv"), code=2).stderr
    )
    doc = json.loads(cli(lib, "select 1 as one", "-o", str(tmp_path / "x.json"), "--json").stdout)
    assert doc == {"output": str(tmp_path / "x.json"), "format": "json", "rows": 1}
    assert json.loads((tmp_path / "x.json").read_text()) == [{"one": 1}]
