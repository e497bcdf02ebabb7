"""Script parsing for `rag-video make`: text, storyboard (YAML/JSON) and SRT into a Plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag_video.errors import UsageError
from rag_video.generate.plan import (
    MAX_DEFAULT_S,
    MIN_DEFAULT_S,
    Plan,
    PlannedShot,
    default_duration,
    load_plan,
    plan_from_dict,
    plan_to_dict,
)
from rag_video.generate.script import ScriptError, split_sentences

SAMPLES = Path(__file__).parents[1] / "rag_video" / "samples" / "scripts"


def write(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


def error_of(path: Path, **kwargs) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        load_plan(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ")
    return info.value


# ----------------------------------------------------------------------------- plain text


def test_text_paragraphs_are_shots_with_default_durations(tmp_path):
    path = write(
        tmp_path, "s.txt", "A rabbit in a meadow.\n\n\nAn astronaut\nwaves at   us.\n  \nCat\n"
    )
    plan = load_plan(path)
    assert [s.text for s in plan.shots] == [
        "A rabbit in a meadow.",
        "An astronaut waves at us.",
        "Cat",
    ]
    # 1.0 s base + words / 2.5, clamped to [2, 8], rounded to 0.1 s
    assert [s.duration_s for s in plan.shots] == [3.0, 3.0, 2.0]
    assert [s.start_s for s in plan.shots] == [0.0, 3.0, 6.0]
    assert [s.index for s in plan.shots] == [0, 1, 2]
    assert plan.duration_s == 8.0
    assert all(s.caption is None and s.decision is None for s in plan.shots)
    assert plan.source == str(path.resolve())
    assert plan.title is None and plan.fps is None


def test_text_by_sentence(tmp_path):
    path = write(tmp_path, "s.txt", "Dr. Who opens the door. A blue box spins!\n\nRain falls? Yes.")
    plan = load_plan(path, by_sentence=True)
    assert [s.text for s in plan.shots] == [
        "Dr. Who opens the door.",
        "A blue box spins!",
        "Rain falls?",
        "Yes.",
    ]
    assert [s.duration_s for s in plan.shots] == [3.0, 2.6, 2.0, 2.0]
    assert [s.start_s for s in plan.shots] == [0.0, 3.0, 5.6, 7.6]


def test_markdown_heading_is_title_not_a_shot(tmp_path):
    path = write(tmp_path, "s.md", "# My film\n\nA cat sleeps.\n## Part two\nA dog runs.\n")
    plan = load_plan(path)
    assert plan.title == "My film"
    assert [s.text for s in plan.shots] == ["A cat sleeps.", "A dog runs."]


def test_default_fps_fills_missing_fps_only(tmp_path):
    text = write(tmp_path, "s.txt", "a cat")
    board = write(tmp_path, "s.yaml", "fps: 25\nshots: [a cat]\n")
    assert load_plan(text, default_fps=30).fps == 30.0
    assert load_plan(board, default_fps=30).fps == 25.0


# ----------------------------------------------------------------------------- storyboards

STORYBOARD = """\
title: Morning
aspect: 16:9
fps: 24
music: tune.wav
shots:
  - text: a rabbit in a meadow
    duration: 2.5
    caption: Hello
  - text: "  an astronaut  "
    image: refs/astro.png
    style: watercolor
    decision: restyle
  - a coffee cup
  - text: a rocket
    duration: 1.2
    decision: fill
