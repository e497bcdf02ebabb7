"""Narrated make end to end (issue 13): shots timed to their speech, subtitles from the word
timings, music ducked under the voice, the mix on its loudness target, beat-synced cuts, OTIO
audio tracks, stems, the speech cache, and every refusal. The real eSpeak NG engine speaks
(it ships inside the espeakng-loader wheel: offline)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from click.testing import CliRunner
from conftest import DATA
from helpers import TINY, make_footage

from rag_video import open_library
from rag_video.cli import main
from rag_video.errors import UsageError
from rag_video.generate.narration import DEFAULT_BREATH_S, LEAD_S
from rag_video.media import loudness
from rag_video.media.audio import read_audio
from rag_video.media.subtitles import parse_srt
from rag_video.voice import get_voice
from rag_video.voice.cache import SpeechCache

SIZE, FPS = (180, 320), 25  # 9:16, as scripts for phones ask
FRAME = 1 / FPS
MUSIC = Path(__file__).parents[1] / "rag_video" / "samples" / "music" / "meadow.m4a"
LONG = (
    "The valley wakes slowly. Mist lifts from the river while the first light climbs the far "
    "ridge, and somewhere below a rabbit stretches, blinks at the sun and decides, after some "
    "thought, that the morning can wait a little longer before anything needs to be done."
)
SHORT = "A rocket waits on the pad."


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("narrate")
    files = make_footage(root / "footage")
    shutil.copy(DATA / "bigbuckbunny.mp4", root / "footage" / "bunny.mp4")
    library = open_library(root / "lib", workers=1, **TINY)
    library.ingest([files["a"].parent])
    return library


def _text(tmp_path: Path, *paragraphs: str) -> Path:
    path = tmp_path / "script.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    return path


def _board(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "board.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _make(lib, script: Path, out: Path, **options):
    options.setdefault("size", SIZE)
    options.setdefault("fps", FPS)
    return lib.make(script, out, **options)


def _audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        assert c.streams.audio, f"{path} has no audio stream"
        seconds = float(c.streams.video[0].frames) / FPS
    samples = read_audio(path, 0.0, seconds, 48000, channels=2)
    assert samples is not None
    return samples


def _speech(lib, text: str):
    """The speech make used (eSpeak's output varies by a few samples between calls)."""
    return SpeechCache(Path(lib.path) / "cache" / "speech").synthesize(
        get_voice("espeak:en-us"), text
    )


def _clips(manifest: dict, stem: str) -> list[dict]:
    return next(s["clips"] for s in manifest["sound"]["stems"] if s["name"] == stem)


# ------------------------------------------------------------------ timing from speech


def test_narrated_shots_last_their_speech_plus_a_breath(lib, tmp_path):
    m = _make(lib, _text(tmp_path, LONG, SHORT), tmp_path / "out.mp4", narrate=True)
    speech = [_speech(lib, t).duration_s for t in (LONG, SHORT)]
    assert speech[0] > 12  # longer than any default shot (8 s at most)
    for timing, shot, said in zip(m["timing"], m["shots"], speech, strict=True):
        assert timing["speech_s"] == pytest.approx(said, abs=1e-6)
        assert timing["duration_s"] >= said + LEAD_S + DEFAULT_BREATH_S - 1e-6
        assert shot["out_end_s"] - shot["out_start_s"] >= said + LEAD_S + DEFAULT_BREATH_S - FRAME
        assert shot["duration_s"] == pytest.approx(timing["duration_s"], abs=1e-6)
    assert m["timing"][0]["planned_s"] == 8.0  # the default for a long paragraph, then lengthened
    assert m["plan"]["shots"][0]["narration"] == LONG
    assert m["plan"]["shots"][0]["text"] == LONG
    with av.open(str(tmp_path / "out.mp4")) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert (video.width, video.height) == SIZE
        v_s = float(video.duration * video.time_base)
        a_s = float(audio.duration * audio.time_base)
    assert v_s == pytest.approx(m["duration_s"], abs=FRAME)
    assert abs(a_s - v_s) <= FRAME + 1024 / 48000  # one AAC frame of priming at most
    # every shot's narration clip starts LEAD_S after the shot and ends before its cut
    for clip, shot in zip(_clips(m, "narration"), m["shots"], strict=True):
        assert clip["start_s"] == pytest.approx(shot["out_start_s"] + LEAD_S, abs=1e-3)
        assert clip["end_s"] <= shot["out_end_s"] + 1e-6


def test_subtitles_follow_the_word_timings(lib, tmp_path):
    out = tmp_path / "out.mp4"
    m = _make(lib, _text(tmp_path, LONG, SHORT), out, narrate=True)
    cues = m["subtitles"]
    assert len(cues) >= 4  # a long paragraph is several readable cues, not one per shot
    for cue in cues:
        lines = cue["text"].split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), cue
        assert cue["end_s"] - cue["start_s"] >= 1.0 - 1e-6 or cue is cues[-1]
    for a, b in zip(cues, cues[1:], strict=False):
        assert a["end_s"] <= b["start_s"] + 1e-6
    starts = []
    for shot, text in zip(m["shots"], (LONG, SHORT), strict=True):
        offset = shot["out_start_s"] + LEAD_S
        starts += [offset + w.start_s for w in _speech(lib, text).words]
    # each cue starts on a word, within one frame, and the words run in order
    for cue in cues:
        assert min(abs(cue["start_s"] - s) for s in starts) <= FRAME
    spoken = " ".join(c["text"].replace("\n", " ") for c in cues).split()
    assert spoken == (LONG + " " + SHORT).split()
    srt = parse_srt(out.with_suffix(".srt").read_text(encoding="utf-8"))
    assert [c.text for c in srt] == [c["text"] for c in cues]
    assert [round(c.start_s, 3) for c in srt] == [round(c["start_s"], 3) for c in cues]


