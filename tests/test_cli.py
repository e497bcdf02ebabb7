"""The CLI contract: --json purity (before or after the command), exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import math
import re

import click
import pytest
import synth
from click.testing import CliRunner
from helpers import TINY, make_footage

from rag_video.cli import main

TINY_FLAGS = ["--model", TINY["model"], "--pretrained", TINY["pretrained"]]


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.fixture()
def footage(tmp_path):
    return make_footage(tmp_path / "footage")


def run(runner, args, code=0):
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def test_ingest_json_after_and_before_the_command(runner, footage, tmp_path):
    lib = str(tmp_path / "lib")
    first = run(runner, ["--library", lib, "ingest", str(footage["a"]), *TINY_FLAGS, "--json"])
    doc = json.loads(first.stdout)
    assert {k: doc[k] for k in ("files", "ingested", "unchanged", "failed", "shots")} == {
        "files": 1,
        "ingested": 1,
        "unchanged": 0,
        "failed": 0,
        "shots": 3,
    }
    assert isinstance(doc["seconds"], float)
    second = run(runner, ["--library", lib, "--json", "ingest", str(footage["a"]), *TINY_FLAGS])
    assert json.loads(second.stdout)["unchanged"] == 1


def test_human_output_is_a_table(runner, footage, tmp_path):
    result = run(
        runner, ["--library", str(tmp_path / "lib"), "ingest", str(footage["b"]), *TINY_FLAGS]
    )
    assert "ingested" in result.stdout and "shots" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_failed_files_exit_1_with_reasons(runner, footage, tmp_path):
    bad = synth.write_random_bytes(tmp_path / "junk.mp4")
    result = run(
        runner,
        [
            "--library",
            str(tmp_path / "lib"),
            "--json",
            "ingest",
            str(footage["a"]),
            str(bad),
            *TINY_FLAGS,
        ],
        code=1,
    )
    doc = json.loads(result.stdout)
    assert doc["failed"] == 1 and doc["ingested"] == 1
    assert doc["failures"][0]["path"] == str(bad)
    assert "Traceback" not in result.stderr


def test_missing_path_is_exit_2(runner, tmp_path):
    result = run(
        runner, ["--library", str(tmp_path / "lib"), "ingest", str(tmp_path / "nope.mp4")], code=2
    )
    assert "does not exist" in result.stderr and result.stdout == ""


def test_sql_json_and_refusal(runner, footage, tmp_path):
    lib = str(tmp_path / "lib")
    run(runner, ["--library", lib, "ingest", str(footage["a"].parent), *TINY_FLAGS, "--no-embed"])
    out = run(
        runner, ["--library", lib, "sql", "select count(*) as n from shots", "--format", "json"]
    )
    assert json.loads(out.stdout) == [{"n": 5}]
    csv = run(
        runner,
        [
            "--library",
            lib,
            "sql",
            "select path, frames from sources order by path",
            "--format",
            "csv",
        ],
    )
    assert csv.stdout.splitlines()[0] == '"path","frames"' and csv.stdout.count("\n") == 3
    refused = run(runner, ["--library", lib, "sql", "delete from shots"], code=2)
    assert refused.stderr.startswith("error: refused: DELETE") and refused.stderr.count("\n") == 1


def test_other_model_is_exit_2_pointing_to_reembed(runner, footage, tmp_path):
    lib = str(tmp_path / "lib")
    run(runner, ["--library", lib, "ingest", str(footage["a"]), *TINY_FLAGS])
    result = run(
        runner,
        [
            "--library",
            lib,
            "ingest",
            str(footage["b"]),
            "--model",
            "RV-Tiny-48",
            "--pretrained",
            "none",
        ],
        code=2,
    )
    assert "embed --reembed" in result.stderr


def test_embed_and_prune_commands(runner, footage, tmp_path):
    lib = str(tmp_path / "lib")
    run(runner, ["--library", lib, "ingest", str(footage["a"].parent), "--no-embed", *TINY_FLAGS])
    doc = json.loads(run(runner, ["--library", lib, "embed", *TINY_FLAGS, "--json"]).stdout)
    assert (doc["embedded"], doc["deferred"]) == (5, 0)
    footage["a"].unlink()
    doc = json.loads(run(runner, ["--library", lib, "--json", "prune"]).stdout)
    assert doc["pruned"] == 1


def test_help_and_no_embed_ingest_do_not_import_heavy_libraries(tmp_path):
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from rag_video.cli import main\n"
        "r = CliRunner().invoke(main, sys.argv[1:])\n"
        "heavy = [m for m in ('torch', 'diffusers', 'open_clip', 'transformers', 'faiss')\n"
        "         if m in sys.modules]\n"
        "print(r.exit_code, ','.join(heavy) or 'none')\n"
    )
    video = str(__import__("conftest").DATA / "bigbuckbunny.mp4")
    for args in (["--help"], ["--library", str(tmp_path / "lib"), "ingest", video, "--no-embed"]):
        out = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
        )
        assert out.stdout.split()[-2:] == ["0", "none"], (args, out.stdout, out.stderr)


def test_progress_bars_go_to_stderr_and_json_stays_pure(runner, footage, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_VIDEO_PROGRESS", "1")
    result = run(
        runner,
        [
            "--library",
            str(tmp_path / "lib"),
            "ingest",
            str(footage["a"].parent),
            "--no-embed",
            "--json",
        ],
    )
    assert json.loads(result.stdout)["ingested"] == 2
    assert "ingest" in result.stderr and "2/2" in result.stderr


def test_readers_do_not_wait_for_the_writer(runner, footage, tmp_path):
    from rag_video import open_library

    lib = open_library(tmp_path / "lib", workers=1, embed=False)
    lib.ingest([footage["a"]])
    with lib.store.writer():  # another process would be writing now
        out = run(
            runner,
            [
                "--library",
                str(tmp_path / "lib"),
                "sql",
                "select count(*) as n from shots",
                "--format",
                "json",
            ],
        )
    assert json.loads(out.stdout) == [{"n": 3}]


# ---- human tables --------------------------------------------------------------------------


@pytest.fixture()
def deep_lib(runner, tmp_path):
    """A library whose footage sits in folders with long names (the path column is wide)."""
    deep = tmp_path / ("a-folder-with-a-rather-long-name-" * 3) / ("and-another-one-inside-it-" * 3)
    footage = make_footage(deep)
    lib = str(tmp_path / "lib")
    run(runner, ["--library", lib, "ingest", str(footage["a"]), *TINY_FLAGS])
    return lib


def test_one_result_is_singular(runner, deep_lib):
    one = run(runner, ["--library", deep_lib, "search", "cliffs", "--limit", "1"])
    assert "1 result" in one.stdout and "1 results" not in one.stdout


def test_shot_ids_are_never_wrapped(runner, deep_lib):
    lib = deep_lib
    ids = [
        r["shot_id"]
        for r in json.loads(
            run(
                runner, ["--library", lib, "sql", "select shot_id from shots", "--format", "json"]
            ).stdout
        )
    ]
    table = run(runner, ["--library", lib, "search", "cliffs"]).stdout
    assert "3 results" in table
    for shot_id in ids:  # whole on one line, so it can be copied into --like
        assert shot_id in table, table
    line = next(line for line in table.splitlines() if ids[0] in line)
    cell = line.split("│")[2].strip()
    assert json.loads(run(runner, ["--library", lib, "search", "--like", cell, "--json"]).stdout)[
        "results"
    ]


def test_cut_text_ends_with_an_ellipsis(runner):
    from rag_video.cli.render import make_manifest

    long_text = "A slow pan across red cliffs at dawn, with the sea below and gulls in the wind"
    manifest = {
        "output": "o.mp4",
        "duration_s": 2.0,
        "shots": [
            {
                "index": 0,
                "decision": "fill",
                "score": None,
                "source": [],
                "generator": "draft",
                "seconds": 0.1,
                "text": long_text,
            },
            {
                "index": 1,
                "decision": "fill",
                "score": None,
                "source": [],
                "generator": "draft",
                "seconds": 0.1,
                "text": "Short",
            },
        ],
    }

    @click.command()
    def show():
        make_manifest(manifest)

    out = runner.invoke(show, [], catch_exceptions=False).stdout
    words = re.findall(r"[\w,…]+", out)  # the table may wrap the text column: compare its words
    assert " ".join(long_text.split()[:8]) in " ".join(words), out
    assert out.count("…") == 1 and "gulls" not in out and "Short" in out


# ---- JSON coercion (rag_video.jsonable) ------------------------------------------------------


def test_one_json_coercion_for_cli_manifest_and_sql():
    import datetime as dt
    from pathlib import Path

    import numpy as np
    import pyarrow as pa

    from rag_video.cli.app import emit_json
    from rag_video.generate.manifest import ManifestError, manifest_json
    from rag_video.jsonable import to_jsonable
    from rag_video.sqlformat import write_json

    when = dt.datetime(2024, 2, 29, 12, 30, tzinfo=dt.UTC)
    doc = {
        "i": np.int64(7),
        "f": np.float32(0.5),
        "a": np.array([[1, 2], [3, 4]]),
        "p": Path("/tmp/x.mp4"),
        "t": when,
        "d": dt.date(2024, 2, 29),
    }
    want = {
        "i": 7,
        "f": 0.5,
        "a": [[1, 2], [3, 4]],
        "p": "/tmp/x.mp4",
        "t": "2024-02-29T12:30:00+00:00",
        "d": "2024-02-29",
    }
    assert to_jsonable(doc) == want

    @click.command()
    def show():
        emit_json(doc | {"nan": float("nan")})

    out = CliRunner().invoke(show, [], catch_exceptions=False).stdout
    got = json.loads(out)
    assert math.isnan(got.pop("nan")) and got == want
    assert '"nan": NaN' in out  # as before: the CLI leaves a native NaN to json.dumps

    assert json.loads(manifest_json(doc)) == want
    with pytest.raises(ManifestError, match="manifest"):
        manifest_json({"score": float("nan")})  # manifests refuse NaN
    with pytest.raises(TypeError, match="object"):
        manifest_json({"x": object()})  # and values without a JSON form

    fh = io.StringIO()
    write_json(pa.table({"x": [1.5, float("nan")], "t": [when, None]}), fh)
    assert json.loads(fh.getvalue()) == [
        {"x": 1.5, "t": "2024-02-29T12:30:00+00:00"},
        {"x": None, "t": None},  # SQL rows: NaN is null
    ]
