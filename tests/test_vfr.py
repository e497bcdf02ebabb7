"""Variable frame rate: shots are found and timed on the frames' timestamps, not on the average
rate.

The files are written with PyAV (``synth.write_vfr_video``): 30 fps footage, then black, white and
black again at 1 fps (5 + 2 + 3 frames = 10 s), then 60 fps footage; once without B-frames (mp4)
and twice with them (mkv, mp4). Frame numbers count decoded frames from 0; times come from the
timestamps; a shot's (and the source's) end includes its last frame's own duration.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import synth
from synth import Shot

from rag_video.ingest.analyze import IngestOptions, analyze_file, sample_interval_s
from rag_video.media.decode import decode

A_FRAMES, B_FRAMES = 150, 150
SLOW = [("black", 5), ("white", 2), ("black", 3)]  # 1 fps segments between A and B
TIMES = (
    [i / 30 for i in range(A_FRAMES)]
    + [5.0 + i for i in range(10)]
    + [15.0 + i / 60 for i in range(B_FRAMES)]
)
N_FRAMES, END_S = len(TIMES), 17.5
CUTS = [150, 155, 157, 160]  # into black, into white, into black, into B
# (start_frame, end_frame, start_s, end_s) of every shot, by detector. ``threshold`` only knows
# fades (a split in the middle of each black run); TransNetV2 takes the 1 fps run for one shot
# of its own.
EXPECTED = {
    "cuts": [
        (0, 150, 0.0, 5.0),
        (150, 155, 5.0, 10.0),
        (155, 157, 10.0, 12.0),
        (157, 160, 12.0, 15.0),
        (160, 310, 15.0, END_S),
    ],
    "threshold": [(0, 152, 0.0, 7.0), (152, 159, 7.0, 14.0), (159, 310, 14.0, END_S)],
    "transnet": [(0, 150, 0.0, 5.0), (150, 160, 5.0, 15.0), (160, 310, 15.0, END_S)],
}
KIND = {"threshold": "fade"}


def _frames() -> list[np.ndarray]:
    a, _ = synth.build_frames([Shot(A_FRAMES)], seed=1)
    b, _ = synth.build_frames([Shot(B_FRAMES, motion="static")], seed=2)
    h, w = a[0].shape[:2]
    flat = {"black": np.zeros((h, w, 3), np.uint8), "white": np.full((h, w, 3), 235, np.uint8)}
    return a + [flat[name] for name, n in SLOW for _ in range(n)] + b


@pytest.fixture(scope="module")
def vfr_files(tmp_path_factory) -> dict[str, Path]:
    folder, frames = tmp_path_factory.mktemp("vfr"), _frames()
    return {
        "mp4": synth.write_vfr_video(folder / "vfr.mp4", frames, TIMES),
        "mkv-bframes": synth.write_vfr_video(folder / "vfr_b.mkv", frames, TIMES, bframes=3),
        "mp4-bframes": synth.write_vfr_video(folder / "vfr_b.mp4", frames, TIMES, bframes=3),
    }


def _tolerance(name: str) -> float:
    return 1e-3 if name.startswith("mkv") else 1e-6  # Matroska stores milliseconds


def _analyze(path: Path, detector: str = "adaptive", min_shot: float = 0.6):
    result = analyze_file(
        path, "vfr", path.stat().st_size, 0.0, IngestOptions(detector=detector, min_shot=min_shot)
    )
    assert result.ok, result.source.error
    return result


def _container_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.duration:
            return float(stream.duration * stream.time_base)
        return container.duration / av.time_base


def test_the_files_are_variable_frame_rate(vfr_files):
    for name, path in vfr_files.items():
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            pts = [float(f.pts * stream.time_base) for f in frames]
        assert len(frames) == N_FRAMES, name
        assert pts == pytest.approx(TIMES, abs=_tolerance(name)), name
    with av.open(str(vfr_files["mp4"])) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(N_FRAMES / END_S)


@pytest.mark.parametrize("name", ["mp4", "mkv-bframes"])
def test_decode_times_and_samples_follow_the_timestamps(vfr_files, name):
    every_s = sample_interval_s(30.0, 3.0)
    assert every_s == pytest.approx(1 / 3)
    frames = list(
        decode(vfr_files[name], detect_size=(16, 9), rgb_short_side=32, rgb_every_s=every_s)
    )
    assert [f.index for f in frames] == list(range(N_FRAMES))
    assert [f.time_s for f in frames] == pytest.approx(TIMES, abs=_tolerance(name))
    sampled = [f.index for f in frames if f.rgb is not None]
    assert sampled[:6] == [0, 10, 20, 30, 40, 50] and 140 in sampled  # every 10th frame at 30 fps
    assert set(range(150, 160)) <= set(sampled)  # every frame at 1 fps (1 s apart)
    assert [i for i in sampled if i >= 160] == list(
        range(160, 310, 20)
    )  # every 20th frame at 60 fps


# TransNetV2 over 310 frames is the long case (slow); test_shots covers it in the quick loop.
DETECTORS = ["adaptive", "content", "histogram", "threshold"]


@pytest.mark.parametrize("name", ["mp4", "mkv-bframes"])
@pytest.mark.parametrize("detector", [*DETECTORS, pytest.param("transnet", marks=pytest.mark.slow)])
def test_every_detector_keeps_the_shots_of_the_1_fps_segments(vfr_files, name, detector):
    """Before, the minimum shot (0.6 s) was 11 frames at the average rate (17.7 fps): the 2-, 3-
    and 5-frame shots at 1 fps were dropped by every detector."""
    result = _analyze(vfr_files[name], detector)
    expected = EXPECTED.get(detector, EXPECTED["cuts"])
    tol = _tolerance(name)
    got = [(s["start_frame"], s["end_frame"], s["start_s"], s["end_s"]) for s in result.shots]
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[2:] == pytest.approx(e[2:], abs=tol), (g, e)
    assert [s["transition_in"] for s in result.shots] == ["start"] + [KIND.get(detector, "cut")] * (
        len(expected) - 1
    )
    for s in result.shots:
        assert s["duration_s"] == pytest.approx(s["end_s"] - s["start_s"])


def test_b_frames_change_nothing(vfr_files):
    shots = {
        name: [
            (s["start_frame"], s["end_frame"], s["start_s"], s["end_s"])
            for s in _analyze(path).shots
        ]
        for name, path in vfr_files.items()
    }
    for name in ("mkv-bframes", "mp4-bframes"):
        assert [s[:2] for s in shots[name]] == [s[:2] for s in shots["mp4"]]
        assert np.asarray([s[2:] for s in shots[name]]) == pytest.approx(
            np.asarray([s[2:] for s in shots["mp4"]]), abs=_tolerance(name)
        )


@pytest.mark.parametrize("name", ["mp4", "mkv-bframes"])
def test_source_and_last_shot_end_with_the_last_frames_own_duration(vfr_files, name):
    """The last frame (60 fps) lasts 1/60 s: the source lasts as long as its container says."""
    path = vfr_files[name]
    result = _analyze(path)
    source = result.source
    assert source.frames == N_FRAMES
    assert source.duration_s == pytest.approx(END_S, abs=_tolerance(name))
    assert source.duration_s == pytest.approx(_container_duration(path), abs=_tolerance(name))
    assert result.shots[-1]["end_s"] == source.duration_s
    assert result.shots[-1]["end_frame"] == N_FRAMES


def test_keyframes_lie_inside_their_shots(vfr_files):
    """Sampling is by time, so even a 2-frame shot at 1 fps has sampled frames of its own."""
    result = _analyze(vfr_files["mp4"])
    for shot in result.shots:
        assert shot["keyframe_times"], shot["shot_id"]
        assert all(shot["start_s"] <= t < shot["end_s"] for t in shot["keyframe_times"]), shot
    by_start = {s["start_frame"]: s for s in result.shots}
    assert by_start[150]["keyframe_times"] == pytest.approx([6.0, 8.0])  # 5 s: at 1/3 and 2/3
    assert by_start[155]["keyframe_times"] == pytest.approx([11.0])  # 2 s: the middle


def test_pyscenedetect_finds_the_same_cuts(vfr_files):
    """The reference: PySceneDetect's own pipeline (its PyAV backend) cuts at the same times."""
    from scenedetect import ContentDetector, detect

    scenes = detect(str(vfr_files["mp4"]), ContentDetector(), backend="pyav")
    theirs = [round(start.seconds, 3) for start, _ in scenes[1:]]
    ours = [round(s["start_s"], 3) for s in _analyze(vfr_files["mp4"], "content").shots[1:]]
    assert ours == theirs == [TIMES[c] for c in CUTS]


