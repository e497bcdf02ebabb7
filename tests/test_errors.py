"""Errors and exit codes: one line on stderr naming the argument and its value, no traceback without
--debug; 2 for bad usage, 3 for a bug, 130 for Ctrl-C; read-only commands never create a library;
--lock-timeout; progress that shows each stage and keeps warnings off the bars' line; one hub
probe."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import synth
from click.testing import CliRunner
from helpers import TINY, footage_library, make_footage

from rag_video import open_library
from rag_video.cli import main

TINY_FLAGS = ["--model", TINY["model"], "--pretrained", TINY["pretrained"]]


def run(args, code=0, **kwargs):
    result = CliRunner().invoke(main, args, catch_exceptions=False, **kwargs)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def one_line(result) -> str:
    """The single `error: ...` line of a failed command (nothing else on stderr)."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    """(embedded library, library without embeddings, footage folder)."""
    root = tmp_path_factory.mktemp("errors")
    embedded, footage = footage_library(root, "embedded")
    plain = open_library(root / "plain", workers=1, embed=False)
    plain.ingest([footage["a"].parent])
    return embedded.path, plain.path, footage


# ---- --where -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["embedded", "plain"])
def test_where_with_an_unknown_column_is_one_line_naming_it(libs, which):
    lib = libs[0] if which == "embedded" else libs[1]
    result = run(["--library", str(lib), "search", "cliffs", "--where", "durration_s > 2"], code=2)
    line = one_line(result)
    assert "--where" in line and "durration_s" in line and result.stdout == ""


def test_search_many_checks_the_predicate_without_embeddings_too(libs):
    from rag_video.errors import UsageError

    lib = open_library(libs[1])
    with pytest.raises(UsageError, match="durration_s"):
        lib.search_many(["cliffs"], where="durration_s > 2")


# ---- a missing library ---------------------------------------------------------------------

READ_ONLY = [
    ["search", "cliffs"],
    ["sql", "select 1"],
    ["stats"],
    ["index", "info"],
    ["index", "build"],
    ["embed"],
    ["prune"],
    ["optimize"],
    ["make", "SCRIPT", "-o", "OUT"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: " ".join(c[:2]))
def test_commands_other_than_ingest_refuse_a_missing_library(tmp_path, command):
    script = tmp_path / "s.yaml"
    script.write_text("shots:\n  - text: a red cliff\n")
    args = [
        str(script) if a == "SCRIPT" else str(tmp_path / "o.mp4") if a == "OUT" else a
        for a in command
    ]
    missing = tmp_path / "no" / "such" / "dir"
    result = run(["--library", str(missing), *args], code=2)
    line = one_line(result)
    assert str(missing) in line and "does not exist" in line
    assert not missing.exists() and not missing.parent.exists()


def test_a_folder_that_is_not_a_library_is_refused_and_left_alone(tmp_path):
    folder = tmp_path / "holiday"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a library")
    line = one_line(run(["--library", str(folder), "stats"], code=2))
    assert "not a rag-video library" in line
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_ingest_creates_the_library(libs, tmp_path):
    footage = libs[2]
    doc = json.loads(
        run(
            [
                "--library",
                str(tmp_path / "new"),
                "--json",
                "ingest",
                str(footage["b"]),
                "--no-embed",
            ]
        ).stdout
    )
    assert doc["ingested"] == 1
    assert json.loads(
        run(
            [
                "--library",
                str(tmp_path / "new"),
                "sql",
                "select count(*) n from shots",
                "--format",
                "json",
            ]
        ).stdout
    ) == [{"n": 2}]


def test_python_api_can_refuse_a_missing_library(tmp_path):
    from rag_video.errors import UsageError

    with pytest.raises(UsageError, match="does not exist"):
        open_library(tmp_path / "nope", create=False)
    assert not (tmp_path / "nope").exists()


# ---- click's own errors, bugs, Ctrl-C --------------------------------------------------------


@pytest.mark.parametrize(
    "args, names",
    [
        (["search", "x", "--limit", "0"], ["'--limit'", "0"]),
        (["--no-such-flag", "stats"], ["--no-such-flag"]),
        (["--lock-timeout", "-1", "stats"], ["'--lock-timeout'", "-1"]),
        (["stats", "--top", "zero"], ["'--top'", "'zero'"]),
        (["search"], ["TEXT", "--like"]),
    ],
)
def test_usage_errors_are_one_lowercase_error_line(libs, args, names):
    line = one_line(run(["--library", str(libs[1]), *args], code=2))
    assert all(name in line for name in names), line
    assert "--help" in line  # where to read the usage


def test_a_bug_is_one_line_exit_3_and_the_traceback_needs_debug(libs, monkeypatch):
    from rag_video.library import Library

    def broken(self, **_):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(Library, "stats", broken)
    line = one_line(run(["--library", str(libs[1]), "stats"], code=3))
    assert "internal error: TypeError" in line and "--debug" in line
    with pytest.raises(TypeError):
        CliRunner().invoke(
            main, ["--library", str(libs[1]), "--debug", "stats"], catch_exceptions=False
        )


def test_ctrl_c_in_a_command_is_one_line_and_exit_130(libs, monkeypatch):
    from rag_video.library import Library

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Library, "ingest", interrupted)
    line = one_line(run(["--library", str(libs[1]), "ingest", str(libs[2]["a"])], code=130))
    assert "interrupted" in line


@pytest.mark.slow
def test_ctrl_c_during_a_parallel_ingest_stops_workers_with_one_line(tmp_path):
    """A real Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while spawned
    workers analyze files: exit 130, one line, no worker tracebacks, and a rerun finishes."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(6):
        synth.make_video(folder / f"v{i}.mp4", [synth.Shot(60), synth.Shot(60)], seed=20 + i)
    env = {
        k: v for k, v in os.environ.items() if k != "RAG_VIDEO_PROGRESS"
    }  # lines: stderr is a pipe
    args = [
        sys.executable,
        "-m",
        "rag_video",
        "--library",
        str(tmp_path / "lib"),
        "ingest",
        str(folder),
        "--no-embed",
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(_spawned_workers(proc.pid)) < 2:  # both workers started: files are being analyzed
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].startswith("error: interrupted") and "Traceback" not in err
    assert not [line for line in err.splitlines() if line.startswith("error:")][1:]
    done = subprocess.run(
        args[:-4] + ["--json", *args[-4:]], capture_output=True, text=True, env=env, check=True
    )
    doc = json.loads(done.stdout)
    assert (doc["files"], doc["failed"], doc["ingested"] + doc["unchanged"]) == (6, 0, 6)


