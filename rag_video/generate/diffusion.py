"""Diffusion restyle and fill: diffusers pipelines behind the generator seam.

A model is named by a diffusers model id or a local folder saved with `save_pretrained`; its
pipeline class is read from `model_index.json` (`_class_name`) and dispatched to an adapter
(`rag_video.generate.adapters`). An AnimateDiff restyle model may also be named `BASE+ADAPTER`: an
SD-1.5 pipeline (id or folder) plus a motion adapter (id or folder); a folder saved from an
`AnimateDiffVideoToVideoPipeline` holds its motion adapter as a component and needs no `+`.

Long shots are generated in overlapping windows of the model's frame window (or `max_window`),
blended at the seams with a linear crossfade over the overlap. Seed policy: every window draws
its noise from a CPU `torch.Generator` seeded with the shot's seed, so a window's output depends
only on (seed, its inputs) on any device, and re-rendering a shot reproduces it exactly. Fill
windows after the first are conditioned on the previous window's frame at their start, so the
chain stays continuous; only the last window is conditioned on the next shot's first frame.

Generation runs at `gen_size` (default: the model's native pixel count at the requested aspect
ratio, rounded to the model's size multiple); the result is resampled in time to exactly the
requested frame count and resized to the requested size.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from rag_video.generate.adapters import (
    Adapter,
    FillAdapter,
    RestyleAdapter,
    StepCounter,
    effective_strength,
    first_line,
    load_pipeline,
    parse_model_spec,
    quiet_library,
    resolve_adapter,
)
from rag_video.generate.base import (
    FillContext,
    FillRequest,
    GenerationError,
    Generator,
    Rendering,
    RestyleRequest,
)
from rag_video.generate.windows import (
    Windows,
    blend_windows,
    native_gen_size,
    plan_windows,
    resample_frames,
    resample_index,
    resize_frames,
    round_size,
)

__all__ = [
    "DEFAULT_FILL_MODEL",
    "DEFAULT_MODELS",
    "DEFAULT_RESTYLE_MODEL",
    "DiffusionGenerator",
    "strength_from_score",
]

logger = logging.getLogger(__name__)

#: One pipeline call waiting for its seeded `torch.Generator` (and, until the loop adds it, the
#: step-counting callback).
Call = Callable[..., np.ndarray]

#: Default restyle model: Stable Diffusion 1.5 with the AnimateDiff v1-5-2 motion adapter.
DEFAULT_RESTYLE_MODEL = (
    "stable-diffusion-v1-5/stable-diffusion-v1-5+guoyww/animatediff-motion-adapter-v1-5-2"
)
#: Default fill model: Stable Video Diffusion XT (25 frames, 1024×576), image-to-video.
DEFAULT_FILL_MODEL = "stabilityai/stable-video-diffusion-img2vid-xt"
DEFAULT_MODELS = {"restyle": DEFAULT_RESTYLE_MODEL, "fill": DEFAULT_FILL_MODEL}


def strength_from_score(
    score: float, reuse_threshold: float, fill_threshold: float, lo: float = 0.3, hi: float = 0.8
) -> float:
    """Restyle strength for a retrieval score: `lo` at the reuse threshold, `hi` at the fill one.

    A closer match keeps more of the retrieved clip (lower strength, so fewer denoiser calls:
    video-to-video pipelines run about strength × steps). Linear in between, clamped outside.
    """
    if not reuse_threshold > fill_threshold:
        raise GenerationError(
            f"reuse_threshold={reuse_threshold} must be above fill_threshold={fill_threshold}"
        )
    if not 0.0 < lo <= hi <= 1.0:
        raise GenerationError(f"strength bounds lo={lo}, hi={hi} must satisfy 0 < lo <= hi <= 1")
    t = (reuse_threshold - score) / (reuse_threshold - fill_threshold)
    return lo + min(1.0, max(0.0, t)) * (hi - lo)


def compose_prompt(prompt: str, style: str | None) -> str:
    """The text a pipeline is prompted with: the shot's text, then its style."""
    parts = [p.strip() for p in (prompt, style) if p and p.strip()]
    return ", ".join(parts)


