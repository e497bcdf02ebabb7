"""Shared test setup: offline, deterministic, and the tests folder importable (synth helpers);
session-wide caches for what many tests build the same way (footage, tiny diffusion pipelines)."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAG_VIDEO_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).parent))

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def footage_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One encoding of helpers.make_footage's videos per session; every call copies them."""
    import helpers

    helpers.FOOTAGE_CACHE = tmp_path_factory.mktemp("footage-cache")
    return helpers.FOOTAGE_CACHE


@pytest.fixture(scope="session")
def tiny_pipelines_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder tiny_pipelines.build_all builds into, shared by every module: each pipeline is
    built at most once per session (build_all skips a folder that exists). Read-only for tests."""
    return tmp_path_factory.mktemp("tiny_pipelines")


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The server tests' library (tests/served.py), built once per session. Tests that write to
    it (re-renders) only add runs and outputs."""
    import served as build_served

    return build_served.build(tmp_path_factory.mktemp("served"))
