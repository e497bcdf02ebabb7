"""Ingest on Ray (a local 2-CPU Ray): the same rows as a local ingest, failures as rows, killed
workers retried a bounded number of times, reruns that change nothing, and the missing-extra
error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import synth
from conftest import DATA
from helpers import TINY, clean_snapshot, fault_env, make_three, snapshot

from rag_video import open_library
from rag_video.errors import UsageError
from rag_video.ingest.ray_runner import INSTALL_HINT

ray = pytest.importorskip("ray")

SAMPLE = DATA / "bigbuckbunny.mp4"


@pytest.fixture(scope="module", autouse=True)
def worker_faults(tmp_path_factory):
    """The faults file every Ray worker of this module reads (tests/faults.py); empty: no faults."""
    path = tmp_path_factory.mktemp("faults") / "faults.json"
    path.write_text("")
    saved = {k: os.environ.get(k) for k in fault_env(path)}
    os.environ.update(fault_env(path))  # before ray.init: the workers inherit it
    yield path
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def local_ray(worker_faults):
    """One local Ray for the module (started by the first test that asks for it); the runner uses
    it as it is and leaves it running."""
    import logging

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return make_three(tmp_path_factory.mktemp("footage"))


@pytest.fixture(scope="module")
def clean(footage, tmp_path_factory):
    return clean_snapshot(tmp_path_factory.mktemp("clean"), footage)


def _sources(lib) -> dict[str, dict]:
    return {
        r["path"]: {k: v for k, v in r.items() if k != "ingested_at"}
        for r in lib.sources().to_pylist()
    }


def _shots(lib) -> dict[str, dict]:
    return {
        r["shot_id"]: {k: v for k, v in r.items() if k != "row_key"}
        for r in lib.shots().to_pylist()
    }


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_ray_ingest_equals_local_ingest_and_rerun_is_a_noop(footage, tmp_path):
    paths = [*footage, SAMPLE]
    local = open_library(tmp_path / "local", workers=2, **TINY)
    on_ray = open_library(tmp_path / "ray", **TINY)
    expected = local.ingest(paths)
    summary = on_ray.ingest(paths, ray="local", workers=2)

    assert (
        summary.files,
        summary.ingested,
        summary.failed,
        summary.shots,
        summary.deferred_embeddings,
    ) == (4, 4, 0, expected.shots, 0)
    assert snapshot(on_ray) == snapshot(local)
    assert _sources(on_ray) == _sources(local)
    want, got = _shots(local), _shots(on_ray)
    assert sorted(got) == sorted(want) and len(got) == expected.shots >= 6
    for shot_id, row in want.items():
        vec, other = np.asarray(row.pop("embedding")), np.asarray(got[shot_id].pop("embedding"))
        assert got[shot_id] == row  # frames, times, stats, thumbnail, text, embed_model
        assert other.shape == vec.shape
        np.testing.assert_allclose(other, vec, atol=2e-3)
    assert {r["embed_model"] for r in got.values()} == {"RV-Tiny/none"}

    versions = {t: on_ray.store.version(t) for t in ("sources", "shots")}
    again = on_ray.ingest(paths, ray="local")
    assert (again.ingested, again.unchanged, again.failed, again.shots) == (0, 4, 0, expected.shots)
    assert {t: on_ray.store.version(t) for t in ("sources", "shots")} == versions


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_bad_files_become_the_same_failed_rows_as_locally(footage, tmp_path):
    folder = tmp_path / "mixed"
    bad = synth.write_bad_files(folder)
    shutil.copy(footage[1], folder / "good.mp4")
    local = open_library(tmp_path / "local", workers=1, **TINY)
    on_ray = open_library(tmp_path / "ray", **TINY)
    expected = local.ingest([folder, *bad.values()], embed=False)
    summary = on_ray.ingest([folder, *bad.values()], embed=False, ray="local")

    assert (summary.files, summary.ingested, summary.failed) == (expected.files, 1, expected.failed)
    assert summary.failed == len(bad)
    assert sorted(summary.failures, key=lambda f: f["path"]) == sorted(
        expected.failures, key=lambda f: f["path"]
    )
    rows = _sources(on_ray)
    assert rows == _sources(local)
    assert rows[str(folder / "good.mp4")]["status"] == "ok"
    assert all(rows[str(p)]["status"] == "failed" and rows[str(p)]["error"] for p in bad.values())


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_worker_killed_once_is_retried_and_the_job_completes(
    footage, clean, tmp_path, worker_faults
):
    marker = tmp_path / "killed-once"
    worker_faults.write_text(
        json.dumps({"kill_worker": {"name": "c.mp4", "mode": "once", "file": str(marker)}})
    )
    lib = open_library(tmp_path / "lib", **TINY)
    try:
        summary = lib.ingest(footage, embed=False, ray="local", workers=2)
    finally:
        worker_faults.write_text("")
    assert marker.exists()  # the worker really died on c.mp4 once
    assert (summary.ingested, summary.failed, summary.failures) == (3, 0, [])
    assert snapshot(lib) == clean


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_worker_that_always_dies_is_recorded_failed_after_bounded_retries(
    footage, clean, tmp_path, worker_faults
):
    attempts = tmp_path / "attempts.log"
    worker_faults.write_text(
        json.dumps({"kill_worker": {"name": "c.mp4", "mode": "always", "file": str(attempts)}})
    )
    lib = open_library(tmp_path / "lib", **TINY)
    try:
        summary = lib.ingest(footage, embed=False, ray="local", workers=2)
    finally:
        worker_faults.write_text("")
    assert len(attempts.read_text().splitlines()) == 3  # first try + max_retries=2
    assert (summary.ingested, summary.failed) == (2, 1)
    assert summary.failures == [
        {"path": str(footage[2]), "error": "worker crashed 3 times processing this file"}
    ]
    assert _sources(lib)[str(footage[2])]["status"] == "failed"
    assert not [r for r in lib.shots().to_pylist() if r["path"] == str(footage[2])]

    resumed = lib.ingest(footage, embed=False, ray="local")
    assert (resumed.ingested, resumed.unchanged, resumed.failed) == (1, 2, 0)
    assert snapshot(lib) == clean


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_cli_ingest_ray_starts_its_own_ray_survives_a_killed_worker_and_prints_one_json(
    footage, clean, tmp_path
):
    """`rag-video ingest --ray` in a fresh process: a private local Ray, a worker killed once, and
    stdout still exactly the local runner's JSON document (Ray's own chatter goes to stderr)."""
    marker = tmp_path / "killed-once"
    env = {
        **os.environ,
        "RAG_VIDEO_PROGRESS": "0",
        **fault_env({"kill_worker": {"name": "a.mp4", "mode": "once", "file": str(marker)}}),
    }
    cmd = [
        sys.executable,
        "-m",
        "rag_video",
        "--library",
        str(tmp_path / "lib"),
        "ingest",
        *map(str, footage),
        "--no-embed",
        "--model",
        TINY["model"],
        "--ray",
        "--json",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()
    (line,) = proc.stdout.splitlines()
    doc = json.loads(line)
    assert set(doc) == {
        "files",
        "ingested",
        "unchanged",
        "failed",
        "shots",
        "seconds",
        "failures",
        "deferred_embeddings",
    }
    assert {
        k: doc[k] for k in ("files", "ingested", "unchanged", "failed", "shots", "failures")
    } == {"files": 3, "ingested": 3, "unchanged": 0, "failed": 0, "shots": 7, "failures": []}
    assert snapshot(open_library(tmp_path / "lib")) == clean


def test_without_ray_installed_ray_ingest_says_how_to_install(footage, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from rag_video.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    lib = open_library(tmp_path / "lib", **TINY)
    with pytest.raises(UsageError, match=r"pip install 'rag-video\[ray\]'"):
        lib.ingest(footage, embed=False, ray="local")
    assert not lib.sources().num_rows

    result = CliRunner().invoke(
        main, ["--library", str(tmp_path / "lib"), "ingest", str(footage[0]), "--ray"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --ray needs Ray (ray is not installed): {INSTALL_HINT}"
    ]


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_unreachable_weights_defer_embeddings_with_one_warning(footage, tmp_path, caplog):
    lib = open_library(tmp_path / "lib", model="ViT-B-32", pretrained="laion2b_s34b_b79k")
    summary = lib.ingest(footage[:2], ray="local")
    assert (summary.ingested, summary.failed, summary.deferred_embeddings) == (2, 0, 5)
    assert all(r["embedding"] is None and r["embed_model"] is None for r in lib.shots().to_pylist())
    warnings = [r for r in caplog.records if "deferred" in r.getMessage()]
    assert len(warnings) == 1 and "laion2b_s34b_b79k" in warnings[0].getMessage()


def test_a_path_swallowed_by_ray_is_refused_before_any_work(footage, tmp_path):
    lib = open_library(tmp_path / "lib", **TINY)
    with pytest.raises(UsageError, match=r"--ray '.*footage.*' is not a Ray address"):
        lib.ingest(footage[1:], embed=False, ray=str(footage[0].parent))
    assert not lib.sources().num_rows
