"""Coverage of planned shots longer than any one source shot, portrait reframing, and the script's
decisions honoured — on footage whose shots are shorter than the planned durations."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import synth

from rag_video import open_library
from rag_video.generate import coverage as cover
from rag_video.generate import reframe
from rag_video.media.clip import window_at

FPS = 25
# Four landscape sources, three shots each of 1.6-2.2 s (so every source shot is shorter than a
# paragraph's planned 5-6 s), each described by its sidecar in the words a script would use.
SOURCES = {
    "meadow": "A grey rabbit hops through a green meadow under tall trees",
    "harbour": "Fishing boats rock in a quiet harbour near the old lighthouse",
    "kitchen": "A baker kneads bread dough on a floured wooden kitchen table",
    "desert": "Camels walk in a long line across orange desert dunes",
}
SHOT_FRAMES = {
    "meadow": (50, 45, 55),
    "harbour": (48, 52, 44),
    "kitchen": (55, 40, 50),
    "desert": (45, 50, 52),
}


def _footage(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, (name, text) in enumerate(SOURCES.items()):
        path = folder / f"{name}.mp4"
        synth.make_video(
            path, [synth.Shot(n) for n in SHOT_FRAMES[name]], size=(320, 180), seed=10 + k, fps=FPS
        )
        (folder / f"{name}.json").write_text(
            json.dumps(
                {"title": name, "description": text, "license": "CC0-1.0", "creator": "test"}
            )
        )
        out[name] = path
    return out


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("coverage")
    _footage(root / "footage")
    library = open_library(root / "lib", workers=1, embed=False)
    library.ingest([root / "footage"])
    return library


def _script(tmp_path: Path, paragraphs: list[str]) -> Path:
    path = tmp_path / "script.txt"
    path.write_text("\n\n".join(paragraphs))
    return path


PARAGRAPHS = list(SOURCES.values()) + [
    "A dragon breathes fire over a smoking volcano at midnight far away"
]


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# ------------------------------------------------------------------------------ end to end


def test_long_paragraphs_reuse_footage_whose_shots_are_shorter(lib, tmp_path):
    shots = lib.sql("select max(duration_s) as longest from shots").to_pylist()[0]
    m = lib.make(
        _script(tmp_path, PARAGRAPHS), tmp_path / "o.mp4", size=(320, 180), fps=FPS, audio=False
    )
    planned = [s["duration_s"] for s in m["shots"]]
    assert (
        min(planned[:4]) >= 2 * shots["longest"]
    )  # no source shot could cover a paragraph  # no single source shot could cover a paragraph
    assert [s["decision"] for s in m["shots"]] == ["reuse"] * 4 + [
        "fill"
    ]  # by score, no forced thresholds
    for shot, name in zip(m["shots"][:4], SOURCES, strict=False):
        clips = shot["source"]
        assert all(Path(c["path"]).stem == name for c in clips)
        assert sum(c["duration_s"] for c in clips) == pytest.approx(shot["duration_s"], abs=1e-6)
        assert (
            shot["reason"]["coverage"]["method"] == "continue"
        )  # default order: the scene goes on
    assert len(_frames(tmp_path / "o.mp4")) == round(sum(planned) * FPS)
    fill = m["shots"][4]
    assert fill["score"] is None and fill["reference"]["role"] == "previous shot's last frame"
    credits = (tmp_path / "o.credits.txt").read_text()  # what is on screen in the fill is credited
    assert "shot 4 (fill from previous shot's last frame" in credits


def test_montage_cuts_several_matching_shots_and_each_clip_is_a_renders_row(lib, tmp_path):
    import opentimelineio as otio

    script = tmp_path / "board.yaml"
    script.write_text(
        json.dumps(
            {
                "shots": [
                    {
                        "text": "boats in a harbour, a baker kneading bread, camels "
                        "on dunes, a rabbit in a meadow",
                        "duration": 6.0,
                        "decision": "reuse",
                    }
                ]
            }
        )
    )
    m = lib.make(
        script,
        tmp_path / "m.mp4",
        size=(320, 180),
        fps=FPS,
        audio=False,
        coverage="single,montage,retime",
        min_cut=1.2,
    )
    shot = m["shots"][0]
    clips = shot["source"]
    assert shot["decision"] == "reuse" and shot["reason"]["coverage"]["method"] == "montage"
    assert len(clips) >= 3 and len({c["shot_id"] for c in clips}) == len(clips)
    assert all(c["duration_s"] >= 1.2 - 1e-6 for c in clips)
    assert sum(c["duration_s"] for c in clips) == pytest.approx(6.0)
    rows = lib.sql(
        f"select shot_index, shot_id from renders where run_id = '{m['run_id']}'"
    ).to_pylist()
    assert sorted(r["shot_id"] for r in rows) == sorted(c["shot_id"] for c in clips)
    assert {r["shot_index"] for r in rows} == {0}
    timeline = otio.adapters.read_from_file(str(tmp_path / "m.otio"))
    otio_clips = list(timeline.find_clips())
    assert len(otio_clips) == len(clips)
    assert [c.metadata["rag_video"]["source_shot_id"] for c in otio_clips] == [
        c["shot_id"] for c in clips
    ]
    html = (tmp_path / "m.html").read_text()
    assert "montage" in html and "clip 3" in html


def test_too_short_candidates_are_listed_when_nothing_covers(lib, tmp_path):
    script = tmp_path / "board.yaml"
    script.write_text(json.dumps({"shots": [{"text": SOURCES["kitchen"], "duration": 8.0}]}))
    m = lib.make(
        script, tmp_path / "s.mp4", size=(320, 180), fps=FPS, audio=False, coverage="single,retime"
    )
    shot = m["shots"][0]
    assert shot["decision"] == "fill" and shot["source"] == []
    assert shot["too_short"] and all("of 8.00 s planned" in c["why"] for c in shot["too_short"])
    assert "no combination" in shot["reason"]["text"]


def test_portrait_make_reuses_landscape_footage_with_a_reframe(lib, tmp_path):
    m = lib.make(
        _script(tmp_path, PARAGRAPHS[:2]),
        tmp_path / "p.mp4",
        aspect="9:16",
        size=(180, 320),
        fps=FPS,
        audio=False,
    )
    assert [s["decision"] for s in m["shots"]] == ["reuse", "reuse"]
    for clip in (c for s in m["shots"] for c in s["source"]):
        assert clip["crop"]["mode"] == "reframe" and clip["crop"]["w"] == pytest.approx(
            (9 / 16) / (16 / 9)
        )
    frames = _frames(tmp_path / "p.mp4")
    assert frames[0].shape == (320, 180, 3)


def test_script_decisions_are_honoured_whatever_the_score(lib, tmp_path):
    script = tmp_path / "board.yaml"
    script.write_text(
        json.dumps(
            {
                "shots": [
                    {
                        "text": "fishing boats in a quiet harbour",
                        "duration": 2.0,
                        "decision": "fill",
                    },  # scores 1.0
                    {
                        "text": "a baker with camels and boats",
                        "duration": 1.5,
                        "decision": "reuse",
                    },  # scores low
                    {
                        "text": "a dragon over a volcano with camels",
                        "duration": 1.5,
                        "decision": "restyle",
                    },
                ]
            }
        )
    )
    m = lib.make(script, tmp_path / "d.mp4", size=(320, 180), fps=FPS, audio=False)
    assert [s["decision"] for s in m["shots"]] == ["fill", "reuse", "restyle"]
    assert m["shots"][0]["source"] == []
    assert m["shots"][1]["score"] < 0.75 and "would give" in m["shots"][1]["reason"]["text"]
    assert all(s["source"] for s in m["shots"][1:])
    assert "set by the script: reuse" in (tmp_path / "d.html").read_text()


def test_candidates_dropped_for_length_are_listed(lib, tmp_path):
    script = tmp_path / "board.yaml"
    script.write_text(json.dumps({"shots": [{"text": SOURCES["desert"], "duration": 4.0}]}))
    m = lib.make(script, tmp_path / "l.mp4", size=(320, 180), fps=FPS, audio=False, min_cut=1.9)
    dropped = m["shots"][0]["dropped"]
    assert dropped and all("under --min-cut 1.9 s" in d["why"] for d in dropped)
    assert m["shots"][0]["decision"] == "reuse"


# ------------------------------------------------------------------------------ the planner


def _rows(durations: list[float], source: str = "s") -> list[dict]:
    rows, t = [], 0.0
    for k, d in enumerate(durations):
        rows.append(
            {
                "shot_id": f"{source}:{k}",
                "source_id": source,
                "start_s": t,
                "end_s": t + d,
                "duration_s": d,
                "start_frame": round(t * FPS),
                "end_frame": round((t + d) * FPS),
            }
        )
        t += d
    return rows


def _planner(durations, rows, scores, primary, *, continues=lambda i, j, k: False, min_cut=1.0):
    nxt = {(r["source_id"], r["start_frame"]): k for k, r in enumerate(rows)}
    return cover.Planner(
        durations,
        rows,
        np.asarray(scores, float),
        primary,
        [0.5] * len(durations),
        fps=FPS,
        min_cut=min_cut,
        next_row=lambda j: nxt.get((rows[j]["source_id"], rows[j]["end_frame"])),
        continues=continues,
    )


def test_planner_single_continue_montage_retime_hold():
    rows = (
        _rows([3.0])
        + _rows([1.5, 1.5], "b")
        + _rows([2.0], "c")
        + _rows([2.0], "d")
        + _rows([1.8], "e")
        + _rows([1.96], "f")
    )
    scores = np.full((5, len(rows)), 0.9)
    covs = _planner(
        [2.5, 3.0, 3.5, 2.2, 2.2],
        rows,
        scores,
        [0, 1, 3, 5, 6],
        continues=lambda i, j, k: rows[k]["source_id"] == "b",
    ).run(cover.DEFAULT_ORDER)
    assert [c.method for c in covs] == ["single", "continue", "montage", "retime", "hold"]
    assert covs[1].pieces[0].rows == [1, 2]
    assert len(covs[2].pieces) == 2 and covs[2].pieces[1].rows == [4]  # d joins c
    assert covs[3].pieces[0].speed == pytest.approx(1.8 / 2.2) and covs[4].hold_s == pytest.approx(
        0.24
    )
    for cov, want in zip(covs, [2.5, 3.0, 3.5, 2.2, 2.2], strict=False):
        assert sum(p.length_s for p in cov.pieces) == pytest.approx(want)
    used = [j for cov in covs for p in cov.pieces for j in p.rows]
    assert len(used) == len(set(used))  # no source shot twice, plan-wide


def test_montage_shares_respect_min_cut_and_retime_is_bounded():
    rows = _rows([1.2], "a") + _rows([1.2], "b") + _rows([1.2], "c")
    covs = _planner([2.9], rows, [[0.9, 0.8, 0.7]], [0], min_cut=1.0).run(cover.DEFAULT_ORDER)
    # three shares of 0.97 s would break --min-cut: two shots, slowed to 2.4/2.9
    assert covs[0].method == "retime" and len(covs[0].pieces) == 2
    assert covs[0].pieces[0].speed == pytest.approx(2.4 / 2.9)
    assert [p.length_s for p in covs[0].pieces] == pytest.approx([1.45, 1.45])
    covs = _planner([4.0], _rows([1.2]), [[0.9]], [0]).run(cover.DEFAULT_ORDER)
    assert not covs[0].covered  # 0.3x would be needed: beyond MIN_SPEED


def test_coverage_order_is_validated():
    assert cover.parse_order("montage, single") == ("montage", "single")
    for bad in ("", "single,single", "zoom"):
        with pytest.raises(ValueError, match="coverage order"):
            cover.parse_order(bad)


# ------------------------------------------------------------------------------ reframing

SUBJECT = 24


def _moving_subject(path: Path, n: int = 75, size=(320, 180)) -> list[int]:
    """A bright checkered square crossing a dark gradient left to right; returns its x per frame."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w]
    background = (30 + 25 * xs / w + 10 * ys / h).astype(np.uint8)
    checker = ((np.indices((SUBJECT, SUBJECT)).sum(axis=0) // 4) % 2 * 55 + 200).astype(np.uint8)
    frames, lefts = [], []
    for k in range(n):
        x = round(8 + (w - SUBJECT - 16) * k / (n - 1))
        img = np.repeat(background[:, :, None], 3, axis=2).copy()
        img[(h - SUBJECT) // 2 : (h + SUBJECT) // 2, x : x + SUBJECT] = checker[:, :, None]
        frames.append(img)
        lefts.append(x)
    synth.write_video(path, frames, fps=FPS)
    return lefts


def test_reframe_window_follows_a_moving_subject(tmp_path):
    path = tmp_path / "subject.mp4"
    lefts = _moving_subject(path)
    crop = reframe.reframe_track(path, 0.0, len(lefts) / FPS, (320, 180), (9, 16))
    centre = reframe.centre_crop((320, 180), (9, 16))

    def inside(c):
        hits = 0
        for k, x in enumerate(lefts):
            left, _ = window_at(c, k / FPS)
            hits += left * 320 - 1 <= x and x + SUBJECT <= (left + c["w"]) * 320 + 1
        return hits / len(lefts)

    assert len(crop["track"]) > 1  # it pans
    assert inside(crop) >= 0.95
    assert inside(centre) < 0.5


def test_portrait_make_keeps_the_moving_subject_on_screen(tmp_path):
    folder = tmp_path / "footage"
    folder.mkdir()
    _moving_subject(folder / "subject.mp4")
    (folder / "subject.json").write_text(
        json.dumps({"description": "a white square crossing the screen"})
    )
    library = open_library(tmp_path / "lib", workers=1, embed=False)
    library.ingest([folder])
    script = tmp_path / "s.yaml"
    script.write_text(
        json.dumps({"shots": [{"text": "a white square crossing the screen", "duration": 2.9}]})
    )
    shares = {}
    for fit in ("auto", "crop"):
        out = tmp_path / f"{fit}.mp4"
        m = library.make(script, out, size=(90, 160), fps=FPS, audio=False, fit=fit)
        assert m["shots"][0]["decision"] == "reuse"
        subject_px = (SUBJECT * 160 / 180) ** 2
        visible = [np.count_nonzero(f[..., 0] > 170) >= 0.8 * subject_px for f in _frames(out)]
        shares[fit] = sum(visible) / len(visible)
    assert shares["auto"] >= 0.95 and shares["crop"] < 0.6


def test_fit_auto_reframes_only_strong_crops():
    assert reframe.resolve_fit("auto", (1920, 1080), (1080, 1920)) == "reframe"
    assert reframe.resolve_fit("auto", (1920, 1080), (1280, 720)) == "crop"
    assert (
        reframe.resolve_fit("auto", (1440, 1080), (1920, 1080)) == "crop"
    )  # 4:3 -> 16:9 keeps 75 %
    with pytest.raises(ValueError, match="fit must be one of"):
        reframe.resolve_fit("stretch", (1, 1), (1, 1))


# ------------------------------------------------------------------------------ rendering


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def test_restyle_and_fill_frames_of_rotated_footage_are_upright(tmp_path):
    from rag_video.generate.render import RenderSettings, _frame_at, clip_frames
    from rag_video.generate.shot import ShotJob, SourceClip
    from rag_video.media.seek import frames_at

    frames, _ = synth.build_frames([synth.Shot(20)], seed=1)
    rotated = synth.write_video(
        tmp_path / "rot.mp4", frames, display_rotation=90
    )  # a phone: displays 90x160
    upright = frames_at(rotated, [0.0], short_side=90)[0]
    rs = RenderSettings(FPS, (90, 160), "crop", 1, 0, tmp_path / "gen")
    clip = SourceClip(
        shot_id="rot:0",
        path=str(rotated),
        in_s=0.0,
        out_s=0.4,
        duration_s=0.4,
        speed=1.0,
        crop=None,
        fps=FPS,
        source_duration_s=0.8,
    )
    got = clip_frames([clip], rs)
    assert len(got) == 10 and got[0].shape == (160, 90, 3) and _psnr(got[0], upright) >= 30
    ref = _frame_at({"path": str(rotated), "time_s": 0.0}, (90, 160), "crop")
    assert _psnr(ref, upright) >= 30
    job = ShotJob(index=0, text="t", duration_s=0.4, decision="restyle", score=0.5)
    assert job.source == []


def test_generated_segment_cache_key_includes_gen_size(tmp_path):
    from rag_video.generate.draft import DraftGenerator
    from rag_video.generate.render import RenderSettings, _cache_key
    from rag_video.generate.shot import ShotJob

    job = ShotJob(index=0, text="a dragon", duration_s=1.0, decision="fill")
    keys = {
        _cache_key(
            job,
            DraftGenerator(),
            None,
            RenderSettings(FPS, (64, 64), "crop", 1, 0, tmp_path, size),
            25,
            {},
        )
        for size in (None, (32, 32), (48, 48))
    }
    assert len(keys) == 3


def test_held_clip_shows_its_last_frame_not_the_next_shot(tmp_path):
    from rag_video.generate.assemble import Segment, assemble

    path = tmp_path / "two.mp4"
    synth.write_video(
        path,
        [np.full((90, 160, 3), 40, np.uint8)] * 10 + [np.full((90, 160, 3), 220, np.uint8)] * 10,
        fps=FPS,
    )
    report = assemble(
        [Segment("source", path=path, in_s=0.0, out_s=0.4, duration_s=0.6)],
        tmp_path / "h.mp4",
        fps=FPS,
        size=(160, 90),
        fit="crop",
        audio="none",
    )
    out = _frames(report.path)
    assert len(out) == 15 and all(
        f.mean() < 80 for f in out
    )  # 10 frames shown, 5 held; never the bright shot


def test_retimed_clip_plays_slower(tmp_path):
    from rag_video.generate.assemble import Segment, assemble

    path = tmp_path / "ramp.mp4"
    synth.write_video(
        path, [np.full((90, 160, 3), 16 + 8 * i, np.uint8) for i in range(25)], fps=FPS, crf=0
    )
    report = assemble(
        [Segment("source", path=path, in_s=0.0, out_s=0.6, duration_s=0.8, speed=0.75)],
        tmp_path / "r.mp4",
        fps=FPS,
        size=(160, 90),
        fit="crop",
        audio="none",
        crf=0,
    )
    levels = [round((f.mean() - 16) / 8) for f in _frames(report.path)]
    assert (
        len(levels) == 20 and levels[0] == 0 and levels[-1] in (14, 15)
    )  # 15 source frames over 20
    assert len(set(levels)) == 15


def test_a_short_continuation_is_kept_and_cut_to_another_shot():
    rows = _rows([1.5, 1.5], "a") + _rows([2.0], "b")
    covs = _planner(
        [4.5], rows, [[0.9, 0.9, 0.8]], [0], continues=lambda i, j, k: rows[k]["source_id"] == "a"
    ).run(cover.DEFAULT_ORDER)
    assert covs[0].method == "montage"
    assert [p.rows for p in covs[0].pieces] == [[0, 1], [2]]
    assert [p.length_s for p in covs[0].pieces] == pytest.approx([2.5, 2.0])


def test_scores_alone_give_reuse_restyle_and_fill(lib, tmp_path):
    script = tmp_path / "board.yaml"
    script.write_text(
        json.dumps(
            {
                "shots": [
                    {"text": SOURCES["harbour"], "duration": 3.0},  # every word: 1.0
                    {
                        "text": "a grey rabbit at night with a dragon",
                        "duration": 2.0,
                    },  # grey, rabbit of 4: 0.5
                    {"text": "a submarine under the arctic ice", "duration": 2.0},
                ]
            }
        )
    )  # nothing
    m = lib.make(script, tmp_path / "sc.mp4", size=(320, 180), fps=FPS, audio=False)
    assert [s["decision"] for s in m["shots"]] == ["reuse", "restyle", "fill"]
    assert [s["score"] for s in m["shots"]] == [1.0, 0.5, None]
    assert all(s["reason"]["override"] is None for s in m["shots"])
    assert Path(m["shots"][1]["source"][0]["path"]).stem == "meadow"


def test_no_srt_without_captions_and_an_old_one_goes(lib, tmp_path):
    script = tmp_path / "board.yaml"
    script.write_text(
        json.dumps({"shots": [{"text": SOURCES["desert"], "duration": 2.0, "caption": "Heat"}]})
    )
    lib.make(script, tmp_path / "c.mp4", size=(320, 180), fps=FPS, audio=False)
    assert "Heat" in (tmp_path / "c.srt").read_text()
    script.write_text(json.dumps({"shots": [{"text": SOURCES["desert"], "duration": 2.0}]}))
    lib.make(script, tmp_path / "c.mp4", size=(320, 180), fps=FPS, audio=False)
    assert not (tmp_path / "c.srt").exists() and (tmp_path / "c.manifest.json").exists()


def test_a_forced_reuse_too_short_for_any_method_holds_its_last_frame():
    rows = _rows([1.2])
    covs = _planner([4.0], rows, [[0.9]], [0]).run(cover.DEFAULT_ORDER)
    cover.hold_to(covs[0], 4.0, rows)
    assert covs[0].method == "hold" and covs[0].hold_s == pytest.approx(2.8)
    assert covs[0].pieces[0].length_s == pytest.approx(4.0) and covs[0].pieces[0].speed == 1.0


def test_one_decode_serves_the_trim_and_the_reframe(tmp_path, monkeypatch):
    from rag_video.generate import trim
    from rag_video.generate.jobs import source_clip
    from rag_video.media import clip as media_clip

    path = tmp_path / "subject.mp4"
    lefts = _moving_subject(path)
    rows = [
        {
            "shot_id": "s:0",
            "path": str(path),
            "start_s": 0.0,
            "end_s": len(lefts) / FPS,
            "fps": FPS,
            "width": 320,
            "height": 180,
        }
    ]
    own = trim.best_trim_start(path, 0.0, 3.0, 2.0)
    assert (
        trim.best_trim_start(path, 0.0, 3.0, 2.0, sampled=trim.sample_range(path, 0.0, 3.0)) == own
    )
    reads = []
    real = media_clip.read_clip
    monkeypatch.setattr(media_clip, "read_clip", lambda *a, **k: reads.append(a) or real(*a, **k))
    made = source_clip(rows, cover.Piece([0], length_s=2.0), 3.0, (90, 160), "auto")
    assert len(reads) == 1 and made.in_s == own and made.crop["mode"] == "reframe"
