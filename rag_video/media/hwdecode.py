"""Where the ingest decode runs: FFmpeg on the CPU, or NVDEC through PyAV's CUDA hwaccel.

``decode_device`` (a setting) is ``"cpu"``; ``"cuda"``, NVDEC, an error on a machine without a
CUDA device; or ``"auto"``, NVDEC when the NVIDIA driver reports a device and this PyAV's FFmpeg
has the ``cuda`` hwaccel, else the CPU. NVDEC frames are downloaded to system memory (NV12, P010
for 10-bit) and go through the same small/RGB conversion as CPU frames; H.264 and HEVC decoding
are bit-exact, so the cuts do not depend on the device. A stream NVDEC cannot decode (ProRes,
4:2:2 H.264, …) is decoded in software by FFmpeg for that file.

The decode device is per process (:func:`configure`, initially ``"cpu"``, so any caller that
never configures it keeps the CPU path): ingest configures it in each worker from its options
before the decode pass. torch is never imported here; the device check asks the driver.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Literal

import av
import av.error
from av.codec.hwaccel import HWAccel, hwdevices_available

from rag_video.devices import cuda_device_count
from rag_video.errors import UsageError
from rag_video.media.probe import MediaError, open_video

log = logging.getLogger(__name__)

DecodeDevice = Literal["auto", "cpu", "cuda"]
DECODE_DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

_device: Literal["cpu", "cuda"] = "cpu"
_explicit = False  # configured with decode_device='cuda' (not auto)
_nvdec_failed = False  # NVDEC failed to open here once: auto stays on the CPU in this process


class DecodeDeviceError(UsageError, ValueError):
    """A ``decode_device`` that is not one of auto/cpu/cuda, or cuda on a machine without it."""


@lru_cache(maxsize=1)
def nvdec_available() -> bool:
    """True when this PyAV's FFmpeg has the ``cuda`` hwaccel and the driver reports a GPU."""
    return "cuda" in hwdevices_available() and cuda_device_count() > 0


def resolve_decode_device(device: str) -> Literal["cpu", "cuda"]:
    """``device`` as the decoder will use it: ``"auto"`` → ``"cuda"`` when NVDEC is available,
    else ``"cpu"``. An unknown value, or ``"cuda"`` without NVDEC, is a :class:`DecodeDeviceError`
    naming the setting."""
    if device not in DECODE_DEVICES:
        raise DecodeDeviceError(
            f"decode_device={device!r} is not one of {', '.join(DECODE_DEVICES)}"
        )
    if device == "cpu":
        return "cpu"
    if nvdec_available() and not (device == "auto" and _nvdec_failed):
        return "cuda"
    if device == "cuda":
        raise DecodeDeviceError(f"decode_device='cuda' requested but {_why_no_nvdec()}")
    return "cpu"


def _why_no_nvdec() -> str:
    if "cuda" not in hwdevices_available():
        return f"this PyAV ({av.__version__}) has no FFmpeg cuda hwaccel"
    return "the NVIDIA driver reports no CUDA device (use decode_device=auto or cpu)"


def configure(device: str) -> Literal["cpu", "cuda"]:
    """Set this process's decode device from a ``decode_device`` value; returns the resolved one."""
    global _device, _explicit
    _device = resolve_decode_device(device)
    _explicit = device == "cuda"
    return _device


def current_device() -> Literal["cpu", "cuda"]:
    """The decode device :func:`open_for_decode` uses in this process."""
    return _device


def hwaccel(device: str) -> HWAccel | None:
    """The PyAV ``hwaccel=`` argument for a resolved device: None for the CPU."""
    if device != "cuda":
        return None
    return HWAccel(device_type="cuda", allow_software_fallback=True)  # CUDA_VISIBLE_DEVICES picks


def open_for_decode(
    path: str | os.PathLike[str],
) -> tuple[av.container.InputContainer, av.VideoStream]:
    """:func:`~rag_video.media.probe.open_video` on this process's decode device.

    When NVDEC cannot be set up for the file although the file opens on the CPU: with
    ``decode_device=auto`` one warning, and this process decodes on the CPU from then on; with an
    explicit ``cuda`` a :class:`MediaError` for the file naming the setting.
    """
    global _device, _nvdec_failed
    if _device == "cpu":
        return open_video(path)
    try:
        return open_video(path, hwaccel=hwaccel(_device))
    except MediaError as exc:
        container, stream = open_video(path)  # a file that fails here too is the file's fault
        reason = str(exc).rsplit(": ", 1)[-1]
        if _explicit:
            container.close()
            raise MediaError(
                f"decode_device='cuda': cannot decode {path} on the GPU: {reason}"
            ) from None
        log.warning("NVDEC unavailable (%s); decoding on the CPU", reason)
        _device, _nvdec_failed = "cpu", True
        return container, stream
