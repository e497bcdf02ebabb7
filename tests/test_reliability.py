"""Reliability (issue 10, section 8): attacks on a library, each a clean one-line error or a
survived failure instead of data loss, a traceback or an unbounded allocation.

make's outputs (never over footage, sidecars, storage or foreign files; stale partials cleaned),
bad sidecars and failing commit batches, --limit and --where bounds, query images, read-only
and damaged libraries, and SQL (embedding filters, result types Python cannot hold, memory,
snapshots compacted away by another process)."""

from __future__ import annotations

import builtins
import json
import logging
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import synth
from click.testing import CliRunner
from helpers import TINY, footage_library, make_footage

from rag_video import open_library
from rag_video.cli import main
from rag_video.errors import UsageError


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """a.mp4 (with a.json sidecar) and b.mp4, ingested and embedded with the tiny model."""
    root = tmp_path_factory.mktemp("rel")
    library, library.files = footage_library(root, footage=root / "clips")
    return library


def cli(library_path, *args):
    result = CliRunner().invoke(main, ["--library", str(library_path), *args])
    return result


def one_line_error(result, code: int = 2) -> str:
    """The command failed with `code` and a single `error:` line, no traceback."""
    assert result.exit_code == code, (
        result.exit_code,
        result.stdout,
        result.stderr,
        result.exception,
    )
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_script(folder: Path, text: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


SCRIPT = "shots:\n  - text: red cliffs at dawn\n    duration: 1\n"


# ---- make: outputs never destroy footage, sidecars, storage or foreign files -----------------


@pytest.mark.parametrize("target", ["a.mp4", "b.mp4", "a.mov", "a.json", "b.txt"])
def test_make_refuses_to_write_over_a_source_or_its_sidecars(lib, tmp_path, target):
    """`-o clips/a.mp4` overwrote the footage and exited 0; `-o clips/a.mov` replaced a's .srt
    sidecar (a.srt is one of its side outputs)."""
    clips = lib.files["a"].parent
    before = {p.name: p.read_bytes() for p in clips.iterdir()}
    script = write_script(tmp_path, SCRIPT)
    line = one_line_error(cli(lib.path, "make", str(script), "-o", str(clips / target)))
    assert "library source" in line and str(clips) in line
    assert {p.name: p.read_bytes() for p in clips.iterdir()} == before  # nothing written or left


def test_make_refuses_a_source_through_a_symlink_and_an_alias(lib, tmp_path):
    from rag_video.generate.make import check_output

    link = tmp_path / "link"
    link.symlink_to(lib.files["a"].parent)
    with pytest.raises(UsageError, match="library source"):
        check_output(link / "a.mp4", lib.store)
    row = lib.store.read("sources").to_pylist()[0]
    alias = tmp_path / "old-place" / "clip.mp4"
    alias.parent.mkdir()
    with lib.store.writer():
        from rag_video.ingest.commit import set_path
        from rag_video.schema import SourceRow

        source = SourceRow.from_row(row)
        set_path(lib.store, source, row["path"], [*(row["aliases"] or []), str(alias)])
    try:
        with pytest.raises(UsageError, match="library source"):
            check_output(alias, lib.store)
        with pytest.raises(UsageError, match="sidecar"):
            check_output(
                alias.with_suffix(".mkv"), lib.store
            )  # its .json/.txt/.srt are side outputs
    finally:
        with lib.store.writer():
            set_path(lib.store, source, row["path"], row["aliases"] or [])


@pytest.mark.parametrize(
    "inside",
    ["lance/x.mp4", "index/x.mp4", "generated/x.mp4", "meta.json", "lance/shots.lance/x.mp4"],
)
def test_make_refuses_the_library_storage_but_not_an_outputs_folder(lib, inside):
    from rag_video.generate.make import check_output

    target = lib.path / inside
    target.parent.mkdir(exist_ok=True)  # generated/ and index/ appear on first use
    with pytest.raises(UsageError, match="inside the library's storage"):
        check_output(target, lib.store)
    (lib.path / "outputs").mkdir(exist_ok=True)
    assert check_output(lib.path / "outputs" / "x.mp4", lib.store) == lib.path / "outputs" / "x.mp4"


def test_make_never_overwrites_a_file_that_is_not_a_rag_video_output(lib, tmp_path):
    from rag_video.generate.make import check_output
    from rag_video.media.encode import VideoWriter

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(UsageError, match="not a rag-video output"):
        check_output(notes, lib.store)
    foreign = tmp_path / "holiday.mp4"
    with VideoWriter(foreign, fps=10, size=(32, 32)) as out:  # a video, but not a make output
        out.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(UsageError, match="not a rag-video output"):
        check_output(foreign, lib.store)
    subtitles = tmp_path / "talk.srt"  # a side output of talk.mp4 that the user wrote
    subtitles.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    with pytest.raises(UsageError, match="talk.srt exists and is not a rag-video output"):
        check_output(tmp_path / "talk.mp4", lib.store)
    assert notes.read_text() == "my notes" and subtitles.exists()


def test_make_may_replace_its_own_previous_output(lib, tmp_path):
    from rag_video.generate.make import check_output
    from rag_video.media.encode import VideoWriter

    out = tmp_path / "v.mp4"
    with VideoWriter(out, fps=10, size=(32, 32), metadata={"rag_video_run": "0" * 32}) as writer:
        writer.write(np.zeros((32, 32, 3), np.uint8))
    (tmp_path / "v.srt").write_text("")
    (tmp_path / "v.html").write_text("<html></html>")
    assert check_output(out, lib.store) == out
    out.unlink()  # only the manifest is left: it still proves the set is make's
    (tmp_path / "v.manifest.json").write_text(json.dumps({"run_id": "r", "shots": []}))
    assert check_output(out, lib.store) == out


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_make_removes_the_partials_of_killed_makes_only(lib, tmp_path):
    """kill -9 during make left `.OUT.*.partial*` files that no later run removed."""
    from rag_video.generate import outputs
    from rag_video.generate.make import check_output

    out = tmp_path / "v.mp4"
    tmp = outputs.partial_name(out, "ab" * 16)
    assert f".{os.getpid()}.partial" in tmp.name and tmp.parent == out.parent
    dead, live = (
        _dead_pid(),
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]),
    )
    try:
        stale = [
            tmp_path / f".v.mp4.abababab.{dead}.partial.mp4",
            tmp_path / f"..v.mp4.abababab.{dead}.partial.0123abcd.partial.mp4",  # the encoder's
            tmp_path / f".v.manifest.json.abababab.{dead}.partial.json",
        ]
        running = tmp_path / f".v.mp4.cdcdcdcd.{live.pid}.partial.mp4"
        unrelated = [tmp_path / ".other.mp4.abababab.partial.mp4", tmp_path / ".v.mp4.swp"]
        lib.store.generated_dir.mkdir(exist_ok=True)
        segment = lib.store.generated_dir / ".0123456789abcdef01234567.89abcdef.partial.mp4"
        for path in [*stale, running, *unrelated, segment]:
            path.write_bytes(b"x")
        outputs._cleaned.discard(str(lib.store.root))  # as in a fresh process
        assert check_output(out, lib.store) == out
        assert not any(p.exists() for p in stale) and not segment.exists()
        assert running.exists() and all(p.exists() for p in unrelated)
    finally:
        live.kill()
        live.wait()


