"""Rights-aware planning: a make over a library with mixed licences (no derivatives, non-commercial,
CC0, CC BY, unknown) and the decisions the licences force, read from the manifest and credits."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import synth
from click.testing import CliRunner

from rag_video import open_library
from rag_video.cli import main
from rag_video.errors import UsageError
from rag_video.generate.rights import RightsPolicy, licence_of, parse_licenses

FPS = 25
PORTRAIT = (90, 160)  # a 9:16 output: landscape footage would be cropped or reframed
# name: (description, licence in the sidecar, frames of its one shot)
SOURCES = {
    "meadow": ("A grey rabbit hops through a green meadow under tall trees", "CC BY-ND 4.0", 50),
    "harbour": ("Fishing boats rock in a quiet harbour near the lighthouse", "CC-BY-NC-4.0", 50),
    "kitchen": ("A baker kneads bread dough on a floured kitchen table", "CC0-1.0", 50),
    "desert": ("Camels walk in a long line across orange desert dunes", "CC-BY-4.0", 50),
    "forest": ("Pine trees sway in the wind on a misty mountain slope", "free for friends", 50),
}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("rights")
    folder = root / "footage"
    folder.mkdir()
    for k, (name, (text, licence, frames)) in enumerate(SOURCES.items()):
        synth.make_video(folder / f"{name}.mp4", [synth.Shot(frames)], size=(320, 180), seed=20 + k)
        (folder / f"{name}.json").write_text(
            json.dumps({"title": name, "description": text, "license": licence, "creator": "Cam"})
        )
    library = open_library(root / "lib", workers=1, embed=False)
    library.ingest([folder])
    return library


def _script(tmp_path: Path, shots: list[dict], name: str = "board.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"title": "rights", "shots": shots}))
    return path


def _make(lib, tmp_path: Path, shots: list[dict], out: str = "o.mp4", **options) -> dict:
    return lib.make(
        _script(tmp_path, shots),
        tmp_path / out,
        size=PORTRAIT,
        fps=FPS,
        audio=False,
        qc="off",
        **options,
    )


def _stems(shot: dict) -> list[str]:
    return [Path(c["path"]).stem for c in shot["source"]]


def _text(name: str) -> str:
    return SOURCES[name][0]


def test_ingest_stores_the_spdx_id_when_unambiguous(lib):
    got = {Path(r["path"]).stem: r["license"] for r in lib.sources().to_pylist()}
    assert got == {
        "meadow": "CC-BY-ND-4.0",  # mapped from "CC BY-ND 4.0"
        "harbour": "CC-BY-NC-4.0",
        "kitchen": "CC0-1.0",
        "desert": "CC-BY-4.0",
        "forest": "free for friends",  # maps to nothing: kept as written
    }


def test_no_derivative_footage_is_reused_letterboxed_never_restyled_nor_a_fill_reference(
    lib, tmp_path, caplog
):
    shots = [
        {"text": _text("meadow"), "duration": 1.6, "decision": "restyle"},  # the script asks
        {"text": "a grey rabbit in a green meadow at night", "duration": 1.0, "decision": "fill"},
        {"text": _text("kitchen"), "duration": 1.6, "decision": "restyle"},  # CC0: restyled
        {"text": _text("forest"), "duration": 1.6},  # unknown licence: used, warned
        {"text": _text("desert"), "duration": 1.6},  # CC BY: cropped to the portrait output
    ]
    with caplog.at_level(logging.WARNING, logger="rag_video"):
        m = _make(lib, tmp_path, shots)
    nd, fill, cc0, unknown, by = m["shots"]
    assert nd["decision"] == "reuse" and _stems(nd) == ["meadow"]
    assert nd["reason"]["override"] == "restyle"
    assert "licence CC-BY-ND-4.0: reuse only (no derivatives)" in nd["reason"]["text"]
    assert "the script's restyle is a reuse" in nd["reason"]["licence"]
    (clip,) = nd["source"]
    assert clip["crop"]["mode"] == "letterbox" and clip["speed"] == 1.0
    assert clip["license"] == "CC-BY-ND-4.0"
    assert nd["generator"] == "source" and nd["segment"] is None  # never rendered: pixels kept
    # the fill after it: its best partial match (the meadow) and its neighbour's last frame are
    # both no-derivative, so it is conditioned on neither
    assert fill["decision"] == "fill" and fill["candidates"][0]["path"].endswith("meadow.mp4")
    assert fill["reference"]["path"].endswith("kitchen.mp4")  # the next shot's, not the meadow
    assert fill["reference"]["role"] == "next shot's first frame"
    # the controls: CC0 is restyled as asked, CC BY is cropped to the output
    assert (
        cc0["decision"] == "restyle"
        and _stems(cc0) == ["kitchen"]
        and not cc0["reason"].get("licence")
    )
    assert by["decision"] == "reuse" and by["source"][0]["crop"]["mode"] != "letterbox"
    assert unknown["decision"] == "reuse" and _stems(unknown) == ["forest"]
    # the unknown licence: one warning for the make, listed in the manifest
    warned = [r for r in caplog.records if "no licence rag-video knows" in r.getMessage()]
    assert len(warned) == 1 and "forest.mp4" in warned[0].getMessage()
    assert [Path(u["path"]).name for u in m["rights"]["unknown"]] == ["forest.mp4"]
    assert m["rights"]["commercial"] is False and m["rights"]["licenses"] is None
    # the saved manifest reads back, its licence notes kept (make --from, review)
    saved = json.loads((tmp_path / "o.manifest.json").read_text())
    assert saved["shots"][0]["reason"]["licence"] == nd["reason"]["licence"]
    # credits carry the attribution each licence asks for
    credits = (tmp_path / "o.credits.txt").read_text()
    assert '"meadow" by Cam, CC-BY-ND-4.0' in credits
    assert '"desert" by Cam, CC-BY-4.0' in credits
    assert '"kitchen" by Cam' not in credits  # CC0 asks no attribution
    assert "license: free for friends" in credits


def test_no_derivative_footage_is_never_slowed_to_cover_a_shot(lib, tmp_path):
    # 2.3 s planned over 2.0 s shots: the CC0 shot is slowed (0.87x), the ND one cannot be
    shots = [
        {"text": _text("kitchen"), "duration": 2.3},
        {"text": _text("meadow"), "duration": 2.3},
    ]
    m = _make(lib, tmp_path, shots)
    cc0, nd = m["shots"]
    assert cc0["decision"] == "reuse" and cc0["reason"]["coverage"]["method"] == "retime"
    assert cc0["source"][0]["speed"] < 1.0
    assert nd["decision"] == "fill" and nd["source"] == []
    assert "never slowed or held" in nd["reason"]["licence"]


def test_commercial_refuses_non_commercial_footage(lib, tmp_path):
    shots = [{"text": _text("harbour"), "duration": 1.6, "decision": "reuse"}]
    free = _make(lib, tmp_path, shots, out="free.mp4")
    assert _stems(free["shots"][0]) == ["harbour"]  # the control: allowed without --commercial
    m = _make(lib, tmp_path, shots, out="paid.mp4", commercial=True)
    (shot,) = m["shots"]
    assert "harbour" not in _stems(shot)
    assert not any(c["path"].endswith("harbour.mp4") for c in shot["candidates"])
    (why,) = [d for d in shot["dropped"] if d.get("license") == "CC-BY-NC-4.0"]
    assert why["why"] == "licence CC-BY-NC-4.0: non-commercial, refused with --commercial"
    assert m["rights"]["commercial"] is True
    assert [r["license"] for r in m["rights"]["refused"]] == ["CC-BY-NC-4.0"]
    assert "harbour" not in (tmp_path / "paid.credits.txt").read_text()


def test_licenses_restricts_the_footage_to_a_set(lib, tmp_path):
    shots = [
        {"text": _text(name), "duration": 1.6} for name in ("meadow", "kitchen", "forest", "desert")
    ]
    m = _make(lib, tmp_path, shots, licenses="CC0-1.0,CC-BY-4.0")
    used = {c["license"] for s in m["shots"] for c in s["source"]}
    assert used == {"CC0-1.0", "CC-BY-4.0"}
    assert [s["decision"] for s in m["shots"]] == ["fill", "reuse", "fill", "reuse"]
    refused = {r["license"]: r["why"] for r in m["rights"]["refused"]}
    assert refused["CC-BY-ND-4.0"] == "licence CC-BY-ND-4.0: not in --licenses CC-BY-4.0,CC0-1.0"
    assert "free for friends" in refused  # an unknown licence is refused when a set is given
    assert m["rights"]["licenses"] == ["CC-BY-4.0", "CC0-1.0"] and m["rights"]["unknown"] == []


def test_a_saved_manifest_asking_to_restyle_no_derivative_footage_is_reused(lib, tmp_path):
    m = _make(lib, tmp_path, [{"text": _text("meadow"), "duration": 1.6}], out="a.mp4")
    saved = json.loads((tmp_path / "a.manifest.json").read_text())
    saved["shots"][0]["decision"] = "restyle"  # as a reviewer's change would
    saved["shots"][0]["source"][0]["crop"] = None
    (tmp_path / "edited.manifest.json").write_text(json.dumps(saved))
    again = lib.make(
        None, tmp_path / "b.mp4", from_manifest=tmp_path / "edited.manifest.json", qc="off"
    )
    (shot,) = again["shots"]
    assert m["shots"][0]["decision"] == "reuse"
    assert shot["decision"] == "reuse" and shot["source"][0]["crop"]["mode"] == "letterbox"
    assert "restyle is a reuse" in shot["reason"]["licence"]
    with pytest.raises(UsageError, match="non-commercial"):  # a saved NC clip under --commercial
        h = _make(lib, tmp_path, [{"text": _text("harbour"), "duration": 1.6}], out="h.mp4")
        lib.make(
            None,
            tmp_path / "c.mp4",
            from_manifest=tmp_path / "h.manifest.json",
            commercial=True,
            qc="off",
        )
    assert h["shots"][0]["decision"] == "reuse"


def test_parse_licenses():
    assert parse_licenses("CC0-1.0, cc by 4.0") == frozenset({"CC0-1.0", "CC-BY-4.0"})
    assert parse_licenses(None) is None
    with pytest.raises(UsageError, match=r"--licenses 'MIT': not a licence id; known: CC-BY-1.0"):
        parse_licenses("CC0-1.0,MIT")


def test_cli_bad_licenses_is_one_line_naming_the_value(lib, tmp_path):
    script = _script(tmp_path, [{"text": "x", "duration": 1.0}])
    res = CliRunner().invoke(
        main,
        ["--library", str(lib.path), "make", str(script), "-o", str(tmp_path / "x.mp4")]
        + ["--licenses", "CC0-1.0,MIT"],
    )
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: --licenses 'MIT': not a licence id; known: ")
    assert "CC-BY-ND-4.0" in line and "proprietary" in line


def test_what_each_licence_means_for_planning():
    commercial, cc0_only = (
        RightsPolicy(commercial=True),
        RightsPolicy(licenses=frozenset({"CC0-1.0"})),
    )
    proprietary = licence_of("All rights reserved")  # grants nothing beyond showing it
    assert proprietary.keeps_pixels and proprietary.refusal(commercial) is not None
    assert licence_of("CC-BY-NC-ND-4.0").keeps_pixels
    assert licence_of("CC-BY-NC-4.0").refusal(RightsPolicy()) is None  # only --commercial refuses
    unknown = licence_of(None)
    assert not unknown.keeps_pixels and unknown.refusal(commercial) is None
    assert unknown.refusal(cc0_only) == "licence none: not in --licenses CC0-1.0"
    both = licence_of("LicenseRef-PublicDomain AND CC0-1.0")  # every part must be allowed
    assert both.refusal(cc0_only) is not None
    assert (
        both.refusal(RightsPolicy(licenses=frozenset({"CC0-1.0", "LicenseRef-PublicDomain"})))
        is None
    )


def test_vector_mode_keeps_to_the_licences_too(lib, tmp_path):
    vec = open_library(tmp_path / "vlib", workers=1, model="RV-Tiny", pretrained="none")
    vec.ingest([Path(lib.sources().to_pylist()[0]["path"]).parent])
    shots = [{"text": f"shot {i}", "duration": 1.0, "decision": "restyle"} for i in range(4)]
    m = vec.make(
        _script(tmp_path, shots),
        tmp_path / "v.mp4",
        size=PORTRAIT,
        fps=FPS,
        audio=False,
        qc="off",
        reuse_threshold=-1.0,
        fill_threshold=-2.0,
        licenses="CC-BY-ND-4.0,CC0-1.0,CC-BY-4.0",
    )
    assert m["mode"] == "vector"
    by_stem = {Path(c["path"]).stem: (s, c) for s in m["shots"] for c in s["source"]}
    assert set(by_stem) <= {"meadow", "kitchen", "desert"} and len(by_stem) == 3
    for stem, (shot, clip) in by_stem.items():
        nd = stem == "meadow"
        assert shot["decision"] == ("reuse" if nd else "restyle")
        assert (clip["crop"]["mode"] == "letterbox") == nd
