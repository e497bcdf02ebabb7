"""Loading a model into its adapter: dtype, the libraries' noise, device placement, VAE switches.

`load_pipeline` resolves the model's adapter (`resolve.py`), loads the pipeline with the dtype
and offline policy, moves it to its device (or sets up CPU offload) and wraps it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

from rag_video.devices import resolve_device
from rag_video.generate.adapters.base import Adapter, first_line
from rag_video.generate.adapters.resolve import (
    check_motion_adapter,
    hub_offline,
    parse_model_spec,
    resolve_adapter,
    unavailable,
)
from rag_video.generate.base import GenerationError

logger = logging.getLogger(__name__)


def resolve_dtype(dtype: str, device: str, adapter: type[Adapter]) -> Any:
    """ "auto" -> the adapter's preferred half precision on CUDA (bf16 only where supported),
    fp32 on CPU."""
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
    """Move the pipeline to its device (or set up model CPU offload) and apply VAE memory
    switches."""
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
    device = resolve_device(device, check=False)  # a device that fails is reported by _place
    kwargs: dict[str, Any] = {
        _dtype_keyword(): resolve_dtype(dtype, device, adapter_cls),
        "local_files_only": hub_offline(),
    }
    if spec.motion_adapter is not None:
        check_motion_adapter(spec.motion_adapter)
        kwargs["motion_adapter"] = spec.motion_adapter
    started = time.perf_counter()
    with quiet_library():
        try:
            pipe = adapter_cls.load(spec.base, **kwargs)
        except Exception as exc:  # OSError, EnvironmentError, ValueError from hub or weights
            raise unavailable(spec.base, exc) from exc
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
