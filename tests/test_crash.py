"""Crash and resume: kill ingest at named points (tests/faults.py, a hooks plug-in) and with a real
SIGKILL; the next run must end with exactly the rows of a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import TINY, clean_snapshot, fault_env, make_three, snapshot

from rag_video import open_library


def _cli(lib, paths, env_extra=None):
    """`rag-video ingest --no-embed` in a subprocess (embedding's commit path is the same; this
    keeps torch out of the child so each run is quick)."""
    env = {
        **os.environ,
        "RAG_VIDEO_PROGRESS": "0",
        "RAG_VIDEO_COMMIT_BATCH": "1",
        **(env_extra or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "rag_video",
        "--library",
        str(lib),
        "--quiet",
        "ingest",
        *map(str, paths),
        "--no-embed",
        "--model",
        TINY["model"],
        "--workers",
        "1",
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return make_three(tmp_path_factory.mktemp("footage"))


@pytest.fixture(scope="module")
def clean(footage, tmp_path_factory):
    return clean_snapshot(tmp_path_factory.mktemp("clean"), footage)


# Every case is two CLI processes; the quick loop (-m "not slow") keeps the crash inside one
# batch's write, the other seven run in the full suite.
CRASH_CASES = [
    pytest.param(
        batch,
        point,
        id=f"{batch}-{point}",
        marks=() if (batch, point) == ("32", "inside_write") else pytest.mark.slow,
    )
    for batch in ("1", "32")
    for point in ("after_sources=1", "after_sources=2", "between_writes", "inside_write")
]


@pytest.mark.parametrize(("batch", "point"), CRASH_CASES)
def test_named_crash_points_resume_to_a_clean_library(batch, point, footage, clean, tmp_path):
    """With one source per commit the crash lands between sources; with 32 the three files share
    one batch, so it lands between that batch's writes."""
    proc = _cli(
        tmp_path / "lib",
        footage,
        {**fault_env({"kill_at": point}), "RAG_VIDEO_COMMIT_BATCH": batch},
    )
    proc.communicate(timeout=300)
    assert proc.returncode == 137
    resumed = _cli(tmp_path / "lib", footage)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert snapshot(open_library(tmp_path / "lib")) == clean


@pytest.mark.slow
def test_sigkill_mid_ingest_resumes_to_a_clean_library(footage, clean, tmp_path):
    lib = tmp_path / "lib"
    proc = _cli(lib, footage)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lib / "lance" / "shots.lance").exists():
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    resumed = _cli(lib, footage)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()
    assert snapshot(open_library(lib)) == clean
