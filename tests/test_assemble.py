"""Assembly: exact timing, conforming, crossfades, audio, subtitles, tags, provenance, atomicity."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import synth
from conftest import DATA

from rag_video.generate.assemble import Segment, assemble
from rag_video.generate.timing import frame_boundaries
from rag_video.media.audio import read_audio
from rag_video.media.captions import caption_overlay
from rag_video.media.clip import conform_frame, read_clip
from rag_video.media.encode import VideoWriter
from rag_video.media.probe import MediaError, probe
from rag_video.media.seek import frames_at

SIZE = (160, 90)
BBB = DATA / "bigbuckbunny.mp4"


# ------------------------------------------------------------------------------------ footage


def _gray_coded(path: Path, n: int = 75, fps: int = 25, size: tuple[int, int] = SIZE) -> Path:
    """Frame i is a flat grey of level 16 + 3i: the decoded level tells which frame is shown."""
    frames = [np.full((size[1], size[0], 3), 16 + 3 * i, np.uint8) for i in range(n)]
    return synth.write_video(path, frames, fps=fps, crf=0)


def _level_index(frame: np.ndarray, step: int = 3) -> int:
    return int(round((float(frame[8:-8, 8:-8].mean()) - 16) / step))


def _flat(path: Path, rgb: tuple[int, int, int], n: int = 50, audio: bool = False) -> Path:
    frames = [np.full((SIZE[1], SIZE[0], 3), rgb, np.uint8) for _ in range(n)]
    return synth.write_video(path, frames, crf=0, audio=audio)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("footage")
    return {
        "gray": _gray_coded(folder / "gray.mp4"),
        # two scenes with a cut at frame 40, with a 440 Hz tone track
        "cut": synth.write_video(
            folder / "cut.mp4",
            synth.build_frames([synth.Shot(40), synth.Shot(35)], seed=5)[0],
            crf=12,
            audio=True,
        ),
        "red": _flat(folder / "red.mp4", (220, 30, 30)),
        "blue": _flat(folder / "blue.mp4", (30, 30, 220)),
    }


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _audio(path: Path) -> np.ndarray | None:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        return np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _no_leftovers(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.suffix in (".mp4", ".srt") or "partial" in p.name
    )


# ------------------------------------------------------------------------------------ reading


def test_read_clip_picks_nearest_frame_for_each_output_tick(footage):
    for fps in (24, 30, 25):
        frames = read_clip(footage["gray"], 0.4, 1.4, fps=fps)
        assert len(frames) == fps  # round((1.4 - 0.4) * fps)
        got = [_level_index(f) for f in frames]
        want = [
            int(np.floor((0.4 + k / fps) * 25 + 0.5)) for k in range(fps)
        ]  # nearest 25 fps frame
        assert got == want, fps


def test_read_clip_holds_last_frame_past_the_end(footage):
    frames = read_clip(footage["gray"], 2.8, 3.2, fps=25)  # the file has 75 frames = 3.0 s
    assert [_level_index(f) for f in frames] == [70, 71, 72, 73, 74, 74, 74, 74, 74, 74]


def test_conform_frame_crop_and_letterbox_geometry():
    img = np.full((90, 160, 3), 200, np.uint8)
    img[:, :30] = 10  # dark left band
    crop = conform_frame(img, (90, 90), "crop")
    box = conform_frame(img, (90, 90), "letterbox")
    assert crop.shape == box.shape == (90, 90, 3)
    assert crop.min() == 200  # the centre 90 columns (35..125): the dark band is cut away
    assert box[:18].max() == 0 and box[-18:].max() == 0  # 90x51 picture, bars of 19 and 20 rows
    assert box[45, 80].min() == 200 and box[45, 5].max() < 30


def test_read_audio_is_exact_length_and_padded(footage):
    a = read_audio(footage["cut"], 1.0, 2.0, 48000)
    assert a.shape == (1, 48000) and a.dtype == np.float32
    assert np.sqrt(np.mean(a**2)) > 0.1  # the 0.2-amplitude tone
    tail = read_audio(footage["cut"], 2.5, 3.5, 48000, channels=2)  # the file lasts 3.0 s
    assert tail.shape == (2, 48000) and np.abs(tail[:, -12000:]).max() == 0
    assert read_audio(footage["gray"], 0.0, 1.0) is None


# ------------------------------------------------------------------------------------ assembly


@pytest.mark.parametrize("fps", [24, 30])
def test_output_has_exact_frames_fps_size_and_duration(tmp_path, footage, fps):
    segments = [
        Segment("source", path=footage["cut"], in_s=0.3, out_s=1.33),
        Segment("frames", frames=[np.full((48, 64, 3), 128, np.uint8)] * 7, duration_s=0.77),
        Segment("source", path=BBB, in_s=1.0, out_s=1.5),
        Segment("file", path=footage["gray"], in_s=2.0, duration_s=0.41),
    ]
    total_s = 1.03 + 0.77 + 0.5 + 0.41
    out = tmp_path / "out.mp4"
    report = assemble(segments, out, fps=fps, size=(128, 72))
    n = int(np.floor(total_s * fps + 0.5))
    info = probe(out)
    assert report.frames == n and len(_decode(out)) == n
    assert (info.width, info.height, info.fps) == (128, 72, fps)
    assert info.duration_s == pytest.approx(n / fps, abs=1e-3)
    assert report.duration_s == pytest.approx(n / fps)
    spans = [(p.start_frame, p.end_frame) for p in report.segments]
    bounds = frame_boundaries([1.03, 0.77, 0.5, 0.41], fps)
    assert spans == list(zip([0] + bounds[:-1], bounds, strict=True)) and bounds[-1] == n
    assert _no_leftovers(tmp_path) == ["out.mp4"]


def test_fit_crop_fills_letterbox_pads_black(tmp_path):
    src = synth.write_video(
        tmp_path / "bright.mp4", [np.full((90, 160, 3), 180, np.uint8)] * 10, crf=0
    )
    seg = [Segment("source", path=src, in_s=0.0, out_s=0.4)]
    crop = _decode(assemble(seg, tmp_path / "crop.mp4", fps=25, size=(90, 90), fit="crop").path)[0]
    box = _decode(assemble(seg, tmp_path / "box.mp4", fps=25, size=(90, 90), fit="letterbox").path)[
        0
    ]
    assert crop.mean(axis=(1, 2)).min() > 150  # every row is picture
    rows = box.mean(axis=(1, 2))
    assert (
        rows[:16].max() < 20 and rows[-16:].max() < 20
    )  # black bars (yuv420p rounds the edge rows)
    assert rows[30:60].min() > 150


def test_crossfade_keeps_total_duration_and_blends_at_the_seam(tmp_path, footage):
    def segs(**handles):
        return [
            Segment(
                "source",
                path=footage["red"],
                in_s=0.2,
                out_s=1.0,
                handle_after_s=handles.get("after", 0),
            ),
            Segment(
                "source",
                path=footage["blue"],
                in_s=0.5,
                out_s=1.5,
                handle_before_s=handles.get("before", 0),
            ),
        ]

    cut = assemble(segs(), tmp_path / "cut.mp4", fps=25, size=SIZE)
    fade = assemble(
        segs(after=0.5, before=0.5),
        tmp_path / "fade.mp4",
        fps=25,
        size=SIZE,
        transition="crossfade",
        crossfade_s=0.4,
    )
    assert cut.frames == fade.frames == 45
    assert len(_decode(fade.path)) == 45
    assert fade.segments[1].crossfade_frames == 10 and fade.segments[1].held_frames == 0
    red = lambda f: float(f[..., 0].mean())  # noqa: E731
    cut_frames, fade_frames = _decode(cut.path), _decode(fade.path)
    assert red(cut_frames[19]) > 200 and red(cut_frames[20]) < 50  # hard cut at frame 20
    seam = [red(f) for f in fade_frames[15:25]]  # weights 1/11 .. 10/11 of blue
    assert all(a > b for a, b in zip(seam, seam[1:], strict=False))
    assert (
        100 < red(fade_frames[20]) < 150
        and red(fade_frames[14]) > 200
        and red(fade_frames[25]) < 50
    )
    held = assemble(
        segs(), tmp_path / "held.mp4", fps=25, size=SIZE, transition="crossfade", crossfade_s=0.4
    )
    assert (
        held.frames == 45
        and held.segments[0].held_frames == 5
        and held.segments[1].held_frames == 5
    )


def test_source_audio_present_with_matching_duration_silence_for_frames(tmp_path, footage):
    segments = [
        Segment("source", path=footage["cut"], in_s=0.5, out_s=1.5),
        Segment("frames", frames=[np.zeros((90, 160, 3), np.uint8)], duration_s=1.0),
    ]
    report = assemble(segments, tmp_path / "a.mp4", fps=25, size=SIZE, audio="sources")
    audio = _audio(report.path)
    assert report.has_audio and probe(report.path).has_audio
    assert abs(audio.shape[1] - 2 * 48000) <= 1024  # AAC pads to its 1024-sample frames
    assert np.sqrt(np.mean(audio[:, 2000:46000] ** 2)) > 0.05  # the tone
    assert np.abs(audio[:, 50000:94000]).max() < 1e-3  # silence for the drafted part
    assert report.segments[0].has_audio and not report.segments[1].has_audio


def test_music_trimmed_faded_and_audio_none(tmp_path):
    music = synth.write_audio_only(tmp_path / "music.m4a", seconds=4.0)
    frames = [np.full((90, 160, 3), 90, np.uint8)] * 5
    report = assemble(
        [Segment("frames", frames=frames, duration_s=1.2)],
        tmp_path / "m.mp4",
        fps=25,
        size=SIZE,
        audio=music,
        music_fade_s=0.5,
    )
    audio = _audio(report.path)
    assert report.audio == "music" and abs(audio.shape[1] - int(1.2 * 48000)) <= 1024
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    assert rms(audio[:, 10000:20000]) > 0.1 and rms(audio[:, 55000:57000]) < 0.2 * rms(
        audio[:, 10000:20000]
    )
    silent = assemble(
        [Segment("frames", frames=frames, duration_s=1.2)],
        tmp_path / "n.mp4",
        fps=25,
        size=SIZE,
        audio="none",
    )
    assert not silent.has_audio and _audio(silent.path) is None and not probe(silent.path).has_audio


def test_output_is_tagged_as_rag_video(tmp_path):
    report = assemble(
        [Segment("frames", frames=[np.zeros((90, 160, 3), np.uint8)], duration_s=0.2)],
        tmp_path / "t.mp4",
        fps=25,
        size=SIZE,
        metadata={"title": "My film"},
    )
    tags = probe(report.path).tags
    assert (
        tags["comment"].startswith("rag-video")
        and "rag_video" in tags
        and tags["title"] == "My film"
    )


def test_source_frame_at_segment_start_matches_source_in_point(tmp_path, footage):
    # the source cuts between frames 39 and 40: one frame off either way shows the other scene
    src = _decode(footage["cut"])
    segments = [
        Segment("frames", frames=[np.zeros((90, 160, 3), np.uint8)], duration_s=0.52),
        Segment("source", path=footage["cut"], in_s=1.6, out_s=2.2),  # in point = frame 40
        Segment("source", path=footage["cut"], in_s=1.56, out_s=1.6),
    ]  # in point = frame 39
    report = assemble(segments, tmp_path / "p.mp4", fps=25, size=SIZE, crf=12)
    out = _decode(report.path)
    first, second = report.segments[1], report.segments[2]
    assert (first.start_frame, first.in_s, second.start_frame, second.in_s) == (13, 1.6, 28, 1.56)
    assert _psnr(out[13], src[40]) >= 30 and _psnr(out[13], src[39]) < 25
    assert _psnr(out[28], src[39]) >= 30 and _psnr(out[28], src[40]) < 25


def test_captions_go_to_srt_and_burn_in(tmp_path):
    frames = [np.full((90, 160, 3), 60, np.uint8)] * 4
    segments = [
        Segment("frames", frames=frames, duration_s=1.0, caption="Hello there"),
        Segment("frames", frames=frames, duration_s=0.6),
        Segment("frames", frames=frames, duration_s=0.4, caption="Bye"),
    ]
    plain = assemble(segments, tmp_path / "plain.mp4", fps=25, size=SIZE)
    burnt = assemble(
        segments,
        tmp_path / "burnt.mp4",
        fps=25,
        size=SIZE,
        caption_overlay=caption_overlay,
        subtitles_path=tmp_path / "burnt.srt",
    )
    assert (tmp_path / "burnt.srt").read_text() == (
        "1\n00:00:00,000 --> 00:00:01,000\nHello there\n\n2\n00:00:01,600 --> 00:00:02,000\nBye\n"
    )
    a, b = _decode(plain.path), _decode(burnt.path)
    diff = [np.abs(x.astype(int) - y.astype(int)) for x, y in zip(a, b, strict=True)]
    assert diff[10][60:].max() > 100 and diff[10][:40].max() < 8  # text at the bottom only
    assert max(d.max() for d in diff[25:40]) < 8  # no caption on the middle segment
    assert diff[40][60:].max() > 100


def test_missing_source_fails_before_writing_and_leaves_nothing(tmp_path, footage):
    segments = [
        Segment("source", path=footage["red"], in_s=0.0, out_s=0.5),
        Segment("source", path=tmp_path / "gone.mp4", in_s=0.0, out_s=0.5, caption="x"),
    ]
    with pytest.raises(MediaError, match="gone.mp4"):
        assemble(segments, tmp_path / "x.mp4", fps=25, size=SIZE, subtitles_path=tmp_path / "x.srt")
    assert _no_leftovers(tmp_path) == []


def test_failure_mid_assembly_leaves_no_output_and_no_temp_file(tmp_path, footage):
    def frames_then_failure():
        for _ in range(5):
            yield np.zeros((90, 160, 3), np.uint8)
        raise MediaError("generator broke mid-segment")

    segments = [
        Segment("source", path=footage["red"], in_s=0.0, out_s=1.0, caption="a"),
        Segment("frames", frames=frames_then_failure(), duration_s=1.0),
    ]
    with pytest.raises(MediaError, match="mid-segment"):
        assemble(segments, tmp_path / "y.mp4", fps=25, size=SIZE, subtitles_path=tmp_path / "y.srt")
    assert _no_leftovers(tmp_path) == []


def test_video_writer_commits_on_close_and_discards_on_error(tmp_path):
    frame = np.zeros((90, 160, 3), np.uint8)
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "w.mp4", fps=25, size=SIZE) as writer:
        writer.write(frame)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(tmp_path / "w.mp4", fps=30000 / 1001, size=SIZE) as writer:
        for _ in range(7):
            writer.write(frame)
        assert not (tmp_path / "w.mp4").exists()  # still under its temporary name
    info = probe(tmp_path / "w.mp4")
    assert [p.name for p in tmp_path.iterdir()] == ["w.mp4"]
    assert info.fps == pytest.approx(30000 / 1001) and info.duration_s == pytest.approx(
        7 * 1001 / 30000, abs=1e-3
    )
    with pytest.raises(ValueError, match="size"):
        VideoWriter(tmp_path / "odd.mp4", fps=25, size=(161, 90))
    with pytest.raises(MediaError, match="does not exist"):
        VideoWriter(tmp_path / "missing" / "o.mp4", fps=25, size=SIZE)


def test_drafted_file_segment_and_rotated_source(tmp_path):
    # grey levels 8 apart: two RGB->limited-range YUV round trips may each move a level by 1
    with VideoWriter(tmp_path / "draft.mp4", fps=25, size=SIZE, crf=0) as writer:
        for i in range(20):
            writer.write(np.full((90, 160, 3), 16 + 8 * i, np.uint8))
    drafted = writer.path
    frames, _ = synth.build_frames([synth.Shot(20)], seed=1)
    rotated = synth.write_video(
        tmp_path / "rot.mp4", frames, display_rotation=90
    )  # displays 90x160
    report = assemble(
        [
            Segment("file", path=drafted, in_s=0.2),
            Segment("source", path=rotated, in_s=0.0, out_s=0.4),
        ],
        tmp_path / "o.mp4",
        fps=25,
        size=(90, 160),
        fit="letterbox",
        crf=10,
    )
    out = _decode(report.path)
    assert report.frames == 15 + 10 and [p.frames for p in report.segments] == [15, 10]
    assert [_level_index(f[52:108], 8) for f in out[:15]] == list(
        range(5, 20)
    )  # grey ramp, rows 54..104
    upright = frames_at(rotated, [0.0], short_side=90)[0]
    assert upright.shape == (160, 90, 3) and _psnr(out[15], upright) >= 30


def test_stream_segment_is_made_when_reached_held_at_its_end_and_closed(tmp_path, footage):
    events: list[str] = []

    def source(level: int, n: int):
        def make():
            events.append(f"made {level}")
            try:
                for _ in range(n):
                    yield np.full((90, 160, 3), level, np.uint8)
            finally:
                events.append(f"closed {level}")

        return make

    segments = [
        Segment("stream", stream=source(40, 10), duration_s=0.6, name="draft a"),  # 10 of 15
        Segment("source", path=footage["red"], in_s=0.0, out_s=0.4),
        Segment("stream", stream=source(200, 30), duration_s=0.4),  # 10 of 30
    ]
    with pytest.raises(ValueError, match="stream"):
        Segment("stream", stream=source(0, 1))  # no duration
    report = assemble(
        segments,
        tmp_path / "s.mp4",
        fps=25,
        size=SIZE,
        crf=0,
        transition="crossfade",
        crossfade_s=0.2,
    )
    assert events == ["made 40", "closed 40", "made 200", "closed 200"]
    assert report.frames == 35 and [p.frames for p in report.segments] == [15, 10, 10]
    assert report.segments[0].kind == "stream" and report.segments[0].path is None
    # the short stream holds its last frame; the crossfades hold ends (no handles)
    assert report.segments[0].in_s is None
    assert [p.held_frames for p in report.segments] == [3, 5, 2]
    out = _decode(report.path)
    assert abs(float(out[0].mean()) - 40) < 3 and abs(float(out[-1].mean()) - 200) < 3
