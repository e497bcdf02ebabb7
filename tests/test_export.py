"""make's exports: OTIO timeline, HTML storyboard, credits, SRT and manifest JSON from a
hand-built manifest."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from conftest import DATA
from synth import write_video

from rag_video.generate import manifest as manifest_io
from rag_video.generate.export import credits as credits_export
from rag_video.generate.export import otio as otio_export
from rag_video.generate.export import storyboard
from rag_video.generate.export import subtitles as srt_export
from rag_video.generate.manifest import ManifestError
from rag_video.ingest.keyframes import thumbnail_jpeg
from rag_video.media.subtitles import parse_srt

BBB = DATA / "bigbuckbunny.mp4"
EVIL = 'a <script>alert("x")</script> & "quotes"'


def _reason(score, override=None, runner_up=None, text=""):
    return {
        "score": score,
        "reuse_threshold": 0.28,
        "fill_threshold": 0.2,
        "runner_up": runner_up,
        "override": override,
        "text": text,
    }


def _shot(index, start, duration, decision, **kw):
    shot = {
        "index": index,
        "text": f"shot {index}",
        "caption": None,
        "duration_s": duration,
        "out_start_s": start,
        "out_end_s": start + duration,
        "decision": decision,
        "score": None,
        "reason": _reason(None),
        "source": None,
        "segment": None,
        "generator": "draft",
        "model": None,
        "steps": 0,
        "strength": None,
        "seed": None,
        "seconds": 0.1,
        "candidates": [],
        "fallback": None,
    }
    shot.update(kw)
    return shot


@pytest.fixture(scope="module")
def segments(tmp_path_factory) -> dict[str, Path]:
    """Two small real segment files (25 fps, 160×90) standing in for drafted/generated output."""
    folder = tmp_path_factory.mktemp("generated")
    out = {}
    for name, n, color in (("restyle", 40, 80), ("fill", 25, 200)):
        frames = [np.full((90, 160, 3), (color + i) % 256, np.uint8) for i in range(n)]
        out[name] = write_video(folder / f"{name}.mp4", frames, fps=25)
    return out


@pytest.fixture(scope="module")
def thumbnails() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        sid: thumbnail_jpeg(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8))
        for sid in ("bbb#0", "forest#3", "city#1")
    }


@pytest.fixture
def manifest(segments, tmp_path) -> dict:
    """Three shots at 25 fps: reuse BBB 1.0–3.0 s, restyle of another source, fill with no
    source."""
    forest = str(tmp_path / "footage" / "forest.mp4")
    shots = [
        _shot(
            0,
            0.0,
            2.0,
            "reuse",
            text="A rabbit wakes up",
            caption="Morning <b>in</b> the meadow",
            score=0.31,
            reason=_reason(0.31, runner_up=0.25, text="score above the reuse threshold"),
            source={
                "shot_id": "bbb#0",
                "path": str(BBB),
                "in_s": 1.0,
                "out_s": 3.0,
                "fps": 25.0,
                "source_duration_s": 5.28,
            },
            candidates=[
                {"shot_id": "bbb#0", "score": 0.31, "path": str(BBB), "start_s": 0.0},
                {"shot_id": "city#1", "score": 0.25, "path": "/x/city.mp4", "start_s": 4.0},
            ],
        ),
        _shot(
            1,
            2.0,
            1.6,
            "restyle",
            text="The forest at dusk",
            caption="Dusk",
            score=0.24,
            reason=_reason(0.24, runner_up=0.22),
            segment=str(segments["restyle"]),
            generator="diffusion",
            model="tiny-sd",
            steps=4,
            strength=0.6,
            seed=7,
            seconds=2.5,
            source={
                "shot_id": "forest#3",
                "path": forest,
                "in_s": 0.5,
                "out_s": 2.1,
                "fps": 30.0,
                "source_duration_s": 10.0,
            },
            candidates=[
                {"shot_id": "forest#3", "score": 0.24, "path": forest, "start_s": 0.5},
                {"shot_id": "nothumb#9", "score": 0.22, "path": "/x/n.mp4", "start_s": 1.0},
            ],
        ),
        _shot(
            2,
            3.6,
            1.0,
            "fill",
            text=EVIL,
            score=0.1,
            reason=_reason(0.1, override="fill"),
            segment=str(segments["fill"]),
            fallback="title card",
        ),
    ]
    return {
        "run_id": "r1",
        "script": "/s/demo.yaml",
        "library": "/lib",
        "created_at": "2024-01-01T00:00:00Z",
        "fps": 25.0,
        "size": [320, 180],
        "aspect": "16:9",
        "duration_s": 4.6,
        "output": str(tmp_path / "OUT.mp4"),
        "title": "Demo <video>",
        "shots": shots,
        "credits": [
            {
                "path": str(BBB),
                "title": "Big Buck Bunny",
                "license": "CC BY 3.0",
                "creator": "Blender Foundation",
            }
        ],
    }


# ---------------------------------------------------------------- OTIO


def _read_otio(manifest, tmp_path) -> otio.schema.Timeline:
    path = otio_export.write_otio(
        manifest, tmp_path / ".OUT.otio.123.tmp"
    )  # a temp name: no extension inference
    final = path.rename(tmp_path / "OUT.otio")
    return otio.adapters.read_from_file(str(final))


def test_otio_reuse_clip_references_original_source_with_in_out_points(manifest, tmp_path):
    timeline = _read_otio(manifest, tmp_path)
    assert timeline.name == "Demo <video>"
    assert timeline.global_start_time == otio.opentime.RationalTime(0, 25)
    (track,) = timeline.tracks
    assert track.kind == otio.schema.TrackKind.Video
    clips = list(track)
    assert [type(c) for c in clips] == [otio.schema.Clip] * 3
    reuse = clips[0]
    assert reuse.media_reference.target_url == BBB.resolve().as_uri()
    assert reuse.source_range.start_time == otio.opentime.RationalTime(25, 25)
    assert reuse.source_range.duration == otio.opentime.RationalTime(50, 25)
    assert reuse.media_reference.available_range.duration == otio.opentime.RationalTime(132, 25)
    assert reuse.metadata["rag_video"]["decision"] == "reuse"
    assert reuse.metadata["rag_video"]["source_shot_id"] == "bbb#0"
    assert reuse.markers[0].name == "Morning <b>in</b> the meadow"
    assert reuse.markers[0].color == "GREEN"


def test_otio_generated_clips_reference_their_segments(manifest, segments, tmp_path):
    clips = list(_read_otio(manifest, tmp_path).tracks[0])
    restyle, fill = clips[1], clips[2]
    assert restyle.media_reference.target_url == segments["restyle"].resolve().as_uri()
    assert fill.media_reference.target_url == segments["fill"].resolve().as_uri()
    assert restyle.source_range == otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(40, 25)
    )
    assert fill.source_range.duration == otio.opentime.RationalTime(25, 25)
    meta = restyle.metadata["rag_video"]
    assert (
        meta["decision"],
        meta["model"],
        meta["generator"],
        meta["source_shot_id"],
        meta["score"],
    ) == ("restyle", "tiny-sd", "diffusion", "forest#3", 0.24)
    assert fill.metadata["rag_video"]["source_shot_id"] is None
    assert fill.markers[0].comment == EVIL


def test_otio_timeline_lasts_the_manifest_duration(manifest, tmp_path):
    timeline = _read_otio(manifest, tmp_path)
    assert timeline.duration().to_seconds() == pytest.approx(4.6)
    ranges = [timeline.tracks[0].range_of_child_at_index(i) for i in range(3)]
    assert [r.start_time.to_seconds() for r in ranges] == pytest.approx([0.0, 2.0, 3.6])


def test_otio_source_fps_differs_from_output_fps(manifest, tmp_path):
    manifest["fps"] = 24.0
    manifest["duration_s"] = 2.0
    manifest["shots"] = manifest["shots"][:1]
    clip = _read_otio(manifest, tmp_path).tracks[0][0]
    # planned 2.0 s = 48 output frames = 50 frames of the 25 fps source, from source frame 25
    assert clip.source_range.start_time == otio.opentime.RationalTime(25, 25)
    assert clip.source_range.duration.to_seconds() == pytest.approx(2.0)
    assert clip.source_range.duration.rescaled_to(25).value == pytest.approx(50)


def test_otio_shot_without_media_and_hole_become_gaps(manifest, tmp_path):
    manifest["shots"][2]["segment"] = None  # fill with neither segment nor source
    manifest["shots"][1]["out_start_s"] = 2.2  # 0.2 s hole before shot 1 (5 frames)
    manifest["shots"][1]["out_end_s"] = 3.6
    track = _read_otio(manifest, tmp_path).tracks[0]
    assert [type(c).__name__ for c in track] == ["Clip", "Gap", "Clip", "Gap"]
    assert track[1].duration() == otio.opentime.RationalTime(5, 25)
    assert track[3].metadata["rag_video"]["decision"] == "fill"
    assert track.duration().to_seconds() == pytest.approx(4.6)


# ---------------------------------------------------------------- HTML


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[dict] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        self.links += [v for k, v in attrs if k in ("href", "src") and v is not None]

    def handle_data(self, data):
        self.text.append(data)


def test_html_storyboard_is_self_contained_and_escaped(manifest, thumbnails, tmp_path):
    path = storyboard.write_html(manifest, thumbnails, tmp_path / "OUT.html")
    doc = path.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(doc)
    parser.close()
    text = "".join(parser.text)
    for shot in manifest["shots"]:
        assert shot["text"] in text
    assert "<script" not in doc and "script" not in parser.tags
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;" in doc
    assert "Morning &lt;b&gt;in&lt;/b&gt; the meadow" in doc
    assert "<title>Demo &lt;video&gt; — storyboard</title>" in doc
    assert "link" not in parser.tags and all(
        src.startswith("data:image/jpeg;base64,") for src in parser.links
    )
    # thumbnails: chosen (bbb#0, forest#3) + candidates with a thumbnail (bbb#0, city#1,
    # forest#3); fill has none
    srcs = [img["src"] for img in parser.imgs]
    assert len(srcs) == 5
    assert sorted(srcs) == sorted(
        storyboard._data_uri(thumbnails[s])
        for s in ("bbb#0", "bbb#0", "city#1", "forest#3", "forest#3")
    )
    assert doc.count('class="cand chosen"') == 2 and doc.count('class="nothumb"') == 1
    for needle in (
        "1 reuse",
        "1 restyle",
        "1 fill",
        "4.60</b> s",
        "320×180",
        "tiny-sd · 4 steps",
        "score 0.310 ≥ reuse 0.280",
        "fill 0.200 ≤ score 0.240 &lt; reuse 0.280",
        "set by the script: fill (score 0.100)",
        "runner-up 0.250",
        "0:02.00–0:03.60",
        "generation: <b>2</b> segments · <b>4</b> steps · <b>2.6</b> s",
    ):
        assert needle in text or needle in doc, needle


def test_html_storyboard_escapes_hostile_shot_and_script_text(manifest, thumbnails):
    hostile = '<script>alert(1)</script> " &'
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &quot; &amp;"
    manifest["title"] = hostile
    manifest["script"] = '/s/a "b" & <c>.yaml'
    for shot in manifest["shots"]:
        shot["text"] = shot["caption"] = hostile
        shot["reason"]["text"] = hostile
    manifest["shots"][0]["candidates"][1]["shot_id"] = hostile
    doc = storyboard.storyboard_html(manifest, thumbnails)
    assert "<script" not in doc and "alert(1)</script>" not in doc
    assert f"<title>{escaped} — storyboard</title>" in doc and f"<h1>{escaped}</h1>" in doc
    assert doc.count(f'<div class="text">{escaped}</div>') == 3
    assert doc.count(f'<div class="caption">{escaped}</div>') == 3
    assert doc.count(f'<div class="why">{escaped}</div>') == 3
    assert "script a &quot;b&quot; &amp; &lt;c&gt;.yaml" in doc
    assert f'<div class="cand" title="{escaped}">' in doc  # in an attribute, quotes escaped too


def test_html_without_thumbnails_has_no_images(manifest, tmp_path):
    doc = storyboard.write_html(manifest, None, tmp_path / "OUT.html").read_text(encoding="utf-8")
    assert "<img" not in doc and doc.count('class="nothumb"') == 4


def test_reason_summary_by_decision():
    m = manifest_io.parse_manifest(
        {
            "fps": 25,
            "size": [4, 4],
            "duration_s": 3,
            "shots": [
                _shot(0, 0, 1, "reuse", score=0.3, reason=_reason(0.3)),
                _shot(1, 1, 1, "restyle", score=0.2, reason=_reason(0.2)),
                _shot(2, 2, 1, "fill", score=0.19, reason=_reason(0.19, runner_up=0.18)),
                _shot(3, 3, 1, "fill"),
            ],
        }
    )
    assert [storyboard.reason_summary(s) for s in m.shots] == [
        "score 0.300 ≥ reuse 0.280",
        "fill 0.200 ≤ score 0.200 < reuse 0.280",
        "score 0.190 < fill 0.200 · runner-up 0.180",
        "no candidate",
    ]


# ---------------------------------------------------------------- credits, SRT, manifest


def test_credits_list_sources_and_generated_segments(manifest, tmp_path):
    text = credits_export.write_credits(manifest, tmp_path / "OUT.credits.txt").read_text(
        encoding="utf-8"
    )
    lines = text.splitlines()
    bbb = lines.index("- bigbuckbunny.mp4")
    assert lines[bbb + 1 : bbb + 6] == [
        "    title: Big Buck Bunny",
        "    creator: Blender Foundation",
        "    license: CC BY 3.0",
        '    attribution: "Big Buck Bunny" by Blender Foundation, CC-BY-3.0',  # what BY asks
        "    used in: shot 0 (reuse 1.00–3.00 s)",
    ]
    forest = lines.index("- forest.mp4")
    assert lines[forest + 1 : forest + 4] == [
        "    title: untitled",
        "    creator: unknown",
        "    license: unknown",
    ]
    assert text.count("\n- ") == 4  # 2 sources + 2 segments
    assert (
        "- shot 1 (restyle): generated by tiny-sd (diffusion), from forest.mp4 (forest#3) "
        "-> restyle.mp4" in lines
    )
    assert (
        "- shot 2 (fill): drafted without a model (draft renderer); fallback: title card "
        "-> fill.mp4" in lines
    )


def test_srt_captions_at_output_times(manifest, tmp_path):
    manifest["shots"][2]["caption"] = "last\n\nline"
    cues = parse_srt(
        srt_export.write_srt(manifest, tmp_path / "OUT.srt").read_text(encoding="utf-8")
    )
    assert [(c.index, c.start_s, c.end_s, c.text) for c in cues] == [
        (1, 0.0, 2.0, "Morning <b>in</b> the meadow"),
        (2, 2.0, 3.6, "Dusk"),
        (3, 3.6, 4.6, "last\nline"),
    ]
    from rag_video.media.subtitles import srt_time

    assert srt_time(3725.0416) == "01:02:05,042"


def test_srt_skips_shots_without_caption(manifest, tmp_path):
    manifest["shots"][0]["caption"] = "  "
    cues = parse_srt(srt_export.srt_text(manifest))
    assert [(c.index, c.start_s, c.text) for c in cues] == [(1, 2.0, "Dusk")]


def test_manifest_json_round_trips(manifest, tmp_path):
    manifest["extra"] = {"kept": True, "where": tmp_path}
    text = manifest_io.write_manifest(manifest, tmp_path / "OUT.manifest.json").read_text(
        encoding="utf-8"
    )
    assert text.startswith('{\n  "run_id": "r1",')
    back = json.loads(text)
    expected = copy.deepcopy(manifest)
    expected["extra"]["where"] = str(tmp_path)
    assert back == expected


def test_bad_manifest_names_the_field(manifest, tmp_path):
    manifest["shots"][1]["decision"] = "remix"
    with pytest.raises(ManifestError, match=r"^manifest: shots\.1\.decision: .*'remix'"):
        otio_export.write_otio(manifest, tmp_path / "OUT.otio")
    del manifest["shots"][1]["decision"]
    with pytest.raises(ManifestError, match=r"^manifest: shots\.1\.decision: Field required$"):
        storyboard.storyboard_html(manifest, {})
    with pytest.raises(ManifestError, match="not JSON"):
        manifest_io.manifest_json({"score": float("nan")})


# ---------------------------------------------------------------- sound: audio tracks, subtitles


def _wav(path: Path, seconds: float, rate: int = 22050) -> Path:
    import wave

    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(samples.tobytes())
    return path


def _audio(path, in_s, out_s, start_s, text=None, shot=None) -> dict:
    return {
        "path": str(path),
        "in_s": in_s,
        "out_s": out_s,
        "start_s": start_s,
        "end_s": start_s + out_s - in_s,
        "text": text,
        "shot": shot,
    }


@pytest.fixture
def sounded(manifest, tmp_path) -> dict:
    """The three-shot manifest with narration on shots 0 and 1 (speech WAVs), music from
    10.0 s of its file and shot 0's own sound, stems listed out of track order."""
    speech = [_wav(tmp_path / f"speech{k}.wav", s) for k, s in enumerate((1.5, 1.2))]
    music = tmp_path / "music" / "theme.ogg"
    manifest["sound"] = {
        "stems": [
            {"name": "sources", "clips": [_audio(BBB, 1.0, 3.0, 0.0, shot=0)]},
            {"name": "music", "clips": [_audio(music, 10.0, 14.6, 0.0)], "integrated_lufs": -30.0},
            {
                "name": "narration",
                "clips": [
                    _audio(speech[1], 0.0, 1.2, 2.1, text="The forest at dusk", shot=1),
                    _audio(speech[0], 0.0, 1.5, 0.1, text="A rabbit wakes up", shot=0),
                ],
                "integrated_lufs": -19.5,
                "true_peak_dbtp": -3.2,
                "path": str(tmp_path / "OUT.narration.wav"),
            },
        ],
        "voice": "espeak:en-us",
        "source_audio": "duck",
        "target_lufs": -16.0,
        "integrated_lufs": -16.1,
        "true_peak_dbtp": -1.4,
    }
    return manifest