# ---------------------------------------------------------------- the generator


class DiffusionGenerator(Generator):
    """Restyle and fill with diffusers pipelines, one pipeline per role loaded once and kept.

    `restyle_model` / `fill_model`: diffusers id or folder (defaults: DEFAULT_RESTYLE_MODEL,
    DEFAULT_FILL_MODEL); `device`: "auto" | "cpu" | "cuda[:n]"; `dtype`: "auto" | "float32" |
    "float16" | "bfloat16"; `gen_size`: (width, height) to generate at; `max_window`: cap on the
    frames per pipeline call (the model's frame window otherwise). When both roles name the same
    model, one loaded pipeline serves both.
    """

    name = "diffusion"
    min_steps = 1
    zero_strength = False

    def __init__(
        self,
        *,
        restyle_model: str | None = None,
        fill_model: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        gen_size: tuple[int, int] | None = None,
        cpu_offload: bool = False,
        vae_slicing: bool = False,
        vae_tiling: bool = False,
        max_window: int | None = None,
    ) -> None:
        if max_window is not None and max_window < 2:
            raise GenerationError(f"max_window={max_window} must be at least 2")
        if gen_size is not None and (len(gen_size) != 2 or min(gen_size) < 1):
            raise GenerationError(f"gen_size={gen_size} must be (width, height) with both >= 1")
        self.models = {
            "restyle": restyle_model or DEFAULT_RESTYLE_MODEL,
            "fill": fill_model or DEFAULT_FILL_MODEL,
        }
        self.device, self.dtype = device, dtype
        self.gen_size = (gen_size[0], gen_size[1]) if gen_size else None
        self.max_window = max_window
        self._switches = {
            "cpu_offload": cpu_offload,
            "vae_slicing": vae_slicing,
            "vae_tiling": vae_tiling,
        }
        self._adapters: dict[str, Adapter] = {}
        self.load_seconds = 0.0

    # -- loading

    def adapter(self, role: str) -> Adapter:
        """The loaded adapter for a role (loaded on first use, reused afterwards)."""
        if role not in self._adapters:
            self._adapters[role] = self._load(role)
        return self._adapters[role]

    def _load(self, role: str) -> Adapter:
        model = self.models[role]
        for other in self._adapters.values():
            if other.model == model:
                adapter_cls = resolve_adapter(parse_model_spec(model), role)
                return adapter_cls(other.pipe, model)
        started = time.perf_counter()
        adapter = load_pipeline(model, role, device=self.device, dtype=self.dtype, **self._switches)
        self.load_seconds += time.perf_counter() - started
        return adapter

    def prepare(self, role: str) -> None:
        """Load the role's pipeline (before the template starts timing the shot)."""
        self.adapter(role)

    def close(self) -> None:
        """Release the loaded pipelines and free accelerator memory."""
        self._adapters.clear()
        gc.collect()
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def __enter__(self) -> DiffusionGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sizes and windows

    def _gen_size(self, adapter: Adapter, size: tuple[int, int]) -> tuple[int, int]:
        if self.gen_size is not None:
            return round_size(self.gen_size, adapter.size_multiple)
        return native_gen_size(adapter.native_size, size, adapter.size_multiple)

    def _windows(self, adapter: Adapter, n_frames: int) -> tuple[Windows, int]:
        """Windows over the shot and the frame count each pipeline call generates."""
        window = min(adapter.frame_window, self.max_window or adapter.frame_window)
        window = adapter.valid_frames(max(2, window), up=False)
        if window < 2:
            window = adapter.valid_frames(2)
        if n_frames <= window:
            return [(0, n_frames)], adapter.valid_frames(n_frames)
        return plan_windows(n_frames, window, max(1, window // 4)), window

    # -- the two shot kinds

    def restyle_frames(self, request: RestyleRequest) -> Rendering:
        """Restyle the retrieved clip (video-to-video at `strength`), window by window."""
        adapter = cast(RestyleAdapter, self.adapter("restyle"))
        clip, steps = request.clip_frames, request.steps
        used = effective_strength(request.strength, steps)
        gen_size = self._gen_size(adapter, request.size)
        text = compose_prompt(request.prompt, request.style)

        def window_call(i: int, windows: Windows, per_call: int, chunks: list[np.ndarray]) -> Call:
            start, end = windows[i]
            source = [np.asarray(clip[start + j]) for j in resample_index(end - start, per_call)]
            return functools.partial(adapter.run, source, text, used, steps, gen_size)

        return self._windowed(adapter, len(clip), request, used, window_call)

    def fill_frames(self, request: FillRequest) -> Rendering:
        """Generate n_frames conditioned on the retrieved context, window by window."""
        adapter = cast(FillAdapter, self.adapter("fill"))
        planned, reverse = adapter.plan_context(request.context)
        gen_size = self._gen_size(adapter, request.size)
        prompt, steps = request.prompt, request.steps

        def window_call(i: int, windows: Windows, per_call: int, chunks: list[np.ndarray]) -> Call:
            window_context = self._window_context(planned, i, windows, chunks)
            return functools.partial(adapter.run, window_context, prompt, per_call, steps, gen_size)

        made = self._windowed(adapter, request.n_frames, request, None, window_call)
        if reverse:
            made.frames.reverse()
        return made

    def _windowed(
        self,
        adapter: Adapter,
        n: int,
        request: RestyleRequest | FillRequest,
        strength: float | None,
        window_call: Callable[[int, Windows, int, list[np.ndarray]], Call],
    ) -> Rendering:
        """Run one pipeline call per window (`window_call` builds window i's call from the
        windows, the frames per call and the chunks so far), blend and conform the chunks."""
        windows, per_call = self._windows(adapter, n)
        counter = StepCounter()
        chunks: list[np.ndarray] = []
        for i, (start, end) in enumerate(windows):
            call = functools.partial(window_call(i, windows, per_call, chunks), callback=counter)
            chunks.append(resample_frames(self._run(adapter, call, request.seed), end - start))
        return Rendering(
            frames=resize_frames(blend_windows(chunks, windows, n), request.size),
            model=adapter.model,
            generator=adapter.pipeline_class,
            steps=counter.calls,
            strength=strength,
            latent_frames=adapter.latent_frames(per_call),
        )

    @staticmethod
    def _window_context(
        context: FillContext, i: int, windows: Windows, chunks: list[np.ndarray]
    ) -> FillContext:
        """The context of window i: window 0 sees the retrieved frames; later windows start from
        the previous window's frame at their start; only the last sees the next shot's frame."""
        last = context.last if i == len(windows) - 1 else None
        if i == 0:
            return FillContext(reference=context.reference, first=context.first, last=last)
        previous = chunks[-1][windows[i][0] - windows[i - 1][0]]
        return FillContext(reference=previous, first=previous, last=last)

    def _run(self, adapter: Adapter, call: Callable[[Any], np.ndarray], seed: int) -> np.ndarray:
        """One pipeline call with the window seed policy; failures become GenerationError."""
        import torch

        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        try:
            with torch.inference_mode(), quiet_library():
                return call(generator)
        except GenerationError:
            raise
        except Exception as exc:  # pipeline failures of every kind, out-of-memory included
            raise _generation_error(adapter, exc) from exc


def _generation_error(adapter: Adapter, exc: BaseException) -> GenerationError:
    """A one-line GenerationError for a failed pipeline call; frees CUDA memory after an OOM."""
    import torch

    text = first_line(exc)
    oom = isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()
    if oom:
        with contextlib.suppress(Exception):
            torch.cuda.empty_cache()
        return GenerationError(
            f"{adapter.pipeline_class} ({adapter.model}) ran out of memory: {text}; "
            "try a smaller gen_size, cpu_offload or vae_slicing"
        )
    return GenerationError(
        f"{adapter.pipeline_class} ({adapter.model}) {adapter.role} failed: {text}"
    )