def test_storyboard_narration_is_spoken_and_text_stays_visual(lib, tmp_path):
    board = _board(
        tmp_path,
        {
            "voice": "espeak:en",
            "shots": [
                {"text": "a grey rabbit in a meadow", "narration": "Meet the rabbit."},
                {"text": "red cliffs at dawn", "duration": 2.0, "caption": "Dawn"},
            ],
        },
    )
    m = _make(lib, board, tmp_path / "out.mp4")
    assert m["sound"]["voice"] == "espeak:en"
    assert [t["speech_s"] is not None for t in m["timing"]] == [True, False]
    assert [s["text"] for s in m["shots"]] == ["a grey rabbit in a meadow", "red cliffs at dawn"]
    texts = [c["text"] for c in m["subtitles"]]
    assert texts == ["Meet the rabbit.", "Dawn"]  # a silent shot keeps its caption as a cue
    silent = _make(lib, board, tmp_path / "silent.mp4", narrate=False)
    assert silent["subtitles"] is None
    assert [s["name"] for s in silent["sound"]["stems"]] == ["sources"]


def test_srt_cues_are_narration_with_their_own_timing(lib, tmp_path):
    srt = tmp_path / "script.srt"
    srt.write_text(
        "1\n00:00:00,000 --> 00:00:04,000\nA rabbit in a <i>sunny</i> meadow\n\n"
        "2\n00:00:04,000 --> 00:00:05,000\nRed cliffs at dawn, seen from the sea below\n",
        encoding="utf-8",
    )
    m = _make(lib, srt, tmp_path / "out.mp4", narrate=True)
    assert [s["narration"] for s in m["plan"]["shots"]] == [
        "A rabbit in a sunny meadow",
        "Red cliffs at dawn, seen from the sea below",
    ]
    first, second = m["timing"]
    assert first["duration_s"] == 4.0  # the cue is longer than its speech: kept
    assert second["duration_s"] > 1.0  # the speech is longer than the cue: lengthened
    assert second["duration_s"] >= second["speech_s"] + LEAD_S + DEFAULT_BREATH_S - 1e-6


def test_speech_is_cached_by_voice_text_and_rate(lib, tmp_path):
    cache = Path(lib.path) / "cache" / "speech"
    script = _text(tmp_path, "The cache keeps what was said.")
    _make(lib, script, tmp_path / "a.mp4", narrate=True)
    entries = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    _make(lib, script, tmp_path / "b.mp4", narrate=True)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == entries
    _make(lib, script, tmp_path / "c.mp4", narrate=True, speech_rate=1.3)
    assert len(list(cache.iterdir())) == len(entries) + 2  # a new WAV and its JSON


# ------------------------------------------------------------------ the mix


