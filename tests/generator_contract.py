"""The contract every generator keeps, as a mixin its test class inherits (after diffusers'
PipelineTesterMixin).

A concrete class provides only a class-scoped ``generator`` fixture building its generator;
everything here runs that generator for real at tiny sizes with a few inference steps:

    class TestDraftContract(GeneratorContract):
        @pytest.fixture(scope="class")
        def generator(self):
            return DraftGenerator()
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest

from rag_video.generate.base import FillContext, GenerationError, Generator, GenResult

#: Requested (width, height): landscape 16:9 and portrait 9:16.
SIZES = [(64, 36), (36, 64)]


def frames(n: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[np.ndarray]:
    """n random RGB uint8 frames at size (width, height)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


def context() -> FillContext:
    """A fill context every generator can work from (a keyframe and the neighbouring frames)."""
    ref, first, last = (frames(1, seed=s)[0] for s in (1, 2, 3))
    return FillContext(reference=ref, first=first, last=last)


def same(a: GenResult, b: GenResult) -> bool:
    return len(a.frames) == len(b.frames) and all(
        np.array_equal(x, y) for x, y in zip(a.frames, b.frames, strict=True)
    )


# A bad request, and the "argument=value" its error must name.
Call = Callable[[Generator], object]
BAD_REQUESTS: list[tuple[str, Call, str]] = [
    ("strength>1", lambda g: g.restyle(frames(2), "x", None, 1.5, (32, 32), 2), "strength=1.5"),
    ("strength<0", lambda g: g.restyle(frames(2), "x", None, -0.1, (32, 32), 2), "strength=-0.1"),
    ("zero width", lambda g: g.restyle(frames(2), "x", None, 0.5, (0, 32), 2), "size=(0, 32)"),
    ("not a size", lambda g: g.fill(context(), "x", 3, "big", 2), "size='big'"),  # type: ignore[arg-type]
    ("zero frames", lambda g: g.fill(context(), "x", 0, (32, 32), 2), "n_frames=0"),
    ("negative frames", lambda g: g.fill(context(), "x", -3, (32, 32), 2), "n_frames=-3"),
    ("negative steps", lambda g: g.fill(context(), "x", 3, (32, 32), -1), "steps=-1"),
    ("empty clip", lambda g: g.restyle([], "x", None, 0.5, (32, 32), 2), "clip_frames is empty"),
]


class GeneratorContract:
    """Tests every generator passes; subclasses override the ``generator`` fixture."""

    #: Nominal inference steps of every call (at strength 0.5 a restyle runs one denoiser call).
    steps = 2

    @pytest.fixture(scope="class")
    def generator(self) -> Generator:
        raise NotImplementedError("a GeneratorContract test class provides a generator fixture")

    @pytest.mark.parametrize("size", SIZES)
    def test_restyle_returns_exactly_the_frames_asked_for(
        self, generator: Generator, size: tuple[int, int]
    ) -> None:
        clip = frames(5)
        before = [f.copy() for f in clip]
        result = generator.restyle(clip, "a dog", "oil painting", 0.5, size, self.steps, seed=3)
        assert isinstance(generator, Generator) and isinstance(result, GenResult)
        assert len(result.frames) == 5
        assert all(f.shape == (size[1], size[0], 3) and f.dtype == np.uint8 for f in result.frames)
        assert all(np.array_equal(a, b) for a, b in zip(clip, before, strict=True))  # untouched
        assert result.generator and result.seed == 3 and result.strength is not None
        assert result.steps >= 0 and result.seconds >= 0.0

    @pytest.mark.parametrize("size", SIZES)
    def test_fill_returns_exactly_the_frames_asked_for(
        self, generator: Generator, size: tuple[int, int]
    ) -> None:
        result = generator.fill(context(), "a dog", 6, size, self.steps, seed=5)
        assert len(result.frames) == 6
        assert all(f.shape == (size[1], size[0], 3) and f.dtype == np.uint8 for f in result.frames)
        assert result.generator and result.seed == 5 and result.strength is None
        assert result.steps >= 0 and result.seconds >= 0.0

    def test_same_seed_reproduces_and_another_seed_moves_a_fill(self, generator: Generator) -> None:
        size, clip = SIZES[0], frames(3)
        a, b = (generator.restyle(clip, "a dog", None, 0.5, size, self.steps, seed=7) for _ in "ab")
        assert same(a, b)
        c, d = (generator.fill(context(), "a dog", 4, size, self.steps, seed=7) for _ in "cd")
        assert same(c, d)
        assert not same(c, generator.fill(context(), "a dog", 4, size, self.steps, seed=8))

    def test_one_frame_shots_are_made(self, generator: Generator) -> None:
        size = SIZES[1]
        assert len(generator.restyle(frames(1), "a dog", None, 0.5, size, self.steps).frames) == 1
        assert len(generator.fill(context(), "a dog", 1, size, self.steps).frames) == 1

    @pytest.mark.parametrize(
        "call,named", [(c, n) for _, c, n in BAD_REQUESTS], ids=[i for i, _, _ in BAD_REQUESTS]
    )
    def test_bad_request_names_the_argument_and_its_value(
        self, generator: Generator, call: Call, named: str
    ) -> None:
        with pytest.raises(GenerationError, match=re.escape(named)):
            call(generator)
