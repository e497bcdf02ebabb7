"""Settings layering: defaults < rag-video.toml < RAG_VIDEO_* environment < flags."""

from __future__ import annotations

import pytest

from rag_video.config import load_settings
from rag_video.errors import UsageError


def test_layers_override_in_order(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "rag-video.toml").write_text('detector = "content"\nmin_shot = 1.5\nworkers = 3\n')
    monkeypatch.delenv("RAG_VIDEO_CONFIG", raising=False)
    assert load_settings(library=lib).detector == "content"
    monkeypatch.setenv("RAG_VIDEO_MIN_SHOT", "2.5")
    s = load_settings(library=lib, workers=5)
    assert (s.detector, s.min_shot, s.workers) == ("content", 2.5, 5)
    assert load_settings(library=tmp_path / "elsewhere").detector == "adaptive"


def test_bad_values_and_unknown_keys_are_one_line_errors(tmp_path, monkeypatch):
    (tmp_path / "rag-video.toml").write_text('detectr = "content"\n')
    with pytest.raises(UsageError, match="detectr"):
        load_settings(library=tmp_path)
    monkeypatch.setenv("RAG_VIDEO_WORKERS", "zero")
    with pytest.raises(UsageError, match="workers='zero'"):
        load_settings(library=tmp_path / "x")
    monkeypatch.setenv("RAG_VIDEO_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(UsageError, match="no such file"):
        load_settings()


def test_config_file_lookup_and_bad_toml(tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_VIDEO_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rag-video.toml").write_text('detector = "histogram"\n')
    assert load_settings(library=tmp_path / "none").detector == "histogram"  # the cwd's file
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "rag-video.toml").write_text('detector = "content"\nworkers = 2\n')
    monkeypatch.setenv("RAG_VIDEO_LIBRARY", str(lib))  # the library (and its file) from the env
    s = load_settings()
    assert (s.library, s.detector, s.workers) == (lib, "content", 2)
    monkeypatch.setenv("RAG_VIDEO_DETECTOR", "threshold")
    assert load_settings().detector == "threshold"
    assert load_settings(detector="transnet", workers=None).detector == "transnet"
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("min_shot = 4.0\n")
    monkeypatch.setenv("RAG_VIDEO_CONFIG", str(explicit))
    s = load_settings()  # the explicit file replaces the library's one; the env still wins
    assert (s.min_shot, s.workers, s.detector) == (
        4.0,
        load_settings(library=tmp_path).workers,
        "threshold",
    )
    explicit.write_text("min_shot = [1\n")
    with pytest.raises(UsageError, match=r"^config file .*explicit\.toml: "):
        load_settings()
