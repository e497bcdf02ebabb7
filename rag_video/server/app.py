"""The web application: `create_app(library, token=...)` (FastAPI) and `serve` (uvicorn).

One middleware is the door: without a server token only loopback Host names are answered (so a
web page cannot reach the server through DNS rebinding); with one, every request but the login
page and static files must carry it. Each response carries the CSRF cookie POSTs must echo, and
headers that keep pages from being framed or loading anything from elsewhere."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from rag_video.errors import LibraryLocked, RagVideoError, UsageError
from rag_video.library import Library
from rag_video.server import security
from rag_video.server.state import MAX_UPLOAD_BYTES, NotFound, ServerState

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
DEFAULT_PORT = 8765
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024  # an image upload and its form fields
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _wants_html(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(("/api/", "/media/")) and "text/html" in request.headers.get(
        "accept", ""
    )


def _host_name(request: Request) -> str:
    host = request.headers.get("host", "")
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


def create_app(library: Library, *, token: str | None = None) -> FastAPI:
    """The application over `library`. With `token` every request must present it (see
    rag_video.server.security); without, only loopback Host names are served."""
    from rag_video.server import api, pages

    if token is not None:
        security.check_token(token)
    rv = ServerState(library)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        rv.close()

    app = FastAPI(
        lifespan=lifespan,
        title="rag-video",
        summary="Search the footage library and review make runs.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.rv = rv
    app.state.token = token

    @app.middleware("http")
    async def door(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if token is None and _host_name(request) not in LOOPBACK_NAMES:
            return JSONResponse({"error": "this server answers loopback host names only"}, 421)
        if not security.authorised(request, token):
            if _wants_html(request):
                return RedirectResponse("/login", 303)
            return JSONResponse(
                {"error": "missing or wrong token"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        if request.method == "POST":  # a body bounded before anything reads or spools it
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return JSONResponse({"error": "a POST needs a Content-Length"}, 411)
            if int(length) > MAX_BODY_BYTES:
                return JSONResponse(
                    {"error": f"request body larger than {MAX_BODY_BYTES} bytes"}, 413
                )
        request.state.csrf = request.cookies.get(security.CSRF_COOKIE) or security.new_csrf()
        response = await call_next(request)
        if request.cookies.get(security.CSRF_COOKIE) != request.state.csrf:
            response.set_cookie(security.CSRF_COOKIE, request.state.csrf, samesite="strict")
        response.headers.update(HEADERS)
        return response

    def error(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handler(request: Request, exc: Exception) -> Response:
            return JSONResponse({"error": security_text(exc)}, status)

        return handler

    app.add_exception_handler(NotFound, error(404))
    app.add_exception_handler(UsageError, error(400))
    app.add_exception_handler(LibraryLocked, error(409))
    app.add_exception_handler(RagVideoError, error(500))
    app.add_exception_handler(HTTPException, _http_error)

    app.include_router(api.api)
    app.include_router(api.media)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app


def security_text(exc: Exception) -> str:
    """The one line a client is told (NotFound's text without the KeyError quotes)."""
    from rag_video.errors import one_line

    return one_line(exc).strip("'\"")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)


def serve(
    library: Library,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    **uvicorn_options: Any,
) -> None:
    """Run the server until interrupted. A non-loopback `host` needs a `token` (UsageError)."""
    import uvicorn

    security.check_bind(host, token)
    app = create_app(library, token=token)
    shown = f"[{host}]" if ":" in host else host
    log.warning("rag-video serving %s on http://%s:%d", library.path, shown, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", **uvicorn_options)