def _spawned_workers(pid: int) -> list[int]:
    """Child processes of `pid` started by multiprocessing's spawn (the analysis workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


# ---- --lock-timeout ----------------------------------------------------------------------------


def test_lock_timeout_flag_exists_and_is_what_the_message_points_to(libs, tmp_path):
    lib = open_library(tmp_path / "locked", embed=False)
    lib.ingest([libs[2]["b"]])
    with lib.store.writer():  # another process would be writing now
        started = time.monotonic()
        result = run(
            [
                "--library",
                str(lib.path),
                "--lock-timeout",
                "0.2",
                "ingest",
                str(libs[2]["a"]),
                "--no-embed",
            ],
            code=2,
        )
        waited = time.monotonic() - started
        line = one_line(result)
        assert "being written by" in line and "--lock-timeout" in line and "0.2s" in line
        assert waited < 10
        env_result = run(
            ["--library", str(lib.path), "prune"], code=2, env={"RAG_VIDEO_LOCK_TIMEOUT": "0.1"}
        )
        assert "waited 0.1s" in one_line(env_result)


# ---- progress ------------------------------------------------------------------------------------


def test_without_a_terminal_progress_is_one_line_per_file_and_stage(tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_VIDEO_PROGRESS", raising=False)  # CliRunner's stderr is not a terminal
    footage = make_footage(tmp_path / "footage")
    bad = synth.write_random_bytes(tmp_path / "footage" / "bad.mp4")
    result = run(
        [
            "--library",
            str(tmp_path / "lib"),
            "--json",
            "ingest",
            str(footage["a"].parent),
            *TINY_FLAGS,
        ],
        code=1,
    )
    assert json.loads(result.stdout)["ingested"] == 2
    lines = result.stderr.splitlines()
    for stage in ("analyze", "embed"):
        mine = [line for line in lines if line.startswith(stage + " ")]
        assert [line.split()[1] for line in mine] == ["1/3", "2/3", "3/3"], result.stderr
        assert sorted(line.split()[2] for line in mine) == ["a.mp4", "b.mp4", bad.name]
    quiet = run(
        ["--library", str(tmp_path / "lib2"), "--quiet", "ingest", str(footage["a"]), "--no-embed"]
    )
    assert quiet.stderr == ""


def test_bars_show_analysis_and_embedding_separately(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_VIDEO_PROGRESS", "1")
    footage = make_footage(tmp_path / "footage")
    result = run(
        [
            "--library",
            str(tmp_path / "lib"),
            "ingest",
            str(footage["a"].parent),
            *TINY_FLAGS,
            "--json",
        ]
    )
    assert json.loads(result.stdout)["ingested"] == 2
    bars = [line for line in result.stderr.splitlines() if "2/2" in line]
    assert [line.split()[0] for line in bars] == ["analyze", "embed"], result.stderr


def test_on_a_terminal_warnings_print_above_the_bar_not_into_its_line(tmp_path):
    """Run ingest on a pseudo-terminal: every warning starts a fresh line (after a newline, a
    carriage return or rich's erase-line) instead of being glued to the bar's text."""
    import pty

    footage = make_footage(tmp_path / "footage")
    synth.write_random_bytes(tmp_path / "footage" / "bad1.mp4")
    synth.write_random_bytes(tmp_path / "footage" / "bad2.mp4", seed=1)
    env = {k: v for k, v in os.environ.items() if k != "RAG_VIDEO_PROGRESS"} | {"COLUMNS": "120"}
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rag_video",
            "--library",
            str(tmp_path / "lib"),
            "ingest",
            str(footage["a"].parent),
            "--no-embed",
        ],
        stdout=subprocess.DEVNULL,
        stderr=child_fd,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(child_fd)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_fd)
    assert proc.wait(timeout=60) == 1
    raw = b"".join(chunks).decode("utf-8", "replace")
    starts = [m.start() for m in re.finditer("WARNING: ", raw)]
    assert len(starts) == 2, raw
    for at in starts:
        before = raw[:at]
        assert before.endswith(("\n", "\r", "\x1b[2K")), repr(before[-80:])
    assert "ingest" in raw and "4/4" in raw


# ---- the model hub: one probe, one answer for every loader -----------------------------------


@pytest.fixture()
def fresh_hub(monkeypatch):
    from huggingface_hub import constants

    from rag_video import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "_probe", {})
    probes = []

    def unreachable(host, timeout):
        probes.append(host)
        return False

    monkeypatch.setattr(hub, "_reachable", unreachable)
    return probes


def test_the_hub_is_probed_once_per_process_and_diffusers_gets_the_same_answer(fresh_hub):
    from huggingface_hub import constants

    from rag_video import hub
    from rag_video.generate import adapters

    assert hub.offline() and hub.offline()
    assert fresh_hub == ["huggingface.co"]  # one probe
    assert constants.HF_HUB_OFFLINE  # huggingface_hub itself now stays local
    assert adapters.hub_offline()  # env unset: diffusers must still not reach for the network
    assert hub.offline_reason() == "huggingface.co is unreachable"


def test_diffusers_honours_the_offline_flag_the_encoder_probe_set(monkeypatch):
    from huggingface_hub import constants

    from rag_video.generate import adapters

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what the encoder's probe leaves behind
    assert adapters.hub_offline()


def test_unobtainable_weights_are_asked_for_once_per_process(monkeypatch):
    from rag_video import embed
    from rag_video.embed import weights

    calls = []

    def fetch(open_clip, model, pretrained):
        calls.append((model, pretrained))
        raise embed.EncoderUnavailable(weights.unavailable_message(model, pretrained))

    monkeypatch.setattr(weights, "_UNAVAILABLE", {})
    monkeypatch.setattr(weights, "fetch_weights", fetch)
    messages = []
    for _ in range(3):
        with pytest.raises(embed.EncoderUnavailable) as info:
            embed.load_encoder("ViT-B-32", "laion2b_s34b_b79k", device="cpu")
        messages.append(str(info.value))
    assert calls == [("ViT-B-32", "laion2b_s34b_b79k")]
    assert len(set(messages)) == 1 and "HF_HUB_OFFLINE is set" in messages[0]


def test_a_second_offline_ingest_defers_at_once(tmp_path, caplog):
    footage = make_footage(tmp_path / "footage")
    lib = open_library(
        tmp_path / "lib", workers=1, model="ViT-B-32", pretrained="laion2b_s34b_b79k"
    )
    lib.ingest([footage["a"]])
    started = time.perf_counter()
    summary = lib.ingest([footage["b"]])
    assert summary.deferred_embeddings == 2
    assert time.perf_counter() - started < 5.0  # no second probe, import or download attempt
    deferred = [r for r in caplog.records if "deferred" in r.getMessage()]
    assert deferred and all("HF_HUB_OFFLINE is set" in r.getMessage() for r in deferred)
