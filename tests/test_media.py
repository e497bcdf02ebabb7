"""media.probe and media.decode on real files written with PyAV (and the bundled sample)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from rag_video.media.decode import DecodedFrame, decode, small_bgr, yuv_to_bgr
from rag_video.media.frames import AVCOL_RANGE_JPEG, to_rgb
from rag_video.media.probe import MediaError, VideoInfo, probe
from rag_video.media.timecode import frames_of, frames_within

SAMPLE = Path(__file__).parent / "data" / "bigbuckbunny.mp4"
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# --------------------------------------------------------------------------- writers


def _encode(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    ccw_rotation: int = 0,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    options: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    sar: Fraction | None = None,
    full_range: bool = False,
) -> Path:
    """Encode RGB frames with PyAV; ``pts``/``time_base`` give variable frame timing, ``sar`` a
    sample aspect ratio (anamorphic), ``full_range`` full-range ("JPEG") YUV."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options=options or {}) as container:
        container.metadata.update(metadata or {})
        stream = container.add_stream(
            codec, rate=fps, options={"crf": "16"} if codec == "libx264" else {}
        )
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        tb = time_base or Fraction(1, fps)
        stream.time_base = stream.codec_context.time_base = tb
        if ccw_rotation:
            stream.set_display_rotation(ccw_rotation)
        if sar:
            stream.codec_context.sample_aspect_ratio = sar
        if full_range:
            stream.codec_context.color_range = AVCOL_RANGE_JPEG
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
                format=pix_fmt, dst_color_range="JPEG" if full_range else None
            )
            frame.pts, frame.time_base = (pts[i] if pts else i), tb
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _flat(
    color: tuple[int, int, int], n: int = 10, size: tuple[int, int] = (96, 64)
) -> list[np.ndarray]:
    w, h = size
    return [np.full((h, w, 3), color, np.uint8) for _ in range(n)]


def _quadrant_frames(n: int = 6, size: tuple[int, int] = (128, 64)) -> list[np.ndarray]:
    """Grey frames with a red top-left quadrant (in coded orientation)."""
    w, h = size
    img = np.full((h, w, 3), 90, np.uint8)
    img[: h // 2, : w // 2] = RED
    return [img.copy() for _ in range(n)]


def _numbered_frames(n: int, size: tuple[int, int] = (160, 90)) -> list[np.ndarray]:
    """Frame i is flat grey of level 10 + 10*i (so decoded frames can be told apart)."""
    w, h = size
    return [np.full((h, w, 3), 10 + 10 * i, np.uint8) for i in range(n)]


def _audio_only(path: Path, codec: str) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=16000, layout="mono")
        fmt = "fltp" if codec == "aac" else "s16"
        t = np.arange(16000) / 16000
        for start in range(0, 16000, 1024):
            wave = np.sin(2 * np.pi * 440 * t[start : start + 1024])[None, :]
            data = wave.astype(np.float32) if fmt == "fltp" else (wave * 3000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _audio_with_cover_art(path: Path) -> Path:
    """AAC audio plus a JPEG cover picture (a video stream flagged attached_pic), as in music
    files."""
    with av.open(str(path), "w") as container:
        audio = container.add_stream("aac", rate=16000, layout="mono")
        cover = container.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        img = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24").reformat(
            format="yuvj420p"
        )
        for packet in [*cover.encode(img), *cover.encode(None)]:
            container.mux(packet)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode(None):
            container.mux(packet)
    return path


def _zero_frame(path: Path) -> Path:
    """A container with a video stream and no packets (AVI keeps the stream header)."""
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
    container.start_encoding()
    container.close()
    return path


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _noise_frames(n: int, size: tuple[int, int] = (160, 96), seed: int = 0) -> list[np.ndarray]:
    w, h = size
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _is(px: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.all(np.abs(px.astype(int) - np.array(rgb)) < tol))


# --------------------------------------------------------------------------- probe


