"""The generator seam: what `make` asks of a renderer for restyle and fill shots.

Two implementations plug in here: the draft renderer (no model, seconds) and the diffusion
generators (diffusers pipelines). Both return exactly the frames asked for, at the size asked
for, and say what they spent.
"""

from __future__ import annotations

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


class Generator(ABC):
    """A renderer for the two shot kinds that are not plain reuse.

    `size` is (width, height) of the frames to return. `steps` is the nominal number of
    inference steps; a restyle at `strength` s runs about s × steps denoiser calls.
    """

    name: str = "generator"

    @abstractmethod
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

    @abstractmethod
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

    def close(self) -> None:  # noqa: B027 - an optional hook: holding nothing, there is nothing to do
        """Release models and memory held by this generator (a no-op unless overridden)."""
