"""The Python API as the README shows it: every ```python block runs verbatim, on a small library
with embeddings (the tiny test model) and on one without; search and search_many agree."""

from __future__ import annotations

import ast
import doctest
import re
from pathlib import Path

import pyarrow as pa
import pytest
import synth
from helpers import TINY, make_footage

import rag_video

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_the_readme_has_python_snippets():
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3 and all("lib" in b for b in blocks)


def _shape(value, top: bool = True):
    """What a doctest's output must share with ours on another library: types and dict keys, and
    the whole value when it is one string (a message); not counts or list lengths."""
    if isinstance(value, dict):
        return {k: _shape(v, False) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0], False)] if value else []
    return value if top and isinstance(value, str) else type(value).__name__


def _run_block(block: str, namespace: dict, root: Path) -> None:
    """Run one README block verbatim: plain code as is; a `>>>` block as doctest examples whose
    output must match ours in shape, paths under /tmp/demo standing for this test's folder."""
    if not block.lstrip().startswith(">>>"):
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - the README's own code
        return
    for example in doctest.DocTestParser().get_examples(block):
        got = eval(compile(example.source, str(README), "eval"), namespace)
        want = ast.literal_eval(example.want.strip())
        got = ast.literal_eval(repr(got).replace(str(root), "/tmp/demo"))
        assert _shape(got) == _shape(want), (example.source, got, want)


@pytest.mark.parametrize("embed", [True, False], ids=["embedded", "no-embeddings"])
def test_readme_python_snippets_run_verbatim(tmp_path, monkeypatch, embed):
    """Every ```python block of the README, in order, in a folder holding `footage/` (two clips,
    a sidecar, and `phone/broken.mp4`), with settings from the environment (the README's code is
    not edited): the tiny random model, one worker, with or without embeddings. Placeholders:
    `<shot_id>` is a shot of the library and `v` a vector of the table's width."""
    make_footage(tmp_path / "footage")
    (tmp_path / "footage" / "phone").mkdir()
    synth.write_random_bytes(tmp_path / "footage" / "phone" / "broken.mp4")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_VIDEO_MODEL", TINY["model"])
    monkeypatch.setenv("RAG_VIDEO_PRETRAINED", TINY["pretrained"])
    monkeypatch.setenv("RAG_VIDEO_WORKERS", "1")
    monkeypatch.setenv("RAG_VIDEO_EMBED", "true" if embed else "false")
    blocks = python_blocks(README.read_text())
    namespace: dict = {}
    _run_block(blocks[0], namespace, tmp_path)
    lib = namespace["lib"]
    assert (namespace["summary"].ingested, namespace["summary"].failed) == (2, 1)
    assert (lib.store.embed_model() is not None) == embed
    shot = lib.shots().to_pylist()[0]
    namespace["v"] = shot["embedding"]
    for block in blocks[1:]:
        if embed or ">>>" in block:  # like= and vector= need embeddings
            _run_block(block.replace("<shot_id>", shot["shot_id"]), namespace, tmp_path)
    found = lib.search("red cliffs at dawn").limit(5).to_arrow()
    many = lib.search_many(["red cliffs at dawn"], limit=5)
    assert len(many) == 1 and found.num_rows >= 1 and many[0].num_rows >= 1
    if not embed:  # both are the full-text matches
        assert many[0].column("shot_id").to_pylist() == found.column("shot_id").to_pylist()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    make_footage(root / "footage")
    lib = rag_video.open_library(root / "lib", workers=1, embed=False)
    lib.ingest([root / "footage"])
    return lib


def test_without_embeddings_search_many_falls_back_to_text_like_search(plain, caplog):
    single = [plain.search(t).limit(3).to_arrow() for t in ("cliffs dawn", "nothing matches this")]
    caplog.clear()
    many = plain.search_many(["cliffs dawn", "nothing matches this"], limit=3)
    assert [t.to_pylist() for t in many] == [t.to_pylist() for t in single]
    assert many[0].num_rows >= 1 and many[1].num_rows == 0
    assert all(s is None for s in many[0].column("score").to_pylist())  # text matches: no cosine
    assert [t.schema for t in many] == [single[0].schema] * 2
    assert len([r for r in caplog.records if "no embeddings" in r.getMessage()]) == 1


def test_search_many_with_vectors_still_needs_embeddings(plain):
    from rag_video.errors import UsageError

    with pytest.raises(UsageError, match="no embedd"):
        plain.search_many(vectors=[[1.0] * 32])


def test_stats_iterates_over_its_reports(plain):
    stats = plain.stats(top=5)
    reports = list(stats)
    assert [r.name for r in reports] == stats.names() and len(stats) == len(reports) >= 5
    assert "overview" in stats and "nope" not in stats
    assert stats["overview"].rows[0]["sources"] == 2
    assert {r.name: r for r in stats}["overview"] is stats["overview"]
    with pytest.raises(KeyError, match="overview"):
        stats["nope"]


def test_results_are_arrow_tables(plain):
    assert isinstance(plain.search("cliffs").to_arrow(), pa.Table)