"""


def test_yaml_storyboard(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "astro.png").write_bytes(b"png")
    (tmp_path / "tune.wav").write_bytes(b"wav")
    plan = load_plan(write(tmp_path, "board.yaml", STORYBOARD))
    assert (plan.title, plan.aspect, plan.fps) == ("Morning", "16:9", 24.0)
    assert plan.music == (tmp_path / "tune.wav").resolve()
    texts = [s.text for s in plan.shots]
    assert texts == ["a rabbit in a meadow", "an astronaut", "a coffee cup", "a rocket"]
    assert [s.duration_s for s in plan.shots] == [2.5, 2.0, 2.2, 1.2]
    assert [s.start_s for s in plan.shots] == [0.0, 2.5, 4.5, 6.7]
    assert plan.duration_s == 7.9
    astro = plan.shots[1]
    assert astro.image == (tmp_path / "refs" / "astro.png").resolve()
    assert (astro.style, astro.decision, astro.caption) == ("watercolor", "restyle", None)
    assert plan.shots[0].caption == "Hello"
    assert plan.shots[3].decision == "fill"


def test_json_storyboard_and_bare_list(tmp_path):
    doc = {"aspect": "2.39:1", "shots": [{"text": "a", "duration": 3}, {"text": "b"}]}
    plan = load_plan(write(tmp_path, "b.json", json.dumps(doc)))
    assert plan.aspect == "2.39:1"
    assert [(s.text, s.duration_s, s.start_s) for s in plan.shots] == [
        ("a", 3.0, 0.0),
        ("b", 2.0, 3.0),
    ]
    listed = load_plan(write(tmp_path, "l.yml", "- text: x\n  duration: 4\n- y\n"))
    assert [(s.text, s.duration_s) for s in listed.shots] == [("x", 4.0), ("y", 2.0)]


@pytest.mark.parametrize("aspect", ["16:9", "9:16", "1:1", "4:3", "21:9", "3:2"])
def test_yaml_aspects_stay_strings(tmp_path, aspect):
    # YAML 1.1 would read 16:9 as the base-60 integer 969
    plan = load_plan(write(tmp_path, "a.yaml", f"aspect: {aspect}\nshots: [x]\n"))
    assert plan.aspect == aspect


# ----------------------------------------------------------------------------- SRT

SRT = """\
1
00:00:01,000 --> 00:00:03,500
<i>A rabbit</i> in a meadow

2
00:00:04,000 --> 00:00:04,250
{\\an8}An astronaut
waves