def test_music_ducks_under_speech_and_stems_are_written(lib, tmp_path):
    stems = tmp_path / "stems"
    stems.mkdir()
    m = _make(
        lib,
        _text(tmp_path, "A short line.", "Another line, a little later."),
        tmp_path / "out.mp4",
        narrate=True,
        music=MUSIC,
        breath=2.0,
        stems=stems,
    )
    assert sorted(p.name for p in stems.iterdir()) == [
        "mix.wav",
        "music.wav",
        "narration.wav",
        "sources.wav",
    ]
    listed = {s["name"]: s for s in m["sound"]["stems"]}
    assert listed["music"]["path"] == str(stems / "music.wav")
    assert all(s["integrated_lufs"] is None or s["integrated_lufs"] < 0 for s in listed.values())
    from scipy.io import wavfile

    rate, music = wavfile.read(stems / "music.wav")
    music = music.astype(np.float64).mean(axis=1)
    spoken = np.zeros(music.shape[0], bool)
    for clip in _clips(m, "narration"):
        spoken[int(clip["start_s"] * rate) : int(clip["end_s"] * rate)] = True
    margin = int(0.5 * rate)  # away from the ramps
    inside = np.zeros_like(spoken)
    outside = np.zeros_like(spoken)
    for i in range(margin, music.shape[0] - margin, rate // 10):
        window = slice(i - margin, i + margin)
        if spoken[window].all():
            inside[i - rate // 20 : i + rate // 20] = True
        elif not spoken[window].any():
            outside[i - rate // 20 : i + rate // 20] = True

    def db(mask):
        return 10 * math.log10(np.mean(music[mask] ** 2))

    assert inside.any() and outside.any()
    assert db(outside) - db(inside) >= 9.0


@pytest.mark.parametrize("target", [-14.0, -23.0])
def test_mix_is_normalised_to_the_loudness_target(lib, tmp_path, target):
    out = tmp_path / "out.mp4"
    m = _make(lib, _text(tmp_path, LONG), out, narrate=True, music=MUSIC, loudness=target)
    measured = loudness.measure(_audio(out).T, 48000)
    assert abs(measured.integrated_lufs - target) <= 0.5
    assert measured.true_peak_dbtp <= -1.0 + 0.1  # the mix leaves headroom for the AAC encoder
    assert m["sound"]["target_lufs"] == target
    assert abs(m["sound"]["integrated_lufs"] - target) <= 0.5
    assert m["sound"]["true_peak_dbtp"] <= -1.0 - 0.5


def test_output_always_has_an_audio_stream(lib, tmp_path):
    board = _board(tmp_path, {"shots": [{"text": "a dragon over a volcano", "duration": 1.0}]})
    out = tmp_path / "out.mp4"
    m = _make(lib, board, out, audio=False)
    assert m["has_audio"] is True
    assert not np.any(_audio(out))  # silent, but there
    with pytest.raises(UsageError, match="--no-audio"):
        _make(lib, _text(tmp_path, SHORT), tmp_path / "x.mp4", audio=False, narrate=True)


# ------------------------------------------------------------------ beats


def _click_track(path: Path, bpm: float, seconds: float, offset_s: float) -> list[float]:
    from scipy.io import wavfile

    rate = 48000
    x = np.zeros(int(seconds * rate), np.float32)
    clicks = list(np.arange(offset_s, seconds - 0.1, 60 / bpm))
    rng = np.random.default_rng(3)
    for t in clicks:
        i = int(round(t * rate))
        burst = rng.standard_normal(1200) * np.exp(-np.arange(1200) / 150)
        x[i : i + 1200] += 0.6 * burst[: x.shape[0] - i].astype(np.float32)
    wavfile.write(path, rate, np.stack([x, x], axis=1))
    return clicks


def test_beat_sync_moves_cuts_to_the_beats_never_below_speech(lib, tmp_path):
    clicks = _click_track(tmp_path / "clicks.wav", 120, 16, 0.3)
    board = _board(
        tmp_path,
        {
            "shots": [
                {"text": "a grey rabbit in a meadow", "duration": 1.9},
                {"text": "red cliffs at dawn", "duration": 2.3},
                {"text": "a dragon over a volcano", "duration": 1.7, "narration": LONG[:60]},
                {"text": "a quiet forest", "duration": 2.0},
            ]
        },
    )
    m = _make(lib, board, tmp_path / "out.mp4", music=tmp_path / "clicks.wav", beat_sync=True)
    for timing, shot in zip(m["timing"][:-1], m["shots"][:-1], strict=False):
        assert timing["on_beat"], timing
        assert min(abs(shot["out_end_s"] - c) for c in clicks) <= FRAME
        assert abs(timing["cut_s"] - timing["cut_planned_s"]) <= 0.2 * timing["duration_s"] + 0.6
    narrated = m["timing"][2]
    assert narrated["duration_s"] >= narrated["speech_s"] + LEAD_S + DEFAULT_BREATH_S - 1e-6
    assert [t["cut_planned_s"] for t in m["timing"][:2]] == [1.9, 4.2]
    with pytest.raises(UsageError, match="--beat-sync needs --music"):
        _make(lib, board, tmp_path / "x.mp4", beat_sync=True)


# ------------------------------------------------------------------ interchange


def test_otio_has_the_audio_tracks(lib, tmp_path):
    out = tmp_path / "out.mp4"
    m = _make(lib, _text(tmp_path, SHORT, "A second line."), out, narrate=True, music=MUSIC)
    timeline = otio.adapters.read_from_file(str(out.with_suffix(".otio")))
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    # the shots are fills (random weights): no source sound, so no sources track
    assert [t.name for t in audio] == ["A1 narration", "A2 music"]
    music = [c for c in audio[1] if isinstance(c, otio.schema.Clip)]
    assert len(music) == 1 and music[0].source_range.start_time.to_seconds() == 0.0
    assert music[0].media_reference.target_url == MUSIC.resolve().as_uri()
    narration = next(t for t in audio if "narration" in t.name)
    clips = [c for c in narration if isinstance(c, otio.schema.Clip)]
    assert len(clips) == 2
    for clip, want in zip(clips, _clips(m, "narration"), strict=True):
        placed = clip.range_in_parent()
        assert placed.start_time.to_seconds() == pytest.approx(want["start_s"], abs=FRAME)
        assert placed.duration.to_seconds() == pytest.approx(
            want["end_s"] - want["start_s"], abs=FRAME
        )
        assert Path(clip.media_reference.target_url.removeprefix("file://")).is_file()


def test_make_from_its_manifest_keeps_the_timing(lib, tmp_path):
    out = tmp_path / "out.mp4"
    m = _make(lib, _text(tmp_path, LONG, SHORT), out, narrate=True)
    again = lib.make(
        None,
        tmp_path / "again.mp4",
        from_manifest=out.with_suffix(".manifest.json"),
        size=SIZE,
        fps=FPS,
    )
    assert [t["duration_s"] for t in again["timing"]] == [t["duration_s"] for t in m["timing"]]
    assert again["subtitles"] == m["subtitles"]


# ------------------------------------------------------------------ refusals


def _cli(lib, *args: str):
    return CliRunner().invoke(main, ["--library", str(lib.path), *args])


def test_a_missing_neural_voice_is_one_line_and_exit_2(lib, tmp_path):
    script = _text(tmp_path, SHORT)
    r = _cli(lib, "make", str(script), "-o", str(tmp_path / "o.mp4"), "--voice", "piper:nope")
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "piper" in lines[0] and "nope" in lines[0], r.stderr
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--source-audio", "loud"),
        ("--loudness", "3"),
        ("--true-peak", "2"),
        ("--duck", "-5"),
        ("--beat-tolerance", "0.9"),
        ("--breath", "-1"),
        ("--speech-rate", "9"),
        ("--voice", "nonsense"),
    ],
)
def test_bad_sound_options_are_refused(lib, tmp_path, flag, value):
    script = _text(tmp_path, SHORT)
    r = _cli(lib, "make", str(script), "-o", str(tmp_path / "o.mp4"), flag, value)
    assert r.exit_code == 2, r.output
    assert flag.lstrip("-").split("-")[0] in r.stderr.lower() or value in r.stderr
    assert not (tmp_path / "o.mp4").exists()


# ------------------------------------------------------------------ on-screen label (issue 15)


def test_label_generated_marks_only_generated_segments(lib, tmp_path):
    board = _board(
        tmp_path,
        {
            "shots": [
                {"text": "a grey rabbit in a meadow", "duration": 1.0, "decision": "reuse"},
                {"text": "a dragon over a volcano", "duration": 1.0, "decision": "fill"},
            ]
        },
    )
    plain = _make(lib, board, tmp_path / "plain.mp4", size=(320, 180))
    marked = _make(
        lib,
        board,
        tmp_path / "marked.mp4",
        size=(320, 180),
        label_generated=True,
        label_position="bottom-left",
    )
    assert plain["label"] is None
    assert marked["label"]["position"] == "bottom-left"
    fill = marked["shots"][1]
    assert marked["label"]["spans"] == [
        {"start_s": fill["out_start_s"], "end_s": fill["out_end_s"], "text": "AI-generated"}
    ]

    def frame(path, t):
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                if f.time is not None and f.time >= t:
                    return f.to_ndarray(format="rgb24").astype(int)
        raise AssertionError(t)

    corner = (slice(130, 180), slice(0, 120))  # bottom-left
    for t, changed in ((0.5, False), (1.5, True)):
        a, b = frame(tmp_path / "plain.mp4", t), frame(tmp_path / "marked.mp4", t)
        diff = np.abs(a - b)[corner].mean()
        assert bool(diff > 5) is changed, (t, diff)
    r = _cli(lib, "make", str(board), "-o", str(tmp_path / "x.mp4"), "--label-position", "middle")
    assert r.exit_code == 2
