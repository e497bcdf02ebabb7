"""The quality checks at the end of every make: recorded in the manifest, summarised on stderr,
--qc off|fast|full, --qc-threshold, --strict; and the manifest's exemptions (planned stills,
planned silence, the mix's own loudness target) that keep a clean render passing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import DATA
from helpers import TINY, make_footage
from test_qc import FPS, make_video, noisy

from rag_video import open_library
from rag_video.cli import main
from rag_video.qc import run_checks

FAST = ["black", "frozen", "flashes", "seams", "loudness", "av_duration"]
MIXED = [
    {"text": "a grey rabbit in a meadow", "duration": 2.0},
    {"text": "red cliffs at dawn", "duration": 1.0, "decision": "restyle", "style": "sepia"},
    {"text": "a dragon over a volcano", "duration": 1.2, "decision": "fill"},
]
# every shot's decision as planned: the bunny (with its sound) reused, a restyle, a fill
ALL_DECISIONS = ["--reuse-threshold", "-1", "--fill-threshold", "-2", "--min-cut", "2"]
# every frame counts as still and one frame is a run: frozen must fail outside planned stills
PLANTED = ["--qc-threshold", "frozen.max_diff=300", "--qc-threshold", "frozen.min_s=0.04"]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("qcmake")
    files = make_footage(root / "footage")
    shutil.copy(DATA / "bigbuckbunny.mp4", root / "footage" / "bunny.mp4")
    (root / "footage" / "bunny.json").write_text(
        json.dumps({"title": "Big Buck Bunny", "description": "a grey rabbit in a green meadow"})
    )
    library = open_library(root / "lib", workers=1, **TINY)
    library.ingest([files["a"].parent])
    return library


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("qcscript") / "board.yaml"
    path.write_text(json.dumps({"title": "t", "shots": MIXED}))
    return path


def _make(lib, script: Path, out: Path, *args: str) -> Result:
    argv = ["--library", str(lib.path), "make", str(script), "-o", str(out)]
    argv += ["--size", "160x90", "--fps", "25", *args]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def _manifest(out: Path) -> dict:
    return json.loads(out.with_suffix(".manifest.json").read_text())


def _by_name(qc: dict) -> dict[str, dict]:
    return {r["name"]: r for r in qc["results"]}


def test_make_records_every_check_and_a_clean_render_passes(lib, script, tmp_path):
    out = tmp_path / "out.mp4"
    result = _make(lib, script, out, *ALL_DECISIONS, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc == _manifest(out)  # the renamed manifest carries qc
    assert [s["decision"] for s in doc["shots"]] == ["reuse", "restyle", "fill"]
    qc = doc["qc"]
    assert qc["level"] == "fast" and [r["name"] for r in qc["results"]] == FAST
    failed = [r for r in qc["results"] if not r["passed"]]
    assert qc["passed"] and not failed, failed
    assert not any(r["skipped"] for r in qc["results"])  # sound and a generated segment
    loud = _by_name(qc)["loudness"]
    assert loud["threshold"]["target_lufs"] == -14.0 and abs(loud["value"] + 14) <= 1
    assert doc["timings"]["qc_s"] == qc["seconds"] > 0
    assert "WARNING: qc: 6 passed, 0 failed\n" in result.stderr


def test_strict_exits_1_on_a_failed_check_and_still_writes_the_outputs(lib, script, tmp_path):
    out = tmp_path / "strict.mp4"
    result = _make(lib, script, out, *ALL_DECISIONS, *PLANTED, "--strict")
    assert result.exit_code == 1, result.stderr
    assert out.is_file() and out.with_suffix(".html").is_file()
    m = _manifest(out)
    frozen = _by_name(m["qc"])["frozen"]
    assert not m["qc"]["passed"] and not frozen["passed"]
    assert frozen["threshold"] == {"max_diff": 300.0, "min_s": 0.04}
    fill = m["shots"][2]
    assert fill["model"] == "ken-burns"  # the planned still is exempt: the span ends before it
    assert frozen["spans"] == [[0.0, pytest.approx(fill["out_start_s"], abs=0.05)]]
    assert "qc: 5 passed, 1 failed (frozen 0.00-" in result.stderr
    lenient = _make(lib, script, tmp_path / "lenient.mp4", *ALL_DECISIONS, *PLANTED)
    assert lenient.exit_code == 0, lenient.stderr  # without --strict a failed check is a report
    assert not _manifest(tmp_path / "lenient.mp4")["qc"]["passed"]
    # `check` reads the manifest beside the video and takes the same thresholds
    check = ["check", str(out), "--strict", "--json"]
    again = CliRunner().invoke(main, [*check, *PLANTED])
    assert again.exit_code == 1 and _by_name(json.loads(again.stdout))["frozen"] == frozen
    assert CliRunner().invoke(main, check).exit_code == 0


def test_qc_off_writes_none_and_decodes_nothing(lib, script, tmp_path, monkeypatch):
    import rag_video.qc.run

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("--qc off decoded the output")

    monkeypatch.setattr(rag_video.qc.run, "decode", refuse)
    out = tmp_path / "off.mp4"
    result = _make(lib, script, out, "--qc", "off", "--strict", *PLANTED)
    assert result.exit_code == 0, result.stderr
    m = _manifest(out)
    assert m["qc"] is None and "qc_s" not in m["timings"]
    assert "qc:" not in result.stderr


def test_bad_thresholds_are_one_line_usage_errors(lib, script, tmp_path):
    for value, says in [
        ("frozen.nope=1", "--qc-threshold: unknown name frozen.'nope'"),
        ("frozen.min_s", "expected CHECK.FIELD=NUMBER"),
        ("nope.x=1", "--qc-threshold: unknown name 'nope.x'"),
    ]:
        result = _make(lib, script, tmp_path / "bad.mp4", "--qc-threshold", value)
        assert result.exit_code == 2 and says in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    assert not (tmp_path / "bad.mp4").exists()


def test_qc_full_scores_shots_with_the_library_encoder_labelled_random(lib, script, tmp_path):
    m = lib.make(script, tmp_path / "full.mp4", size=(160, 90), fps=25, qc="full")
    sem = _by_name(m["qc"])["semantic"]
    assert sem["skipped"] is None and sem["value"] is not None
    assert sem["detail"].count(",") == len(m["shots"]) - 1  # one score per shot
    assert sem["detail"].endswith("(random weights: not judged)") and sem["passed"]


def test_the_mix_sets_the_loudness_target_and_planned_silence_passes(lib, script, tmp_path):
    quiet = lib.make(
        script,
        tmp_path / "b.mp4",
        size=(160, 90),
        fps=25,
        loudness=-23.0,
        true_peak=-2.0,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        min_cut=2.0,
    )
    loud = _by_name(quiet["qc"])["loudness"]
    assert loud["threshold"]["target_lufs"] == -23.0 and abs(loud["value"] + 23) <= 1
    assert loud["threshold"]["max_true_peak_dbtp"] == -2.0 and loud["passed"]
    # nothing to hear (no footage shown): the mix is silent and so is the output
    silent = lib.make(script, tmp_path / "s.mp4", size=(160, 90), fps=25, audio=False)
    assert silent["sound"]["integrated_lufs"] is None and silent["qc"]["passed"]
    assert _by_name(silent["qc"])["loudness"]["detail"] == "silent, as the manifest's mix"
    expected_sound = {**silent, "sound": {**silent["sound"], "integrated_lufs": -14.0}}
    r = _by_name(run_checks(tmp_path / "s.mp4", expected_sound).to_dict())["loudness"]
    assert not r["passed"] and r["detail"] == "silent audio"


def _shots(still: dict) -> dict:
    """A manifest: 0.8 s of footage, a 2.4 s still shot, 0.8 s of footage."""
    base = {"reference": None, "source": [], "text": "x"}
    return {
        "shots": [
            {
                **base,
                "decision": "reuse",
                "generator": "source",
                "model": None,
                "out_start_s": 0.0,
                "out_end_s": 0.8,
            },
            {**base, "out_start_s": 0.8, "out_end_s": 3.2, **still},
            {
                **base,
                "decision": "reuse",
                "generator": "source",
                "model": None,
                "out_start_s": 3.2,
                "out_end_s": 4.0,
            },
        ]
    }


def test_planned_stills_are_exempt_from_frozen(tmp_path):
    # 2.4 s without motion from 0.8 s: what a slow Ken Burns move or a title card looks like
    video = make_video(tmp_path / "k.mp4", 100, lambda i: noisy(20 if 20 <= i < 80 else i))
    draft = {"decision": "fill", "generator": "draft"}
    for still in [
        {**draft, "model": "ken-burns", "reference": "key.jpg"},
        {**draft, "model": "title-card"},
    ]:
        report = run_checks(video, _shots(still))
        assert _by_name(report.to_dict())["frozen"]["passed"], still
    for moving in [
        {"decision": "fill", "generator": "diffusion", "model": "svd", "reference": "key.jpg"},
        {"decision": "restyle", "generator": "draft", "model": "reinhard-lab:sepia"},
    ]:
        frozen = _by_name(run_checks(video, _shots(moving)).to_dict())["frozen"]
        assert not frozen["passed"], moving
        ((a, b),) = frozen["spans"]
        assert abs(a - 0.8) <= 1 / FPS and abs(b - 3.2) <= 1 / FPS


def test_a_dark_picture_with_light_in_it_is_not_black(tmp_path):
    def stars(i: int) -> np.ndarray:
        """A night sky: black (16) with 4x4 stars on a tenth of it; its mean is below 32."""
        rng = np.random.default_rng(i)
        sky = np.full((90, 160), 16, np.uint8)
        lit = rng.random((90 // 4 + 1, 160 // 4)) < 0.1
        sky[np.kron(lit, np.ones((4, 4), bool))[:90, :160]] = 150
        return sky

    sky = make_video(tmp_path / "sky.mp4", 50, stars)
    black = _by_name(run_checks(sky).to_dict())["black"]
    assert black["passed"] and black["value"] == 0
    luma = np.stack([stars(i) for i in range(50)]).astype(float)
    assert luma.mean() < black["threshold"]["max_luma"]  # the mean alone would call it black
