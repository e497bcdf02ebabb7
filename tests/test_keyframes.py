"""ingest.keyframes: keyframe choice, shot statistics (on really encoded and decoded clips),
thumbnails."""

from __future__ import annotations

import io
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from rag_video.ingest.keyframes import (
    FrameStats,
    combine_stats,
    dominant_colors,
    frame_stats,
    keyframe_positions,
    motion_value,
    pick_keyframes,
    shot_stats,
    thumbnail_jpeg,
)
from rag_video.ingest.shots import FrameTimes
from rag_video.media.decode import decode

SIZE = (128, 72)  # (w, h) of the test clips


# --------------------------------------------------------------------------- clips


def _encode(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for rgb in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _decoded_stats(tmp_path: Path, name: str, frames: list[np.ndarray]) -> dict:
    """Encode ``frames``, decode them with the ingest decoder and compute the shot's stats."""
    path = _encode(tmp_path / f"{name}.mp4", frames)
    rgb, motion, prev = [], [], None
    for f in decode(path, detect_size=(64, 36), rgb_short_side=72, rgb_every=4):
        motion.append(motion_value(prev, f.small))
        prev = f.small
        if f.rgb is not None:
            rgb.append(f.rgb)
    assert len(rgb) == (len(frames) + 3) // 4
    return shot_stats(rgb, np.array(motion[1:]))


def _flat(color: tuple[int, int, int], n: int = 8) -> list[np.ndarray]:
    w, h = SIZE
    return [np.full((h, w, 3), color, np.uint8) for _ in range(n)]


def _checkerboard(n: int = 8, square: int = 16) -> list[np.ndarray]:
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.where(((yy // square + xx // square) % 2 == 0)[..., None], 235, 20).astype(np.uint8)
    return [np.repeat(img[..., :1], 3, axis=2).copy() for _ in range(n)]


def _texture(width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture (blurred noise, stretched to full contrast), SIZE high."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((SIZE[1], width, 3)).astype(np.float32), (0, 0), 2.0)
    noise = (noise - noise.mean()) / noise.std()
    return np.clip(128 + 60 * noise, 0, 255).astype(np.uint8)


def _static(n: int = 16) -> list[np.ndarray]:
    """A locked-off camera: the same picture with a little sensor noise on every frame."""
    tex = _texture(SIZE[0]).astype(np.int16)
    rng = np.random.default_rng(1)
    return [
        np.clip(tex + rng.integers(-2, 3, tex.shape), 0, 255).astype(np.uint8) for _ in range(n)
    ]


def _pan(n: int = 16, speed: int = 6) -> list[np.ndarray]:
    tex = _texture(SIZE[0] + n * speed)
    return [np.ascontiguousarray(tex[:, i * speed : i * speed + SIZE[0]]) for i in range(n)]


# --------------------------------------------------------------------------- keyframe choice


@pytest.mark.parametrize(
    ("start", "end", "fps", "expected"),
    [
        (0, 50, 25.0, [25]),  # 2 s: the middle
        (100, 174, 25.0, [137]),  # 2.96 s: still one
        (0, 75, 25.0, [25, 50]),  # 3 s: thirds
        (10, 209, 25.0, [76, 142]),  # 7.96 s
        (100, 300, 25.0, [133, 200, 266]),  # 8 s: 1/6, 1/2, 5/6
        (0, 240, 30.0, [40, 120, 200]),  # 8 s at 30 fps
        (0, 240, 60.0, [80, 160]),  # the same frames are only 4 s at 60 fps
        (7, 8, 25.0, [7]),  # one frame
        (0, 3, 1.0, [1, 2]),  # 3 s of 3 frames
        (0, 8, 1.0, [1, 4, 6]),
        (0, 2, 0.25, [0, 1]),  # 8 s of 2 frames: three targets, two distinct frames
    ],
)
def test_keyframe_positions(start: int, end: int, fps: float, expected: list[int]) -> None:
    assert keyframe_positions(start, end, fps) == expected


def test_keyframe_positions_stay_inside_tiny_shots() -> None:
    for n in range(1, 12):
        got = keyframe_positions(50, 50 + n, 1.0)
        assert got == sorted(set(got)) and all(50 <= k < 50 + n for k in got)


def test_keyframe_positions_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="start=5, end=5"):
        keyframe_positions(5, 5, 25.0)
    with pytest.raises(ValueError, match="fps"):
        keyframe_positions(0, 10, 0.0)


def test_pick_keyframes_nearest_sampled_inside_the_shot() -> None:
    sampled = range(0, 1000, 8)
    assert pick_keyframes(100, 300, 25.0, sampled) == [136, 200, 264]
    assert pick_keyframes(15, 20, 25.0, sampled) == [16]
    assert pick_keyframes(0, 50, 25.0, [0, 8, 16, 24, 32, 40, 48]) == [24]


def test_pick_keyframes_prefers_inside_even_when_outside_is_closer() -> None:
    # Targets 50, 150, 250; 300 is closer to 250 but lies outside [0, 300).
    assert pick_keyframes(0, 300, 25.0, [0, 300, 600]) == [0]


def test_pick_keyframes_deduplicates() -> None:
    # Targets 50, 150, 250 all land on 8.
    assert pick_keyframes(0, 300, 25.0, [0, 8, 400]) == [8]
    assert pick_keyframes(0, 300, 25.0, range(0, 300, 100)) == [0, 100, 200]


def test_pick_keyframes_falls_back_to_nearest_outside() -> None:
    # No sampled frame in [9, 15): the nearest one outside (tie → the earlier) is used.
    assert pick_keyframes(9, 15, 25.0, range(0, 100, 8)) == [8]
    assert pick_keyframes(9, 14, 25.0, range(0, 100, 8)) == [8]
    assert pick_keyframes(12, 15, 25.0, range(0, 100, 8)) == [16]
    assert pick_keyframes(500, 510, 25.0, [0, 8]) == [8]


def test_pick_keyframes_rejects_bad_sampled() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        pick_keyframes(0, 10, 25.0, [])
    with pytest.raises(ValueError, match="ascending"):
        pick_keyframes(0, 10, 25.0, [8, 0])


def _vfr_times() -> FrameTimes:
    """30 frames at 30 fps (1 s), then 5 frames at 1 fps (5 s): a 6 s shot of 35 frames."""
    return FrameTimes.from_starts(
        [i / 30 for i in range(30)] + [1.0 + i for i in range(5)], fps=30.0
    )


def test_keyframe_positions_in_time_for_variable_frame_rate() -> None:
    """By frames the shot would be 35 / 30 = 1.2 s (one keyframe, frame 17 in the first second);
    by its timestamps it lasts 6 s: keyframes at 2 s and 4 s, the frames on screen then."""
    times = _vfr_times()
    assert keyframe_positions(0, 35, 30.0) == [17]
    assert keyframe_positions(0, 35, 30.0, times=times) == [31, 33]
    assert keyframe_positions(30, 35, 30.0, times=times) == [31, 33]  # 5 s: at 1/3 and 2/3
    assert keyframe_positions(0, 30, 30.0, times=times) == [15]  # 1 s: the middle
    constant = FrameTimes.constant(300, 25.0)
    for start, end in (
        (0, 300),
        (100, 300),
        (10, 209),
        (7, 8),
        (0, 74),
    ):  # the same frames at a constant rate
        assert keyframe_positions(start, end, 25.0, times=constant) == keyframe_positions(
            start, end, 25.0
        )
    with pytest.raises(ValueError, match="end must be <= the 35 frames of times, got 40"):
        keyframe_positions(0, 40, 30.0, times=times)


def test_pick_keyframes_nearest_in_time() -> None:
    # Sampled 1/3 s apart: every 10th frame at 30 fps, every frame at 1 fps.
    sampled = [0, 10, 20, 30, 31, 32, 33, 34]
    assert pick_keyframes(0, 35, 30.0, sampled, times=_vfr_times()) == [31, 33]
    # Target frame 14 (0.47 s): frame 10 (0.33 s) is nearer than frame 20 (0.67 s).
    assert pick_keyframes(0, 28, 30.0, sampled, times=_vfr_times()) == [10]
    # A shot with no sampled frame falls back to the nearest one in time outside it.
    assert pick_keyframes(21, 30, 30.0, [0, 10, 20, 34], times=_vfr_times()) == [20]


# --------------------------------------------------------------------------- stats on decoded clips


def test_black_is_dark_and_white_is_bright(tmp_path: Path) -> None:
    black = _decoded_stats(tmp_path, "black", _flat((0, 0, 0)))
    white = _decoded_stats(tmp_path, "white", _flat((255, 255, 255)))
    assert black["brightness"] < 0.05
    assert white["brightness"] > 0.95
    assert black["dominant_colors"][0] == "#000000"
    assert white["dominant_colors"][0] == "#ffffff"


def test_red_clip_is_red(tmp_path: Path) -> None:
    stats = _decoded_stats(tmp_path, "red", _flat((255, 0, 0)))
    r, g, b = (int(stats["dominant_colors"][0][i : i + 2], 16) for i in (1, 3, 5))
    assert r > 230 and g < 25 and b < 25
    assert len(stats["dominant_colors"]) == 1
    assert stats["saturation"] > 0.9


def test_contrast_flat_grey_versus_checkerboard(tmp_path: Path) -> None:
    grey = _decoded_stats(tmp_path, "grey", _flat((128, 128, 128)))
    checker = _decoded_stats(tmp_path, "checker", _checkerboard())
    assert grey["contrast"] < 0.01
    assert checker["contrast"] > 0.3
    assert abs(grey["brightness"] - 128 / 255) < 0.02
    assert abs(checker["brightness"] - 127.5 / 255) < 0.05


def test_saturation_grey_versus_colours(tmp_path: Path) -> None:
    w, h = SIZE
    ramp = np.repeat(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], h, 0).repeat(3, 2)
    bars = np.zeros((h, w, 3), np.uint8)
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]):
        bars[:, i * w // 4 : (i + 1) * w // 4] = color
    grey = _decoded_stats(tmp_path, "ramp", [ramp] * 8)
    colour = _decoded_stats(tmp_path, "bars", [bars] * 8)
    assert grey["saturation"] < 0.05
    assert colour["saturation"] > 0.8
    assert len(colour["dominant_colors"]) == 3  # four equal bars: three reported


def test_static_clip_has_no_motion_and_panning_clip_has(tmp_path: Path) -> None:
    static = _decoded_stats(tmp_path, "static", _static())
    pan = _decoded_stats(tmp_path, "pan", _pan())
    assert static["motion"] < 0.005
    assert pan["motion"] > 0.05
    assert pan["motion"] > 10 * static["motion"]


# --------------------------------------------------------------------------- stats details


def test_dominant_colors_are_ordered_by_coverage() -> None:
    img = np.zeros((40, 100, 3), np.uint8)
    img[:, :60] = (20, 40, 220)  # blue 60 %
    img[:, 60:90] = (30, 200, 40)  # green 30 %
    img[:, 90:] = (240, 240, 240)  # white 10 %
    assert shot_stats([img], [])["dominant_colors"] == ["#1428dc", "#1ec828", "#f0f0f0"]


def test_dominant_colors_merge_a_colour_split_across_bins_and_drop_specks() -> None:
    img = np.zeros((40, 100, 3), np.uint8)
    img[:, :35] = (200, 10, 10)  # these two reds fall in different histogram bins
    img[:, 35:70] = (180, 10, 10)
    img[:, 70:99] = (10, 10, 200)
    img[:, 99:] = (0, 255, 0)  # 1 %: below the 3 % floor
    colors = shot_stats([img], [])["dominant_colors"]
    assert len(colors) == 2
    red, blue = (np.array([int(c[i : i + 2], 16) for i in (1, 3, 5)]) for c in colors)
    assert np.abs(red - (190, 10, 10)).max() <= 3  # one red: the mean of both halves
    assert np.abs(blue - (10, 10, 200)).max() <= 3


def test_dominant_colors_empty_histogram() -> None:
    assert dominant_colors(np.zeros(64, np.int64), np.zeros((64, 3))) == []


def test_stats_average_over_frames_and_motion_mean() -> None:
    dark = np.full((36, 64, 3), 51, np.uint8)
    light = np.full((36, 64, 3), 204, np.uint8)
    stats = shot_stats([dark, light], np.array([0.1, 0.3]))
    assert stats["brightness"] == pytest.approx(0.5, abs=0.005)
    assert stats["contrast"] == pytest.approx(0.0, abs=1e-6)
    assert stats["motion"] == pytest.approx(0.2)
    assert shot_stats([dark], [])["motion"] == 0.0
    assert set(stats) == {"brightness", "contrast", "saturation", "dominant_colors", "motion"}


def test_combine_stats_equals_shot_stats() -> None:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(3)]
    per_frame = [frame_stats(f) for f in frames]
    assert all(isinstance(s, FrameStats) for s in per_frame)
    assert combine_stats(per_frame, [0.5]) == shot_stats(frames, [0.5])


def test_stats_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        shot_stats([], [])
    with pytest.raises(ValueError, match="uint8"):
        shot_stats([np.zeros((4, 4, 3), np.float32)], [])


def test_motion_value() -> None:
    black = np.zeros((36, 64, 3), np.uint8)
    white = np.full((36, 64, 3), 255, np.uint8)
    assert motion_value(None, black) == 0.0
    assert motion_value(black, black) == 0.0
    assert motion_value(black, white) == pytest.approx(1.0)
    half = black.copy()
    half[:, :32] = 255
    assert motion_value(black, half) == pytest.approx(0.5)
    blue = black.copy()
    blue[..., 0] = 255  # BGR: pure blue has luma 0.114
    assert motion_value(black, blue) == pytest.approx(0.114, abs=1e-4)
    with pytest.raises(ValueError, match="shape"):
        motion_value(black, np.zeros((36, 48, 3), np.uint8))


# --------------------------------------------------------------------------- thumbnails


def test_thumbnail_jpeg() -> None:
    rgb = np.zeros((224, 398, 3), np.uint8)
    rgb[:, :199] = (250, 20, 20)
    data = thumbnail_jpeg(rgb)
    assert data[:2] == b"\xff\xd8"
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG" and img.size == (160, 90)
    px = np.asarray(img.convert("RGB"))
    assert px[45, 20, 0] > 220 and px[45, 140].max() < 30
    assert Image.open(io.BytesIO(thumbnail_jpeg(rgb, width=64))).size == (64, 36)
    noisy = np.random.default_rng(0).integers(0, 256, (224, 398, 3), dtype=np.uint8)
    assert len(thumbnail_jpeg(noisy, quality=95)) > len(thumbnail_jpeg(noisy, quality=30))
    with pytest.raises(ValueError, match="width"):
        thumbnail_jpeg(rgb, width=0)
