"""One small adapter per supported diffusers pipeline class.

An adapter wraps a loaded pipeline and knows what the generator needs of it: its native size,
its frame window, which frame counts it accepts, how many latent frames one denoiser call
carries, how to pass strength and conditioning, and how to turn its output into RGB uint8
frames. The generator (`diffusion.py`) owns windowing, blending, conforming and accounting.
`load_pipeline` reads a model's pipeline class and loads it into the matching adapter.

Supported:
  restyle  AnimateDiffVideoToVideoPipeline  SD-1.5 UNet + motion adapter, `strength` SDEdit
           LTXConditionPipeline             the clip VAE-encoded as initial latents, `denoise_strength`
  fill     StableVideoDiffusionPipeline     image-to-video from one keyframe (no text)
           LTXConditionPipeline             image conditions at the first and/or last frame

Why one module of ~550 lines: it is a table of small, parallel adapters (one class per pipeline
family, each ~60 lines, plus the shared loading and offline checks they all call); kept together
so a new family is added beside its siblings. Issue 11 moves the device policy to a shared
`devices.py`, which shrinks it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rag_video.generate.base import FillContext, GenerationError, ModelUnavailable

logger = logging.getLogger(__name__)

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
        image = image.resize(tuple(size), Image.Resampling.BICUBIC)
    return image


def frames_from_output(frames: Any) -> np.ndarray:
    """A pipeline's `output_type="np"` video (1, F, H, W, 3) floats in [0, 1] -> (F, H, W, 3) uint8."""
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
        """Load this adapter's pipeline class from a folder or hub id (kwargs go to from_pretrained)."""
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


class _SDFamily:
    """Native size and frame window of UNet-based pipelines (SD-1.5 / SVD)."""

    pipe: Any

    @property
    def native_size(self) -> tuple[int, int]:
        side = int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)
        return side, side


class AnimateDiffRestyle(_SDFamily, RestyleAdapter):
    """AnimateDiffVideoToVideoPipeline: SDEdit of the clip, about strength × steps calls."""

    pipeline_class = "AnimateDiffVideoToVideoPipeline"
    default_steps = 25

    @classmethod
    def load(cls, path: str, motion_adapter: str | None = None, **kwargs: Any) -> Any:
        """Load a saved AnimateDiff video-to-video folder, or an SD-1.5 base plus a motion adapter."""
        import diffusers

        if motion_adapter is not None:
            shared = {
                k: v for k, v in kwargs.items() if k in ("dtype", "torch_dtype", "local_files_only")
            }
            kwargs["motion_adapter"] = diffusers.MotionAdapter.from_pretrained(
                motion_adapter, **shared
            )
        return diffusers.AnimateDiffVideoToVideoPipeline.from_pretrained(path, **kwargs)

    @property
    def frame_window(self) -> int:
        return min(self.default_window, int(self.pipe.unet.config.motion_max_seq_length))

    def run(self, frames, prompt, strength, steps, size, generator, callback):
        video = [to_pil(f, size) for f in frames]
        out = self.pipe(
            video=video,
            prompt=prompt,
            strength=strength,
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)