def test_make_on_a_read_only_library_is_one_line(lib, tmp_path, monkeypatch):
    script = write_script(tmp_path, SCRIPT)
    read_only(monkeypatch, lib.path)
    line = one_line_error(cli(lib.path, "make", str(script), "-o", str(tmp_path / "v.mp4")))
    assert "cannot be written" in line and "Permission denied" in line
    assert not list(tmp_path.glob("v.*"))


# ---- read-only and damaged libraries ----------------------------------------------------------


def read_only(monkeypatch, root: Path) -> None:
    """Make writes under `root` fail as on a read-only mount (the tests run as root, so chmod
    would not stop them)."""
    root = str(Path(root).resolve())
    real_open, real_mkdir, real_os_open = builtins.open, os.mkdir, os.open

    def inside(path) -> bool:
        try:
            return os.path.realpath(os.fspath(path)).startswith(root)
        except TypeError:
            return False

    def fake_open(file, mode="r", *args, **kwargs):
        if inside(file) and any(c in mode for c in "wax+"):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if inside(path):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    def fake_os_open(path, flags, *args, **kwargs):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "open", fake_os_open)


def test_read_only_library_ingest_is_one_line_and_search_still_answers(lib, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "lib"
    shutil.copytree(lib.path, copy)
    shutil.rmtree(copy / "index", ignore_errors=True)  # the search must build one it cannot save
    read_only(monkeypatch, copy)
    line = one_line_error(cli(copy, "ingest", str(lib.files["a"]), "--no-embed"))
    assert "cannot be written" in line and ".write.lock" in line
    env = {"RAG_VIDEO_MODEL": "RV-Tiny", "RAG_VIDEO_PRETRAINED": "none"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = cli(copy, "search", "red cliffs", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"]
    assert "in memory only" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("folder", ["lance", "index", "generated"])
def test_a_storage_folder_that_is_a_file_is_one_line(tmp_path, folder):
    root = tmp_path / "lib"
    root.mkdir()
    (root / folder).write_text("oops")
    for args in (["sql", "select count(*) from shots"], ["stats"], ["search", "x"]):
        line = one_line_error(cli(root, *args))
        assert f"{folder} is a file" in line


def test_corrupt_meta_json_is_rebuilt_without_reusing_row_keys(lib, tmp_path, caplog):
    import shutil

    copy = tmp_path / "lib"
    shutil.copytree(lib.path, copy)
    (copy / "meta.json").write_text('{"next_row_key": ')
    other = open_library(copy, workers=1, **TINY)
    before = set(other.store.read("shots", columns=["row_key"]).column("row_key").to_pylist())
    clip = tmp_path / "c.mp4"
    synth.make_video(clip, [synth.Shot(30), synth.Shot(30)], seed=3)
    with caplog.at_level(logging.WARNING):
        summary = other.ingest([clip], embed=False)
    assert summary.failed == 0 and summary.ingested == 1
    assert "meta.json is corrupt" in caplog.text
    new = [r["row_key"] for r in other.shots().to_pylist() if r["path"] == str(clip)]
    assert new and not set(new) & before and min(new) > max(before)
    assert json.loads((copy / "meta.json").read_text())["next_row_key"] == max(new) + 1


# ---- sidecars and commit batches --------------------------------------------------------------

BAD_SIDECARS = {
    "surrogate": '{"title": "Sea \\ud800 cliffs", "description": "waves \\udfff at dawn"}',
    "tags_int": '{"title": "x", "tags": 5}',
    "tags_nested": '{"tags": [["a"]]}',
    "title_object": '{"title": {"a": 1}}',
    "deep": "[" * 100_000,
    "not_json": "{nope",
}


def test_bad_sidecars_are_warnings_and_never_fail_or_lose_the_batch(tmp_path, caplog):
    """A lone surrogate made the shots write raise UnicodeEncodeError and the good files of the
    same commit batch were lost (on every rerun); `tags: 5` and deep nesting failed the video."""
    folder = tmp_path / "clips"
    folder.mkdir()
    good = []
    for i in range(3):
        good.append(folder / f"good{i}.mp4")
        synth.make_video(good[-1], [synth.Shot(20)], seed=10 + i)
    for i, (name, text) in enumerate(BAD_SIDECARS.items()):
        synth.make_video(folder / f"{name}.mp4", [synth.Shot(20)], seed=20 + i)
        (folder / f"{name}.json").write_text(text)
    library = open_library(tmp_path / "lib", workers=1, commit_batch=32, **TINY)
    with caplog.at_level(logging.WARNING):
        summary = library.ingest([folder], embed=False)
    assert (summary.ingested, summary.failed) == (3 + len(BAD_SIDECARS), 0), summary.failures
    rows = {Path(r["path"]).stem: r for r in library.sources().to_pylist()}
    assert all(r["status"] == "ok" for r in rows.values())
    assert rows["surrogate"]["title"] == "Sea \ufffd cliffs"
    assert (
        "waves \ufffd at dawn"
        in library.shots()
        .filter(_eq(library.shots(), "path", str(folder / "surrogate.mp4")))
        .column("text")[0]
        .as_py()
    )
    for name in ("tags_int", "tags_nested", "title_object", "deep", "not_json"):
        assert rows[name]["title"] is None and rows[name]["tags"] == [], name
        assert f"ignoring sidecar {folder / name}.json" in caplog.text
    assert "lone surrogates" in caplog.text


def _eq(table, column, value):
    import pyarrow.compute as pc

    return pc.equal(table.column(column), value)


def test_sidecar_text_is_capped(tmp_path, caplog):
    from rag_video.ingest.sidecar import MAX_TEXT_BYTES, read_sidecar

    video = tmp_path / "v.mp4"
    (tmp_path / "v.json").write_text(json.dumps({"description": "é" * 200_000, "title": "t"}))
    (tmp_path / "v.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\n" + "x" * 300_000 + "\n")
    with caplog.at_level(logging.WARNING):
        car = read_sidecar(video)
    assert len(car.description.encode()) <= MAX_TEXT_BYTES and car.description.startswith("ééé")
    assert len(car.cues[0].text) <= MAX_TEXT_BYTES
    assert "description cut to 64 KB" in caplog.text and "cues cut to 64 KB" in caplog.text
    assert len(car.text_for(0, 1).encode()) <= 4 * MAX_TEXT_BYTES


def test_a_failing_commit_batch_lands_its_good_files_one_by_one(tmp_path, caplog):
    """Whatever makes one file's rows unwritable, the batch falls back to one commit per file and
    marks that file failed with the reason; the others are committed."""
    from rag_video import schema
    from rag_video.ingest import commit
    from rag_video.ingest.analyze import IngestOptions, analyze_file
    from rag_video.ingest.discover import content_id

    store = open_library(tmp_path / "lib", workers=1, **TINY).store
    batch = []
    for i in range(4):
        path = tmp_path / f"v{i}.mp4"
        synth.make_video(path, [synth.Shot(20)], seed=30 + i)
        size = path.stat().st_size
        result = analyze_file(
            path, content_id(path, size), size, path.stat().st_mtime, IngestOptions()
        )
        batch.append(commit.Ready(result))
    batch[2].result.shots[0]["text"] = "bad \ud800 text"  # what no UTF-8 writer accepts
    with store.writer(), caplog.at_level(logging.WARNING):
        failures = commit.commit(store, batch, schema.DEFAULT_DIM)
    assert [f.source.path for f in failures] == [str(tmp_path / "v2.mp4")]
    rows = {Path(r["path"]).name: r for r in store.read("sources").to_pylist()}
    assert {n: r["status"] for n, r in rows.items()} == {
        "v0.mp4": "ok",
        "v1.mp4": "ok",
        "v2.mp4": "failed",
        "v3.mp4": "ok",
    }
    assert rows["v2.mp4"]["error"].startswith("could not be committed: UnicodeEncodeError")
    assert sorted(
        {Path(p).name for p in store.visible_shots(columns=["path"]).column("path").to_pylist()}
    ) == ["v0.mp4", "v1.mp4", "v3.mp4"]
    assert "one by one" in caplog.text


# ---- search: --limit, --where, --image ----------------------------------------------------------


def test_search_limit_is_bounded_and_fetches_at_most_the_library(lib, monkeypatch):
    """`--limit 1000000000` allocated in proportion to the limit (FAISS result arrays)."""
    monkeypatch.setenv("RAG_VIDEO_MODEL", "RV-Tiny")
    monkeypatch.setenv("RAG_VIDEO_PRETRAINED", "none")
    line = one_line_error(cli(lib.path, "search", "red", "--limit", "1000000000"))
    assert "--limit 1000000000" in line and "10000" in line
    with pytest.raises(UsageError, match="--limit"):
        lib.search("red").limit(10_001)
    with pytest.raises(UsageError, match="--limit"):
        lib.search_many(["red"], limit=10**9)
    from rag_video.index.engine import ShotIndex

    asked = []
    real = ShotIndex.search

    def spy(self, queries, k, **kwargs):
        asked.append(k)
        return real(self, queries, k, **kwargs)

    monkeypatch.setattr(ShotIndex, "search", spy)
    n = lib.shots().num_rows
    assert len(lib.search("red").limit(10_000).to_list()) == n
    assert len(lib.search("red").limit(10_000).diversify(0.5).to_list()) == n
    assert [len(t) for t in lib.search_many(["red", "cliffs"], limit=10_000)] == [n, n]
    assert asked and max(asked) <= n


@pytest.mark.parametrize(
    "where, why",
    [
        ("false; drop table shots", "';' at character 6"),
        ("duration_s > 2)", "')' at character 15 closes nothing"),
        ("(duration_s > 2", "1 '(' not closed"),
        ("duration_s > 2 limit 1", "sql parser error"),
        ("duration_s > 1 order by shot_id", "sql parser error"),
        ("shot_id = 'abc", "unterminated '"),
    ],
)
def test_where_must_be_one_predicate(lib, monkeypatch, where, why):
    """Lance kept the first expression and ignored the rest, so these were accepted silently."""
    monkeypatch.setenv("RAG_VIDEO_MODEL", "RV-Tiny")
    monkeypatch.setenv("RAG_VIDEO_PRETRAINED", "none")
    line = one_line_error(cli(lib.path, "search", "red", "--where", where))
    assert f"bad --where predicate {where!r}" in line and why in line
    with pytest.raises(UsageError, match="bad --where predicate"):
        lib.search("red").where(where).to_list()


def test_valid_where_predicates_still_work(lib):
    n = lib.shots().num_rows
    for where, expected in [
        ("duration_s > 0", n),
        ("(duration_s > 0) and (row_key >= 0)", n),
        ("text = 'a;b)' or duration_s > 0", n),
        ("`duration_s` > 0 -- a comment", n),
        ("shot_id = 'it''s'", 0),
        ("duration_s > 0 /* ) ; */", n),
    ]:
        got = lib.search("red").where(where).limit(100).to_list()
        assert len(got) == expected, where
    assert len(lib.search_many(["red"], where="(duration_s > 0)", limit=100)[0]) == n


def _png_header(path: Path, width: int, height: int) -> Path:
    """A tiny PNG file that claims `width` x `height` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize("width, height", [(12_000, 12_000), (100_000, 100_000)])
def test_oversized_and_bomb_images_are_one_line(lib, tmp_path, monkeypatch, width, height):
    monkeypatch.setenv("RAG_VIDEO_MODEL", "RV-Tiny")
    monkeypatch.setenv("RAG_VIDEO_PRETRAINED", "none")
    image = _png_header(tmp_path / "big.png", width, height)
    line = one_line_error(cli(lib.path, "search", "--image", str(image)))
    assert f"--image {str(image)!r}" in line and (
        "too large" in line or "decompression bomb" in line
    )


# ---- SQL ----------------------------------------------------------------------------------------


def test_sql_filters_on_every_column_including_the_embedding(lib):
    """`where embedding is not null` was refused with an Arrow error (Lance cannot bind filters on
    fixed-size lists, which DuckDB pushes down)."""
    n = lib.shots().num_rows
    for query, expected in [
        ("select count(*) as n from shots where embedding is not null", n),
        ("select count(*) as n from shots where embedding is null", 0),
        ("select count(*) as n from shots where embedding is not null and duration_s > 0", n),
        ("select count(*) as n from shots where embedding is not null or row_key < 0", n),
        ("select count(*) as n from shots where embedding[1] is not null", n),
        (
            "select count(*) as n from shots "
            "where thumbnail is not null and keyframe_times is not null",
            n,
        ),
    ]:
        assert lib.sql(query).column("n")[0].as_py() == expected, query
    rows = lib.sql(
        "select shot_id, embedding from shots where embedding is not null order by shot_id"
    )
    assert rows.num_rows == n and len(rows.column("embedding")[0].as_py()) == 32


def test_sql_results_python_cannot_hold_are_one_line(lib, tmp_path):
    """`SELECT * FROM test_all_types()` raised OverflowError (dates past year 9999)."""
    line = one_line_error(cli(lib.path, "sql", "SELECT * FROM test_all_types()"))
    assert "--format table" in line and "column 'date'" in line
    for fmt in ("json", "csv", "parquet"):
        target = tmp_path / f"x.{fmt}"
        line = one_line_error(
            cli(lib.path, "sql", "SELECT * FROM test_all_types()", "-o", str(target))
        )
        assert f"-o {target}" in line and not target.exists()
    ok = cli(lib.path, "sql", "SELECT bool, int FROM test_all_types()", "--format", "json")
    assert ok.exit_code == 0 and len(json.loads(ok.stdout)) == 3


def test_sql_memory_is_limited_and_running_out_is_one_line(lib):
    from rag_video.sql import SqlSession
    from rag_video.sqlcheck import SqlError

    with SqlSession(lib.store) as session:
        limit = session.con.execute(
            "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
        ).fetchall()
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        assert _bytes(limit[0][0]) <= 0.55 * total
    with (
        SqlSession(lib.store, memory_limit="64MB") as session,
        pytest.raises(SqlError, match="ran out of memory") as info,
    ):
        session.query("select max(len(l)) from (select list(range) as l from range(100000000))")
    assert "\n" not in str(info.value) and "temp_directory" not in str(info.value)


def _bytes(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]


def test_a_long_lived_session_survives_optimize_in_another_process(tmp_path):
    """The session's snapshot named fragments that `optimize` (another process) deleted."""
    from rag_video.sql import SqlSession

    files = make_footage(tmp_path / "clips")
    library = open_library(tmp_path / "lib", workers=1, **TINY)
    library.ingest([files["a"]], embed=False)
    library.ingest([files["b"]], embed=False)  # more fragments for optimize to compact
    with SqlSession(library.store) as session:
        before = session.query("select count(*) as n from shots").column("n")[0].as_py()
        done = subprocess.run(
            [sys.executable, "-m", "rag_video", "--library", str(library.path), "optimize"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "RAG_VIDEO_PROGRESS": "0"},
        )
        assert done.returncode == 0, done.stderr
        assert session.query("select count(*) as n from shots").column("n")[0].as_py() == before
        assert session.query("select count(*) as n from sources").column("n")[0].as_py() == 2
        assert session.query("select * from shots", max_rows=2).num_rows == 2


def test_a_file_that_cannot_be_committed_counts_as_failed_in_the_summary(tmp_path, monkeypatch):
    from rag_video.ingest import commit

    folder = tmp_path / "footage"
    folder.mkdir()
    for i in range(3):
        synth.make_video(folder / f"v{i}.mp4", [synth.Shot(20)], seed=40 + i)
    real = commit.write_shots

    def refuse_v1(store, batch, dim):
        if any(r.source.path.endswith("v1.mp4") for r in batch):
            raise ValueError("simulated unwritable row")
        return real(store, batch, dim)

    monkeypatch.setattr(commit, "write_shots", refuse_v1)
    summary = open_library(tmp_path / "lib", workers=1, embed=False).ingest([folder])
    assert (summary.ingested, summary.failed) == (2, 1)
    assert (
        summary.failures[0]["path"].endswith("v1.mp4")
        and "could not be committed" in summary.failures[0]["error"]
    )