# --------------------------------------------------------------------------- a dropped-frame gap


@pytest.fixture(scope="module")
def gap_file(tmp_path_factory) -> Path:
    """A 30 fps still shot missing 1 s of frames after 1.5 s, then a 0.6 s shot (18 frames)."""
    frames, truth = synth.build_frames([Shot(60, motion="static"), Shot(18)], seed=4)
    assert truth.frames_of("cut") == [60]
    times = (
        [i / 30 for i in range(45)]
        + [2.5 + i / 30 for i in range(15)]
        + [3.0 + i / 30 for i in range(18)]
    )
    return synth.write_vfr_video(tmp_path_factory.mktemp("gap") / "gap.mp4", frames, times)


def test_a_dropped_frame_gap_stays_inside_its_shot(gap_file):
    result = _analyze(gap_file)
    got = [
        (s["start_frame"], s["end_frame"], s["start_s"], s["end_s"], s["duration_s"])
        for s in result.shots
    ]
    assert [g[:2] for g in got] == [(0, 60), (60, 78)]
    assert got[0][2:] == pytest.approx((0.0, 3.0, 3.0))
    assert got[1][2:] == pytest.approx((3.0, 3.6, 0.6))  # exactly the minimum shot: kept
    assert (
        result.source.duration_s
        == pytest.approx(3.6)
        == pytest.approx(_container_duration(gap_file))
    )


def test_the_minimum_shot_is_in_seconds(gap_file):
    """The 18-frame shot lasts 0.6 s: a 0.61 s minimum merges it into the shot before."""
    assert [
        (s["start_frame"], s["end_frame"]) for s in _analyze(gap_file, min_shot=0.61).shots
    ] == [(0, 78)]