def test_probe_sample_footage() -> None:
    info = probe(SAMPLE)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.rotation) == (1280, 720, 0)
    assert info.fps == 25.0
    assert info.frames == 132
    assert info.duration_s == pytest.approx(5.28, abs=0.01)
    assert (info.video_codec, info.pix_fmt, info.has_audio) == ("h264", "yuv420p", True)
    assert info.tags["encoder"] == "Lavf53.24.2"


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_probe_tags_lowercased_and_no_audio(tmp_path: Path, ext: str) -> None:
    path = _encode(
        tmp_path / f"t.{ext}", _flat(GREEN, 3), metadata={"comment": "rag-video 0.1", "TITLE": "T"}
    )
    info = probe(path)
    assert info.tags["comment"] == "rag-video 0.1"
    assert info.tags["title"] == "T"
    assert all(k == k.lower() for k in info.tags)
    assert info.has_audio is False
    assert (info.frames, info.fps, info.duration_s) == (3, 25.0, pytest.approx(0.12, abs=1e-6))


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize(
    ("cw", "corner"),
    [(0, "top_left"), (90, "top_right"), (180, "bottom_right"), (270, "bottom_left")],
)
def test_rotation_metadata_is_honoured(tmp_path: Path, cw: int, corner: str) -> None:
    # FFmpeg/PyAV display matrices are counter-clockwise; a phone's "rotate=90" is -90 here.
    path = _encode(tmp_path / f"r{cw}.mp4", _quadrant_frames(), ccw_rotation=-cw)
    info = probe(path)
    assert info.rotation == cw
    portrait = cw in (90, 270)
    assert (info.width, info.height) == ((64, 128) if portrait else (128, 64))
    assert (info.coded_width, info.coded_height) == (128, 64)

    detect = (18, 32) if portrait else (32, 18)
    frames = list(decode(path, detect_size=detect, rgb_short_side=64, rgb_every=4))
    assert [f.index for f in frames] == list(range(6))
    small, rgb = frames[0].small, frames[0].rgb
    assert small.shape == (detect[1], detect[0], 3)
    assert rgb is not None and rgb.shape == ((128, 64, 3) if portrait else (64, 128, 3))
    red_bgr = RED[::-1]
    for img, color in ((small, red_bgr), (rgb, RED)):
        h, w = img.shape[:2]
        corners = {
            "top_left": img[h // 8, w // 8],
            "top_right": img[h // 8, w - 1 - w // 8],
            "bottom_left": img[h - 1 - h // 8, w // 8],
            "bottom_right": img[h - 1 - h // 8, w - 1 - w // 8],
        }
        for name, px in corners.items():
            assert _is(px, color) == (name == corner), (name, px)


@pytest.mark.parametrize("cw", [90, 270])
def test_read_clip_applies_the_files_rotation_by_default_also_after_a_seek(
    tmp_path: Path, cw: int
) -> None:
    """``rotation=None`` takes the display rotation from the clip's first decoded frame: the same
    as :func:`probe` reports, also when the read starts at a keyframe in the middle of the file."""
    import synth

    from rag_video.media.clip import read_clip

    path = synth.write_video(
        tmp_path / f"r{cw}.mp4", _quadrant_frames(n=50), fps=25, gop=10, display_rotation=-cw
    )
    assert probe(path).rotation == cw
    for in_s in (0.0, 1.2):  # the second seeks to the keyframe at frame 30
        default = read_clip(path, in_s, in_s + 0.2, fps=25)
        explicit = read_clip(path, in_s, in_s + 0.2, fps=25, rotation=cw)
        unrotated = read_clip(path, in_s, in_s + 0.2, fps=25, rotation=0)
        assert default[0].shape == (128, 64, 3) and unrotated[0].shape == (64, 128, 3)
        assert all(np.array_equal(a, b) for a, b in zip(default, explicit, strict=True))


# --------------------------------------------------------------------------- decode


def test_decode_indices_times_and_sampling(tmp_path: Path) -> None:
    path = _encode(tmp_path / "n.mp4", _numbered_frames(20))
    frames = list(decode(path, detect_size=(64, 36), rgb_short_side=224, rgb_every=8))
    assert all(isinstance(f, DecodedFrame) for f in frames)
    assert [f.index for f in frames] == list(range(20))
    assert [f.time_s for f in frames] == pytest.approx([i / 25 for i in range(20)])
    assert [f.index for f in frames if f.rgb is not None] == [0, 8, 16]
    for f in frames:
        assert f.small.shape == (36, 64, 3) and f.small.dtype == np.uint8
        assert abs(float(f.small.mean()) - (10 + 10 * f.index)) < 4
        if f.rgb is not None:
            assert f.rgb.shape == (224, 398, 3) and f.rgb.dtype == np.uint8
            assert abs(float(f.rgb.mean()) - (10 + 10 * f.index)) < 4


def test_decode_channel_order(tmp_path: Path) -> None:
    w, h = 96, 64
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 3] = RED
    img[:, w // 3 : 2 * w // 3] = GREEN
    img[:, 2 * w // 3 :] = BLUE
    path = _encode(tmp_path / "bars.mp4", [img] * 2)
    frame = next(iter(decode(path, detect_size=(48, 16), rgb_short_side=64)))
    for x, color in ((6, RED), (24, GREEN), (42, BLUE)):
        assert _is(frame.small[8, x], color[::-1]), (x, frame.small[8, x])
        assert _is(frame.rgb[32, x * 2], color), (x, frame.rgb[32, x * 2])


def test_decode_sample_footage_counts_every_frame() -> None:
    frames = list(decode(SAMPLE, detect_size=(48, 27)))
    assert len(frames) == 132
    assert frames[-1].time_s == pytest.approx(131 / 25)
    assert sum(f.rgb is not None for f in frames) == 17  # 0, 8, ..., 128
    assert frames[0].rgb.shape == (224, 398, 3)
    assert frames[0].small.shape == (27, 48, 3)


def test_decode_threads_off_gives_the_same_frames(tmp_path: Path) -> None:
    path = _encode(tmp_path / "noise.mp4", _noise_frames(12))
    a = list(decode(path, threads=True))
    b = list(decode(path, threads=False))
    assert len(a) == len(b) == 12
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.small, y.small)


def test_variable_frame_rate_times_from_pts(tmp_path: Path) -> None:
    pts_ms = [0, 40, 50, 130, 300, 310, 320, 700, 720, 1000]
    path = _encode(
        tmp_path / "vfr.mkv",
        _numbered_frames(10, (64, 48)),
        pts=pts_ms,
        time_base=Fraction(1, 1000),
    )
    frames = list(decode(path, detect_size=(16, 12)))
    assert [f.index for f in frames] == list(range(10))
    assert [f.time_s for f in frames] == pytest.approx([p / 1000 for p in pts_ms])
    assert [round(float(f.small.mean()) / 10) for f in frames] == [1 + i for i in range(10)]


def test_frame_times_never_go_backwards(caplog: pytest.LogCaptureFixture) -> None:
    """A pts going backwards (a broken or spliced file) is held at the previous frame's time, with
    one warning, so frame times stay non-decreasing for the detectors."""
    from types import SimpleNamespace

    from rag_video.media.decode import _Clock

    stream = SimpleNamespace(
        time_base=Fraction(1, 10),
        start_time=0,
        frames=5,
        average_rate=Fraction(10),
        guessed_rate=None,
        base_rate=None,
        duration=50,
    )
    clock = _Clock(SimpleNamespace(duration=None), stream)
    with caplog.at_level("WARNING", logger="rag_video.media.decode"):
        times = [clock.time_of(SimpleNamespace(pts=p)) for p in (0, 10, 5, 3, 20, None)]
    assert times == pytest.approx([0.0, 1.0, 1.0, 1.0, 2.0, 2.1])
    assert sum("go backwards" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "ext"),
    [
        ("libx264", "yuv420p10le", "mp4"),
        ("prores_ks", "yuv422p10le", "mov"),
        ("ffv1", "yuv444p10le", "mkv"),
    ],
)
def test_ten_bit_input_gives_eight_bit_output(
    tmp_path: Path, codec: str, pix_fmt: str, ext: str
) -> None:
    w, h = 64, 32
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (200, 60, 30)
    img[:, w // 2 :] = (30, 90, 220)
    path = _encode(tmp_path / f"ten.{ext}", [img] * 3, codec=codec, pix_fmt=pix_fmt)
    assert probe(path).pix_fmt == pix_fmt
    frames = list(decode(path, detect_size=(32, 16), rgb_short_side=32))
    assert len(frames) == 3
    small, rgb = frames[0].small, frames[0].rgb
    assert small.dtype == np.uint8 and rgb.dtype == np.uint8
    assert _is(small[8, 4], (30, 60, 200), tol=12) and _is(small[8, 28], (220, 90, 30), tol=12)
    assert _is(rgb[16, 8], (200, 60, 30), tol=12) and _is(rgb[16, 56], (30, 90, 220), tol=12)


def _test_picture(w: int = 320, h: int = 180) -> np.ndarray:
    """Smooth colour gradients plus saturated blocks: exercises every part of the colour matrix."""
    x = np.linspace(0, 1, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    img = np.stack([np.broadcast_to(x, (h, w)), np.broadcast_to(y, (h, w)), 1 - 0.5 * (x + y)], -1)
    img = (img * 255).astype(np.uint8)
    img[20:80, 40:120] = RED
    img[100:160, 180:280] = (20, 200, 60)
    img[30:70, 200:300] = (250, 240, 40)
    return img


@pytest.mark.parametrize(
    "fmt",
    [
        "yuv420p",
        "yuvj420p",
        "nv12",
        "yuv422p",
        "yuv444p",
        "yuv420p10le",
        "yuv444p12le",
        "rgb24",
        "gbrp",
    ],
)
@pytest.mark.parametrize("colorspace", [None, "ITU709"])
def test_small_frames_match_a_full_resolution_reference(fmt: str, colorspace: str | None) -> None:
    src = av.VideoFrame.from_ndarray(_test_picture(), format="rgb24")
    frame = (
        src.reformat(format=fmt, dst_colorspace=colorspace)
        if colorspace
        else src.reformat(format=fmt)
    )
    size = (64, 36)
    ref = cv2.resize(frame.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA).astype(
        int
    )
    got = small_bgr(frame, size)
    assert got.shape == (36, 64, 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - ref)
    assert diff.mean() < 3.0, diff.mean()
    assert np.percentile(diff, 99) < 30


# ------------------------------------------------- one picture, whichever reader (media.frames)


def _range_picture(w: int = 96, h: int = 64) -> np.ndarray:
    """Near-black and near-white bands (where full and limited range differ most) around
    saturated colour halves, which tell left from right (and a squeezed picture)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (220, 40, 30)
    img[:, w // 2 :] = (30, 60, 210)
    img[: h // 4] = 8
    img[-(h // 4) :] = 247
    return img


@pytest.mark.parametrize(
    ("pix_fmt", "full_range", "sar", "ccw"),
    [
        ("yuvj420p", False, None, 0),  # full range from the pixel format
        ("yuv420p", True, None, 0),  # full range from the colour-range flag
        ("yuv420p10le", True, None, 0),  # 10-bit full range: no yuvj format exists
        ("yuv420p10le", False, None, 0),
        ("yuv420p", False, Fraction(2), 0),  # anamorphic: 96×64 coded shows as 192×64
        ("yuv420p", False, Fraction(3, 4), -90),  # squeezed, then turned
        ("yuvj420p", False, Fraction(4, 3), 180),
    ],
)
def test_every_reader_makes_the_same_upright_picture(
    tmp_path: Path, pix_fmt: str, full_range: bool, sar: Fraction | None, ccw: int
) -> None:
    """The decode pass (ingest), the clip reader (make) and the seek reader (deferred embedding)
    agree on display size, sample aspect ratio, rotation and colour range."""
    from rag_video.media.clip import read_clip
    from rag_video.media.seek import frames_at

    src = _range_picture()
    path = _encode(
        tmp_path / "p.mp4",
        [src] * 4,
        pix_fmt=pix_fmt,
        full_range=full_range,
        sar=sar,
        ccw_rotation=ccw,
    )
    info = probe(path)
    rgb = next(iter(decode(path, rgb_short_side=48))).rgb
    assert rgb is not None
    h, w = rgb.shape[:2]
    assert min(w, h) == 48 and abs(w / h - info.width / info.height) < 0.03
    seek = frames_at(path, [0.0], short_side=48)[0]
    clip = read_clip(path, 0.0, 0.04, fps=25, size=(w, h))[0]
    for got in (seek, clip):
        assert got.shape == rgb.shape
        diff = np.abs(got.astype(int) - rgb.astype(int))
        assert diff.max() <= 2, diff.max()
    # and the picture is the source, turned and stretched for display
    stretched = (round(96 * (sar or 1)), 64)
    expected = cv2.resize(src, stretched, interpolation=cv2.INTER_AREA)
    expected = np.ascontiguousarray(np.rot90(expected, k=(ccw // 90) % 4))  # counter-clockwise
    expected = cv2.resize(expected, (w, h), interpolation=cv2.INTER_AREA)
    assert np.abs(rgb.astype(int) - expected.astype(int)).mean() < 6


@pytest.mark.parametrize("fmt", ["yuv420p", "yuvj420p", "yuv420p10le"])
@pytest.mark.parametrize("color_range", [0, 1, AVCOL_RANGE_JPEG])
def test_to_rgb_reads_full_range_as_full_range(fmt: str, color_range: int) -> None:
    """Luma 16 is black in limited range and dark grey (16) in full range, at any bit depth."""
    frame = av.VideoFrame(32, 16, fmt)
    bits = 10 if fmt.endswith("10le") else 8
    dtype = np.dtype("<u2") if bits == 10 else np.dtype(np.uint8)
    for i, plane in enumerate(frame.planes):
        level = (16 if i == 0 else 128) << (bits - 8)
        plane.update(np.full(plane.buffer_size // dtype.itemsize, level, dtype).tobytes())
    frame.color_range = color_range
    full = color_range == AVCOL_RANGE_JPEG or fmt.startswith("yuvj")
    got = to_rgb(frame, (16, 8))
    assert got.shape == (8, 16, 3)
    assert np.all(np.abs(got.astype(int) - (16 if full else 0)) <= 1), got[0, 0]


# ------------------------------------------------------- seconds to frames (media.timecode)


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"),
    [
        (0.5, 25, 13),  # 12.5: half up (round() gives 12)
        (0.1, 25, 3),  # 2.5 (round() gives 2)
        (0.3, 25, 8),  # 7.5 (round() also 8)
        (2.5, 1, 3),
        (1.5, 1, 2),
        (0.02, 25, 1),
        (0.0999, 25, 2),  # 2.4975: just under half
        (0.1 + 0.2, 5, 2),  # 1.5000000000000002 in floats: still exactly 1.5 → 2
        (0.7, 5, 4),  # 3.4999999999999996 in floats: exactly 3.5 → 4
        (1001 / 30000 * 7, Fraction(30000, 1001), 7),
        (1001 / 60000, 30000 / 1001, 1),  # half a 29.97 frame
        (0.0, 25, 0),
    ],
)
def test_frames_of_rounds_half_frames_up(seconds: float, fps: float, frames: int) -> None:
    from rag_video.media.clip import clip_duration_frames

    assert frames_of(seconds, fps) == frames
    assert clip_duration_frames(0.0, seconds, fps) == frames  # read_clip's frame count


def test_frames_within_rounds_down_exactly_and_bad_times_name_themselves() -> None:
    assert frames_within(0.1 + 0.2, 10) == 3  # 2.9999… or 3.0000…4 in floats: exactly 3
    assert frames_within(0.7, 10) == 7
    assert frames_within(0.39, 10) == 3
    with pytest.raises(ValueError, match="seconds must be a finite number, got inf"):
        frames_of(float("inf"), 25)
    with pytest.raises(ValueError, match="fps must be a finite number, got nan"):
        frames_of(1.0, float("nan"))


def test_yuv_to_bgr_reference_values() -> None:
    one = np.ones((1, 1), np.uint8)
    # BT.601 limited-range white, black and red (FFmpeg's exact code values).
    assert yuv_to_bgr(one * 235, one * 128, one * 128)[0, 0].tolist() == [255, 255, 255]
    assert yuv_to_bgr(one * 16, one * 128, one * 128)[0, 0].tolist() == [0, 0, 0]
    b, g, r = yuv_to_bgr(one * 81, one * 90, one * 240)[0, 0].tolist()
    assert r >= 250 and g <= 3 and b <= 3
    # 10-bit full range mid grey.
    grey = yuv_to_bgr(
        one.astype(np.uint16) * 512,
        one.astype(np.uint16) * 512,
        one.astype(np.uint16) * 512,
        bits=10,
        full_range=True,
    )
    assert grey[0, 0].tolist() == [128, 128, 128]
    # 10-bit out-of-gamut red saturates instead of wrapping around.
    hi = one.astype(np.uint16)
    b, g, r = yuv_to_bgr(hi * 940, hi * 512, hi * 1023, bits=10)[0, 0].tolist()
    assert (r, b) == (255, 255) and g < 200


def test_decode_rejects_bad_arguments_at_call_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rgb_every"):
        decode(tmp_path / "whatever.mp4", rgb_every=0)
    with pytest.raises(ValueError, match="detect_size"):
        decode(tmp_path / "whatever.mp4", detect_size=(0, 10))
    with pytest.raises(ValueError, match="rgb_short_side"):
        decode(tmp_path / "whatever.mp4", rgb_short_side=-1)
    for bad in (0, -0.5, float("inf"), "1", True):
        with pytest.raises(
            ValueError, match=rf"rgb_every_s must be a positive number of seconds, got {bad!r}"
        ):
            decode(tmp_path / "whatever.mp4", rgb_every_s=bad)


def test_decode_samples_by_time_on_variable_frame_rate(tmp_path: Path) -> None:
    """``rgb_every_s``: frame 0, then the first frame at least that long after the last sample."""
    pts_ms = [0, 40, 50, 130, 300, 310, 320, 700, 720, 1000]
    path = _encode(
        tmp_path / "vfr.mkv",
        _numbered_frames(10, (64, 48)),
        pts=pts_ms,
        time_base=Fraction(1, 1000),
    )
    frames = list(decode(path, detect_size=(16, 12), rgb_short_side=16, rgb_every_s=0.25))
    assert [f.index for f in frames if f.rgb is not None] == [0, 4, 7, 9]  # 0, 0.30, 0.70, 1.0 s
    constant = list(decode(SAMPLE, detect_size=(16, 9), rgb_short_side=16, rgb_every_s=8 / 25))
    assert [f.index for f in constant if f.rgb is not None] == list(
        range(0, 132, 8)
    )  # = rgb_every=8


# --------------------------------------------------------------------------- failures


def _bad_file(tmp_path: Path, kind: str) -> Path:
    """Write one kind of unreadable input and return its path."""
    if kind == "missing":
        return tmp_path / "missing.mp4"
    if kind == "directory":
        (tmp_path / "folder.mp4").mkdir()
        return tmp_path / "folder.mp4"
    if kind == "empty":
        (tmp_path / "empty.mp4").write_bytes(b"")
        return tmp_path / "empty.mp4"
    if kind == "random":
        data = np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes()
        (tmp_path / "random.mp4").write_bytes(data)
        return tmp_path / "random.mp4"
    if kind in ("text_txt", "text_mov"):
        path = tmp_path / ("notes.txt" if kind == "text_txt" else "notes.mov")
        path.write_text("This is not a video.\nJust some notes.\n" * 20)
        return path
    if kind == "image":
        Image.fromarray(_test_picture()).save(tmp_path / "still.png")
        return tmp_path / "still.png"
    if kind == "audio_aac":
        return _audio_only(tmp_path / "audio.m4a", "aac")
    if kind == "audio_pcm_mkv":
        return _audio_only(tmp_path / "audio.mkv", "pcm_s16le")
    if kind == "cover_art":
        return _audio_with_cover_art(tmp_path / "song.mp4")
    if kind == "truncated":  # moov index at the end: cut in half it is gone
        return _truncate(_encode(tmp_path / "trunc.mp4", _noise_frames(40)))
    if kind == "zero_frames":
        return _zero_frame(tmp_path / "zero.avi")
    raise AssertionError(kind)


BAD = {
    "missing": "cannot open: .*missing.mp4: no such file",
    "directory": "cannot open: .*folder.mp4: is a directory",
    "empty": "empty file: .*empty.mp4",
    "random": "not a media file.*random.mp4",
    "text_txt": "not a video file \\(text\\): .*notes.txt",
    "text_mov": "not a media file.*notes.mov",
    "image": "not a video file \\(still image\\): .*still.png",
    "audio_aac": "no video stream \\(audio only\\): .*audio.m4a",
    "audio_pcm_mkv": "no video stream \\(audio only\\): .*audio.mkv",
    "cover_art": "no video stream \\(audio only\\): .*song.mp4",
    "truncated": "not a media file \\(or damaged\\): .*trunc.mp4",
    "zero_frames": "no video frames decoded: .*zero.avi",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_unreadable_files_raise_media_error(tmp_path: Path, kind: str) -> None:
    path = _bad_file(tmp_path, kind)
    with pytest.raises(MediaError, match=BAD[kind]) as probed:
        probe(path)
    with pytest.raises(MediaError, match=BAD[kind]) as decoded:
        list(decode(path))
    for exc in (probed.value, decoded.value):
        assert "\n" not in str(exc)


@pytest.mark.parametrize("threads", [True, False])
@pytest.mark.parametrize("keep", [0.3, 0.77])
def test_truncated_stream_fails_mid_decode(tmp_path: Path, keep: float, threads: bool) -> None:
    # With the index up front (faststart) the header survives and the data runs out mid-stream.
    # Single-threaded, the decoder rejects the cut packet; frame-threaded, FFmpeg drops it and the
    # stream just ends early, which the frame count announced by the index gives away.
    path = _encode(tmp_path / "fast.mp4", _noise_frames(40), options={"movflags": "faststart"})
    _truncate(path, keep)
    assert probe(path).frames == 40
    got: list[int] = []
    with pytest.raises(
        MediaError, match=r"decode failed after \d+ frames \(\d+\.\d\d s\): .*fast.mp4: "
    ) as err:
        for frame in decode(path, threads=threads):
            got.append(frame.index)
    assert 0 < len(got) < 40
    assert f"after {len(got)} frames" in str(err.value)
    assert ("Invalid data" if not threads else "stream ends early") in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_stream_not_strict_keeps_what_decodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _truncate(
        _encode(tmp_path / "fast.mp4", _noise_frames(40), options={"movflags": "faststart"}), 0.5
    )
    try:
        frames = list(decode(path, strict=False))
    except MediaError as exc:  # the cut fell inside a packet: the decoder itself fails
        assert "decode failed after" in str(exc)
    else:
        assert 0 < len(frames) < 40
        assert "truncated" in caplog.text


def test_zero_frame_mp4_has_no_video_stream(tmp_path: Path) -> None:
    # MP4 drops a track without samples, so this is "no video stream" rather than "no frames".
    container = av.open(str(tmp_path / "zero.mp4"), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
    container.start_encoding()
    container.close()
    with pytest.raises(MediaError, match="no video stream: .*zero.mp4"):
        probe(tmp_path / "zero.mp4")


def test_prefetched_keeps_order_reraises_errors_and_stops_early():
    import threading

    from rag_video.media.decode import prefetched

    def frames(n, fail_at=None):
        for i in range(n):
            if i == fail_at:
                raise MediaError(f"broken at {i}")
            yield i

    assert list(prefetched(frames(100), depth=4)) == list(range(100))
    got = []
    with pytest.raises(MediaError, match="broken at 7"):
        for item in prefetched(frames(20, fail_at=7), depth=2):
            got.append(item)
    assert got == list(range(7))
    early = prefetched(frames(10_000), depth=2)
    assert next(early) == 0
    early.close()
    assert not any(t.name == "rag-video-decode" and t.is_alive() for t in threading.enumerate())


def test_image_codec_round_trips_and_names_bad_input():
    from rag_video.media.image import decode_rgb, encode_rgb

    rgb = np.random.default_rng(0).integers(0, 255, (18, 32, 3), dtype=np.uint8)
    assert np.array_equal(decode_rgb(encode_rgb(rgb)), rgb)  # PNG is lossless, channels kept
    smooth = np.zeros((32, 32, 3), np.uint8)
    smooth[..., 0] = 200  # pure red survives JPEG as red, not blue
    back = decode_rgb(encode_rgb(smooth, "jpeg"))
    assert back.shape == smooth.shape and back[..., 0].mean() > 180 and back[..., 2].mean() < 20
    with pytest.raises(ValueError, match="keyframe bytes"):
        decode_rgb(b"not an image", "keyframe")
    with pytest.raises(ValueError, match="fmt='gif'"):
        encode_rgb(rgb, "gif")
