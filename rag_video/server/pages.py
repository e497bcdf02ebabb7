"""The HTML pages (Jinja2 templates in ``server/templates``, autoescaped): search, sources, a
source's shots, runs, a run's storyboard, stats, SQL, and the login form. Pages carry the data
they show; the little JavaScript in ``static/app.js`` calls the JSON API for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from rag_video.server import security
from rag_video.server.filters import COLOURS
from rag_video.server.state import ServerState

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
DECISION_COLOURS = {"reuse": "#2e7d32", "restyle": "#ef6c00", "fill": "#6a1b9a"}


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        status_code=status,
        context={
            "csrf": request.state.csrf,
            "library": str(request.app.state.rv.root),
            "secured": request.app.state.token is not None,
            "decision_colours": DECISION_COLOURS,
            **context,
        },
    )


def _state(request: Request) -> ServerState:
    return request.app.state.rv


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    st = _state(request)
    sources = [s for s in st.sources() if s["status"] == "ok"]
    return _page(request, "search.html.j2", sources=sources, colours=COLOURS, nav="search")


@router.get("/sources", response_class=HTMLResponse)
def sources_page(request: Request) -> HTMLResponse:
    rows = _state(request).sources()
    failed = sum(1 for r in rows if r["status"] == "failed")
    return _page(request, "sources.html.j2", sources=rows, failed=failed, nav="sources")


@router.get("/sources/{source_id}", response_class=HTMLResponse)
def source_page(request: Request, source_id: str) -> HTMLResponse:
    st = _state(request)
    return _page(
        request,
        "source.html.j2",
        source=st.source(source_id),
        shots=st.source_shots(source_id),
        nav="sources",
    )


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> HTMLResponse:
    return _page(request, "runs.html.j2", runs=_state(request).runs(), nav="runs")


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str) -> HTMLResponse:
    from rag_video.generate.shot import DECISIONS

    run = _state(request).run(run_id)
    return _page(request, "run.html.j2", decisions=DECISIONS, nav="runs", **run)


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request) -> HTMLResponse:
    from markupsafe import Markup

    from rag_video.stats.html import html_table
    from rag_video.stats.svg import chart_svg
    from rag_video.stats.text import report_title

    reports = [
        {
            "name": r.name,
            "title": report_title(r),
            # both escape every value they write
            "chart": Markup(chart_svg(r)) if r.chart is not None and r.rows else None,
            "table": Markup(html_table(r)),
        }
        for r in _state(request).library.stats()
    ]
    return _page(request, "stats.html.j2", reports=reports, nav="stats")


@router.get("/sql", response_class=HTMLResponse)
def sql_page(request: Request) -> HTMLResponse:
    return _page(request, "sql.html.j2", nav="sql")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    return _page(request, "login.html.j2", error=error, nav=None)


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form()]) -> Response:
    """Set the token cookie when the token is right (the login form itself needs no CSRF token:
    it grants nothing without the secret)."""
    expected = request.app.state.token
    if expected is None:
        return RedirectResponse("/", 303)
    if not security.same_token(token, expected):
        return _page(request, "login.html.j2", 401, error="wrong token", nav=None)
    response = RedirectResponse("/", 303)
    response.set_cookie(
        security.TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response
