"""`rag-video serve`: the browser front end over one library (FastAPI, Jinja2, plain JS).

Modules: `security` (token, CSRF, loopback), `filters` (the search filters), `media` (byte
ranges, proxies), `jobs` (background re-renders), `state` (what the server does with the
library), `api` (JSON and media routes), `pages` (HTML), `app` (the application and `serve`).
"""

from rag_video.server.app import create_app, serve

__all__ = ["create_app", "serve"]
