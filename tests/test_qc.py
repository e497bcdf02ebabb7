"""Quality checks on generated videos, each with and without its defect."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from rag_video.cli import main
from rag_video.qc import ThresholdError, run_checks

FPS = 25


def make_video(
    path: Path, n: int, luma: Callable[[int], np.ndarray | int], audio_s: float | None = None
) -> Path:
    """`n` 160x90 frames; frame i gray level luma(i) (or an image)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 160, 90, "yuv420p"
        rng = np.random.default_rng(0)
        a = c.add_stream("aac", rate=48000) if audio_s else None
        for i in range(n):
            v = luma(i)
            img = np.full((90, 160), v, np.uint8) if np.isscalar(v) else v
            img = np.asarray(img, np.uint8)
            rgb = np.repeat(img[:, :, None], 3, axis=2)
            for p in s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None and audio_s:
            t = np.arange(int(48000 * audio_s)) / 48000
            x = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            for k in range(0, x.shape[1], 1024):
                fr = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(x[:, k : k + 1024]), format="fltp", layout="mono"
                )
                fr.sample_rate = 48000
                for p in a.encode(fr):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
        del rng
    return path


def noisy(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(60, 200, (90, 160)).astype(np.uint8)


def result(path: Path, name: str, **kw: object) -> object:
    r = run_checks(path, **kw)  # type: ignore[arg-type]
    return next(x for x in r.results if x.name == name)


def test_black_run_times(tmp_path: Path) -> None:
    p = make_video(tmp_path / "b.mp4", 75, lambda i: 16 if 25 <= i < 50 else noisy(i))
    r = result(p, "black")
    assert not r.passed  # type: ignore[attr-defined]
    ((a, b),) = r.spans  # type: ignore[attr-defined]
    assert abs(a - 1.0) <= 1 / FPS and abs(b - 2.0) <= 1 / FPS
    clean = make_video(tmp_path / "c.mp4", 75, noisy)
    assert result(clean, "black").passed  # type: ignore[attr-defined]


def test_frozen(tmp_path: Path) -> None:
    p = make_video(tmp_path / "f.mp4", 100, lambda i: noisy(min(i, 10) if i < 80 else i))
    assert not result(p, "frozen").passed  # type: ignore[attr-defined]
    assert result(make_video(tmp_path / "c.mp4", 100, noisy), "frozen").passed  # type: ignore[attr-defined]


def test_flashes_strobe_fails_fade_passes(tmp_path: Path) -> None:
    strobe = make_video(tmp_path / "s.mp4", 50, lambda i: 235 if i % 5 < 2 else 16)  # 5 Hz
    r = result(strobe, "flashes")
    assert not r.passed  # type: ignore[attr-defined]
    fade = make_video(tmp_path / "f.mp4", 50, lambda i: 16 + i * 4)
    assert result(fade, "flashes").passed  # type: ignore[attr-defined]


def test_av_duration(tmp_path: Path) -> None:
    short = make_video(tmp_path / "a.mp4", 75, noisy, audio_s=2.5)
    assert not result(short, "av_duration").passed  # type: ignore[attr-defined]


def test_bad_thresholds(tmp_path: Path) -> None:
    p = make_video(tmp_path / "c.mp4", 10, noisy)
    with pytest.raises(ThresholdError, match="nope"):
        run_checks(p, thresholds={"black.nope": 1})
    with pytest.raises(ThresholdError, match="not a number"):
        run_checks(p, thresholds={"black.min_s": "x"})
    with pytest.raises(ValueError, match="level"):
        run_checks(p, level="slow")  # type: ignore[arg-type]


def test_cli(tmp_path: Path) -> None:
    bad = make_video(tmp_path / "b.mp4", 75, lambda i: 16 if 25 <= i < 50 else noisy(i))
    good = make_video(tmp_path / "g.mp4", 75, noisy)
    run = CliRunner().invoke
    r = run(main, ["check", str(bad), "--json", "--strict"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert set(doc) == {"passed", "seconds", "results"} and doc["passed"] is False
    assert run(main, ["check", str(good), "--strict"]).exit_code == 0
    miss = run(main, ["check", str(tmp_path / "none.mp4")])
    assert miss.exit_code == 2