class _LTXFamily:
    """Native size, window and frame rules of LTX-Video (frames = k × temporal ratio + 1)."""

    pipe: Any
    cuda_dtype = "bfloat16"
    default_window = 121
    default_steps = 40

    @property
    def native_size(self) -> tuple[int, int]:
        return 704, 480

    @property
    def size_multiple(self) -> int:
        return max(32, int(self.pipe.vae_spatial_compression_ratio))

    @property
    def _ratio(self) -> int:
        return int(self.pipe.vae_temporal_compression_ratio)

    def valid_frames(self, n: int, *, up: bool = True) -> int:
        k = -(-(n - 1) // self._ratio) if up else (n - 1) // self._ratio
        return max(0, k) * self._ratio + 1

    def latent_frames(self, n_frames: int) -> int:
        return (n_frames - 1) // self._ratio + 1


class LTXRestyle(_LTXFamily, RestyleAdapter):
    """LTXConditionPipeline video-to-video: the clip's latents noised to `denoise_strength`.

    The clip is VAE-encoded and passed as `latents`; the pipeline noises them to the first sigma
    of the truncated schedule and runs about strength × steps calls (SDEdit, as in LTX-Video's
    own multi-scale refinement).
    """

    pipeline_class = "LTXConditionPipeline"

    def _encode(self, frames: list[np.ndarray], size: tuple[int, int], generator: Any) -> Any:
        import torch
        from diffusers.pipelines.ltx.pipeline_ltx_condition import retrieve_latents

        pipe = self.pipe
        video = pipe.video_processor.preprocess_video(
            [to_pil(f, size) for f in frames], size[1], size[0]
        )
        video = video.to(pipe._execution_device, dtype=pipe.vae.dtype)
        with torch.no_grad():
            latents = retrieve_latents(pipe.vae.encode(video), generator=generator)
        return pipe._normalize_latents(latents, pipe.vae.latents_mean, pipe.vae.latents_std)

    def run(self, frames, prompt, strength, steps, size, generator, callback):
        latents = self._encode(frames, size, generator)
        out = self.pipe(
            latents=latents,
            denoise_strength=strength,
            prompt=prompt,
            num_frames=len(frames),
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)


class SVDFill(_SDFamily, FillAdapter):
    """StableVideoDiffusionPipeline: image-to-video from one keyframe; the prompt is not used.

    The keyframe is the best retrieved match (`reference`), else the previous shot's last frame
    (`first`); with only the next shot's first frame (`last`) the clip is generated from it and
    reversed, so it ends on that frame.
    """

    pipeline_class = "StableVideoDiffusionPipeline"

    @property
    def frame_window(self) -> int:
        return int(self.pipe.unet.config.num_frames)

    def plan_context(self, context: FillContext) -> tuple[FillContext, bool]:
        if context.reference is not None or context.first is not None:
            return context, False
        if context.last is not None:
            return FillContext(reference=context.last), True
        raise GenerationError(
            "StableVideoDiffusionPipeline fill needs a context frame "
            "(reference, first or last); got none"
        )

    def run(self, context, prompt, n_frames, steps, size, generator, callback):
        key = context.reference if context.reference is not None else context.first
        out = self.pipe(
            image=to_pil(key, size),
            num_frames=n_frames,
            decode_chunk_size=min(8, n_frames),
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)


class LTXFill(_LTXFamily, FillAdapter):
    """LTXConditionPipeline first-and-last-frame fill: image conditions at frame 0 and/or the end.

    `first` (the previous shot's last frame) pins frame 0 and `last` (the next shot's first
    frame) pins the final frame; with neither, `reference` pins frame 0; with nothing the
    pipeline generates from the prompt alone.
    """

    pipeline_class = "LTXConditionPipeline"

    def _conditions(self, context: FillContext, n_frames: int, size: tuple[int, int]) -> list:
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        conditions = []
        if context.first is not None:
            conditions.append(LTXVideoCondition(image=to_pil(context.first, size), frame_index=0))
        if context.last is not None and (n_frames > 1 or not conditions):
            conditions.append(
                LTXVideoCondition(image=to_pil(context.last, size), frame_index=n_frames - 1)
            )
        if not conditions and context.reference is not None:
            conditions.append(
                LTXVideoCondition(image=to_pil(context.reference, size), frame_index=0)
            )
        return conditions

    def run(self, context, prompt, n_frames, steps, size, generator, callback):
        conditions = self._conditions(context, n_frames, size)
        out = self.pipe(
            conditions=conditions or None,
            prompt=prompt,
            num_frames=n_frames,
            **self._common(steps, size, generator, callback),
        )
        return frames_from_output(out.frames)


RESTYLE_ADAPTERS: dict[str, type[RestyleAdapter]] = {
    a.pipeline_class: a for a in (AnimateDiffRestyle, LTXRestyle)
}
FILL_ADAPTERS: dict[str, type[FillAdapter]] = {a.pipeline_class: a for a in (SVDFill, LTXFill)}
ADAPTERS: dict[str, dict[str, type[Adapter]]] = {"restyle": RESTYLE_ADAPTERS, "fill": FILL_ADAPTERS}


class UnsupportedModel(ModelUnavailable):
    """The model's pipeline class has no adapter for the requested role (a usage error, exit 2)."""


#: Pipeline classes an SD-1.5 base named before `+ADAPTER` may have.
SD15_BASE_CLASSES = (
    "StableDiffusionPipeline",
    "AnimateDiffPipeline",
    "AnimateDiffVideoToVideoPipeline",
)


# ---------------------------------------------------------------- model names and loading


def supported_pipelines(role: str) -> list[str]:
    """Pipeline class names that can serve `role` ("restyle" or "fill")."""
    return sorted(_adapters_for(role))


def _adapters_for(role: str) -> dict[str, type[Adapter]]:
    if role not in ADAPTERS:
        raise GenerationError(f"role={role!r} is not one of {sorted(ADAPTERS)}")
    return ADAPTERS[role]


@dataclass(frozen=True)
class ModelSpec:
    """A model as named by the user: a pipeline id/folder, plus an optional motion adapter."""

    name: str
    base: str
    motion_adapter: str | None = None


def parse_model_spec(name: str) -> ModelSpec:
    """Split `BASE+ADAPTER` (hub ids cannot contain `+`; an existing path is taken whole)."""
    name = str(name).strip()
    if not name:
        raise ModelUnavailable("model name is empty: pass a diffusers model id or a local folder")
    if "+" in name and not Path(name).expanduser().exists():
        base, adapter = name.split("+", 1)
        return ModelSpec(name, base.strip(), adapter.strip())
    return ModelSpec(name, name)


def _offline() -> bool:
    """The same answer the encoders got (the environment, or this process's one hub probe)."""
    from rag_video.hub import offline

    return offline()


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~"))
        or name.count("/") > 1
        or "\\" in name
        or Path(name).expanduser().exists()
    )


