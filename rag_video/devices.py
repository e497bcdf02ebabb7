"""Which torch device a model runs on, and what this machine's CPU can compute natively.

Shared by the open_clip encoders (`rag_video.embed`) and the diffusers pipelines
(`rag_video.generate.adapters`). ``"auto"`` (or None) means the same for both: CUDA
when torch sees a GPU, else the CPU. torch is imported only inside `resolve_device`, and only when
it is needed, so importing this module stays light. `cuda_device_count` asks the CUDA driver
directly (no torch), for code that must not load torch to learn whether there is a GPU (video
decode on NVDEC).
"""

from __future__ import annotations

import ctypes
import platform
import sys
from functools import lru_cache

from rag_video.errors import UsageError

AUTO = "auto"


class UnknownDevice(UsageError, ValueError):
    """A device string that is not a torch device, or asks for CUDA on a machine without it."""


def resolve_device(device: str | None = AUTO, *, check: bool = True) -> str:
    """The device to run on: None or ``"auto"`` → ``"cuda"`` when a GPU is present, else ``"cpu"``.

    Any other value is returned as given. `check` (the encoders): first make sure it is a torch
    device and that CUDA, when asked for, is available; raise `UnknownDevice` otherwise. With
    ``check=False`` (the diffusion pipelines) the value passes through unchecked and without
    importing torch: their loader reports a device that does not work when it moves the loaded
    pipeline there, as a generation error naming the pipeline.
    """
    if device is None or device == AUTO:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if not check:
        return device
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError as exc:
        raise UnknownDevice(f"device={device!r} is not a torch device") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise UnknownDevice(f"device={device!r} requested but CUDA is not available")
    return str(device)


@lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """CUDA devices the NVIDIA driver reports (honouring ``CUDA_VISIBLE_DEVICES``), without torch.

    0 when there is no driver library or no device. Loads ``libcuda`` and calls ``cuInit``, so
    call it in the process that will use the GPU (ingest workers are spawned, not forked).
    """
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return int(count.value)


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (x86 avx512_bf16/amx_bf16, Arm bf16)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "bf16" in flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})
