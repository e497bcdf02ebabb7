"""`rag-video serve` over HTTP (FastAPI's TestClient, the real app and library): pages, the JSON
API, byte ranges, proxies, re-render jobs, and every refusal of the door: token, host, CSRF,
path traversal, oversized or wrong uploads, SQL writes."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import av
import pytest
from click.testing import CliRunner
from PIL import Image
from served import BROKEN_FILE, PROXY_FILE

from rag_video import open_library
from rag_video.cli import main
from rag_video.errors import UsageError
from rag_video.server import create_app
from rag_video.server.app import MAX_BODY_BYTES
from rag_video.server.security import check_bind
from rag_video.server.state import MAX_UPLOAD_BYTES

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

TOKEN = "s3cret-token-for-tests-0123"
BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def lib(served):
    return open_library(served["library"], create=False)


@pytest.fixture(scope="module")
def client(lib):
    with TestClient(create_app(lib), base_url=BASE) as c:
        c.get("/")  # the CSRF cookie
        yield c


def csrf(client) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["rv_csrf"]}


def _source(client, name: str) -> dict:
    return next(s for s in client.get("/api/sources").json() if s["path"].endswith(name))


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _png(size=(64, 36), colour=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


# ---- pages and API ---------------------------------------------------------------------------


def test_every_page_renders_and_failed_sources_show_their_error(client):
    run_id = client.get("/api/runs").json()[0]["run_id"]
    source_id = _source(client, "coffee.mp4")["source_id"]
    for url in (
        "/",
        "/sources",
        "/runs",
        f"/runs/{run_id}",
        "/stats",
        "/sql",
        f"/sources/{source_id}",
    ):
        page = client.get(url)
        assert page.status_code == 200, (url, page.text[:200])
        assert page.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    sources = client.get("/sources").text
    broken = _source(client, BROKEN_FILE)
    assert broken["status"] == "failed" and broken["error"]
    assert broken["error"].split(":")[0] in sources and BROKEN_FILE in sources
    stats = client.get("/stats").text
    assert "<svg" in stats and "<table" in stats


def test_openapi_lists_the_api(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/search", "/api/shots/{shot_id}", "/api/sources", "/api/runs", "/api/sql"):
        assert path in paths
    assert "/" not in paths and "/login" not in paths  # pages are not API


def test_text_search_returns_the_limit_with_media_urls(client, lib):
    body = client.get("/api/search", params={"q": "a cat", "limit": 5}).json()
    rows = body["results"]
    assert len(rows) == 5
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert "embedding" not in rows[0] and "thumbnail" not in rows[0]
    thumb = client.get(rows[0]["thumb_url"])
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    shot = client.get(f"/api/shots/{rows[0]['shot_id']}").json()
    assert shot["start_s"] == rows[0]["start_s"] and shot["source_id"] == rows[0]["source_id"]


def test_more_like_this_puts_the_shot_first(client):
    first = client.get("/api/search", params={"q": "a rocket", "limit": 3}).json()["results"]
    like = client.get("/api/search", params={"like": first[2]["shot_id"], "limit": 4}).json()
    assert like["results"][0]["shot_id"] == first[2]["shot_id"]
    assert like["results"][0]["score"] == pytest.approx(1.0)


def test_filters_narrow_the_results(client, lib):
    def ids(**params) -> list[dict]:
        got = client.get("/api/search", params={"q": "footage", "limit": 50, **params})
        assert got.status_code == 200, got.text
        return got.json()["results"]

    everything = ids()
    assert len(everything) == lib.shots().num_rows - 0  # every visible shot
    assert ids(aspect="portrait") == []  # all footage is landscape
    assert len(ids(aspect="landscape")) == len(everything)
    long = ids(min_duration=5.5)
    assert long and all(r["duration_s"] >= 5.5 for r in long)
    assert len(long) == sum(r["duration_s"] >= 5.5 for r in everything)
    coffee = _source(client, "coffee.mp4")["source_id"]
    assert {r["source_id"] for r in ids(source_id=coffee)} == {coffee}
    assert ids(since="2999-01-01") == []
    assert len(ids(until="2999-01-01")) == len(everything)
    calm = ids(max_motion=0.01)
    assert all(r["motion"] <= 0.01 for r in calm)
    from rag_video.server.filters import has_colour

    for colour in ("green", "blue", "black"):
        got = ids(colour=colour)
        assert [r["shot_id"] for r in got] == [
            r["shot_id"] for r in everything if has_colour(r, colour)
        ]
    assert len(ids(where="duration_s < 5.1")) == sum(r["duration_s"] < 5.1 for r in everything)


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"q": "x", "where": "duration_s > 1; drop table shots"}, 400, "';'"),
        ({"q": "x", "where": "nope_column > 1"}, 400, "bad --where predicate"),
        ({"q": "x", "aspect": "round"}, 422, "aspect"),
        ({"q": "x", "limit": 0}, 422, "limit"),
        ({"q": "x", "min_duration": -1}, 422, "min_duration"),
        ({}, 400, "give a text query"),
        ({"like": "no-such-shot"}, 400, "no-such-shot"),
        ({"like": "x", "q": "y"}, 400, "alone"),
    ],
)
def test_bad_searches_are_one_line_errors(client, params, status, says):
    got = client.get("/api/search", params=params)
    assert got.status_code == status, got.text
    assert says in json.dumps(got.json())


def test_image_search_reads_the_upload_and_keeps_it_out_of_the_library(client, served):
    before = _files(served["library"])
    got = client.post(
        "/api/search",
        files={"image": ("query.png", _png(), "image/png")},
        data={"params": json.dumps({"limit": 4})},
        headers=csrf(client),
    )
    assert got.status_code == 200, got.text
    assert len(got.json()["results"]) == 4
    assert _files(served["library"]) == before


def test_uploads_are_limited_in_size_and_type(client):
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(MAX_UPLOAD_BYTES)
    for data, status in ((big, 413), (b"#!/bin/sh\necho hi\n", 400), (b"GIF89a" + b"0" * 50, 400)):
        got = client.post(
            "/api/search",
            files={"image": ("q.png", data, "image/png")},
            headers=csrf(client),
        )
        assert got.status_code == status, got.text
        assert "error" in got.json()
    no_csrf = client.post("/api/search", files={"image": ("q.png", _png(), "image/png")})
    assert no_csrf.status_code == 403


def test_post_bodies_are_bounded_before_they_are_read(client, served):
    before = _files(served["library"])
    huge = client.post(
        "/api/search",
        content=b"x" * (MAX_BODY_BYTES + 1),
        headers={**csrf(client), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]
    chunked = client.post(
        "/api/sql",
        content=iter([b'{"query": ', b'"SELECT 1"}']),
        headers={**csrf(client), "Content-Type": "application/json"},
    )
    assert chunked.status_code == 411 and "Content-Length" in chunked.json()["error"]
    assert _files(served["library"]) == before


# ---- media -------------------------------------------------------------------------------


def test_sources_stream_with_byte_ranges(client):
    src = _source(client, "coffee.mp4")
    data = Path(src["path"]).read_bytes()
    url = f"/media/source/{src['source_id']}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["x-proxy"] == "direct"
    part = client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    assert part.headers["content-length"] == "1000"
    tail = client.get(url, headers={"Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == data[-500:]
    open_end = client.get(url, headers={"Range": f"bytes={len(data) - 10}-"})
    assert open_end.content == data[-10:]
    outside = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(data)}"
    for bad in ("bytes=500-100", "bytes=abc", "items=0-1"):
        assert client.get(url, headers={"Range": bad}).status_code == 400, bad
    two = client.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert two.status_code == 206 and two.headers["content-type"].startswith("multipart/byteranges")
    assert data[:10] in two.content and data[20:30] in two.content


def test_unplayable_sources_play_through_a_proxy_made_in_the_background(client, served):
    src = _source(client, PROXY_FILE)
    url = f"/media/source/{src['source_id']}"
    first = client.get(url)
    assert first.status_code in (200, 202)  # 202 while the proxy is being made
    if first.status_code == 202:
        assert first.json()["proxy"]["status"] == "building"
    deadline = time.monotonic() + 60
    while (state := client.get(f"/media/proxy/{src['source_id']}").json()["proxy"])[
        "status"
    ] == "building":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["status"] == "ready", state
    got = client.get(url)
    assert got.status_code == 200 and got.headers["x-proxy"] == "ready"
    proxy = served["library"] / "cache" / "proxies" / f"{src['source_id']}.mp4"
    assert got.content == proxy.read_bytes()
    with av.open(str(proxy)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.width, video.height) == (320, 180)
        assert container.streams.audio, "the proxy keeps the sound"
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 60  # two 30-frame shots: every frame
    assert not list(proxy.parent.glob(".*partial*"))


def test_failed_sources_have_nothing_to_play(client):
    broken = _source(client, BROKEN_FILE)
    assert client.get(f"/media/source/{broken['source_id']}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/media/source/..%2F..%2F..%2Fetc%2Fpasswd",
        "/media/source/../../etc/passwd",
        "/media/thumb/..%2Fmeta.json",
        "/media/run/..%2F..%2Fmeta.json/video",
        "/static/..%2F..%2Fpyproject.toml",
        "/static/../server/app.py",
        "/media/source/%2Fetc%2Fpasswd",
    ],
)
def test_path_traversal_is_refused(client, url):
    got = client.get(url)
    assert got.status_code == 404, (url, got.status_code)
    assert b"root:" not in got.content and b"[project]" not in got.content


def test_run_files_are_served_by_kind_only(client):
    run = client.get("/api/runs").json()[0]
    doc = client.get(f"/api/runs/{run['run_id']}").json()
    assert set(doc["files"]) == {"video", "manifest", "otio", "srt", "html", "credits"}
    for kind, url in doc["files"].items():
        got = client.get(url)
        assert got.status_code == 200, kind
        if kind != "video":
            assert got.headers["content-disposition"].startswith("attachment")
    manifest = client.get(doc["files"]["manifest"]).json()
    assert manifest["run_id"] == run["run_id"]
    for kind in ("mp4", "../video", "meta", "..%2Fvideo"):
        assert client.get(f"/media/run/{run['run_id']}/{kind}").status_code == 404
    assert client.get("/media/run/no-such-run/video").status_code == 404


# ---- SQL -------------------------------------------------------------------------------------


def test_sql_reads_and_refuses_writes(client, lib):
    shots = lib.shots().num_rows
    got = client.post(
        "/api/sql", json={"query": "select count(*) as n from shots"}, headers=csrf(client)
    )
    assert got.status_code == 200 and got.json()["rows"] == [{"n": shots}]
    for query in (
        "drop table _shots",
        "delete from shots",
        "insert into runs values ('x')",
        "copy (select 1) to '/tmp/pwned.csv'",
        "select * from read_csv('/etc/passwd')",
        "attach '/tmp/x.db' as x",
        "select 1; drop view shots",
    ):
        refused = client.post("/api/sql", json={"query": query}, headers=csrf(client))
        assert refused.status_code == 400, (query, refused.text)
        assert refused.json()["error"]
    assert not Path("/tmp/pwned.csv").exists()
    assert lib.shots().num_rows == shots
    assert client.post("/api/sql", json={"query": "select 1"}).status_code == 403  # no CSRF
    many = client.post(
        "/api/sql", json={"query": "select * from range(50)", "max_rows": 10}, headers=csrf(client)
    ).json()
    assert len(many["rows"]) == 10 and many["truncated"] is True


# ---- re-render -------------------------------------------------------------------------------


def _demo_run(client, served) -> dict:
    return next(
        r for r in client.get("/api/runs").json() if r["run_id"] == served["manifest"]["run_id"]
    )


def _follow(client, job: dict) -> list[dict]:
    events = []
    with client.stream("GET", job["events"]) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_rerender_applies_the_changes_and_streams_progress(client, served, lib):
    run = _demo_run(client, served)
    shots = served["manifest"]["shots"]
    fill = next(s for s in shots if s["decision"] == "fill" and len(s["candidates"]) > 1)
    pick = fill["candidates"][1]["shot_id"]
    other = next(s for s in shots if s["index"] != fill["index"])
    body = {
        "shots": {
            str(fill["index"]): {"decision": "reuse", "shot_id": pick},
            str(other["index"]): {"decision": "fill"},
        }
    }
    assert client.post(f"/api/runs/{run['run_id']}/rerender", json=body).status_code == 403
    got = client.post(f"/api/runs/{run['run_id']}/rerender", json=body, headers=csrf(client))
    assert got.status_code == 202, got.text
    events = _follow(client, got.json())
    assert events[0]["type"] == "status" and events[-1]["type"] == "done", events[-1]
    assert any(e["type"] == "progress" for e in events)
    assert [e["seq"] for e in events] == list(range(len(events)))
    result = events[-1]["result"]
    out = Path(result["output"])
    assert out.parent == served["library"] / "outputs" and out.is_file()
    new = client.get(f"/api/runs/{result['run_id']}").json()
    assert {"video", "otio", "srt"} <= set(new["files"])
    by_index = {s["index"]: s for s in new["manifest"]["shots"]}
    changed = by_index[fill["index"]]
    assert changed["decision"] == "reuse" and changed["source"][0]["shot_id"] == pick
    assert changed["reason"]["override"] == "reuse" and "review" in changed["reason"]["text"]
    assert by_index[other["index"]]["decision"] == "fill"
    for s in shots:  # the rest as they were decided
        if s["index"] not in (fill["index"], other["index"]):
            assert by_index[s["index"]]["decision"] == s["decision"]
    assert new["manifest"]["duration_s"] == pytest.approx(
        served["manifest"]["duration_s"], abs=0.05
    )
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    assert client.get(f"/api/jobs/{got.json()['job_id']}").json()["status"] == "done"
    assert result["run_id"] in {r["run_id"] for r in lib.store.read("runs").to_pylist()}


@pytest.mark.parametrize(
    ("shots", "status", "says"),
    [
        ({"99": {"decision": "fill"}}, 400, "no planned shot 99"),
        ({"0": {"shot_id": "no-such-shot"}}, 400, "no-such-shot"),
        ({"0": {"decision": "remix"}}, 422, "decision"),
        ({"0": {"colour": "red"}}, 422, "colour"),
        ({}, 422, "shots"),
    ],
)
def test_bad_rerenders_are_refused_before_any_job(client, served, shots, status, says):
    run = _demo_run(client, served)
    got = client.post(
        f"/api/runs/{run['run_id']}/rerender", json={"shots": shots}, headers=csrf(client)
    )
    assert got.status_code == status, got.text
    assert says in got.text


def test_unknown_ids_are_404(client):
    for url in (
        "/api/shots/nope",
        "/api/runs/nope",
        "/api/jobs/nope",
        "/api/sources/nope",
        "/media/thumb/nope",
    ):
        assert client.get(url).status_code == 404, url
    assert (
        client.post(
            "/api/runs/nope/rerender", json={"shots": {"0": {}}}, headers=csrf(client)
        ).status_code
        == 404
    )


# ---- the door ------------------------------------------------------------------------------


def test_a_token_server_refuses_requests_without_the_token(lib):
    with TestClient(create_app(lib, token=TOKEN), base_url="http://192.168.1.20:8765") as c:
        for url in ("/api/sources", "/media/thumb/x", "/api/openapi.json"):
            assert c.get(url).status_code == 401, url
        page = c.get("/sources", headers={"accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert c.get("/login").status_code == 200 and c.get("/static/app.js").status_code == 200
        wrong = {"Authorization": "Bearer " + TOKEN[:-1] + "x"}
        assert c.get("/api/sources", headers=wrong).status_code == 401
        c.cookies.set("rv_token", "nope")
        assert c.get("/api/sources").status_code == 401
        c.cookies.clear()
        assert (
            c.get("/api/sources", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        )
        bad_login = c.post("/login", data={"token": "guess-guess-guess"})
        assert bad_login.status_code == 401 and "rv_token" not in c.cookies
        login = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert login.status_code == 303 and "httponly" in login.headers["set-cookie"].lower()
        assert c.get("/sources").status_code == 200 and c.get("/api/runs").status_code == 200


def test_without_a_token_only_loopback_host_names_are_answered(lib):
    with TestClient(create_app(lib), base_url="http://evil.example:8765") as c:
        assert c.get("/api/sources").status_code == 421
    with TestClient(create_app(lib), base_url="http://localhost:8765") as c:
        assert c.get("/api/sources").status_code == 200


def test_binding_beyond_loopback_needs_a_token(tmp_path, served):
    check_bind("127.0.0.1", None)
    check_bind("localhost", None)
    check_bind("::1", None)
    for host in ("0.0.0.0", "192.168.1.20", "::"):
        with pytest.raises(UsageError, match="--token-file"):
            check_bind(host, None)
        check_bind(host, TOKEN)
    with pytest.raises(UsageError, match="at least 16"):
        create_app(open_library(served["library"], create=False), token="short")
    runner = CliRunner()
    lib_args = ["--library", str(served["library"]), "serve"]
    for extra, says in (
        (["--host", "0.0.0.0"], "--token-file"),
        (["--host", "0.0.0.0", "--token-file", str(tmp_path / "none")], "cannot read a token"),
    ):
        result = runner.invoke(main, lib_args + extra)
        assert result.exit_code == 2 and says in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
    short = tmp_path / "short"
    short.write_text("abc\n")
    result = runner.invoke(main, [*lib_args, "--token-file", str(short)])
    assert result.exit_code == 2 and "at least 16" in result.stderr


def test_progress_observer_sees_every_step():
    from rag_video import progress

    seen = []
    with (
        progress.observe(lambda task, done, total, item: seen.append((task, done, total, item))),
        progress.bar(3, "work") as advance,
    ):
        for k in range(3):
            advance(item=f"f{k}")
    assert seen == [("work", 1, 3, "f0"), ("work", 2, 3, "f1"), ("work", 3, 3, "f2")]
    with progress.bar(2, "quiet") as advance:  # no observer: nothing recorded
        advance()
    assert len(seen) == 3


def test_colour_families():
    from rag_video.server.filters import colour_family

    assert [
        colour_family(c) for c in ("#d03020", "#20a040", "#2040d0", "#050505", "#f8f8f8", "#808080")
    ] == [
        "red",
        "green",
        "blue",
        "black",
        "white",
        "grey",
    ]


def test_pages_without_a_search_load_no_model(served):
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from rag_video import open_library\n"
        "from rag_video.server import create_app\n"
        "lib = open_library(sys.argv[1], create=False)\n"
        "with TestClient(create_app(lib), base_url='http://127.0.0.1') as c:\n"
        "    codes = [c.get(u).status_code for u in ('/', '/sources', '/runs', '/api/runs')]\n"
        "heavy = [m for m in ('torch', 'diffusers', 'open_clip', 'transformers')\n"
        "         if m in sys.modules]\n"
        "print(codes, ','.join(heavy) or 'none')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(served["library"])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split()[-1] == "none", out.stdout
    assert "[200, 200, 200, 200]" in out.stdout


def test_a_follower_gets_every_event_across_keep_alives():
    from rag_video.server.jobs import Jobs

    jobs = Jobs()

    def work(job):
        for k in range(3):
            time.sleep(0.15)  # longer than the follower's keep-alive timeout
            job.emit(type="progress", task="t", done=k + 1, total=3, item=None)
        return {"ok": True}

    job = jobs.submit("test", work)
    seen = list(job.follow(timeout=0.05))
    jobs.close()
    assert None in seen, "keep-alives were sent while waiting"
    events = [e for e in seen if e is not None]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == ["status", "progress", "progress", "progress", "done"]


def test_a_rerender_repeats_how_the_run_looked(client, served, lib, tmp_path):
    script = served["manifest"]["script"]
    made = lib.make(script, tmp_path / "tall.mp4", aspect="9:16", transition="crossfade")
    assert made["options"]["aspect"] == "9:16" and made["options"]["transition"] == "crossfade"
    got = client.post(
        f"/api/runs/{made['run_id']}/rerender",
        json={"shots": {"0": {"decision": "fill"}}},
        headers=csrf(client),
    )
    assert got.status_code == 202, got.text
    events = _follow(client, got.json())
    assert events[-1]["type"] == "done", events[-1]
    again = client.get(f"/api/runs/{events[-1]['result']['run_id']}").json()["manifest"]
    assert again["size"] == made["size"] and made["size"][0] < made["size"][1]
    assert again["options"] == made["options"]
    with av.open(events[-1]["result"]["output"]) as container:
        video = container.streams.video[0]
        assert [video.width, video.height] == made["size"]
