"""`rag-video serve` in a real browser: Debian's Chromium driven by Playwright against uvicorn
serving the demo library. Search and see the thumbnails, play shots (the video element decodes
and its playback advances), play an MKV through the proxy made on first request, change a
decision on a run and play the re-rendered output, run SQL, and log in to a token server.

``RAG_VIDEO_SCREENSHOTS=1`` also writes the README's screenshots into docs/."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from served import BROKEN_FILE, PROXY_FILE

from rag_video import open_library
from rag_video.server import create_app

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on PATH (.ci/run installs Debian's chromium)"
)
SHOTS = os.environ.get("RAG_VIDEO_SCREENSHOTS") == "1"
DOCS = Path(__file__).resolve().parents[1] / "docs"
TOKEN = "browser-test-token-0123456789"
PLAYED = """(sel) => { const v = document.querySelector(sel);
  return !!v && v.readyState >= 2 && v.played.length > 0
    && (v.played.end(v.played.length - 1) - v.played.start(0)) > 0.3; }"""

RECORD_PROXY_NOTES = """window.proxyNotes = [];
document.addEventListener("DOMContentLoaded", () => {
  const note = document.getElementById("proxy-state");
  new MutationObserver(() => window.proxyNotes.push(note.textContent))
    .observe(note, { childList: true, characterData: true, subtree: true });
});"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(app) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def lib(served):
    # the proxy is made by this server, in front of the browser
    shutil.rmtree(served["library"] / "cache", ignore_errors=True)
    return open_library(served["library"], create=False)


@pytest.fixture(scope="module")
def base(lib) -> Iterator[str]:
    yield from _serve(create_app(lib))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def _shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(DOCS / f"serve-{name}.png"))


def test_search_shows_n_thumbnails_and_plays_the_shot(page, base):
    page.goto(base + "/")
    page.click("summary")
    page.fill("input[name=limit]", "6")
    page.fill("input[name=q]", "a rabbit in a sunny meadow")
    page.click("button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#results .result').length === 6")
    assert page.text_content("#status") == "6 shots"
    page.wait_for_function(  # every thumbnail loaded and decoded
        "() => [...document.querySelectorAll('#results .result img')]"
        ".every(e => e.complete && e.naturalWidth > 0)"
    )
    first = page.locator("#results .result").first
    first.locator(".frame").hover()
    page.wait_for_function(PLAYED, arg="#results .result video", timeout=20_000)
    start, end, now = page.eval_on_selector(
        "#results .result video",
        "v => [Number(v.dataset.start), Number(v.dataset.end), v.currentTime]",
    )
    assert start - 0.1 <= now <= end + 0.1, "the shot's own time range plays"
    _shot(page, "search")

    liked = first.get_attribute("data-shot")
    first.locator("button.like").click()
    page.wait_for_function(
        "(id) => document.querySelector('#status').textContent.endsWith('like ' + id)", arg=liked
    )
    assert page.locator("#results .result").first.get_attribute("data-shot") == liked


def test_an_mkv_plays_through_its_proxy(page, base, lib, served):
    sources = lib.store.read("sources", columns=["source_id", "path"]).to_pylist()
    mkv = next(s["source_id"] for s in sources if s["path"].endswith(PROXY_FILE))
    page.add_init_script(RECORD_PROXY_NOTES)
    page.goto(f"{base}/sources/{mkv}")
    page.wait_for_function(
        "() => document.querySelector('#player').src.includes('/media/source/')", timeout=60_000
    )
    assert page.locator("#strip .shot").count() == 2
    page.locator("#strip .shot").nth(1).click()
    page.wait_for_function(PLAYED, arg="#player", timeout=20_000)
    assert page.eval_on_selector("#player", "v => v.currentTime") >= 1.0  # the second shot
    assert (served["library"] / "cache" / "proxies" / f"{mkv}.mp4").is_file()
    notes = page.evaluate("window.proxyNotes")
    assert any(n.startswith("making a proxy") for n in notes), notes
    _shot(page, "source")


def test_sources_show_the_failed_file_and_its_reason(page, base):
    page.goto(base + "/sources")
    row = page.locator("#sources tr.failed")
    assert row.count() == 1 and BROKEN_FILE in row.text_content()
    assert row.locator("td.error").text_content().strip()
    _shot(page, "sources")


def test_changing_a_decision_rerenders_and_plays_the_new_output(page, base, served):
    page.goto(base + "/runs")
    page.locator("#runs a").last.click()  # the oldest run: the demo
    page.wait_for_selector(".board .card")
    card = page.locator(".board .card").first
    before = card.get_attribute("data-decision")
    other = "reuse" if before != "reuse" else "fill"
    card.locator("select.decision").select_option(other)
    assert "changed" in (card.get_attribute("class") or "")
    assert page.text_content("#changes") == "1 shot changed."
    _shot(page, "run")
    page.click("#rerender-button")
    page.wait_for_selector("#rerender-result:not([hidden])", timeout=180_000)
    assert page.text_content("#rerender-status").startswith("Re-rendered: ")
    page.eval_on_selector("#rerendered", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function(PLAYED, arg="#rerendered", timeout=20_000)
    links = page.eval_on_selector_all("#rerender-files a", "els => els.map(e => e.textContent)")
    assert {"video", "otio", "srt", "manifest"} <= set(links)
    new_run = page.get_attribute("#rerender-files a:last-child", "href")
    page.goto(base + new_run)
    assert page.locator(".board .card").first.get_attribute("data-decision") == other
    assert "changed in review" in page.locator(".board .card .reason").first.text_content()


def test_the_sql_box_and_the_stats_page(page, base, lib):
    page.goto(base + "/sql")
    page.click("#sql button[type=submit]")
    page.wait_for_selector("#sql-result table")
    ok = lib.store.read("sources", columns=["status"]).to_pylist()
    with_shots = sum(1 for s in ok if s["status"] == "ok")
    assert page.locator("#sql-result tbody tr").count() == with_shots
    page.fill("#sql textarea", "DELETE FROM shots")
    page.click("#sql button[type=submit]")
    page.wait_for_selector("#sql-status.error")
    assert "read-only" in page.text_content("#sql-status") or "SELECT" in page.text_content(
        "#sql-status"
    )
    page.goto(base + "/stats")
    assert page.locator("svg").count() >= 1
    _shot(page, "stats")


def test_a_token_server_asks_for_the_token_once(browser, lib):
    for url in _serve(create_app(lib, token=TOKEN)):
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "/runs")
        assert page.url.endswith("/login")
        page.fill("input[name=token]", "wrong-token-wrong-token")
        page.click("button[type=submit]")
        assert page.locator(".error, .bad").count() >= 1
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_selector("#search")
        page.goto(url + "/runs")
        assert page.locator("#runs").count() == 1
        context.close()
