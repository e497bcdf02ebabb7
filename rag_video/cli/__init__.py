"""The `rag-video` command line: parse, call the Library, print. Nothing else lives here.

stdout carries results (a table, or exactly one JSON document with --json); logs, warnings and
progress go to stderr. Every error is one line on stderr, `error: ...` (a traceback only with
--debug). Exit codes: 0 ok, 1 some inputs failed, 2 bad usage or input, 3 internal error (a bug),
130 interrupted (Ctrl-C).

Modules: `app` (the root group, global options, --json), `errors` (errors → one line and an exit
code), `defaults` (defaults shown in --help, read from where they live), `render` (what each
command prints), and the commands: `ingest` (ingest, embed, index), `query` (search, sql,
stats), `make` (make, demo), `admin` (prune, optimize, models), `check`, `serve`,
`verify` (content credentials).
"""

from rag_video.cli import admin, check, ingest, make, query, serve, verify  # noqa: F401  (they register the commands)
from rag_video.cli.app import main

__all__ = ["main"]
