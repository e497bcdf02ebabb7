"""`make` end to end on a small library: outputs, exact timing, provenance, manifest ↔ renders,
re-rendering, caching, bad input, and no partial outputs after a failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import DATA
from helpers import TINY, make_footage

from rag_video import open_library
from rag_video.cli import main
from rag_video.errors import UsageError

SIZE, FPS = (320, 180), 25


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("make")
    files = make_footage(root / "footage")
    shutil.copy(DATA / "bigbuckbunny.mp4", root / "footage" / "bunny.mp4")
    (root / "footage" / "bunny.json").write_text(
        json.dumps(
            {
                "title": "Big Buck Bunny",
                "description": "a grey rabbit in a green meadow",
                "license": "CC BY 3.0",
                "creator": "Blender Foundation",
            }
        )
    )
    library = open_library(root / "lib", workers=1, **TINY)
    library.ingest([files["a"].parent])
    return library


def _script(tmp_path: Path, shots: list[dict], name="board.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"title": "t", "shots": shots}))
    return path


def _count_frames(path: Path) -> tuple[int, float, tuple[int, int], bool]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        n = sum(1 for _ in c.decode(v))
        return n, float(v.average_rate), (v.width, v.height), bool(c.streams.audio)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


MIXED = [
    {"text": "a grey rabbit in a meadow", "duration": 2.0, "caption": "Morning"},
    {"text": "red cliffs at dawn", "duration": 1.0, "decision": "restyle", "style": "sepia"},
    {"text": "a dragon over a volcano", "duration": 1.2, "decision": "fill"},
]


def test_make_writes_every_output_with_exact_timing(lib, tmp_path):
    out = tmp_path / "out.mp4"
    m = lib.make(
        _script(tmp_path, MIXED),
        out,
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        min_cut=2.0,
    )  # sub-shots of 2 s: only the bunny covers shot 1
    assert [s["decision"] for s in m["shots"]] == ["reuse", "restyle", "fill"]
    frames, fps, size, has_audio = _count_frames(out)
    assert (frames, fps, size) == (round(4.2 * FPS), FPS, SIZE) and m[
        "duration_s"
    ] == pytest.approx(4.2)
    assert has_audio  # the reused bunny shot brings its own sound
    for suffix in (".manifest.json", ".otio", ".html", ".srt", ".credits.txt"):
        assert out.with_suffix("").with_name("out" + suffix).exists()
    assert json.loads((tmp_path / "out.manifest.json").read_text())["run_id"] == m["run_id"]
    assert "license: CC-BY-3.0" in (tmp_path / "out.credits.txt").read_text()  # stored as SPDX
    assert "Morning" in (tmp_path / "out.srt").read_text()
    assert not list(tmp_path.glob(".*partial*"))
    with av.open(str(out)) as c:
        assert "rag-video" in " ".join(c.metadata.values()).lower()


def test_no_source_shot_is_used_twice(lib, tmp_path):
    shots = [{"text": f"shot {i}", "duration": 0.8} for i in range(5)]
    m = lib.make(
        _script(tmp_path, shots),
        tmp_path / "o.mp4",
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        audio=False,
    )
    used = [c["shot_id"] for s in m["shots"] for c in s["source"]]  # per clip, not per planned shot
    assert len(used) >= 5 and len(set(used)) == len(used)


def test_reuse_frames_come_from_the_source_in_point(lib, tmp_path):
    shots = [{"text": "rabbit", "duration": 1.0}, {"text": "cliffs", "duration": 1.0}]
    out = tmp_path / "p.mp4"
    m = lib.make(
        _script(tmp_path, shots),
        out,
        size=(160, 90),
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        audio=False,
        crf=12,
    )
    from rag_video.media.seek import frames_at

    with av.open(str(out)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    checked = 0
    for src in (c for shot in m["shots"] for c in shot["source"]):
        with av.open(src["path"]) as c:
            native = (c.streams.video[0].width, c.streams.video[0].height)
        if native != (160, 90):
            continue  # PSNR is compared at equal size: the synthetic sources are 160x90
        expected = frames_at(src["path"], [src["in_s"]], short_side=90)[0]
        got = decoded[round(src["out_start_s"] * FPS)]
        assert _psnr(expected, got) >= 30
        checked += 1
    assert checked >= 1  # the library has one 1280x720 shot, so at least one source is 160x90


def test_manifest_and_renders_agree(lib, tmp_path):
    m = lib.make(
        _script(tmp_path, MIXED),
        tmp_path / "r.mp4",
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
    )
    rows = lib.sql(
        f"select * from renders where run_id = '{m['run_id']}' order by shot_index"
    ).to_pylist()
    per_clip = [
        (s, c) for s in m["shots"] for c in (s["source"] or [None])
    ]  # a renders row per clip
    assert len(rows) == len(per_clip)
    for row, (shot, clip) in zip(rows, per_clip, strict=False):
        assert (
            row["shot_index"],
            row["decision"],
            row["shot_id"],
            row["generator"],
            row["steps"],
        ) == (
            shot["index"],
            shot["decision"],
            clip and clip["shot_id"],
            shot["generator"],
            shot["steps"],
        )


def test_otio_points_at_original_sources(lib, tmp_path):
    import opentimelineio as otio

    m = lib.make(
        _script(tmp_path, MIXED),
        tmp_path / "x.mp4",
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        keep_segments=True,  # drafts get files the timeline can point at
    )
    timeline = otio.adapters.read_from_file(str(tmp_path / "x.otio"))
    clips = list(timeline.find_clips())
    assert len(clips) == sum(
        max(1, len(s["source"])) if s["decision"] == "reuse" else 1 for s in m["shots"]
    )
    reuse = m["shots"][0]["source"][0]
    ref = clips[0].media_reference
    assert Path(ref.target_url.replace("file://", "")).name == Path(reuse["path"]).name
    assert clips[0].source_range.start_time.to_seconds() == pytest.approx(reuse["in_s"], abs=0.05)
    assert clips[0].source_range.duration.to_seconds() == pytest.approx(
        reuse["duration_s"], abs=0.05
    )
    assert (
        clips[-1].media_reference.target_url.endswith(".mp4")
        and "generated" in clips[2].media_reference.target_url
    )


def test_rerender_from_manifest_uses_the_saved_plan_and_the_cache(lib, tmp_path):
    first = lib.make(
        _script(tmp_path, MIXED),
        tmp_path / "a.mp4",
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        keep_segments=True,
    )
    again = lib.make(
        None,
        tmp_path / "b.mp4",
        from_manifest=tmp_path / "a.manifest.json",
        size=SIZE,
        fps=FPS,
        keep_segments=True,
    )
    assert [s["source"] for s in again["shots"]] == [s["source"] for s in first["shots"]]
    assert [s["segment"] for s in again["shots"]] == [s["segment"] for s in first["shots"]]
    assert all(s["cached"] for s in again["shots"] if s["decision"] != "reuse")


def _generated(lib) -> set[Path]:
    folder = lib.store.generated_dir
    return set(folder.iterdir()) if folder.exists() else set()


def test_drafts_stream_into_the_output_without_segment_files(lib, tmp_path):
    before = _generated(lib)
    m = lib.make(
        _script(tmp_path, MIXED, "stream.yaml"),
        tmp_path / "s.mp4",
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        seed=5,  # a cache key no other test's drafts share
    )
    drafted = [s for s in m["shots"] if s["decision"] != "reuse"]
    assert [s["decision"] for s in drafted] == ["restyle", "fill"]
    assert all(s["segment"] is None and s["generator"] == "draft" for s in drafted)
    assert all(s["model"] and not s["cached"] and s["seed"] == 5 for s in drafted)
    assert _generated(lib) == before
    assert _count_frames(tmp_path / "s.mp4")[0] == round(4.2 * FPS) == m["frames"]


def test_keep_segments_writes_draft_files_and_names_them(lib, tmp_path):
    m = lib.make(
        _script(tmp_path, MIXED, "keep.yaml"),
        tmp_path / "k.mp4",
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        seed=6,
        keep_segments=True,
    )
    drafted = [s for s in m["shots"] if s["decision"] != "reuse"]
    assert len(drafted) == 2
    for shot in drafted:
        path = Path(shot["segment"])
        assert path.parent == lib.store.generated_dir and path.exists()
        assert _count_frames(path)[0] == round(shot["duration_s"] * FPS)


def test_make_from_a_streamed_manifest_streams_again(lib, tmp_path):
    first = lib.make(
        _script(tmp_path, MIXED, "again.yaml"),
        tmp_path / "f.mp4",
        size=SIZE,
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        transition="crossfade",
    )
    before = _generated(lib)
    again = lib.make(
        None,
        tmp_path / "g.mp4",
        from_manifest=tmp_path / "f.manifest.json",
        size=SIZE,
        fps=FPS,
        transition="crossfade",
    )
    assert _generated(lib) == before
    assert [s["segment"] for s in again["shots"]] == [None, None, None]
    assert [s["model"] for s in again["shots"]] == [s["model"] for s in first["shots"]]
    a, b = _count_frames(tmp_path / "f.mp4"), _count_frames(tmp_path / "g.mp4")
    assert a == b and again["frames"] == first["frames"] == a[0]
    with av.open(str(tmp_path / "f.mp4")) as c, av.open(str(tmp_path / "g.mp4")) as d:
        pairs = zip(c.decode(video=0), d.decode(video=0), strict=True)
        worst = min(
            _psnr(x.to_ndarray(format="rgb24"), y.to_ndarray(format="rgb24")) for x, y in pairs
        )
    assert worst >= 40  # the same plan drawn the same way


def test_crossfade_and_letterbox_keep_the_duration(lib, tmp_path):
    out = tmp_path / "c.mp4"
    m = lib.make(
        _script(tmp_path, MIXED),
        out,
        size=(180, 320),
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        transition="crossfade",
        fit="letterbox",
        audio=False,
    )
    frames, _, size, has_audio = _count_frames(out)  # --no-audio: a silent stream (always one)
    assert (frames, size, has_audio) == (round(4.2 * FPS), (180, 320), True)
    assert m["duration_s"] == pytest.approx(4.2)


def test_failure_leaves_no_partial_outputs(lib, tmp_path, monkeypatch):
    from rag_video.generate.export import storyboard

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(storyboard, "write_html", boom)
    with pytest.raises(RuntimeError):
        lib.make(_script(tmp_path, MIXED), tmp_path / "f.mp4", size=SIZE, fps=FPS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.yaml"]


def test_bad_inputs_are_one_line_usage_errors(lib, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        lib.make(_script(tmp_path, MIXED), tmp_path / "missing" / "o.mp4")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(UsageError, match="no shots"):
        lib.make(empty, tmp_path / "o.mp4")
    with pytest.raises(UsageError, match="no shots"):
        open_library(tmp_path / "empty-lib").make(_script(tmp_path, MIXED), tmp_path / "o.mp4")


def test_text_fallback_without_embeddings(tmp_path):
    files = make_footage(tmp_path / "footage")
    lib = open_library(tmp_path / "lib", workers=1, embed=False)
    lib.ingest([files["a"], files["b"]])
    m = lib.make(
        _script(
            tmp_path,
            [
                {"text": "cliffs at dawn", "duration": 1.0},
                {"text": "nothing like it", "duration": 1.0},
            ],
        ),
        tmp_path / "t.mp4",
        size=SIZE,
        fps=FPS,
        audio=False,
    )
    assert m["mode"] == "text"
    assert m["shots"][0]["source"][0]["path"] == str(files["a"]) and m["shots"][0]["score"] > 0
    assert m["shots"][1]["decision"] == "fill" and m["shots"][1]["score"] is None


def test_library_with_neither_embeddings_nor_text(tmp_path):
    files = make_footage(tmp_path / "footage")
    lib = open_library(tmp_path / "lib", workers=1, embed=False)
    lib.ingest([files["b"]])  # b has no sidecar
    with pytest.raises(UsageError, match="neither embeddings nor text"):
        lib.make(_script(tmp_path, MIXED), tmp_path / "o.mp4")


def test_make_from_keeps_the_saved_runs_look_unless_a_flag_changes_it(lib, tmp_path):
    def cli(*args: str) -> dict:
        got = CliRunner().invoke(
            main, ["--library", str(lib.path), "make", *args, "--json"], catch_exceptions=False
        )
        assert got.exit_code == 0, got.stderr
        return json.loads(got.stdout)

    first = cli(
        str(_script(tmp_path, MIXED)),
        "-o",
        str(tmp_path / "t.mp4"),
        "--size",
        "90x160",
        "--fps",
        "25",
        "--transition",
        "crossfade",
        "--no-audio",
        "--qc",
        "off",
    )
    saved = str(tmp_path / "t.manifest.json")
    again = cli("--from", saved, "-o", str(tmp_path / "t2.mp4"))
    assert again["size"] == first["size"] == [90, 160] and again["fps"] == 25
    assert again["options"] == first["options"] and again["options"]["audio"] is False
    changed = cli("--from", saved, "-o", str(tmp_path / "t3.mp4"), "--transition", "cut")
    assert changed["options"]["transition"] == "cut" and changed["size"] == [90, 160]


def test_cli_make_json_is_the_manifest(lib, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "--library",
            str(lib.path),
            "make",
            str(_script(tmp_path, MIXED)),
            "-o",
            str(tmp_path / "cli.mp4"),
            "--size",
            "160x90",
            "--fps",
            "25",
            "--reuse-threshold",
            "-1",
            "--fill-threshold",
            "-2",
            "--keep-segments",
            "--json",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc == json.loads((tmp_path / "cli.manifest.json").read_text())
    assert all(s["segment"] for s in doc["shots"] if s["decision"] != "reuse")
    bad = CliRunner().invoke(
        main,
        [
            "--library",
            str(lib.path),
            "make",
            str(_script(tmp_path, MIXED)),
            "-o",
            str(tmp_path / "nope" / "x.mp4"),
        ],
    )
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


def test_demo_runs_offline_and_shows_every_decision(tmp_path):
    result = CliRunner().invoke(
        main,
        ["--library", str(tmp_path / "lib"), "--json", "demo", "-o", str(tmp_path / "demo.mp4")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {s["decision"] for s in doc["shots"]} == {"reuse", "restyle", "fill"}
    assert doc["mode"] == "text"  # no embedding weights offline: sidecar descriptions match
    failed = [r for r in doc["qc"]["results"] if not r["passed"]]
    assert doc["qc"]["passed"] and not failed, failed  # the demo is a clean render
    frames, fps, size, _ = _count_frames(tmp_path / "demo.mp4")
    assert (frames, fps, size) == (round(doc["duration_s"] * 24), 24, (1280, 720))


@pytest.fixture(scope="module")
def tiny_models(tiny_pipelines_root):
    import tiny_pipelines

    return tiny_pipelines.build_all(tiny_pipelines_root, ["animatediff", "svd"])


FINAL = [
    {"text": "a grey rabbit in a meadow", "duration": 0.6},
    {"text": "red cliffs", "duration": 0.5, "decision": "restyle", "style": "sepia"},
    {"text": "a dragon", "duration": 0.4, "decision": "fill"},
]


def _final(lib, tmp_path, tiny_models, name, **kw):
    args = dict(
        final=True,
        restyle_model=str(tiny_models["animatediff"]),
        fill_model=str(tiny_models["svd"]),
        gen_size=(64, 64),
        steps=4,
        size=(64, 64),
        fps=8,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        audio=False,
    )
    return lib.make(_script(tmp_path, FINAL), tmp_path / name, **{**args, **kw})


@pytest.mark.slow
def test_final_render_spends_diffusion_only_on_restyle_and_fill_and_caches(
    lib, tmp_path, tiny_models
):
    m = _final(lib, tmp_path, tiny_models, "final.mp4")
    by = {s["decision"]: s for s in m["shots"]}
    assert by["reuse"]["steps"] == 0 and by["reuse"]["generator"] == "source"
    assert (
        by["restyle"]["generator"] == "AnimateDiffVideoToVideoPipeline"
        and by["restyle"]["steps"] >= 1
    )
    assert by["fill"]["generator"] == "StableVideoDiffusionPipeline" and by["fill"]["steps"] >= 1
    assert m["fallbacks"] == 0
    frames, fps, size, _ = _count_frames(tmp_path / "final.mp4")
    assert (frames, fps, size) == (round(1.5 * 8), 8, (64, 64))
    rows = lib.sql(
        f"select decision, steps, generator from renders where run_id = '{m['run_id']}'"
    ).to_pylist()
    assert sorted((r["decision"], r["steps"]) for r in rows) == sorted(
        (s["decision"], s["steps"]) for s in m["shots"]
    )
    again = lib.make(
        None,
        tmp_path / "again.mp4",
        from_manifest=tmp_path / "final.manifest.json",
        final=True,
        restyle_model=str(tiny_models["animatediff"]),
        fill_model=str(tiny_models["svd"]),
        gen_size=(64, 64),
        steps=4,
        size=(64, 64),
        fps=8,
        audio=False,
    )
    assert all(s["cached"] and s["steps"] == 0 for s in again["shots"] if s["decision"] != "reuse")


@pytest.mark.slow
def test_a_failed_generation_falls_back_to_the_draft_and_exits_1(
    lib, tmp_path, tiny_models, monkeypatch
):
    from rag_video.generate.diffusion import DiffusionGenerator

    def oom(self, *a, **k):
        raise RuntimeError("CUDA out of memory (injected)")

    monkeypatch.setattr(DiffusionGenerator, "fill", oom)
    m = _final(lib, tmp_path, tiny_models, "fb.mp4", seed=7)
    fill = next(s for s in m["shots"] if s["decision"] == "fill")
    assert (
        fill["generator"] == "draft" and "out of memory" in fill["fallback"] and m["fallbacks"] == 1
    )
    assert (tmp_path / "fb.mp4").exists()


def test_unloadable_model_is_one_line_exit_2(lib, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "--library",
            str(lib.path),
            "make",
            str(_script(tmp_path, FINAL)),
            "-o",
            str(tmp_path / "m.mp4"),
            "--final",
            "--restyle-model",
            str(tmp_path / "no-such-model"),
            "--size",
            "64x64",
        ],
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "Traceback" not in result.stderr, (
        result.stderr
    )
    assert "not available offline" in errors[0] or "no-such-model" in errors[0]
    assert not (tmp_path / "m.mp4").exists()


def test_fresh_prefers_shots_earlier_renders_did_not_use(lib, tmp_path):
    shots = [{"text": "anything", "duration": 0.8}]
    first = lib.make(
        _script(tmp_path, shots),
        tmp_path / "f1.mp4",
        size=(160, 90),
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        audio=False,
    )
    used = first["shots"][0]["source"][0]["shot_id"]
    for i in range(3):  # make that shot look heavily used
        lib.make(
            None, tmp_path / f"r{i}.mp4", from_manifest=tmp_path / "f1.manifest.json", audio=False
        )
    fresh = lib.make(
        _script(tmp_path, shots),
        tmp_path / "f2.mp4",
        size=(160, 90),
        fps=FPS,
        fresh=True,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        audio=False,
    )
    assert fresh["shots"][0]["source"][0]["shot_id"] != used


def test_generation_budget_turns_the_rest_into_drafts(lib, tmp_path, tiny_models):
    m = _final(lib, tmp_path, tiny_models, "budget.mp4", max_gen_seconds=0.0, seed=11)
    generated = [s for s in m["shots"] if s["decision"] != "reuse"]
    assert all(s["generator"] == "draft" and "max-gen-seconds" in s["fallback"] for s in generated)


@pytest.mark.parametrize(
    "name, body, durations",
    [
        (
            "s.txt",
            "A grey rabbit.\n\nRed cliffs at dawn, with the sea below them and birds.\n",
            None,
        ),
        (
            "s.srt",
            "1\n00:00:00,000 --> 00:00:01,200\nA rabbit\n\n"
            "2\n00:00:01,200 --> 00:00:02,000\n<i>Cliffs</i>\n",
            [1.2, 0.8],
        ),
    ],
)
def test_every_script_format_makes_a_video(lib, tmp_path, name, body, durations):
    from rag_video.generate.plan import default_duration

    script = tmp_path / name
    script.write_text(body)
    m = lib.make(
        script,
        tmp_path / "fmt.mp4",
        size=(160, 90),
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        audio=False,
    )
    got = [s["duration_s"] for s in m["shots"]]
    want = durations or [
        default_duration(t)
        for t in ("A grey rabbit.", "Red cliffs at dawn, with the sea below them and birds.")
    ]
    assert got == pytest.approx(want)
    frames, _, _, _ = _count_frames(tmp_path / "fmt.mp4")
    assert frames == round(sum(want) * FPS)
    if name.endswith(".srt"):
        assert [s["caption"] for s in m["shots"]] == ["A rabbit", "<i>Cliffs</i>"]


def test_a_make_output_reingested_is_marked_generated(lib, tmp_path):
    out = tmp_path / "g.mp4"
    lib.make(
        _script(tmp_path, MIXED), out, size=SIZE, fps=FPS, reuse_threshold=-1.0, fill_threshold=-2.0
    )
    other = open_library(tmp_path / "other", workers=1, embed=False)
    other.ingest([out])
    (row,) = other.sources().to_pylist()
    assert row["status"] == "ok" and row["generated"] is True


def test_the_script_music_is_the_soundtrack(lib, tmp_path):
    import synth

    synth.write_audio_only(tmp_path / "song.m4a", seconds=5.0)
    script = tmp_path / "m.yaml"
    script.write_text(
        json.dumps({"music": "song.m4a", "shots": [{"text": "cliffs", "duration": 1.0}]})
    )
    m = lib.make(
        script,
        tmp_path / "m.mp4",
        size=(160, 90),
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
    )
    assert m["has_audio"]
    assert [s["name"] for s in m["sound"]["stems"]] == ["music", "sources"]
    silent = lib.make(
        script,
        tmp_path / "s.mp4",
        size=(160, 90),
        fps=FPS,
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        audio=False,
    )
    assert silent["has_audio"] and silent["sound"]["stems"] == []  # a silent stream
    with av.open(str(tmp_path / "m.mp4")) as c:
        audio = c.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(1.0, abs=0.05)
