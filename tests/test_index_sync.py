"""The index follows the table: ingest, re-ingest, an edited file, deferred embeddings, prune,
optimize and a model switch; stale -> fresh, tombstones counted, rebuilt past their share."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import synth
from helpers import STARTS_A, STARTS_B, TINY, make_footage

from rag_video import open_library
from rag_video.errors import UsageError


@pytest.fixture()
def footage(tmp_path):
    return make_footage(tmp_path / "footage")


def _lib(tmp_path, **settings):
    return open_library(tmp_path / "lib", workers=1, **TINY, **settings)


def _keys(lib) -> set[int]:
    """row_keys of visible embedded shots: what the index must hold."""
    return set(lib.shots(where="embedding IS NOT NULL").column("row_key").to_pylist())


def _found(lib, k: int = 50) -> set[int]:
    """Every key a broad query returns (the libraries here hold fewer than k shots)."""
    vec = np.asarray(lib.shots(where="embedding IS NOT NULL").column("embedding")[0].as_py())
    return set(lib.search(vector=vec).limit(k).to_arrow().column("row_key").to_pylist())


def _sync(lib):
    return lib._searcher().index.last_sync


def test_new_source_makes_the_index_stale_and_a_search_adds_it(tmp_path, footage):
    lib = _lib(tmp_path)
    lib.ingest([footage["a"]])
    assert lib.index_info() == {**lib.index_info(), "built": False, "stale": True}
    assert _found(lib) == _keys(lib) and len(_keys(lib)) == len(STARTS_A)
    first = lib.index_info()
    assert (first["built"], first["stale"], first["n"], first["tombstones"]) == (True, False, 3, 0)
    lib.ingest([footage["b"]])
    assert lib.index_info()["stale"] is True
    assert _found(lib) == _keys(lib) and len(_keys(lib)) == len(STARTS_A) + len(STARTS_B)
    assert (_sync(lib).action, _sync(lib).added, _sync(lib).removed) == ("updated", 2, 0)
    info = lib.index_info()
    assert (info["stale"], info["n"], info["tombstones"]) == (False, 5, 0)
    assert info["created_at"] == first["created_at"]  # updated in place, not rebuilt
    reopened = open_library(lib.path).index_info()  # the update was saved with the new state
    assert (reopened["stale"], reopened["n"], reopened["table_version"]) == (
        False,
        5,
        info["state_version"],
    )


def test_unchanged_reingest_leaves_the_index_fresh(tmp_path, footage):
    lib = _lib(tmp_path)
    lib.ingest([footage["a"].parent])
    _found(lib)
    version = lib.index_info()["table_version"]
    lib.ingest([footage["a"].parent])
    assert lib.index_info()["stale"] is False
    _found(lib)
    assert _sync(lib).action == "fresh" and lib.index_info()["table_version"] == version


def test_edited_file_tombstones_its_old_shots_and_adds_the_new(tmp_path, footage):
    lib = _lib(tmp_path, tombstone_share=0.9)
    lib.ingest([footage["a"].parent])
    old = _keys(lib)
    assert _found(lib) == old
    synth.make_video(
        footage["a"], [synth.Shot(45), synth.Shot(45)], seed=9
    )  # same path, new content
    lib.ingest([footage["a"]])
    new = _keys(lib)
    assert len(new) == 4 and len(old - new) == 3 and not (new - old) & old
    found = _found(lib)
    assert found == new and not found & (old - new)
    info = lib.index_info()
    assert (info["stale"], info["n"], info["n_total"], info["tombstones"]) == (False, 4, 7, 3)
    assert (_sync(lib).action, _sync(lib).added, _sync(lib).removed) == ("updated", 2, 3)


def test_prune_tombstones_below_the_share_and_rebuilds_past_it(tmp_path, footage):
    lib = _lib(tmp_path, tombstone_share=0.5)
    lib.ingest([footage["a"].parent])
    _found(lib)
    footage["b"].unlink()
    assert lib.prune()["pruned"] == 1
    assert lib.index_info()["stale"] is True
    assert _found(lib) == _keys(lib) and len(_keys(lib)) == 3
    info = lib.index_info()
    assert (info["n"], info["tombstones"], info["tombstone_share"], info["stale"]) == (
        3,
        2,
        0.4,
        False,
    )
    assert _sync(lib).action == "updated"
    # the same removal with a 20 % share: 2 of 5 tombstoned is past it, so the search rebuilds
    strict = open_library(tmp_path / "lib2", workers=1, tombstone_share=0.2, **TINY)
    synth.make_video(footage["b"], [synth.Shot(40), synth.Shot(30)], seed=2)
    strict.ingest([footage["a"], footage["b"]])
    _found(strict)
    footage["b"].unlink()
    strict.prune()
    assert _found(strict) == _keys(strict)
    assert _sync(strict).action == "built" and "tombstones" in _sync(strict).reason
    info = strict.index_info()
    assert (info["n"], info["n_total"], info["tombstones"], info["stale"]) == (3, 3, 0, False)


def test_optimize_compacts_and_rebuilds_a_fresh_index(tmp_path, footage):
    lib = _lib(tmp_path, tombstone_share=0.9)
    lib.ingest([footage["a"].parent])
    _found(lib)
    footage["b"].unlink()
    lib.prune()
    _found(lib)
    assert lib.index_info()["tombstones"] == 2
    result = lib.optimize()
    info = result["index"]
    assert (info["n"], info["n_total"], info["tombstones"], info["stale"]) == (3, 3, 0, False)
    assert info["table_version"] == info["state_version"]
    assert _found(lib) == _keys(lib) and _sync(lib).action == "fresh"
    assert open_library(lib.path).index_info()["stale"] is False


def test_deferred_shots_are_skipped_with_a_count_until_embedded(tmp_path, footage, caplog):
    lib = _lib(tmp_path)
    lib.ingest([footage["a"]])
    lib.ingest([footage["b"]], embed=False)
    deferred = set(lib.shots(where="embedding IS NULL").column("row_key").to_pylist())
    assert len(deferred) == len(STARTS_B)
    with caplog.at_level(logging.WARNING, logger="rag_video.retrieve.query"):
        found = _found(lib)
    assert not found & deferred and len(found) == len(STARTS_A)
    assert "2 shots have no embedding yet and were skipped" in caplog.text
    assert lib.index_info()["deferred"] == 2
    lib.embed()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag_video.retrieve.query"):
        found = _found(lib)
    assert found == _keys(lib) and deferred <= found
    assert "skipped" not in caplog.text
    assert (_sync(lib).action, _sync(lib).added) in {("updated", 2), ("built", 5)}


def test_switching_models_rebuilds_the_index_for_the_new_encoder(tmp_path, footage):
    lib = _lib(tmp_path)
    lib.ingest([footage["a"]])
    assert lib.search("cliffs").limit(3).to_list()
    assert lib.index_info()["dim"] == 32
    lib.embed(model="RV-Tiny-48", pretrained="none", reembed=True)
    got = lib.search("cliffs").limit(3).to_list()
    assert len(got) == 3 and _sync(lib).action == "built"
    info = lib.index_info()
    assert (info["dim"], info["model_id"], info["stale"]) == (48, "RV-Tiny-48/none", False)
    assert lib._searcher().encoder().model_id == "RV-Tiny-48/none"


def test_a_removed_index_is_rebuilt_and_an_empty_library_says_why(tmp_path, footage):
    lib = _lib(tmp_path)
    with pytest.raises(UsageError, match="no embedded shots"):
        lib.search(vector=np.ones(32)).to_list()
    lib.ingest([footage["a"]])
    _found(lib)
    shutil.rmtree(lib.path / "index")
    fresh = open_library(lib.path)
    assert fresh.index_info()["built"] is False
    assert _found(fresh) == _keys(lib) and _sync(fresh).action == "built"
