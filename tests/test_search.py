"""Search through the Library and the CLI: every index type, exact filters, exclude, diversify,
like, hybrid text fusion, deferred rows, encoder consistency, CLI JSON, contact sheets, GPU path.

Most tests write shots rows directly through the Store (the real schema, `ok` sources rows as
commit markers) so the vectors are known; the CLI and encoder tests use ingested footage.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import TINY, make_footage

from rag_video import open_library, schema
from rag_video.cli import main
from rag_video.errors import UsageError
from rag_video.retrieve import rank

DIM = 32  # RV-Tiny's width: text queries on the synthetic library embed with RV-Tiny
MODEL_ID = "RV-Tiny/none"
LONG_SHOTS = 300  # source 0: one long source whose shots all sit near THEME
OTHER_SOURCES, OTHER_SHOTS = 40, 40
APPROX_RECALL = {"hnsw": 0.95, "ivf": 0.95, "ivfpq": 0.5}  # stated recall@10 per approximate type


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Synthetic:
    """Known vectors and metadata for a library written row by row (see `write_synthetic`)."""

    def __init__(self, seed: int = 7):
        rng = np.random.default_rng(seed)
        self.theme = _unit(rng.standard_normal(DIM))
        centres = _unit(rng.standard_normal((60, DIM)))
        long_vecs = _unit(self.theme + 0.15 / np.sqrt(DIM) * rng.standard_normal((LONG_SHOTS, DIM)))
        n_other = OTHER_SOURCES * OTHER_SHOTS
        other = _unit(
            centres[rng.integers(0, 60, n_other)]
            + 0.8 / np.sqrt(DIM) * rng.standard_normal((n_other, DIM))
        )
        # two shots per other source sit around THEME too, but looser than the long source's
        near = np.arange(OTHER_SOURCES) * OTHER_SHOTS
        other[near] = _unit(
            self.theme + 1.0 / np.sqrt(DIM) * rng.standard_normal((OTHER_SOURCES, DIM))
        )
        self.vectors = np.concatenate([long_vecs, other])
        n = len(self.vectors)
        self.source = np.r_[np.zeros(LONG_SHOTS, int), 1 + np.arange(n_other) // OTHER_SHOTS]
        self.duration = np.round(0.5 + rng.random(n) * 9.5, 3)
        self.width = np.where(rng.random(n) < 0.3, 1080, 1920).astype(np.int32)
        self.deferred = np.zeros(n, bool)
        self.deferred[rng.choice(np.arange(LONG_SHOTS, n), 25, replace=False)] = True
        self.text: list[str | None] = [None] * n
        self.keys = np.arange(n, dtype=np.int64)

    @property
    def searchable(self) -> np.ndarray:
        return ~self.deferred

    def shot_id(self, i: int) -> str:
        return f"src{self.source[i]:03d}:{i}"

    def brute_force(
        self, q: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[list[int], np.ndarray]:
        """Exact top-k keys by cosine among searchable shots (and `mask`), with all scores."""
        scores = self.vectors @ _unit(q)
        ok = self.searchable if mask is None else self.searchable & mask
        order = [
            int(i) for i in np.argsort(-np.where(ok, scores, -np.inf), kind="stable")[:k] if ok[i]
        ]
        return order, scores


def write_synthetic(root: Path, data: Synthetic, *, orphans: int = 5) -> None:
    """Write `data` as a library: shots first, then ok sources rows (the commit markers); plus
    `orphans` shots of a source that never got its ok row (invisible to every query)."""
    from rag_video.store import Store

    store = Store(root)
    now = datetime.now(UTC)
    n = len(data.vectors)
    rows = []
    for i in range(n):
        sid = f"src{data.source[i]:03d}"
        rows.append(
            {
                "row_key": i,
                "shot_id": data.shot_id(i),
                "source_id": sid,
                "path": f"/footage/{sid}.mp4",
                "fps": 25.0,
                "width": int(data.width[i]),
                "height": 1080 if data.width[i] == 1920 else 1920,
                "start_frame": i * 10,
                "end_frame": i * 10 + 10,
                "start_s": i * 0.4,
                "end_s": i * 0.4 + 0.4,
                "duration_s": float(data.duration[i]),
                "transition_in": "cut",
                "text": data.text[i],
                "embedding": None if data.deferred[i] else data.vectors[i].tolist(),
                "embed_model": None if data.deferred[i] else MODEL_ID,
            }
        )
    rng = np.random.default_rng(1)
    for j in range(orphans):  # identical to THEME: would top every theme query if it were visible
        rows.append(
            {
                "row_key": n + j,
                "shot_id": f"orphan:{j}",
                "source_id": "orphan",
                "path": "/footage/orphan.mp4",
                "duration_s": 5.0,
                "width": 1920,
                "height": 1080,
                "embedding": _unit(data.theme + 1e-3 * rng.standard_normal(DIM)).tolist(),
                "embed_model": MODEL_ID,
            }
        )
    sources = [
        {
            "source_id": f"src{s:03d}",
            "path": f"/footage/src{s:03d}.mp4",
            "status": "ok",
            "fps": 25.0,
            "ingested_at": now,
        }
        for s in sorted(set(data.source.tolist()))
    ]
    with store.writer():
        store.allocate_row_keys(n + orphans)
        store.add(
            "shots", schema.to_table(rows, schema.shots_schema(DIM)), schema.shots_schema(DIM)
        )
        store.add("sources", schema.to_table(sources, schema.SOURCES), schema.SOURCES)


@pytest.fixture(scope="module")
def data() -> Synthetic:
    return Synthetic()


@pytest.fixture()
def syn(tmp_path, data):
    write_synthetic(tmp_path / "syn", data)
    return open_library(tmp_path / "syn", **TINY)


def _queries(data: Synthetic, m: int, seed: int = 3) -> np.ndarray:
    """Queries near the data (a stored vector plus noise), like real text-to-image queries."""
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(data.vectors), m, replace=False)
    return _unit(data.vectors[picks] + 0.5 / np.sqrt(DIM) * rng.standard_normal((m, DIM)))


# ---- index types -----------------------------------------------------------------------------


def test_flat_index_equals_numpy_brute_force(syn, data):
    info = syn.build_index("flat")
    assert (info["type"], info["n"], info["stale"]) == ("flat", int(data.searchable.sum()), False)
    for q in _queries(data, 25):
        got = syn.search(vector=q).limit(10).to_arrow()
        expected, scores = data.brute_force(q, 10)
        assert got.column("row_key").to_pylist() == expected
        np.testing.assert_allclose(got.column("score").to_numpy(), scores[expected], atol=1e-5)
        assert got.column("rank").to_pylist() == list(range(1, 11))


@pytest.mark.parametrize("index_type", ["hnsw", "ivf", "ivfpq"])
def test_approximate_index_types_reach_their_stated_recall(syn, data, index_type):
    info = syn.build_index(index_type)
    assert info["type"] == info["requested_type"] == index_type
    assert syn.index_info()["type"] == index_type
    hits = total = 0
    for q in _queries(data, 60):
        got = syn.search(vector=q).limit(10).to_list()
        expected, scores = data.brute_force(q, 10)
        assert len(got) == 10 and len({r["row_key"] for r in got}) == 10
        assert all(data.searchable[r["row_key"]] for r in got)
        hits += len({r["row_key"] for r in got} & set(expected))
        total += len(expected)
        if index_type != "ivfpq":  # PQ scores are approximate by construction
            np.testing.assert_allclose(
                [r["score"] for r in got], scores[[r["row_key"] for r in got]], atol=1e-4
            )
    assert hits / total >= APPROX_RECALL[index_type]


def test_unknown_index_type_is_a_usage_error(syn):
    with pytest.raises(UsageError, match="index_type='annoy'"):  # refused when settings load
        open_library(syn.path, index_type="annoy", **TINY)


# ---- filters, exclude, diversify, like ------------------------------------------------------


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_where_is_exact_and_never_short(syn, data, index_type):
    syn.build_index(index_type)
    q = data.theme  # the long source crowds this query: a post-filter would come up short
    cases = {
        "duration_s > 8 AND width = 1080": (data.duration > 8) & (data.width == 1080),
        "duration_s < 3": data.duration < 3,
    }
    for predicate, mask in cases.items():
        got = syn.search(vector=q).where(predicate).limit(10).to_arrow()
        expected, _ = data.brute_force(q, 10, mask)
        assert len(expected) == 10
        assert got.column("row_key").to_pylist() == expected


def test_very_selective_filter_returns_every_match_and_no_more(syn, data):
    syn.build_index("hnsw")
    picked = [5, LONG_SHOTS + 17, LONG_SHOTS + 900, len(data.vectors) - 1]
    where = "shot_id IN (" + ", ".join(f"'{data.shot_id(i)}'" for i in picked) + ")"
    got = syn.search(vector=data.theme).where(where).limit(10).to_list()
    expected, _ = data.brute_force(data.theme, 10, np.isin(data.keys, picked))
    assert [r["row_key"] for r in got] == expected and len(got) == sum(data.searchable[picked])
    deferred = int(np.flatnonzero(data.deferred)[0])
    assert syn.search(vector=data.theme).where(f"row_key = {deferred}").to_list() == []


def test_exclude_removes_shots_and_refills(syn, data):
    q = _queries(data, 1, seed=11)[0]
    top, _ = data.brute_force(q, 13)
    got = syn.search(vector=q).exclude([data.shot_id(i) for i in top[:3]]).limit(10).to_arrow()
    assert got.column("row_key").to_pylist() == top[3:13]


def test_diversify_keeps_one_long_source_from_filling_the_top_10(syn, data):
    plain = syn.search(vector=data.theme).limit(10).to_list()
    assert {r["source_id"] for r in plain} == {"src000"}  # the long source crowds the plain results
    diverse = syn.search(vector=data.theme).diversify(0.5).limit(10).to_list()
    sources = [r["source_id"] for r in diverse]
    assert len(diverse) == 10 and sources.count("src000") <= 2 and len(set(sources)) >= 8
    assert diverse[0]["row_key"] == plain[0]["row_key"]  # the best match still comes first
    _, scores = data.brute_force(data.theme, 1)
    np.testing.assert_allclose(
        [r["score"] for r in diverse], scores[[r["row_key"] for r in diverse]], atol=1e-5
    )
    with pytest.raises(UsageError, match="lambda_ must be in"):
        syn.search(vector=data.theme).diversify(1.5)


def test_like_ranks_the_shot_itself_first_with_score_1_unless_excluded(syn, data):
    shot = data.shot_id(LONG_SHOTS + 41)
    got = syn.search(like=shot).limit(5).to_list()
    assert got[0]["shot_id"] == shot and got[0]["score"] == 1.0 and got[0]["rank"] == 1
    expected, _ = data.brute_force(data.vectors[LONG_SHOTS + 41], 5)
    assert [r["row_key"] for r in got] == expected
    without = syn.search(like=shot).exclude([shot]).limit(5).to_list()
    assert shot not in {r["shot_id"] for r in without} and len(without) == 5
    assert [r["row_key"] for r in without] == expected[1:] + [
        data.brute_force(data.vectors[LONG_SHOTS + 41], 6)[0][5]
    ]
    filtered = syn.search(like=shot).where(f"shot_id != '{shot}'").limit(3).to_list()
    assert shot not in {r["shot_id"] for r in filtered}
    with pytest.raises(UsageError, match="no such shot"):
        syn.search(like="nope:0").to_list()
    deferred = data.shot_id(int(np.flatnonzero(data.deferred)[0]))
    with pytest.raises(UsageError, match="no embedding yet"):
        syn.search(like=deferred).to_list()


def test_bad_predicate_is_a_one_line_usage_error(syn, data):
    for bad in ("duration_s >", "nope > 1", "shot_id = 3"):
        with pytest.raises(UsageError) as err:
            syn.search(vector=data.theme).where(bad).to_list()
        message = str(err.value)
        assert message.startswith(f"bad --where predicate {bad!r}: ") and "\n" not in message
        assert ".rs:" not in message and len(message) < 300


# ---- visibility ----------------------------------------------------------------------------


def test_deferred_and_uncommitted_shots_are_never_returned_and_skips_are_reported(
    syn, data, caplog
):
    with caplog.at_level(logging.WARNING, logger="rag_video.retrieve.query"):
        got = syn.search(vector=data.theme).limit(50).to_list()
    assert all(data.searchable[r["row_key"]] for r in got)
    assert not any(r["shot_id"].startswith("orphan") for r in got)  # source never committed
    assert f"{int(data.deferred.sum())} shots have no embedding yet and were skipped" in caplog.text
    info = syn.index_info()
    assert (info["n"], info["deferred"]) == (int(data.searchable.sum()), int(data.deferred.sum()))


def test_search_many_equals_single_searches(syn, data):
    qs = _queries(data, 6, seed=5)
    many = syn.search_many(vectors=qs, where="duration_s > 2", limit=7)
    assert len(many) == 6
    for q, table in zip(qs, many, strict=False):
        single = syn.search(vector=q).where("duration_s > 2").limit(7).to_arrow()
        assert table.column("row_key").to_pylist() == single.column("row_key").to_pylist()
        np.testing.assert_allclose(
            table.column("score").to_numpy(), single.column("score").to_numpy(), atol=1e-6
        )
        assert table.schema == single.schema


def test_empty_result_keeps_the_result_columns(syn, data):
    got = syn.search(vector=data.theme).where("duration_s > 1000").to_arrow()
    assert got.num_rows == 0 and {"shot_id", "path", "start_s", "end_s", "score", "rank"} <= set(
        got.column_names
    )


# ---- hybrid text search ----------------------------------------------------------------------


@pytest.fixture()
def texted(tmp_path, data):
    """The synthetic library with three 'zebra' shots placed opposite a text query's vector, so
    only full-text search can find them."""
    from rag_video.embed import load_encoder

    query = "zebra crossing"
    qvec = load_encoder(TINY["model"], None).encode_text([query])[0]
    data = Synthetic()
    zebras = [LONG_SHOTS + 100, LONG_SHOTS + 500, LONG_SHOTS + 1200]
    data.deferred[zebras] = False
    for rank_, i in enumerate(zebras):
        data.vectors[i] = _unit(-qvec + 0.05 * np.eye(DIM)[rank_])
        data.text[i] = "zebra crossing at night" if rank_ == 0 else "a zebra"
    data.text[LONG_SHOTS + 7] = "crossing guard"
    write_synthetic(tmp_path / "texted", data)
    lib = open_library(tmp_path / "texted", **TINY)
    lib.build_index("flat")
    return lib, data, query, qvec, zebras


def test_text_query_fuses_full_text_hits_by_rrf_with_null_scores(texted):
    lib, data, query, qvec, zebras = texted
    got = lib.search(query).limit(10).to_list()
    vector_top, scores = data.brute_force(qvec, 10)
    fts = (
        lib.store.table("shots")
        .search(query, query_type="fts")
        .select(["row_key", "_score"])
        .limit(50)
    )
    text_keys = [k for k in fts.to_arrow().column("row_key").to_pylist() if data.searchable[k]]
    assert set(zebras) <= set(text_keys)
    expected = [k for k, _ in rank.reciprocal_rank_fusion([vector_top, text_keys])][:10]
    assert [r["row_key"] for r in got] == expected
    assert set(zebras) <= {
        r["row_key"] for r in got
    }  # found by text alone: bottom of the vector ranking
    for r in got:
        if r["row_key"] in vector_top:
            assert r["score"] == pytest.approx(float(scores[r["row_key"]]), abs=1e-4)
        else:
            assert r["score"] is None
    assert [r["rank"] for r in got] == list(range(1, 11))


def test_text_hits_obey_where_and_exclude(texted):
    lib, data, query, _, zebras = texted
    got = (
        lib.search(query)
        .where(f"row_key != {zebras[0]}")
        .exclude([data.shot_id(zebras[1])])
        .limit(10)
        .to_list()
    )
    keys = {r["row_key"] for r in got}
    assert zebras[2] in keys and zebras[0] not in keys and zebras[1] not in keys


# ---- ingested footage: encoder consistency and the CLI ----------------------------------------


@pytest.fixture(scope="module")
def footage_lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    footage = make_footage(root / "footage")
    lib = open_library(root / "lib", workers=1, **TINY)
    lib.ingest([root / "footage"])
    return lib, footage


def test_queries_use_the_model_the_table_was_embedded_with(footage_lib):
    lib, _ = footage_lib
    other = open_library(lib.path)  # configured for ViT-B-32 with downloaded weights: never loaded
    assert other.settings.model != TINY["model"]
    got = other.search("red cliffs at dawn").limit(5).to_list()
    encoder = other._searcher().encoder()
    assert encoder.model_id == "RV-Tiny/none"
    qvec = encoder.encode_text(["red cliffs at dawn"])[0]
    rows = {r["row_key"]: r for r in lib.shots().to_pylist()}
    for r in got:
        if r["score"] is not None:
            assert r["score"] == pytest.approx(
                float(np.dot(rows[r["row_key"]]["embedding"], qvec)), abs=1e-4
            )


def _cli(args, code=0):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def test_cli_search_json_has_results_and_nothing_else(footage_lib):
    lib, footage = footage_lib
    out = _cli(["--library", str(lib.path), "search", "cliffs dawn", "--json"])
    doc = json.loads(out.stdout)
    assert list(doc) == ["results"] and len(doc["results"]) == 5
    for row in doc["results"]:
        assert {"shot_id", "path", "start_s", "end_s", "score", "rank"} <= set(
            row
        ) and "thumbnail" not in row
    by_path = [r["path"] for r in doc["results"]]
    assert by_path[:3] == [str(footage["a"])] * 3  # sidecar text matches: fused ahead of b's shots
    shot = doc["results"][4]["shot_id"]
    like = json.loads(
        _cli(
            ["--library", str(lib.path), "--json", "search", "--like", shot, "--limit", "2"]
        ).stdout
    )
    assert like["results"][0]["shot_id"] == shot and like["results"][0]["score"] == 1.0


def test_cli_contact_sheet_writes_a_jpeg(footage_lib, tmp_path):
    from PIL import Image

    lib, _ = footage_lib
    sheet = tmp_path / "out.jpg"
    out = _cli(
        [
            "--library",
            str(lib.path),
            "search",
            "cliffs",
            "--limit",
            "3",
            "--contact-sheet",
            str(sheet),
        ]
    )
    assert "3 results" in out.stdout
    data = sheet.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG" and img.size == (3 * 160, 90 + 16)
        assert np.asarray(img.convert("L")).max() > 40  # thumbnails were drawn, not a black sheet


def test_cli_bad_predicate_is_one_line_and_exit_2(footage_lib):
    lib, _ = footage_lib
    out = _cli(
        ["--library", str(lib.path), "search", "cliffs", "--where", "duration_s >>> 2", "--json"],
        code=2,
    )
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: bad --where predicate 'duration_s >>> 2'"
    )


def test_cli_search_needs_a_query(footage_lib):
    lib, _ = footage_lib
    assert "give a TEXT query" in _cli(["--library", str(lib.path), "search"], code=2).stderr


def test_cli_index_build_and_info_json(footage_lib):
    lib, _ = footage_lib
    built = json.loads(
        _cli(
            ["--library", str(lib.path), "index", "build", "--index-type", "hnsw", "--json"]
        ).stdout
    )
    assert (built["type"], built["requested_type"], built["n"], built["stale"]) == (
        "hnsw",
        "hnsw",
        5,
        False,
    )
    info = json.loads(_cli(["--library", str(lib.path), "--json", "index", "info"]).stdout)
    assert (info["type"], info["n"], info["dim"], info["tombstones"]) == ("hnsw", 5, 32, 0)
    assert info["model_id"] == "RV-Tiny/none"
    assert info["stale"] is False and info["device"] == "cpu"
    _cli(["--library", str(lib.path), "index", "build", "--index-type", "flat", "--json"])


# ---- GPU -------------------------------------------------------------------------------------


def test_gpu_index_matches_brute_force_when_a_gpu_is_present(syn, data):
    import faiss

    if faiss.get_num_gpus() == 0:
        pytest.skip(
            "faiss.get_num_gpus() == 0: no GPU on this machine (the CPU path is tested above)"
        )
    info = syn.build_index("flat")
    assert info["device"] == "gpu"
    for q in _queries(data, 10):
        expected, _ = data.brute_force(q, 10)
        assert syn.search(vector=q).limit(10).to_arrow().column("row_key").to_pylist() == expected


def test_text_search_without_embeddings_uses_full_text_only(tmp_path, caplog):
    from helpers import make_footage

    files = make_footage(tmp_path / "footage")
    lib = open_library(tmp_path / "lib", workers=1, embed=False)
    lib.ingest([files["a"], files["b"]])
    rows = lib.search("cliffs at dawn").limit(2).to_list()
    assert len(rows) == 2 and {r["path"] for r in rows} == {str(files["a"])}
    assert all(r["score"] is None for r in rows) and [r["rank"] for r in rows] == [1, 2]
    assert any("text matches only" in r.getMessage() for r in caplog.records)
