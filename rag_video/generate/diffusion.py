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
import math
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from rag_video.generate.adapters import (
    Adapter,
    FillAdapter,
    ModelSpec,
    RestyleAdapter,
    StepCounter,
    UnsupportedModel,
    effective_strength,
    first_line,
    load_pipeline,
    parse_model_spec,
    quiet_library,
    read_pipeline_class,
    resolve_adapter,
    supported_pipelines,
)
from rag_video.generate.base import (
    FillContext,
    GenerationError,
    Generator,
    GenResult,
    ModelUnavailable,
)

__all__ = [
    "DEFAULT_FILL_MODEL",
    "DEFAULT_MODELS",
    "DEFAULT_RESTYLE_MODEL",
    "DiffusionGenerator",
    "FillContext",
    "GenResult",
    "GenerationError",
    "ModelSpec",
    "ModelUnavailable",
    "UnsupportedModel",
    "load_pipeline",
    "parse_model_spec",
    "read_pipeline_class",
    "strength_from_score",
    "supported_pipelines",
]

logger = logging.getLogger(__name__)

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


# ------------------------------------------------------ frames: windows, blending, conforming


def plan_windows(n_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Cover [0, n_frames) with windows of `window` frames overlapping by at least `overlap`.

    One window when n_frames <= window; otherwise the fewest windows whose starts are spread
    evenly, the first at 0 and the last ending at n_frames.
    """
    if n_frames <= window:
        return [(0, n_frames)]
    overlap = min(max(1, overlap), window - 1)
    count = math.ceil((n_frames - overlap) / (window - overlap))
    starts = [round(i * (n_frames - window) / (count - 1)) for i in range(count)]
    return [(s, s + window) for s in starts]


def window_weights(windows: list[tuple[int, int]]) -> list[np.ndarray]:
    """Per-window frame weights: linear ramps across each overlap with a neighbour, 1 elsewhere."""
    weights = []
    for i, (start, end) in enumerate(windows):
        w = np.ones(end - start, dtype=np.float32)
        if i > 0 and windows[i - 1][1] > start:
            n = windows[i - 1][1] - start
            w[:n] = np.minimum(w[:n], (np.arange(n) + 1) / (n + 1))
        if i + 1 < len(windows) and windows[i + 1][0] < end:
            n = end - windows[i + 1][0]
            w[-n:] = np.minimum(w[-n:], 1.0 - (np.arange(n) + 1) / (n + 1))
        weights.append(w)
    return weights


def blend_windows(
    chunks: list[np.ndarray], windows: list[tuple[int, int]], n_frames: int
) -> np.ndarray:
    """Crossfade window outputs (each (len, H, W, 3) uint8) into one (n_frames, H, W, 3) uint8."""
    if len(chunks) == 1:
        return chunks[0]
    acc = np.zeros((n_frames, *chunks[0].shape[1:]), dtype=np.float32)
    total = np.zeros(n_frames, dtype=np.float32)
    for chunk, (start, end), w in zip(chunks, windows, window_weights(windows), strict=False):
        acc[start:end] += chunk.astype(np.float32) * w[:, None, None, None]
        total[start:end] += w
    return np.clip(acc / total[:, None, None, None] + 0.5, 0, 255).astype(np.uint8)


def resample_index(m: int, n: int) -> list[int]:
    """Indices of n frames sampled evenly (nearest) from m; the first and last are kept."""
    if n == 1 or m == 1:
        return [0] * n
    return [int(i) for i in np.floor(np.arange(n) * (m - 1) / (n - 1) + 0.5)]


def resample_frames(frames: np.ndarray, n: int) -> np.ndarray:
    """Nearest-frame resampling in time to exactly n frames."""
    return frames if len(frames) == n else frames[resample_index(len(frames), n)]


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """Resize every frame to size (width, height); area filter when shrinking."""
    import cv2

    w, h = size
    if frames.shape[1:3] == (h, w):
        return [np.ascontiguousarray(f) for f in frames]
    shrink = w * h < frames.shape[1] * frames.shape[2]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return [cv2.resize(f, (w, h), interpolation=interp) for f in frames]


def round_size(size: tuple[float, float], multiple: int) -> tuple[int, int]:
    """Round (width, height) to the nearest multiples of `multiple` (at least one multiple)."""
    w, h = (max(multiple, int(round(v / multiple)) * multiple) for v in size)
    return w, h


def native_gen_size(
    native: tuple[int, int], size: tuple[int, int], multiple: int
) -> tuple[int, int]:
    """The native pixel count at the aspect ratio of `size`, rounded to `multiple`."""
    area = native[0] * native[1]
    aspect = size[0] / size[1]
    return round_size((math.sqrt(area * aspect), math.sqrt(area / aspect)), multiple)


def compose_prompt(prompt: str, style: str | None) -> str:
    """The text a pipeline is prompted with: the shot's text, then its style."""
    parts = [p.strip() for p in (prompt, style) if p and p.strip()]
    return ", ".join(parts)


def _check_request(*, n_frames: int, size: tuple[int, int], steps: int) -> None:
    if n_frames < 1:
        raise GenerationError(f"n_frames={n_frames} must be at least 1")
    if len(size) != 2 or min(size) < 1:
        raise GenerationError(f"size={size} must be (width, height) with both >= 1")
    if steps < 1:
        raise GenerationError(f"steps={steps} must be at least 1")


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

    def _windows(self, adapter: Adapter, n_frames: int) -> tuple[list[tuple[int, int]], int]:
        """Windows over the shot and the frame count each pipeline call generates."""
        window = min(adapter.frame_window, self.max_window or adapter.frame_window)
        window = adapter.valid_frames(max(2, window), up=False)
        if window < 2:
            window = adapter.valid_frames(2)
        if n_frames <= window:
            return [(0, n_frames)], adapter.valid_frames(n_frames)
        return plan_windows(n_frames, window, max(1, window // 4)), window

    # -- the two shot kinds

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
        """Restyle the retrieved clip (video-to-video at `strength`), window by window."""
        if not clip_frames:
            raise GenerationError("clip_frames is empty: restyle needs the retrieved clip's frames")
        if not 0.0 < strength <= 1.0:
            raise GenerationError(f"strength={strength} must be in (0, 1]")
        n = len(clip_frames)
        _check_request(n_frames=n, size=size, steps=steps)
        adapter = cast(RestyleAdapter, self.adapter("restyle"))
        used = effective_strength(strength, steps)
        gen_size = self._gen_size(adapter, size)
        windows, per_call = self._windows(adapter, n)
        text = compose_prompt(prompt, style)
        counter, started = StepCounter(), time.perf_counter()
        chunks: list[np.ndarray] = []
        for start, end in windows:
            source = [
                np.asarray(clip_frames[start + i]) for i in resample_index(end - start, per_call)
            ]
            out = self._run(
                adapter,
                functools.partial(
                    adapter.run, source, text, used, steps, gen_size, callback=counter
                ),
                seed,
            )
            chunks.append(resample_frames(out, end - start))
        return self._result(
            adapter, chunks, windows, n, size, counter, started, seed, used, per_call
        )

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
        """Generate n_frames conditioned on the retrieved context, window by window."""
        _check_request(n_frames=n_frames, size=size, steps=steps)
        adapter = cast(FillAdapter, self.adapter("fill"))
        context, reverse = adapter.plan_context(context_frames)
        gen_size = self._gen_size(adapter, size)
        windows, per_call = self._windows(adapter, n_frames)
        counter, started = StepCounter(), time.perf_counter()
        chunks: list[np.ndarray] = []
        for i, (start, end) in enumerate(windows):
            window_context = self._window_context(context, i, windows, chunks)
            out = self._run(
                adapter,
                functools.partial(
                    adapter.run, window_context, prompt, per_call, steps, gen_size, callback=counter
                ),
                seed,
            )
            chunks.append(resample_frames(out, end - start))
        result = self._result(
            adapter, chunks, windows, n_frames, size, counter, started, seed, None, per_call
        )
        if reverse:
            result.frames.reverse()
        return result

    @staticmethod
    def _window_context(
        context: FillContext, i: int, windows: list[tuple[int, int]], chunks: list[np.ndarray]
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

    def _result(
        self,
        adapter: Adapter,
        chunks: list[np.ndarray],
        windows: list[tuple[int, int]],
        n: int,
        size: tuple[int, int],
        counter: StepCounter,
        started: float,
        seed: int,
        strength: float | None,
        per_call: int,
    ) -> GenResult:
        frames = resize_frames(blend_windows(chunks, windows, n), size)
        return GenResult(
            frames=frames,
            generator=adapter.pipeline_class,
            model=adapter.model,
            steps=counter.calls,
            seconds=time.perf_counter() - started,
            strength=strength,
            seed=seed,
            latent_frames=adapter.latent_frames(per_call),
        )


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