def _fetch_hint(name: str) -> str:
    return f"run `hf download {name}` with network access, or pass a local folder"


def _unavailable(name: str, exc: BaseException | None = None) -> ModelUnavailable:
    """The one-line error for a model that cannot be loaded."""
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            return ModelUnavailable(
                f"model folder {name} does not exist: pass a folder saved with "
                "save_pretrained or a diffusers model id"
            )
        reason = first_line(exc) if exc else "not a diffusers pipeline folder (no model_index.json)"
        return ModelUnavailable(f"model folder {name} cannot be loaded: {reason}")
    if _offline():
        return ModelUnavailable(f"model {name} is not available offline: {_fetch_hint(name)}")
    reason = f" ({first_line(exc)})" if exc else ""
    return ModelUnavailable(f"model {name} cannot be loaded{reason}: {_fetch_hint(name)}")


def first_line(exc: BaseException | None, limit: int = 200) -> str:
    """The first line of an exception's message (its type name when empty), at most `limit` chars."""
    text = (
        str(exc).strip().splitlines()[0]
        if exc is not None and str(exc).strip()
        else type(exc).__name__
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_pipeline_class(name: str) -> str:
    """The `_class_name` in a model's model_index.json (local folder, hub cache or hub)."""
    path = Path(name).expanduser()
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            if (path / "config.json").is_file() and "MotionAdapter" in (
                path / "config.json"
            ).read_text():
                raise ModelUnavailable(
                    f"model folder {name} is a motion adapter: name the model "
                    "BASE+ADAPTER with an SD-1.5 pipeline as BASE"
                )
            raise _unavailable(name)
        try:
            return str(json.loads(index.read_text())["_class_name"])
        except (ValueError, KeyError) as exc:
            raise ModelUnavailable(
                f"model folder {name} has an unreadable model_index.json: {first_line(exc)}"
            ) from exc
    if _looks_like_path(name):
        raise _unavailable(name)
    from diffusers import DiffusionPipeline

    try:
        config = DiffusionPipeline.load_config(name, local_files_only=_offline())
    except Exception as exc:  # hub/OS errors of every kind become the one-line message
        raise _unavailable(name, exc) from exc
    return str(config["_class_name"])


def _check_motion_adapter(name: str) -> None:
    """ModelUnavailable unless the motion adapter's config can be read (folder, cache or hub)."""
    from diffusers import MotionAdapter

    try:
        MotionAdapter.load_config(name, local_files_only=_offline())
    except Exception as exc:
        raise _unavailable(name, exc) from exc


def resolve_adapter(spec: ModelSpec, role: str) -> type[Adapter]:
    """The adapter class for a model in a role; UnsupportedModel lists the supported classes."""
    adapters = _adapters_for(role)
    class_name = read_pipeline_class(spec.base)
    if spec.motion_adapter is not None:
        if class_name not in SD15_BASE_CLASSES or "AnimateDiffVideoToVideoPipeline" not in adapters:
            raise UnsupportedModel(
                f"{role} model {spec.name}: a motion adapter needs an SD-1.5 base "
                f"({', '.join(SD15_BASE_CLASSES)}) in the restyle role; "
                f"{spec.base} is a {class_name}"
            )
        return adapters["AnimateDiffVideoToVideoPipeline"]
    if class_name not in adapters:
        raise UnsupportedModel(
            f"{role} model {spec.name} is a {class_name}; supported for {role}: "
            f"{', '.join(sorted(adapters))}"
        )
    return adapters[class_name]


def resolve_device(device: str = "auto") -> str:
    """ "auto" -> "cuda" when a GPU is visible to torch, else "cpu"."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str, adapter: type[Adapter]) -> Any:
    """ "auto" -> the adapter's preferred half precision on CUDA (bf16 only where supported), fp32 on CPU."""
    import torch

    if dtype == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        dtype = adapter.cuda_dtype
        if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
            dtype = "float16"
    value = getattr(torch, str(dtype).replace("torch.", ""), None)
    if not isinstance(value, torch.dtype):
        raise GenerationError(f"dtype={dtype!r} is not a torch dtype (float32, float16, bfloat16)")
    return value


def _dtype_keyword() -> str:
    """`dtype` where diffusers takes it (it deprecates `torch_dtype`), else `torch_dtype`."""
    import importlib

    with contextlib.suppress(ImportError):
        if hasattr(importlib.import_module("diffusers.utils.deprecation_utils"), "_resolve_dtype"):
            return "dtype"
    return "torch_dtype"


@contextlib.contextmanager
def quiet_library() -> Iterator[None]:
    """Hide diffusers' and transformers' progress bars and warnings (kept when we log at DEBUG).

    The CLI owns stderr; library notices (missing `accelerate`, dtype casts, scheduler hints)
    are noise to a user unless they asked for --debug.
    """
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    saved = [(m, m.is_progress_bar_enabled(), m.get_verbosity()) for m in (dlog, tlog)]
    for module, _, _ in saved:
        module.disable_progress_bar()
        module.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        for module, bars, verbosity in saved:
            module.set_verbosity(verbosity)
            if bars:
                module.enable_progress_bar()


def _place(
    pipe: Any, device: str, *, cpu_offload: bool, vae_slicing: bool, vae_tiling: bool
) -> None:
    """Move the pipeline to its device (or set up model CPU offload) and apply VAE memory switches."""
    try:
        if cpu_offload and device.startswith("cuda"):
            pipe.enable_model_cpu_offload(device=device)
        else:
            if cpu_offload:
                logger.warning("cpu_offload needs CUDA; ignored on %s", device)
            pipe.to(device)
    except (ImportError, RuntimeError, AssertionError, ValueError) as exc:
        what = "cpu_offload" if cpu_offload else "device"
        raise GenerationError(
            f"{what} failed for {type(pipe).__name__} on device={device!r}: {first_line(exc)}"
        ) from exc
    vae = getattr(pipe, "vae", None)
    for wanted, method in ((vae_slicing, "enable_slicing"), (vae_tiling, "enable_tiling")):
        if not wanted:
            continue
        try:
            getattr(vae, method)()
        except (AttributeError, NotImplementedError):
            logger.warning(
                "%s: the VAE of %s has no %s; ignored", method, type(pipe).__name__, method
            )


def load_pipeline(
    model_or_folder: str,
    role: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    cpu_offload: bool = False,
    vae_slicing: bool = False,
    vae_tiling: bool = False,
) -> Adapter:
    """Load a model for a role ("restyle" or "fill") and wrap it in its adapter.

    Raises ModelUnavailable (weights missing, offline, bad folder) or UnsupportedModel (a
    pipeline class with no adapter for the role), each with a one-line message.
    """
    spec = parse_model_spec(model_or_folder)
    adapter_cls = resolve_adapter(spec, role)
    device = resolve_device(device)
    kwargs: dict[str, Any] = {
        _dtype_keyword(): resolve_dtype(dtype, device, adapter_cls),
        "local_files_only": _offline(),
    }
    if spec.motion_adapter is not None:
        _check_motion_adapter(spec.motion_adapter)
        kwargs["motion_adapter"] = spec.motion_adapter
    started = time.perf_counter()
    with quiet_library():
        try:
            pipe = adapter_cls.load(spec.base, **kwargs)
        except Exception as exc:  # OSError, EnvironmentError, ValueError from hub or weights
            raise _unavailable(spec.base, exc) from exc
    _place(pipe, device, cpu_offload=cpu_offload, vae_slicing=vae_slicing, vae_tiling=vae_tiling)
    logger.info(
        "loaded %s %s for %s on %s in %.1fs",
        adapter_cls.pipeline_class,
        spec.name,
        role,
        device,
        time.perf_counter() - started,
    )
    return adapter_cls(pipe, spec.name)