def _seconds(rt) -> float:
    return rt.to_seconds()


def test_otio_sound_adds_an_audio_track_per_stem(sounded, tmp_path):
    frame = 1 / sounded["fps"]
    timeline = _read_otio(sounded, tmp_path)
    tracks = list(timeline.tracks)
    assert [t.kind for t in tracks] == [otio.schema.TrackKind.Video] + [
        otio.schema.TrackKind.Audio
    ] * 3
    assert [t.name for t in tracks] == ["V1", "A1 narration", "A2 music", "A3 sources"]
    narration, music, sources = tracks[1:]
    # narration: a gap of 0.1 s, the first speech 0.1–1.6, a gap, the second 2.1–3.3
    assert [type(c).__name__ for c in narration] == ["Gap", "Clip", "Gap", "Clip"]
    clips = [c for c in narration if isinstance(c, otio.schema.Clip)]
    expect = [(0.0, 1.5, 0.1, "A rabbit wakes up", 0), (0.0, 1.2, 2.1, "The forest at dusk", 1)]
    for clip, (in_s, out_s, start_s, text, shot) in zip(clips, expect, strict=True):
        assert _seconds(clip.source_range.start_time) == pytest.approx(in_s, abs=frame)
        assert _seconds(clip.source_range.end_time_exclusive()) == pytest.approx(out_s, abs=frame)
        placed = clip.range_in_parent()
        assert _seconds(placed.start_time) == pytest.approx(start_s, abs=frame)
        assert _seconds(placed.duration) == pytest.approx(out_s - in_s, abs=frame)
        assert clip.media_reference.target_url == (tmp_path / f"speech{shot}.wav").as_uri()
        assert _seconds(clip.media_reference.available_range.end_time_exclusive()) >= out_s
        assert clip.metadata["rag_video"]["text"] == text
        assert clip.metadata["rag_video"]["shot"] == shot
        assert clip.metadata["rag_video"]["stem"] == "narration"
    assert narration.metadata["rag_video"]["path"] == str(tmp_path / "OUT.narration.wav")
    assert narration.metadata["rag_video"]["integrated_lufs"] == -19.5
    # music: in/out points inside its file, from the start of the output
    (theme,) = list(music)
    assert _seconds(theme.source_range.start_time) == pytest.approx(10.0, abs=frame)
    assert _seconds(theme.source_range.end_time_exclusive()) == pytest.approx(14.6, abs=frame)
    assert _seconds(theme.range_in_parent().start_time) == 0.0
    rate = otio_export.AUDIO_RATE  # sample-exact: 10.0–14.6 s of the file at 48 kHz
    assert theme.source_range == otio.opentime.TimeRange(
        otio.opentime.RationalTime(480_000, rate), otio.opentime.RationalTime(220_800, rate)
    )
    assert theme.media_reference.target_url == (tmp_path / "music" / "theme.ogg").as_uri()
    assert music.metadata["rag_video"]["path"] is None
    # sources: shot 0's own sound, the same in/out points as its picture
    (own,) = list(sources)
    assert own.media_reference.target_url == BBB.resolve().as_uri()
    assert _seconds(own.source_range.start_time) == pytest.approx(1.0, abs=frame)
    assert _seconds(own.source_range.duration) == pytest.approx(2.0, abs=frame)
    assert own.metadata["rag_video"]["stem"] == "sources"
    assert timeline.metadata["rag_video"]["sound"]["voice"] == "espeak:en-us"
    assert timeline.metadata["rag_video"]["sound"]["integrated_lufs"] == -16.1


