"""What every pipeline adapter shares: the adapter protocol and the frame and message helpers.

An adapter wraps a loaded pipeline and knows what the generator needs of it: its native size,
its frame window, which frame counts it accepts, how many latent frames one denoiser call
carries, how to pass strength and conditioning, and how to turn its output into RGB uint8
frames. The generator (`rag_video.generate.diffusion`) owns windowing, blending, conforming and
accounting. The concrete adapters are per family: `sd.py` (UNet pipelines) and `ltx.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from rag_video.generate.base import FillContext, GenerationError

# Callback type: called by the pipeline after every denoiser call (diffusers' callback_on_step_end).
StepCallback = Any


class StepCounter:
    """A `callback_on_step_end` that counts the denoiser calls a pipeline actually makes."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
        self.calls += 1
        return callback_kwargs


def to_pil(frame: np.ndarray, size: tuple[int, int]):
    """RGB uint8 HxWx3 array -> PIL image at size (width, height)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame[..., :3]).astype(np.uint8, copy=False))
    if image.size != tuple(size):
        image = image.resize((int(size[0]), int(size[1])), Image.Resampling.BICUBIC)
    return image


def frames_from_output(frames: Any) -> np.ndarray:
    """A pipeline's `output_type="np"` video, (1, F, H, W, 3) floats in [0, 1], as (F, H, W, 3)
    uint8."""
    video = np.asarray(frames)
    if video.ndim == 5:
        video = video[0]
    if video.ndim != 4 or video.shape[-1] != 3:
        raise GenerationError(
            f"pipeline returned frames of shape {video.shape}; expected (F, H, W, 3)"
        )
    return (np.clip(video, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def effective_strength(strength: float, steps: int) -> float:
    """The strength to pass so that at least one denoiser call runs (pipelines run int(steps*s))."""
    if int(steps * strength) >= 1:
        return strength
    return min(1.0, (1.0 + 1e-6) / steps)


def first_line(exc: BaseException | None, limit: int = 200) -> str:
    """The first line of an exception's message (its type name when empty), at most `limit`
    characters. Unlike `rag_video.errors.one_line` it drops the lines after the first (hub and
    torch errors run to many) and caps the length."""
    text = (
        str(exc).strip().splitlines()[0]
        if exc is not None and str(exc).strip()
        else type(exc).__name__
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Adapter(ABC):
    """A loaded pipeline and what the generator needs to know about it."""

    pipeline_class: ClassVar[str]
    role: ClassVar[str]  # "restyle" or "fill"
    default_steps: ClassVar[int] = 25
    cuda_dtype: ClassVar[str] = "float16"  # preferred dtype on CUDA when dtype="auto"
    default_window: ClassVar[int] = 16

    def __init__(self, pipe: Any, model: str) -> None:
        self.pipe = pipe
        self.model = model
        pipe.set_progress_bar_config(disable=True)

    @classmethod
    def load(cls, path: str, **kwargs: Any) -> Any:
        """Load this adapter's pipeline class from a folder or hub id (kwargs go to
        from_pretrained)."""
        import diffusers

        return getattr(diffusers, cls.pipeline_class).from_pretrained(path, **kwargs)

    @property
    def size_multiple(self) -> int:
        """Width and height passed to the pipeline must be multiples of this."""
        return 8

    @property
    @abstractmethod
    def native_size(self) -> tuple[int, int]:
        """(width, height) the model was trained at."""

    @property
    def frame_window(self) -> int:
        """Most frames one pipeline call generates."""
        return self.default_window

    def valid_frames(self, n: int, *, up: bool = True) -> int:
        """The nearest frame count this model accepts (at least n when up, at most n otherwise)."""
        return max(1, n)

    def latent_frames(self, n_frames: int) -> int:
        """Latent frames one denoiser call carries when generating n_frames."""
        return n_frames

    def _common(
        self, steps: int, size: tuple[int, int], generator: Any, callback: StepCallback
    ) -> dict:
        return {
            "num_inference_steps": steps,
            "width": size[0],
            "height": size[1],
            "generator": generator,
            "callback_on_step_end": callback,
            "output_type": "np",
        }


class RestyleAdapter(Adapter):
    """Video-to-video: restyle a window of retrieved frames toward a prompt at a strength."""

    role = "restyle"

    @abstractmethod
    def run(
        self,
        frames: list[np.ndarray],
        prompt: str,
        strength: float,
        steps: int,
        size: tuple[int, int],
        generator: Any,
        callback: StepCallback,
    ) -> np.ndarray:
        """Return restyled frames (valid_frames(len(frames)) of them) as (F, H, W, 3) uint8."""


class FillAdapter(Adapter):
    """Keyframe-conditioned generation of new frames."""

    role = "fill"

    def plan_context(self, context: FillContext) -> tuple[FillContext, bool]:
        """The context to generate from, and whether the result must be reversed in time."""
        return context, False

    @abstractmethod
    def run(
        self,
        context: FillContext,
        prompt: str,
        n_frames: int,
        steps: int,
        size: tuple[int, int],
        generator: Any,
        callback: StepCallback,
    ) -> np.ndarray:
        """Return n_frames (a valid count) new frames as (F, H, W, 3) uint8."""
