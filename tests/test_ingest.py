"""Ingest end to end through the Library: tiling, idempotence, moves, aliases, edits, bad input."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import synth
from helpers import STARTS_A, STARTS_B, TINY, make_footage

from rag_video import open_library
from rag_video.errors import LibraryLocked, UsageError


@pytest.fixture()
def footage(tmp_path):
    return make_footage(tmp_path / "footage")


@pytest.fixture()
def lib(tmp_path):
    return open_library(tmp_path / "lib", workers=1, **TINY)


def _shots_by_source(lib):
    out = {}
    for row in sorted(lib.shots().to_pylist(), key=lambda r: r["start_frame"]):
        out.setdefault(row["path"], []).append(row)
    return out


def test_ingest_tiles_each_video_and_embeds(lib, footage):
    summary = lib.ingest([footage["a"].parent])
    assert (summary.files, summary.ingested, summary.unchanged, summary.failed) == (2, 2, 0, 0)
    assert summary.shots == len(STARTS_A) + len(STARTS_B)
    shots = _shots_by_source(lib)
    for path, starts, frames in ((footage["a"], STARTS_A, 90), (footage["b"], STARTS_B, 70)):
        rows = shots[str(path)]
        assert [r["start_frame"] for r in rows] == starts
        assert [r["end_frame"] for r in rows] == starts[1:] + [frames]
        assert rows[0]["transition_in"] == "start" and rows[1]["transition_in"] == "cut"
        assert rows[0]["start_s"] == 0.0
        assert rows[-1]["end_s"] == pytest.approx(frames / 25)
        for r in rows:
            assert r["duration_s"] == pytest.approx((r["end_frame"] - r["start_frame"]) / 25)
            assert r["embed_model"] == "RV-Tiny/none"
            assert np.linalg.norm(r["embedding"]) == pytest.approx(1.0, abs=1e-4)
            assert r["thumbnail"][:2] == b"\xff\xd8" and 1 <= len(r["keyframe_times"]) <= 3
    src = {r["path"]: r for r in lib.sources().to_pylist()}[str(footage["a"])]
    assert (src["frames"], src["fps"], src["width"], src["height"]) == (90, 25.0, 160, 90)
    assert (
        src["status"] == "ok" and src["error"] is None and src["duration_s"] == pytest.approx(3.6)
    )
    assert (src["title"], src["license"], src["creator"], src["tags"]) == (
        "Red cliffs",
        "CC-BY-4.0",  # the sidecar's "CC-BY 4.0" as its SPDX id
        "Test Camera",
        ["nature", "dawn"],
    )
    assert all("Cliffs at dawn" in r["text"] for r in shots[str(footage["a"])])


def test_reingest_unchanged_is_a_noop(lib, footage):
    lib.ingest([footage["a"].parent])
    versions = {t: lib.store.version(t) for t in ("sources", "shots")}
    before = lib.shots().sort_by("row_key").to_pylist()
    again = lib.ingest([footage["a"].parent])
    assert (again.ingested, again.unchanged, again.failed, again.shots) == (0, 2, 0, 5)
    assert {t: lib.store.version(t) for t in ("sources", "shots")} == versions
    assert lib.shots().sort_by("row_key").to_pylist() == before


def test_moved_file_keeps_its_rows_and_remembers_the_old_path(lib, footage, tmp_path):
    lib.ingest([footage["a"]])
    keys = sorted(lib.shots().column("row_key").to_pylist())
    moved = tmp_path / "elsewhere" / "renamed.mp4"
    moved.parent.mkdir()
    shutil.move(footage["a"], moved)
    summary = lib.ingest([moved])
    assert (summary.ingested, summary.unchanged) == (0, 1)
    (src,) = lib.sources().to_pylist()
    assert src["path"] == str(moved) and src["aliases"] == [str(footage["a"])]
    assert set(lib.shots().column("path").to_pylist()) == {str(moved)}
    assert sorted(lib.shots().column("row_key").to_pylist()) == keys


def test_identical_content_at_two_paths_is_ingested_once(lib, footage, tmp_path):
    copy = footage["a"].parent / "copy of a.mp4"
    shutil.copy(footage["a"], copy)
    summary = lib.ingest([footage["a"], copy])
    assert (summary.ingested, summary.unchanged) == (1, 1)
    (src,) = lib.sources().to_pylist()
    assert src["path"] == str(footage["a"]) and src["aliases"] == [str(copy)]
    assert lib.shots().num_rows == len(STARTS_A)


def test_edited_file_is_reingested_and_replaces_old_rows(lib, footage):
    lib.ingest([footage["a"]])
    old_id = lib.sources().column("source_id")[0].as_py()
    old_keys = set(lib.shots().column("row_key").to_pylist())
    shutil.copy(footage["b"], footage["a"])  # same path, new content
    summary = lib.ingest([footage["a"]])
    assert summary.ingested == 1
    (src,) = lib.sources().to_pylist()
    assert src["source_id"] != old_id and src["path"] == str(footage["a"])
    rows = lib.store.read("shots").to_pylist()
    assert [r["start_frame"] for r in sorted(rows, key=lambda r: r["start_frame"])] == STARTS_B
    assert not old_keys & {r["row_key"] for r in rows}  # row keys are never reused


def test_bad_files_become_failed_rows_and_the_batch_goes_on(lib, footage, tmp_path):
    bad = synth.write_bad_files(tmp_path / "bad")
    summary = lib.ingest([footage["a"], *bad.values()])
    assert (summary.ingested, summary.failed) == (1, len(bad))
    failed = {r["path"]: r for r in lib.sources().to_pylist() if r["status"] == "failed"}
    assert set(failed) == {str(p) for p in bad.values()}
    for row in failed.values():
        assert row["error"] and "\n" not in row["error"] and "Traceback" not in row["error"]
    assert "no video stream" in failed[str(bad["audio_only"])]["error"]
    assert lib.shots().num_rows == len(STARTS_A)
    again = lib.ingest([footage["a"], *bad.values()])
    assert (again.unchanged, again.failed) == (1, len(bad))
    assert len(lib.sources()) == 1 + len(bad)


def test_folder_walk_skips_specials_and_survives_symlink_loops(lib, footage, tmp_path):
    root = footage["a"].parent
    os.symlink(root, root / "loop")
    os.mkfifo(root / "pipe.mp4")
    (root / "notes.txt").write_text("not a video")
    uni = root / "ñandú ✓.mp4"
    shutil.copy(footage["b"], uni)
    synth.make_video(root / "c.mov", [synth.Shot(20)], seed=5)
    summary = lib.ingest([root])
    assert summary.failed == 0 and summary.ingested == 3 and summary.unchanged == 1
    paths = {r["path"] for r in lib.sources().to_pylist()}
    assert str(root / "c.mov") in paths and not any("pipe" in p for p in paths)


def test_named_fifo_is_refused_without_opening(lib, tmp_path):
    fifo = tmp_path / "named.mp4"
    os.mkfifo(fifo)
    summary = lib.ingest([fifo])  # opening it would block forever
    assert summary.failed == 1 and "not a regular file" in summary.failures[0]["error"]


def test_missing_path_is_a_usage_error(lib, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        lib.ingest([tmp_path / "nope.mp4"])


def test_no_embed_then_embed_fills_the_same_vectors(tmp_path, footage):
    eager = open_library(tmp_path / "eager", workers=1, **TINY)
    eager.ingest([footage["a"]])
    lazy = open_library(tmp_path / "lazy", workers=1, **TINY)
    summary = lazy.ingest([footage["a"]], embed=False)
    assert summary.deferred_embeddings == len(STARTS_A)
    assert all(r["embedding"] is None for r in lazy.shots().to_pylist())
    result = lazy.embed()
    assert (result["embedded"], result["deferred"]) == (len(STARTS_A), 0)
    a = {r["shot_id"]: np.array(r["embedding"]) for r in eager.shots().to_pylist()}
    b = {r["shot_id"]: np.array(r["embedding"]) for r in lazy.shots().to_pylist()}
    assert a.keys() == b.keys()
    for key in a:  # ingest embeds JPEG'd samples, embed decodes afresh: near, not equal
        assert float(a[key] @ b[key]) > 0.98


def test_other_model_is_refused_until_reembed(lib, footage):
    lib.ingest([footage["a"]])
    with pytest.raises(UsageError, match="reembed"):
        lib.ingest([footage["b"]], model="RV-Tiny", pretrained="other-tag")
    result = lib.embed(model="RV-Tiny-48", pretrained="none", reembed=True)
    assert result["embedded"] == len(STARTS_A) and result["model"] == "RV-Tiny-48/none"
    assert {len(r["embedding"]) for r in lib.shots().to_pylist()} == {48}


def test_unreachable_weights_defer_embeddings_with_one_warning(tmp_path, footage, caplog):
    lib = open_library(
        tmp_path / "lib", workers=1, model="ViT-B-32", pretrained="laion2b_s34b_b79k"
    )
    summary = lib.ingest([footage["a"], footage["b"]])
    assert summary.ingested == 2 and summary.deferred_embeddings == 5
    warnings = [r for r in caplog.records if "deferred" in r.getMessage()]
    assert len(warnings) == 1 and "laion2b_s34b_b79k" in warnings[0].getMessage()


def test_orphan_shots_are_invisible_and_cleaned(lib, footage):
    from rag_video import schema
    from rag_video.ingest import commit

    lib.ingest([footage["a"]])
    row = dict(lib.shots().to_pylist()[0], source_id="ghost", shot_id="ghost:0", row_key=999)
    with lib.store.writer():
        lib.store.add(
            "shots", schema.to_table([row], schema.shots_schema(32)), schema.shots_schema(32)
        )
    assert "ghost" not in lib.shots().column("source_id").to_pylist()
    assert lib.sql("select count(*) as n from shots").column("n")[0].as_py() == len(STARTS_A)
    with lib.store.writer():
        assert commit.cleanup(lib.store) == 1
    assert lib.store.read("shots").num_rows == len(STARTS_A)


def test_prune_drops_sources_whose_files_are_gone(lib, footage):
    lib.ingest([footage["a"], footage["b"]])
    footage["b"].unlink()
    result = lib.prune()
    assert result["pruned"] == 1 and result["paths"] == [str(footage["b"])]
    assert {r["path"] for r in lib.sources().to_pylist()} == {str(footage["a"])}
    assert lib.store.read("shots").num_rows == len(STARTS_A)


def test_second_writer_gets_a_clear_error(lib, tmp_path):
    other = open_library(lib.path, lock_timeout=0.3)
    with (
        lib.store.writer(),
        pytest.raises(LibraryLocked, match="being written by pid"),
        other.store.writer(0.3),
    ):
        pass


def test_workers_give_the_same_library(tmp_path, footage):
    from helpers import snapshot

    one = open_library(tmp_path / "one", workers=1, **TINY)
    one.ingest([footage["a"].parent])
    two = open_library(tmp_path / "two", workers=2, **TINY)
    two.ingest([footage["a"].parent])
    assert snapshot(one) == snapshot(two)


def test_txt_and_srt_sidecars_fill_the_text_fields(lib, footage):
    footage["b"].with_suffix(".txt").write_text(
        "Harbour at night\nBoats rocking under the lights.\n"
    )
    footage["b"].with_suffix(".srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nfirst <i>line</i>\n\n"
        "2\n00:00:01,800 --> 00:00:02,500\nsecond line\n"
    )
    lib.ingest([footage["b"]])
    (src,) = lib.sources().to_pylist()
    assert src["title"] == "Harbour at night" and "Boats rocking" in src["description"]
    first, second = sorted(lib.shots().to_pylist(), key=lambda r: r["start_frame"])  # cut at 1.6 s
    assert "first line" in first["text"] and "second line" not in first["text"]
    assert "second line" in second["text"] and "first line" not in second["text"]


def test_samples_beyond_the_memory_budget_wait_as_jpeg(tmp_path, footage, monkeypatch):
    from rag_video.ingest import analyze

    raw = open_library(tmp_path / "raw", workers=1, **TINY)
    raw.ingest([footage["a"]])
    monkeypatch.setattr(analyze, "RAW_SAMPLE_BUDGET", 0)  # every sample goes through JPEG
    jpeg = open_library(tmp_path / "jpeg", workers=1, **TINY)
    jpeg.ingest([footage["a"]])
    a = {r["shot_id"]: np.array(r["embedding"]) for r in raw.shots().to_pylist()}
    b = {r["shot_id"]: np.array(r["embedding"]) for r in jpeg.shots().to_pylist()}
    assert a.keys() == b.keys() and all(float(a[k] @ b[k]) > 0.98 for k in a)


def test_encoder_config_is_stored_once_with_the_shots_table(tmp_path, footage):
    from rag_video.embed.config import METADATA_KEY, EncoderConfig, table_encoder

    lazy = open_library(tmp_path / "lazy", workers=1, **TINY)
    lazy.ingest([footage["a"]], embed=False)
    assert METADATA_KEY.encode() not in (lazy.store.dataset("shots").schema.metadata or {})
    assert table_encoder(lazy.store.dataset("shots")) is None
    lazy.embed()
    ds = lazy.store.dataset("shots")
    stored = EncoderConfig.from_metadata(ds.schema.metadata)
    assert stored is not None and table_encoder(ds) == stored
    assert (stored.model, stored.pretrained, stored.dim) == ("RV-Tiny", "none", 32)
    assert stored.image_size and stored.mean and stored.std and stored.interpolation
    assert {r["embed_model"] for r in lazy.shots().to_pylist()} == {stored.model_id}
    lazy.embed(model="RV-Tiny-48", pretrained="none", reembed=True)
    assert table_encoder(lazy.store.dataset("shots")).model_id == "RV-Tiny-48/none"


def test_library_without_a_stored_encoder_config_reads_the_embed_model_column(lib, footage):
    from rag_video.embed.config import METADATA_KEY, EncoderConfig, table_encoder

    lib.ingest([footage["a"]])
    ds = lib.store.dataset("shots")
    ds.update_schema_metadata({METADATA_KEY: None})  # as written before the config was stored
    ds = lib.store.dataset("shots")
    assert EncoderConfig.from_metadata(ds.schema.metadata) is None
    legacy = table_encoder(ds)
    assert legacy == EncoderConfig(model="RV-Tiny", pretrained="none", dim=32)
    assert lib.search("a red cliff").limit(2).to_arrow().num_rows == 2
    with pytest.raises(UsageError, match="reembed"):
        lib.ingest([footage["b"]], model="RV-Tiny", pretrained="other-tag")
    summary = lib.ingest([footage["b"]])
    assert summary.ingested == 1 and summary.deferred_embeddings == 0
    stored = EncoderConfig.from_metadata(lib.store.dataset("shots").schema.metadata)
    assert stored is not None and stored.model_id == legacy.model_id
