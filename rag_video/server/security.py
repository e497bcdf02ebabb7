"""Who may use the server, and how: loopback binds by default, a token for any other bind
(``Authorization: Bearer`` or the ``rv_token`` cookie the login form sets, compared in constant
time), and a double-submit CSRF check on every POST (the ``rv_csrf`` cookie echoed in the
``X-CSRF-Token`` header or a ``csrf`` form field)."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from pathlib import Path

from fastapi import HTTPException, Request

from rag_video.errors import UsageError

TOKEN_COOKIE = "rv_token"
CSRF_COOKIE = "rv_csrf"
CSRF_HEADER = "x-csrf-token"
MIN_TOKEN_CHARS = 16
OPEN_PATHS = ("/login", "/static/", "/favicon.ico")  # reachable without the token


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) resolves only to loopback addresses."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def read_token_file(path: str | Path) -> str:
    """The token in `path` (its first line, stripped); a UsageError naming the file otherwise."""
    try:
        token = Path(path).expanduser().read_text().strip().splitlines()[0].strip()
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        why = "it is empty" if isinstance(exc, IndexError) else str(exc)
        raise UsageError(f"--token-file {str(path)!r}: cannot read a token ({why})") from None
    check_token(token, f"--token-file {str(path)!r}")
    return token


def check_token(token: str, label: str = "token") -> None:
    """Refuse a token too short to guess-proof (a UsageError naming `label`)."""
    if len(token) < MIN_TOKEN_CHARS:
        raise UsageError(
            f"{label}: the token must be at least {MIN_TOKEN_CHARS} characters "
            f"(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )


def check_bind(host: str, token: str | None) -> None:
    """A non-loopback bind needs a token: UsageError otherwise."""
    if token is None and not is_loopback(host):
        raise UsageError(
            f"--host {host!r}: serving beyond this machine needs --token-file FILE "
            f"(only 127.0.0.1 / localhost may be served without a token)"
        )


def same_token(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the server's."""
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def presented_token(request: Request) -> str | None:
    """The token a request carries: a Bearer header, else the login cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(TOKEN_COOKIE)


def authorised(request: Request, token: str | None) -> bool:
    """Whether `request` may pass: always without a server token, else with the right one."""
    if token is None or request.url.path.startswith(OPEN_PATHS):
        return True
    return same_token(presented_token(request), token)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


async def check_csrf(request: Request) -> None:
    """A POST must echo its ``rv_csrf`` cookie in the ``X-CSRF-Token`` header (or a ``csrf`` form
    field); 403 otherwise. Bearer-token clients (scripts) are exempt: a browser cannot forge the
    header."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise HTTPException(403, "missing or wrong CSRF token (reload the page)")
