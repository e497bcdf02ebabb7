"""Draft renderer: LAB look transfer, Ken Burns fill, title cards, labels, and the trim window."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import synth
from generator_contract import GeneratorContract, frames

from rag_video.generate.base import FillContext, GenerationError, Generator, Rendering
from rag_video.generate.draft import LOOKS, DraftGenerator, resolve_look
from rag_video.generate.trim import best_trim_start, best_window, clip_measures, frame_sharpness
from rag_video.media.captions import title_card
from rag_video.media.clip import conform_frame

SIZE = (160, 90)


def _texture(seed: int, tint: tuple[float, float, float], size=(192, 108)) -> np.ndarray:
    """A smooth random texture tinted by ``tint`` (RGB multipliers)."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(
        rng.uniform(40, 220, (9, 16)).astype(np.float32), size, interpolation=cv2.INTER_CUBIC
    )
    img = np.stack([base * t for t in tint], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def _lab_mean(frames: list[np.ndarray]) -> np.ndarray:
    return np.mean(
        [cv2.cvtColor(f, cv2.COLOR_RGB2LAB).reshape(-1, 3).mean(axis=0) for f in frames], axis=0
    )


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    return [_texture(i, (0.55, 0.75, 1.1)) for i in range(6)]  # bluish


# ------------------------------------------------------------------------------------ restyle


def test_restyle_toward_reference_moves_lab_means_and_strength_zero_is_identity(clip):
    reference = _texture(99, (1.15, 0.8, 0.45))  # orange
    gen = DraftGenerator(reference=reference, label=False)
    assert isinstance(gen, Generator)
    before = _lab_mean([conform_frame(f, SIZE) for f in clip])
    target = _lab_mean([reference])
    full = gen.restyle(clip, "a street", None, 1.0, SIZE, 20)
    half = gen.restyle(clip, "a street", None, 0.5, SIZE, 20)
    none = gen.restyle(clip, "a street", None, 0.0, SIZE, 20)
    d_before, d_half, d_full = (
        np.linalg.norm(m - target) for m in (before, _lab_mean(half.frames), _lab_mean(full.frames))
    )
    assert d_full < 0.25 * d_before and d_full < d_half < d_before
    assert all(
        np.array_equal(a, conform_frame(b, SIZE)) for a, b in zip(none.frames, clip, strict=True)
    )
    assert len(full.frames) == len(clip) and full.frames[0].shape == (90, 160, 3)
    assert (full.generator, full.steps, full.strength, full.model) == (
        "draft",
        0,
        1.0,
        "reinhard-lab:reference",
    )


def test_restyle_named_looks_shift_colour_as_named():
    clip = [_texture(i, (1.0, 0.97, 0.95)) for i in range(4)]  # nearly neutral
    gen = DraftGenerator(label=False)
    base = _lab_mean([conform_frame(f, SIZE) for f in clip])
    warm = gen.restyle(clip, "x", "warm", 1.0, SIZE, 0)
    assert (
        warm.model == "reinhard-lab:warm" and _lab_mean(warm.frames)[2] > base[2] + 20
    )  # toward yellow
    cool = gen.restyle(clip, "x", "cool", 1.0, SIZE, 0)
    assert _lab_mean(cool.frames)[2] < base[2] - 15  # toward blue
    bw = gen.restyle(clip, "x", "black and white", 1.0, SIZE, 0)
    chroma = np.concatenate(
        [cv2.cvtColor(f, cv2.COLOR_RGB2LAB)[..., 1:].reshape(-1, 2) for f in bw.frames]
    )
    assert bw.model == "reinhard-lab:noir" and chroma.astype(float).std(axis=0).max() < 2.0


def test_resolve_look_keywords():
    assert resolve_look("warm") == "warm"
    assert resolve_look("Black and White film noir") == "noir"
    assert resolve_look("soft watercolor wash") == "pastel"
    assert resolve_look(None, "a sepia photograph of a harbour") == "sepia"
    assert resolve_look("surreal", "a cat") == "neutral"
    assert set(LOOKS) >= {"neutral", "warm", "cool", "noir", "sepia", "vintage", "vivid", "pastel"}


def test_restyle_label_is_burned_into_the_corner(clip):
    plain = DraftGenerator(label=False).restyle(clip, "x", "vivid", 1.0, SIZE, 0).frames[0]
    labelled = DraftGenerator().restyle(clip, "x", "vivid", 1.0, SIZE, 0).frames[0]
    diff = np.abs(plain.astype(int) - labelled.astype(int))
    assert diff[:15, :70].max() > 60 and diff[30:, :].max() == 0 and diff[:, 90:].max() == 0


# ------------------------------------------------------------------------------------ fill


def test_fill_from_reference_is_a_smooth_moving_shot_starting_at_the_reference_crop():
    reference = _texture(7, (1.0, 0.9, 0.8), size=(320, 240))
    result = DraftGenerator(label=False).fill(
        FillContext(reference=reference), "a field", 30, SIZE, 25, seed=3
    )
    frames = result.frames
    assert len(frames) == 30 and all(
        f.shape == (90, 160, 3) and f.dtype == np.uint8 for f in frames
    )
    steps = [
        float(np.abs(a.astype(int) - b.astype(int)).mean())
        for a, b in zip(frames, frames[1:], strict=False)
    ]
    assert all(s > 0 for s in steps) and max(steps) < 6  # every frame moves, none jumps
    assert _psnr(frames[0], conform_frame(reference, SIZE)) >= 25
    assert _psnr(frames[-1], conform_frame(reference, SIZE)) < _psnr(
        frames[0], conform_frame(reference, SIZE)
    )
    assert (result.generator, result.model, result.steps) == ("draft", "ken-burns", 0)


def test_fill_uses_first_or_last_frame_when_no_reference():
    last = _texture(11, (0.9, 1.0, 0.7))
    frames = DraftGenerator(label=False).fill(FillContext(last=last), "x", 5, SIZE, 0).frames
    assert _psnr(frames[0], conform_frame(last, SIZE)) >= 25


def test_fill_with_empty_context_is_a_title_card_of_the_prompt():
    result = DraftGenerator().fill(
        FillContext(), "A lighthouse on a stormy coast at night", 12, SIZE, 0
    )
    assert result.model == "title-card" and len(result.frames) == 12
    card = result.frames[0]
    bright = card[25:70, 10:150].max(axis=2) > 200  # white text over the dark card's centre
    assert bright.sum() > 100
    bare = title_card("", SIZE)
    assert bare[25:70].max() < 60
    label_area = np.abs(
        card[:14, :60].astype(int)
        - title_card("A lighthouse on a stormy coast at night", SIZE)[:14, :60].astype(int)
    )
    assert label_area.max() > 60  # "DRAFT fill" in the corner


# ------------------------------------------------------------------------------------ the contract


class TestDraftContract(GeneratorContract):
    @pytest.fixture(scope="class")
    def generator(self) -> Generator:
        return DraftGenerator()


def test_draft_restyle_at_strength_zero_is_accepted_and_steps_are_ignored(clip):
    result = DraftGenerator(label=False).restyle(clip, "x", None, 0.0, SIZE, 0)
    assert result.strength == 0.0 and result.steps == 0 and len(result.frames) == len(clip)
    with pytest.raises(GenerationError, match=r"size=\(1, 90\) must be .* both >= 2"):
        DraftGenerator().fill(FillContext(), "x", 3, (1, 90), 0)


class _Short(DraftGenerator):
    """A generator whose fill hook drops a frame and whose restyle hook returns floats."""

    def fill_frames(self, request):
        return Rendering(frames(request.n_frames - 1, request.size))

    def restyle_frames(self, request):
        made = frames(len(request.clip_frames), request.size)
        return Rendering([f.astype(np.float32) for f in made])


def test_the_template_refuses_a_hook_that_breaks_the_contract(clip):
    with pytest.raises(GenerationError, match="draft returned 3 frames .* expected n=4"):
        _Short().fill(FillContext(), "x", 4, SIZE, 0)
    with pytest.raises(GenerationError, match="uint8"):
        _Short().restyle(clip, "x", None, 0.5, SIZE, 0)


# ------------------------------------------------------------------------------------ trim window


def _half_blurred(n: int = 40) -> list[np.ndarray]:
    frames, _ = synth.build_frames([synth.Shot(n, motion="static")], seed=4)
    return [cv2.GaussianBlur(f, (0, 0), 3) if i < n // 2 else f for i, f in enumerate(frames)]


def test_frame_sharpness_prefers_sharp_pictures():
    sharp = synth.build_frames([synth.Shot(1)], seed=2)[0][0]
    gray = cv2.cvtColor(sharp, cv2.COLOR_RGB2GRAY)
    assert frame_sharpness(gray) > 3 * frame_sharpness(cv2.GaussianBlur(gray, (0, 0), 3))


def test_best_window_picks_the_sharp_half():
    sharp, motion = clip_measures(_half_blurred(40))
    start = best_window(sharp, motion, 15)
    assert 20 <= start <= 25
    assert best_window(sharp, motion, 40) == 0 and best_window(sharp, motion, 60) == 0


def test_best_window_avoids_a_cut_like_spike():
    sharp = np.ones(30)
    motion = np.full(30, 0.01)
    motion[12] = 0.5  # frame 12 jumps: a missed cut
    start = best_window(sharp, motion, 10)
    assert start + 10 <= 12 or start >= 12
    assert best_window(sharp, motion, 10) == 0  # ties go to the earliest clean window


def test_best_trim_start_reads_the_file(tmp_path):
    path = synth.write_video(tmp_path / "half.mp4", _half_blurred(50), crf=10)
    start = best_trim_start(path, 0.0, 2.0, 0.8, sample_fps=10)
    assert 1.0 <= start <= 1.2
    assert best_trim_start(path, 0.4, 1.0, 0.6) == 0.4  # nothing to choose
