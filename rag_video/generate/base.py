"""The generator seam: what `make` asks of a renderer for restyle and fill shots.

Two implementations plug in here: the draft renderer (no model, seconds) and the diffusion
generators (diffusers pipelines). Both return exactly the frames asked for, at the size asked
for, and say what they spent.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from rag_video.errors import RagVideoError


class GenerationError(RagVideoError):
    """A generator could not produce a segment (bad arguments, model failure, out of memory)."""


class ModelUnavailable(GenerationError):
    """A model's weights cannot be loaded; the one-line message says how to fetch them (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class FillContext:
    """Retrieved frames a fill is conditioned on (RGB uint8 HxWx3; any may be None).

    `reference` is the best partial match's keyframe; `first`/`last` are the previous shot's
    last frame and the next shot's first frame, for first-and-last-frame models.
    """

    reference: np.ndarray | None = None
    first: np.ndarray | None = None
    last: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return self.reference is None and self.first is None and self.last is None


@dataclass
class GenResult:
    """Frames a generator produced and what it spent producing them."""

    frames: list[np.ndarray]  # RGB uint8, exactly the requested count and size
    generator: str  # pipeline class name, or "draft"
    model: str | None = None
    steps: int = 0  # denoiser calls actually made (counted, not computed)
    seconds: float = 0.0
    strength: float | None = None
    seed: int | None = None
    latent_frames: int = 0  # latent frames per denoiser call, for cost accounting


@dataclass(frozen=True)
class RestyleRequest:
    """A checked restyle as its hook receives it (`size` as (width, height) ints)."""

    clip_frames: list[np.ndarray]
    prompt: str
    style: str | None
    strength: float
    size: tuple[int, int]
    steps: int
    seed: int


@dataclass(frozen=True)
class FillRequest:
    """A checked fill as its hook receives it (`context` never None)."""

    context: FillContext
    prompt: str
    n_frames: int
    size: tuple[int, int]
    steps: int
    seed: int


@dataclass
class Rendering:
    """What a generator's hook made of one shot; the template adds the seed and the time spent."""

    frames: list[np.ndarray]  # RGB uint8, the requested count at the requested size
    model: str | None = None
    generator: str | None = None  # defaults to the generator's `name`
    steps: int = 0
    strength: float | None = None
    latent_frames: int = 0


class Generator(ABC):
    """A renderer for the two shot kinds that are not plain reuse.

    `size` is (width, height) of the frames to return. `steps` is the nominal number of
    inference steps; a restyle at `strength` s runs about s × steps denoiser calls.

    `restyle` and `fill` are template methods: they check the request against the class's limits
    (`min_size`, `min_steps`, `zero_strength`), let `prepare` load what the role needs, then time
    the hook (`restyle_frames` / `fill_frames`), check that it returned exactly the frames asked
    for, and wrap them in a `GenResult`.
    """

    name: str = "generator"
    #: Smallest width and height accepted.
    min_size: int = 1
    #: Fewest inference steps accepted (0: the generator runs no denoiser).
    min_steps: int = 0
    #: Whether a restyle at strength 0 (the clip as it is) is accepted.
    zero_strength: bool = True

    def restyle(
        self,
        clip_frames: list[np.ndarray],
        prompt: str,
        style: str | None,
        strength: float,
        size: tuple[int, int],
        steps: int,
        *,
        seed: int = 0,
    ) -> GenResult:
        """Return len(clip_frames) frames of `clip_frames` restyled toward prompt/style."""
        if len(clip_frames) == 0:
            raise GenerationError("clip_frames is empty: restyle needs the retrieved clip's frames")
        size = self._check_request(size, steps)
        above_zero = strength >= 0.0 if self.zero_strength else strength > 0.0
        if not above_zero or strength > 1.0:
            interval = "[0, 1]" if self.zero_strength else "(0, 1]"
            raise GenerationError(f"strength={strength} must be in {interval}")
        self.prepare("restyle")
        started = time.perf_counter()
        request = RestyleRequest(clip_frames, prompt, style, strength, size, steps, seed)
        made = self.restyle_frames(request)
        return self._result(made, len(clip_frames), size, seed, started)

    def fill(
        self,
        context_frames: FillContext,
        prompt: str,
        n_frames: int,
        size: tuple[int, int],
        steps: int,
        *,
        seed: int = 0,
    ) -> GenResult:
        """Return n_frames new frames for `prompt`, conditioned on the retrieved context."""
        if n_frames < 1:
            raise GenerationError(f"n_frames={n_frames} must be at least 1")
        size = self._check_request(size, steps)
        self.prepare("fill")
        started = time.perf_counter()
        context = context_frames or FillContext()
        made = self.fill_frames(FillRequest(context, prompt, n_frames, size, steps, seed))
        return self._result(made, n_frames, size, seed, started)

    @abstractmethod
    def restyle_frames(self, request: RestyleRequest) -> Rendering:
        """The restyle hook: len(request.clip_frames) frames at request.size."""

    @abstractmethod
    def fill_frames(self, request: FillRequest) -> Rendering:
        """The fill hook: request.n_frames frames at request.size."""

    def prepare(self, role: str) -> None:  # noqa: B027 - an optional hook, like close()
        """Load what `role` ("restyle" or "fill") needs before the clock starts (a no-op here)."""

    def close(self) -> None:  # noqa: B027 - an optional hook: holding nothing, there is nothing to do
        """Release models and memory held by this generator (a no-op unless overridden)."""

    def _check_request(self, size: tuple[int, int], steps: int) -> tuple[int, int]:
        """`size` as (width, height) ints after checking it and `steps` against the limits."""
        try:
            w, h = (int(v) for v in size)
        except (TypeError, ValueError):
            raise GenerationError(f"size={size!r} must be (width, height)") from None
        if min(w, h) < self.min_size:
            raise GenerationError(
                f"size={size!r} must be (width, height) with both >= {self.min_size}"
            )
        if steps < self.min_steps:
            raise GenerationError(f"steps={steps} must be at least {self.min_steps}")
        return w, h

    def _result(
        self, made: Rendering, n: int, size: tuple[int, int], seed: int, started: float
    ) -> GenResult:
        """The hook's frames as a GenResult, after checking they are the n frames asked for."""
        w, h = size
        got = sorted({f"{f.shape} {f.dtype}" for f in made.frames})
        if len(made.frames) != n or got != [f"{(h, w, 3)} uint8"]:
            raise GenerationError(
                f"{made.generator or self.name} returned {len(made.frames)} frames of "
                f"{', '.join(got) or 'nothing'}; expected n={n} of {(h, w, 3)} uint8"
            )
        return GenResult(
            frames=made.frames,
            generator=made.generator or self.name,
            model=made.model,
            steps=made.steps,
            seconds=time.perf_counter() - started,
            strength=made.strength,
            seed=seed,
            latent_frames=made.latent_frames,
        )
