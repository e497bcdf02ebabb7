"""GPU paths: NVDEC decode (media.hwdecode) and faiss with or without GPU symbols (index.gpu).

The NVDEC tests need a CUDA device and skip with a reason elsewhere; the device checks, the
fallback and the faiss-cpu shape run everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rag_video.errors import UsageError
from rag_video.index import gpu
from rag_video.index.errors import IndexUnavailable
from rag_video.media import hwdecode
from rag_video.media.decode import decode
from rag_video.media.probe import MediaError

SAMPLE = Path(__file__).parent / "data" / "bigbuckbunny.mp4"  # H.264 1280x720, 132 frames
NVDEC = hwdecode.nvdec_available()
needs_nvdec = pytest.mark.skipif(
    not NVDEC, reason="no NVDEC: no CUDA device, or this PyAV's FFmpeg has no cuda hwaccel"
)
without_nvdec = pytest.mark.skipif(
    NVDEC, reason="a real CUDA device is present; this simulates one that fails to open"
)


@pytest.fixture(autouse=True)
def _cpu_afterwards(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(hwdecode, "_nvdec_failed", False)
    yield
    hwdecode.configure("cpu")


def _frames(device: str, limit: int = 40) -> list[np.ndarray]:
    hwdecode.configure(device)
    out = []
    for frame in decode(SAMPLE, rgb_every=10):
        out.append(frame.small)
        if len(out) == limit:
            break
    return out


# ---- device checks (CPU) ------------------------------------------------------------------------
def test_explicit_cuda_without_a_gpu_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hwdecode, "nvdec_available", lambda: False)
    with pytest.raises(UsageError) as err:
        hwdecode.resolve_decode_device("cuda")
    message = str(err.value)
    assert "decode_device='cuda'" in message and "\n" not in message


def test_library_ingest_refuses_cuda_without_a_gpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rag_video import open_library

    monkeypatch.setattr(hwdecode, "nvdec_available", lambda: False)
    lib = open_library(tmp_path / "lib", decode_device="cuda", embed=False, workers=1)
    with pytest.raises(UsageError, match=r"decode_device='cuda'"):
        lib.ingest([SAMPLE])


def test_unknown_decode_device_names_the_setting() -> None:
    from rag_video.config import load_settings

    with pytest.raises(UsageError, match=r"decode_device='gpu'"):
        load_settings(decode_device="gpu")
    with pytest.raises(UsageError, match=r"decode_device='gpu'"):
        hwdecode.resolve_decode_device("gpu")


def test_auto_and_cpu_stay_on_the_cpu_without_nvdec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hwdecode, "nvdec_available", lambda: False)
    assert hwdecode.resolve_decode_device("auto") == "cpu"
    assert hwdecode.resolve_decode_device("cpu") == "cpu"
    assert hwdecode.hwaccel("cpu") is None


def test_default_is_the_cpu_path() -> None:
    assert hwdecode.current_device() == "cpu"
    assert len(_frames("cpu", limit=5)) == 5


@without_nvdec
def test_auto_falls_back_to_the_cpu_when_nvdec_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A driver that is reported but cannot open a CUDA device: auto warns and decodes on the CPU
    with the same frames; explicit cuda fails the file naming the setting."""
    cpu = _frames("cpu")
    monkeypatch.setattr(hwdecode, "nvdec_available", lambda: True)
    with caplog.at_level(logging.WARNING, logger="rag_video.media.hwdecode"):
        fallback = _frames("auto")
    assert hwdecode.current_device() == "cpu"
    assert "decoding on the CPU" in caplog.text
    assert all(np.array_equal(a, b) for a, b in zip(cpu, fallback, strict=True))
    assert hwdecode.configure("auto") == "cpu"  # the next file does not try (and warn) again
    with pytest.raises(MediaError, match=r"decode_device='cuda'"):
        _frames("cuda")


# ---- faiss without GPU symbols (the faiss-cpu wheel) --------------------------------------------
def test_faiss_cpu_build_never_reaches_gpu_symbols(monkeypatch: pytest.MonkeyPatch) -> None:
    """faiss-cpu has get_num_gpus() == 0 and no GpuParameterSpace / StandardGpuResources."""
    monkeypatch.setattr(gpu, "load_faiss", lambda: SimpleNamespace(get_num_gpus=lambda: 0))
    assert gpu.gpu_count() == 0
    assert gpu.want_gpu("auto", "flat") is False
    assert gpu.want_gpu(False, "ivf") is False
    with pytest.raises(IndexUnavailable, match="get_num_gpus"):
        gpu.want_gpu(True, "flat")
    monkeypatch.setattr(gpu, "load_faiss", lambda: SimpleNamespace())
    assert gpu.gpu_count() == 0


# ---- NVDEC (CUDA machines only) -----------------------------------------------------------------
@needs_nvdec
def test_nvdec_frames_match_the_cpu_decode() -> None:
    """H.264 decoding is bit-exact, so NVDEC's downloaded NV12 gives the CPU's small frames."""
    cpu = _frames("cpu")
    nvdec = _frames("cuda")
    assert hwdecode.current_device() == "cuda"
    pairs = zip(cpu, nvdec, strict=True)
    worst = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in pairs)
    assert worst <= 2  # NV12 and yuv420p hold the same samples; allow rounding


@needs_nvdec
def test_nvdec_ingest_gives_the_cpu_cuts(tmp_path: Path) -> None:
    from rag_video import open_library

    cuts = {}
    for device in ("cpu", "cuda"):
        lib = open_library(tmp_path / device, decode_device=device, embed=False, workers=1)
        lib.ingest([SAMPLE])
        cuts[device] = sorted(lib.shots().column("start_frame").to_pylist())
    assert cuts["cuda"] == cuts["cpu"]