3
00:01:00,000 --> 00:01:02,000
Coffee
"""


def test_srt_cues_are_shots(tmp_path):
    plan = load_plan(write(tmp_path, "s.srt", "\ufeff" + SRT.replace("\n", "\r\n")))
    assert [s.duration_s for s in plan.shots] == [2.5, 0.25, 2.0]
    assert [s.start_s for s in plan.shots] == [0.0, 2.5, 2.75]  # gaps ignored: back to back
    assert [s.text for s in plan.shots] == ["A rabbit in a meadow", "An astronaut waves", "Coffee"]
    assert [s.caption for s in plan.shots] == [
        "<i>A rabbit</i> in a meadow",
        "{\\an8}An astronaut\nwaves",
        "Coffee",
    ]
    assert plan.duration_s == 4.75


# ----------------------------------------------------------------------------- sample scripts


def test_sample_scripts_parse():
    board = load_plan(SAMPLES / "demo.yaml")
    assert 6 <= len(board.shots) <= 8
    assert board.duration_s == pytest.approx(20.0, abs=2.0)
    assert any("dragon" in s.text for s in board.shots)
    srt = load_plan(SAMPLES / "demo.srt")
    assert srt.duration_s == 20.0
    text = load_plan(SAMPLES / "demo.txt")
    assert len(text.shots) >= 6
    assert all(MIN_DEFAULT_S <= s.duration_s <= MAX_DEFAULT_S for s in text.shots)


# ----------------------------------------------------------------------------- durations, sentences


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("", 2.0), ("one", 2.0), ("one two three", 2.2), ("w " * 10, 5.0), ("w " * 100, 8.0)],
)
def test_default_duration(text, seconds):
    assert default_duration(text) == seconds


@given(st.lists(st.text(alphabet="ab ", max_size=8), max_size=60).map(" ".join))
def test_default_duration_within_bounds(text):
    assert MIN_DEFAULT_S <= default_duration(text) <= MAX_DEFAULT_S


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        (
            "Mr. Smith met Dr. Jones e.g. at noon. Then left.",
            ["Mr. Smith met Dr. Jones e.g. at noon.", "Then left."],
        ),
        (
            "J. R. R. Tolkien wrote it. Pi is 3.14 here.",
            ["J. R. R. Tolkien wrote it.", "Pi is 3.14 here."],
        ),
        ('He said "stop." She\nran...  Away', ['He said "stop."', "She ran...", "Away"]),
        ("   ", []),
    ],
)
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


@given(st.text(alphabet="ab .!?\n", max_size=40))
def test_split_sentences_keeps_every_word_in_order(text):
    sentences = split_sentences(text)
    assert " ".join(sentences) == " ".join(text.split())
    assert all(s and s == s.strip() for s in sentences)


# ----------------------------------------------------------------------------- errors: one line


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "a.yaml",
            "shots:\n  - text: a\n  - text: b\n  - text: c\n    duration: -1\n",
            "a.yaml: shot 3: duration: must be greater than 0 (got -1)",
        ),
        (
            "a.yaml",
            "shots:\n  - text: a\n    duration: 61\n",
            "a.yaml: shot 1: duration: must be at most 60 (got 61)",
        ),
        ("a.yaml", "shots:\n  - text: a\n  - duration: 2\n", "a.yaml: shot 2: text: is required"),
        (
            "a.yaml",
            "shots:\n  - text: '   '\n",
            "a.yaml: shot 1: text: must not be empty (got '   ')",
        ),
        (
            "a.yaml",
            "shots:\n  - text: a\n    durration: 3\n",
            "a.yaml: shot 1: durration: unknown field (did you mean 'duration'?)",
        ),
        (
            "a.yaml",
            "titel: x\nshots: [a]\n",
            "a.yaml: titel: unknown field (did you mean 'title'?)",
        ),
        (
            "a.json",
            '{"shots": [{"text": "a", "decision": "reus"}]}',
            "a.json: shot 1: decision: must be 'reuse', 'restyle' or 'fill' (got 'reus')",
        ),
        (
            "a.yaml",
            "aspect: 16-9\nshots: [a]\n",
            "a.yaml: aspect: must be W:H with positive numbers, e.g. 16:9, 9:16, 1:1, 4:3, 21:9 "
            "(got '16-9')",
        ),
        (
            "a.yaml",
            "aspect: '0:1'\nshots: [a]\n",
            "a.yaml: aspect: must be W:H with positive numbers, e.g. 16:9, 9:16, 1:1, 4:3, 21:9 "
            "(got '0:1')",
        ),
        ("a.yaml", "fps: 0\nshots: [a]\n", "a.yaml: fps: must be greater than 0 (got 0)"),
        (
            "a.yaml",
            "shots:\n  - text: a\n    duration: soon\n",
            "a.yaml: shot 1: duration: must be a number (got 'soon')",
        ),
        (
            "a.yaml",
            "shots:\n  - [a, b]\n",
            "a.yaml: shot 1: must be a mapping of fields (got ['a', 'b'])",
        ),
        ("a.yaml", "shots: 3\n", "a.yaml: shots: must be a list (got 3)"),
        ("a.yaml", "", "a.yaml: script has no shots"),
        ("a.yaml", "shots: []\n", "a.yaml: script has no shots"),
        ("a.yaml", "title: x\n", "a.yaml: script has no shots (expected a 'shots:' list)"),
        ("a.yaml", "just words\n", "a.yaml: must be a mapping with a 'shots:' list (got str)"),
        ("a.txt", "\n  \n\n", "a.txt: script has no shots"),
        ("a.srt", "", "a.srt: script has no shots"),
        (
            "a.yaml",
            "shots:\n - text: a\n  duration: 3\n",
            "a.yaml: line 3: invalid YAML: expected <block end>, but found '<block mapping start>'",
        ),
        (
            "a.json",
            '{"shots": [\n  {"text": "a",}\n]}',
            "a.json: line 2: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        (
            "a.srt",
            "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n2\n00:00:03 --> 00:00:04,000\nx\n",
            "a.srt: shot 2: timing: bad timing line '00:00:03 --> 00:00:04,000'",
        ),
        (
            "a.srt",
            "1\n00:00:03,000 --> 00:00:02,000\nhi\n",
            "a.srt: shot 1: timing: ends at 2.000s, not after its start 3.000s",
        ),
        (
            "a.srt",
            "1\n00:00:00,000 --> 00:01:01,000\nlong\n",
            "a.srt: shot 1: duration: must be at most 60 (got 61)",
        ),
        (
            "a.srt",
            "1\n00:00:00,000 --> 00:00:01,000\n<i></i>\n",
            "a.srt: shot 1: text: must not be empty (got '')",
        ),
        (
            "a.doc",
            "x",
            "a.doc: unknown script extension '.doc' "
            "(supported: .txt, .md, .yaml, .yml, .json, .srt)",
        ),
        # issue 10 §8: shots too short to show, booleans read as numbers, runaway documents
        (
            "a.yaml",
            "shots:\n  - text: a\n    duration: 0.01\n",
            "a.yaml: shot 1: duration: must be at least 0.1 seconds (got 0.01)",
        ),
        (
            "a.yaml",
            "shots:\n  - text: a\n    duration: 1e-300\n",
            "a.yaml: shot 1: duration: must be at least 0.1 seconds (got '1e-300')",
        ),
        (
            "a.json",
            '{"shots": [{"text": "a", "duration": 1e-300}]}',
            "a.json: shot 1: duration: must be at least 0.1 seconds (got 1e-300)",
        ),
        (
            "a.yaml",
            "shots:\n  - text: a\n    duration: true\n",
            "a.yaml: shot 1: duration: must be a number, not true/false (got True)",
        ),
        (
            "a.yaml",
            "fps: yes\nshots: [a]\n",
            "a.yaml: fps: must be a number, not true/false (got True)",
        ),
        (
            "a.srt",
            "1\n00:00:00,000 --> 00:00:00,040\nblink\n",
            "a.srt: shot 1: duration: must be at least 0.1 seconds (got 0.04)",
        ),
        (
            "a.yaml",
            "a: &a [1, *a]\nshots: [x]\n",
            "a.yaml: line 1: invalid YAML: an alias refers to itself",
        ),
        ("a.yaml", "shots: " + "[" * 100_000 + "\n", "a.yaml: invalid YAML: nested too deeply"),
        ("a.json", '{"shots": ' + "[" * 100_000, "a.json: invalid JSON: nested too deeply"),
    ],
)
def test_errors_are_one_line_naming_shot_and_field(tmp_path, name, content, expected):
    error = error_of(write(tmp_path, name, content))
    assert str(error) == f"{tmp_path}/{expected}"
    assert isinstance(error, ValueError) and isinstance(error, UsageError)
    assert error.exit_code == 2


def test_error_shows_the_others(tmp_path):
    path = write(tmp_path, "a.yaml", "shots:\n  - text: a\n    duration: 0\n  - {decision: x}\n")
    error = error_of(path)
    assert str(error) == (
        f"{path}: shot 1: duration: must be greater than 0 (got 0) (also: shot 2: text: "
        "is required; shot 2: decision: must be 'reuse', 'restyle' or 'fill' (got 'x'))"
    )
    assert (error.shot, error.field) == (1, "duration")


def test_missing_image_names_shot_field_and_resolved_path(tmp_path):
    path = write(tmp_path, "a.yaml", "shots:\n  - text: a\n  - text: b\n    image: ref.png\n")
    error = error_of(path)
    assert str(error) == f"{path}: shot 2: image: file not found: {tmp_path.resolve() / 'ref.png'}"
    assert (error.shot, error.field) == (2, "image")


def test_missing_music_is_a_top_level_error(tmp_path):
    error = error_of(write(tmp_path, "a.yaml", "music: song.mp3\nshots: [a]\n"))
    assert (error.shot, error.field) == (None, "music")
    assert str(error).endswith(f"music: file not found: {tmp_path.resolve() / 'song.mp3'}")


def test_missing_file_and_folder(tmp_path):
    assert str(error_of(tmp_path / "nope.yaml")) == f"{tmp_path}/nope.yaml: script not found"
    (tmp_path / "dir.txt").mkdir()
    assert str(error_of(tmp_path / "dir.txt")) == f"{tmp_path}/dir.txt: not a file"


def test_by_sentence_only_for_text(tmp_path):
    error = error_of(write(tmp_path, "a.yaml", "shots: [a]\n"), by_sentence=True)
    assert error.field == "by_sentence"


def test_non_utf8_text(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"caf\xe9 au lait\n")
    assert str(error_of(path)) == f"{path}: not UTF-8 text (byte 3)"


def test_billion_laughs_is_refused_quickly(tmp_path):
    """518 bytes, 10 levels of nine aliases: ran for minutes and GBs before (pydantic walked the
    10^9 expanded strings); refused from the alias graph before anything is built."""
    import time

    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = write(tmp_path, "lol.yaml", "\n".join(lines) + "\nshots:\n  - text: *a9\n")
    started = time.perf_counter()
    error = error_of(path)
    assert time.perf_counter() - started < 2
    assert "invalid YAML: its aliases expand to more than 200000 values" in str(error)
    modest = write(
        tmp_path,
        "ok.yaml",
        "shots:\n  - text: shot\n    style: &s warm film look\n"
        + "".join(f"  - text: shot {i}\n    style: *s\n" for i in range(49)),
    )
    assert [s.style for s in load_plan(modest).shots] == [
        "warm film look"
    ] * 50  # aliases still work


def test_plans_are_capped_in_shots_length_and_file_size(tmp_path):
    from rag_video.generate.plan import MAX_SHOTS
    from rag_video.generate.script import MAX_SCRIPT_BYTES

    many = write(tmp_path, "many.txt", "\n\n".join(f"shot {i}" for i in range(MAX_SHOTS + 1)))
    assert (
        str(error_of(many))
        == f"{many}: {MAX_SHOTS + 1} shots: a script may have at most {MAX_SHOTS}"
    )
    assert (
        len(load_plan(write(tmp_path, "ok.txt", "\n\n".join(["x"] * MAX_SHOTS))).shots) == MAX_SHOTS
    )
    long = write(tmp_path, "long.yaml", "shots:\n" + "  - {text: a, duration: 60}\n" * 181)
    assert (
        str(error_of(long)) == f"{long}: the shots last 181 min: a script may last at most 3 hours"
    )
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (MAX_SCRIPT_BYTES // 5 + 1))
    assert str(error_of(big)) == f"{big}: script is 8 MB: at most 8 MB"


def test_plan_from_dict_applies_the_same_bounds():
    with pytest.raises(ScriptError, match="must be a number, not true/false"):
        plan_from_dict({"source": "x", "shots": [{"index": 0, "text": "a", "duration_s": True}]})
    with pytest.raises(ScriptError, match="at least 0.1 seconds"):
        plan_from_dict({"source": "x", "shots": [{"index": 0, "text": "a", "duration_s": 1e-300}]})


# ----------------------------------------------------------------------------- round trips


def test_plan_dict_round_trip(tmp_path):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "astro.png").write_bytes(b"png")
    (tmp_path / "tune.wav").write_bytes(b"wav")
    plan = load_plan(write(tmp_path, "board.yaml", STORYBOARD), default_fps=30)
    data = plan_to_dict(plan)
    assert data["duration_s"] == 7.9
    assert data["shots"][1]["image"] == str((tmp_path / "refs" / "astro.png").resolve())
    copy = plan_from_dict(json.loads(json.dumps(data)))
    assert copy == plan
    assert plan_to_dict(copy) == data


def test_plan_from_dict_recomputes_times_and_rejects_bad_data(tmp_path):
    source = str(tmp_path / "s.yaml")
    data = {
        "source": source,
        "duration_s": 99,
        "shots": [
            {"index": 0, "text": "a", "duration_s": 1.5, "start_s": 7},
            {"index": 1, "text": "b", "duration_s": 2},
        ],
    }
    plan = plan_from_dict(data)
    assert [s.start_s for s in plan.shots] == [0.0, 1.5]
    assert plan.duration_s == 3.5
    data["shots"][1]["index"] = 5
    with pytest.raises(ScriptError, match=r"s\.yaml: shot 2: index: must be 1 \(got 5\)$"):
        plan_from_dict(data)
    data["shots"][1] = {"index": 1, "text": "b", "duration_s": 2, "decison": "fill"}
    with pytest.raises(
        ScriptError, match=r"shot 2: decison: unknown field \(did you mean 'decision'\?\)$"
    ):
        plan_from_dict(data)
    with pytest.raises(ScriptError) as info:
        plan_from_dict({"source": source, "shots": []})
    assert str(info.value) == f"{source}: shots: must have at least 1 item(s) (got [])"


def test_plan_models_validate_directly():
    with pytest.raises(ValueError):
        PlannedShot(index=0, text=" ", duration_s=1)
    plan = Plan(
        source="x",
        shots=[
            PlannedShot(index=0, text="a", duration_s=2),
            PlannedShot(index=1, text="b", duration_s=0.5),
        ],
    )
    assert [s.start_s for s in plan.shots] == [0.0, 2.0]


WORD = st.text(
    alphabet=st.characters(categories=("L", "N"), max_codepoint=0x2FFF), min_size=1, max_size=8
)
PLAIN_TEXT = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
FREE_TEXT = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp", "Co")),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() and "\ufeff" not in s)
SHOT = st.fixed_dictionaries(
    {"text": FREE_TEXT},
    optional={
        "duration": st.integers(1, 600).map(lambda n: n / 10),
        "caption": FREE_TEXT,
        "style": FREE_TEXT,
        "decision": st.sampled_from(["reuse", "restyle", "fill"]),
    },
)
SLOW = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def expected_shots(shots: list[dict]) -> list[tuple]:
    return [
        (
            s["text"].strip(),
            s.get("duration", default_duration(s["text"])),
            s.get("caption", "").strip() or None,
            s.get("style", "").strip() or None,
            s.get("decision"),
        )
        for s in shots
    ]


def actual_shots(plan: Plan) -> list[tuple]:
    return [(s.text, s.duration_s, s.caption, s.style, s.decision) for s in plan.shots]


@SLOW
@given(shots=st.lists(SHOT, min_size=1, max_size=6), fmt=st.sampled_from(["yaml", "json"]))
def test_storyboard_round_trip(tmp_path, shots, fmt):
    board = {"title": "T", "aspect": "9:16", "fps": 12.5, "shots": shots}
    content = (
        yaml.safe_dump(board, allow_unicode=True)
        if fmt == "yaml"
        else json.dumps(board, ensure_ascii=False)
    )
    plan = load_plan(write(tmp_path, f"board.{fmt}", content))
    assert actual_shots(plan) == expected_shots(shots)
    assert (plan.title, plan.aspect, plan.fps) == ("T", "9:16", 12.5)
    starts, elapsed = [], 0.0
    for shot in plan.shots:
        starts.append(pytest.approx(elapsed, abs=1e-6))
        elapsed += shot.duration_s
    assert [s.start_s for s in plan.shots] == starts
    assert plan_from_dict(plan_to_dict(plan)) == plan


@SLOW
@given(texts=st.lists(PLAIN_TEXT, min_size=1, max_size=8), wrap=st.booleans())
def test_plain_text_round_trip(tmp_path, texts, wrap):
    paragraphs = [t.replace(" ", "\n", 1) if wrap else t for t in texts]
    plan = load_plan(write(tmp_path, "s.txt", "\n\n".join(paragraphs) + "\n"))
    assert [s.text for s in plan.shots] == texts
    assert [s.duration_s for s in plan.shots] == [default_duration(t) for t in texts]


@SLOW
@given(
    cues=st.lists(
        st.tuples(st.integers(0, 5000), st.integers(100, 60000), PLAIN_TEXT), min_size=1, max_size=6
    )
)
def test_srt_round_trip(tmp_path, cues):
    blocks, clock = [], 0
    for number, (gap, length, text) in enumerate(cues, 1):
        start, end = clock + gap, clock + gap + length
        blocks.append(f"{number}\n{stamp(start)} --> {stamp(end)}\n{text}\n")
        clock = end
    plan = load_plan(write(tmp_path, "s.srt", "\n".join(blocks)))
    assert [s.duration_s for s in plan.shots] == [length / 1000 for _, length, _ in cues]
    assert [s.text for s in plan.shots] == [text for *_, text in cues]
    assert [s.caption for s in plan.shots] == [text for *_, text in cues]


def stamp(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"
