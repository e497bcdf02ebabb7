"""Per-shot decisions over a plan-wide assignment."""

from __future__ import annotations

import numpy as np

from rag_video.generate.candidates import Retrieval
from rag_video.generate.decide import decide
from rag_video.generate.plan import Plan, PlannedShot
from rag_video.generate.text_match import text_score


def _plan(n: int, overrides: dict | None = None) -> Plan:
    shots = [
        PlannedShot(index=i, text=f"shot {i}", duration_s=1.0, **(overrides or {}).get(i, {}))
        for i in range(n)
    ]
    return Plan(shots=shots, source="test")


def _rows(n: int, duration: float = 2.0) -> list[dict]:
    return [
        {
            "shot_id": f"s{j}:0",
            "source_id": f"s{j}",
            "path": f"/f/{j}.mp4",
            "start_s": 0.0,
            "end_s": duration,
            "duration_s": duration,
            "start_frame": 0,
            "end_frame": round(duration * 25),
        }
        for j in range(n)
    ]


def _ret(rows: list[dict], scores) -> Retrieval:
    return Retrieval(
        rows, np.asarray(scores, np.float64), "vector", [[] for _ in range(len(scores))]
    )


def test_thresholds_decide_reuse_restyle_fill():
    scores = np.array([[0.9, -np.inf, -np.inf], [-np.inf, 0.5, -np.inf], [-np.inf, -np.inf, 0.1]])
    choices = decide(_plan(3), _ret(_rows(3), scores), reuse_threshold=0.8, fill_threshold=0.3)
    assert [c.decision for c in choices] == ["reuse", "restyle", "fill"]
    assert [c.score for c in choices] == [0.9, 0.5, 0.1]
    assert choices[2].candidate is None and choices[2].candidates[0]["shot_id"] == "s2:0"
    assert "0.900 >= reuse threshold 0.8" in choices[0].reason["text"]


def test_a_shot_that_will_be_filled_does_not_steal_a_good_match():
    scores = np.array([[1.0, 0.5], [0.17, -np.inf]])  # shot 1's only candidate is shot 0's best
    choices = decide(_plan(2), _ret(_rows(2), scores), reuse_threshold=0.75, fill_threshold=0.4)
    assert choices[0].candidate["shot_id"] == "s0:0" and choices[0].decision == "reuse"
    assert choices[1].decision == "fill" and choices[1].candidate is None


def test_taken_candidates_make_a_fill_with_a_reason():
    scores = np.array([[1.0], [0.9]])
    choices = decide(_plan(2), _ret(_rows(1), scores), reuse_threshold=0.75, fill_threshold=0.4)
    assert choices[1].decision == "fill" and "used by other shots" in choices[1].reason["text"]


def test_script_override_wins_but_needs_a_candidate_to_reuse():
    scores = np.array([[0.1], [-np.inf]])
    plan = _plan(2, {0: {"decision": "reuse"}, 1: {"decision": "restyle"}})
    choices = decide(plan, _ret(_rows(1), scores), reuse_threshold=0.75, fill_threshold=0.0)
    assert choices[0].decision == "reuse" and choices[0].reason["override"] == "reuse"
    assert choices[1].decision == "fill"  # nothing to restyle from


def test_text_score_is_the_share_of_query_words_found():
    assert text_score("a cup of coffee", "Coffee cups on a saucer") == 1.0
    assert text_score("red cliffs at dawn", "cliffs at dusk") == 1 / 3
    assert text_score("the", "anything") == 0.0


def test_a_forced_reuse_takes_the_best_candidate_even_when_another_shot_has_it():
    scores = np.array([[0.9], [0.2]])
    plan = _plan(2, {1: {"decision": "reuse"}})
    choices = decide(plan, _ret(_rows(1), scores), reuse_threshold=0.75, fill_threshold=0.4)
    assert [c.decision for c in choices] == ["reuse", "reuse"]
    assert choices[1].candidate["shot_id"] == "s0:0" and "used again" in choices[1].reason["text"]


def test_text_scores_agree_with_text_score():
    from rag_video.generate.text_match import text_scores

    queries = ["a cup of coffee", "red cliffs at dawn", "the"]
    texts = ["Coffee cups on a saucer", "cliffs at dusk", None, "dawn over red cliffs"]
    got = text_scores(queries, texts)
    for i, q in enumerate(queries):
        for j, t in enumerate(texts):
            want = text_score(q, t)
            assert got[i, j] == (want if want > 0 else -np.inf)


def test_a_reference_image_adds_its_unit_vector_to_the_shots_text_vector(tmp_path):
    """A shot with `image:` queries with unit(unit(text) + unit(image)); the other shots with
    their text alone, all encoded in one call."""
    import json

    from helpers import TINY, make_footage

    from rag_video import open_library
    from rag_video.generate.candidates import _query_vectors
    from rag_video.generate.plan import load_plan
    from rag_video.media.image import encode_rgb
    from rag_video.vectors import unit_rows

    files = make_footage(tmp_path / "footage")
    lib = open_library(tmp_path / "lib", workers=1, **TINY)
    lib.ingest([files["a"].parent])
    ref = tmp_path / "ref.png"
    ref.write_bytes(encode_rgb(np.full((32, 48, 3), (200, 40, 40), np.uint8)))
    board = tmp_path / "board.yaml"
    board.write_text(
        json.dumps({"shots": [{"text": "a red field"}, {"text": "a boat", "image": str(ref)}]})
    )
    searcher = lib._searcher()
    loads = []
    real_load = searcher._load_encoder
    searcher._load_encoder = lambda *a, **kw: loads.append(kw["towers"]) or real_load(*a, **kw)
    got = _query_vectors(searcher, load_plan(board))
    assert loads == [("image", "text")]  # one load with both towers, not text then both
    text = unit_rows(searcher.vectors_for(texts=["a red field", "a boat"]))
    image = unit_rows(searcher.vectors_for(images=[ref]))
    np.testing.assert_allclose(got[0], text[0], atol=1e-5)
    np.testing.assert_allclose(got[1], unit_rows(text[1:] + image)[0], atol=1e-5)