def test_otio_sound_leaves_the_video_track_as_it_was(sounded, tmp_path):
    with_sound = otio_export.build_timeline(sounded)
    silent = otio_export.build_timeline({k: v for k, v in sounded.items() if k != "sound"})
    assert len(silent.tracks) == 1
    assert otio.adapters.write_to_string(with_sound.tracks[0], "otio_json") == (
        otio.adapters.write_to_string(silent.tracks[0], "otio_json")
    )
    assert "sound" not in silent.metadata["rag_video"]


def test_otio_stems_without_clips_have_no_track(sounded, tmp_path):
    sounded["sound"]["stems"][2]["clips"] = []  # no narration
    sounded["sound"]["stems"].append({"name": "music", "clips": []})
    tracks = list(_read_otio(sounded, tmp_path).tracks)
    assert [t.name for t in tracks] == ["V1", "A1 music", "A2 sources"]
    sounded["sound"]["stems"] = []
    timeline = otio_export.build_timeline(sounded)
    assert [t.name for t in timeline.tracks] == ["V1"]


def test_srt_from_subtitle_cues(manifest, tmp_path):
    manifest["subtitles"] = [
        {"start_s": 2.25, "end_s": 3.5, "text": "The forest\nat dusk."},
        {"start_s": 0.1, "end_s": 1.6, "text": "A rabbit wakes up,"},
        {"start_s": 3.6, "end_s": 4.6, "text": "  "},
    ]
    cues = parse_srt(
        srt_export.write_srt(manifest, tmp_path / "OUT.srt").read_text(encoding="utf-8")
    )
    # the cues, not the shots' captions, numbered in time order, lines kept, empty skipped
    assert [(c.index, c.start_s, c.end_s, c.text) for c in cues] == [
        (1, 0.1, 1.6, "A rabbit wakes up,"),
        (2, 2.25, 3.5, "The forest\nat dusk."),
    ]
    for shot in manifest["shots"]:
        shot["caption"] = None
    assert srt_export.has_captions(manifest)
    manifest["subtitles"] = []  # a manifest with subtitles and none to show: no SRT
    manifest["shots"][0]["caption"] = "Morning"
    assert srt_export.srt_text(manifest) == ""
    assert not srt_export.has_captions(manifest)
    manifest["subtitles"] = None  # before narration: one cue per captioned shot
    assert srt_export.has_captions(manifest)
    assert [c.text for c in parse_srt(srt_export.srt_text(manifest))] == ["Morning"]
    manifest["shots"][0]["caption"] = None
    assert not srt_export.has_captions(manifest)


def test_otio_overlapping_audio_clips_follow_each_other(sounded, caplog):
    narration = sounded["sound"]["stems"][2]
    narration["clips"][0]["start_s"] = 1.4  # 0.2 s before the first speech (0.1–1.6) ends
    narration["clips"][0]["end_s"] = 2.6
    with caplog.at_level("WARNING", logger="rag_video.generate.export.otio"):
        timeline = otio_export.build_timeline(sounded)
    track = timeline.tracks[1]
    assert [type(c).__name__ for c in track] == ["Gap", "Clip", "Clip"]
    assert track[2].range_in_parent().start_time.to_seconds() == pytest.approx(1.6)
    assert "narration clip speech1.wav at 1.400 s overlaps the clip before by 0.200 s" in (
        caplog.text
    )
