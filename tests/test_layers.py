"""Imports run downward (docs/ARCHITECTURE.md, "The rooms"): an AST walk over every import of
the package, those inside functions too, checked against the layers and the named exclusions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rag_video"
LAYERS = (  # a module may import its own room, its layer and the layers below
    {
        "errors",
        "output",
        "jsonable",
        "config",
        "hooks",
        "hub",
        "devices",
        "vectors",
        "progress",
        "licenses",
        "sqlcheck",
        "schema",
        "model_configs",
        "samples",
        "templates",
    },
    {"store", "media", "voice", "embed"},
    {"index", "sql", "qc", "provenance"},
    {"retrieve", "sqlformat", "stats", "ingest"},
    {"generate"},
    {"demo", "library"},
    {"server"},
    {"cli", "__main__"},
)
NEVER = {
    "ingest": {"index", "retrieve", "generate"},
    "generate": {"ingest", "index", "embed"},
    "media": LAYERS[0] - {"errors", "devices"},
    "embed": LAYERS[0] - {"errors", "devices", "hub", "config"},
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path, package: Path = PACKAGE) -> set[str]:
    rel = path.relative_to(package.parent).with_suffix("")
    here = list(rel.parts if path.name == "__init__.py" else rel.parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            found.add(".".join([*base, *([node.module] if node.module else [])]))
    return {name for name in found if name.split(".")[0] == "rag_video"}


def _layer(room: str) -> int:
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


def test_every_room_has_a_layer():
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    rooms -= {"__init__", "__pycache__"}
    assert rooms <= set().union(*LAYERS), sorted(rooms - set().union(*LAYERS))


def test_no_import_runs_upward_or_across_an_exclusion():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room = _room(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        if room == "__init__":
            continue  # rag_video/__init__.py reaches library lazily, by name
        for name in _imports(path):
            target = _room(name)
            if not target or target == room:
                continue
            if _layer(target) > _layer(room) or target in NEVER.get(room, set()):
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "rag_video" / "media" / "x.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "def f():\n    from rag_video.library import Library\n    from ..store import Store\n"
    )
    assert _imports(probe, tmp_path / "rag_video") == {"rag_video.library", "rag_video.store"}
