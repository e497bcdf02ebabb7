"""Image and text encoders (open_clip), shared by ingest and retrieve.

`load_encoder` resolves a model name (any open_clip name, an ``hf-hub:`` id, a ``local-dir:`` folder,
or one of the extra configs in ``rag_video/model_configs``) and its weights (a pretrained tag, a local
checkpoint file, or ``none`` for random weights seeded from the model name). The returned `Encoder`
preprocesses frames in batched torch ops (no PIL per image) and returns float32, L2-normalised numpy
vectors, whatever precision the model ran in.

torch and open_clip are imported inside the functions that need them; `model_dim` never imports them.

Why one module of ~590 lines for now: registry, weights policy, device choice, preprocessing and
the encoder are separate sections with downward calls only; issue 11 splits them into
`embed/{registry,weights,preprocess,encoder}.py` together with the encoder config stored with the
table, a change of its own that this module's callers have to follow.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import platform
import zlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_video import hub
from rag_video.errors import RagVideoError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "model_configs"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NO_WEIGHTS = (None, "none", "None", "")
HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
SCHEMA_WEIGHTS = (
    "default"  # pretrained label of hf-hub:/local-dir: models, whose source names the weights
)


class EncoderUnavailable(RagVideoError):
    """The encoder's weights cannot be obtained (not cached and no network); the message says how."""


class UnknownModel(UsageError, ValueError):
    """A model name, pretrained tag, precision or device that does not resolve."""


# (model, pretrained, HF_HOME, HF_HUB_CACHE) -> why its weights cannot be had: asked once per process
_UNAVAILABLE: dict[tuple[str, str | None, str | None, str | None], str] = {}


# --------------------------------------------------------------------------- light helpers (no torch)


def _open_clip_config_dir() -> Path | None:
    """The installed open_clip's model_configs folder, located without importing open_clip."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model_configs"
        if folder.is_dir():
            return folder
    return None


def _config_path(model: str) -> Path | None:
    """The JSON config file of a built-in or project model name, or None."""
    if model.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX)):
        return None
    name = model.replace("/", "-")
    for folder in (CONFIG_DIR, _open_clip_config_dir()):
        if folder is not None and (folder / f"{name}.json").is_file():
            return folder / f"{name}.json"
    return None


def model_dim(model: str) -> int | None:
    """Embedding dimension of `model` read from its open_clip JSON config, without importing torch.

    Returns None for ``hf-hub:``/``local-dir:`` ids and unknown names (their dim is known only after
    loading).
    """
    path = _config_path(model)
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        dim = json.load(f).get("embed_dim")
    return int(dim) if dim is not None else None


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


def seed_for(model: str) -> int:
    """Stable (cross-process, cross-platform) seed for the random weights of `model`."""
    return zlib.crc32(model.encode("utf-8"))


# --------------------------------------------------------------------------- open_clip registry


_REGISTERED = False


def _open_clip() -> Any:
    """Import open_clip and register the project's extra configs once."""
    global _REGISTERED
    import open_clip

    if not _REGISTERED:
        open_clip.add_model_config(CONFIG_DIR)
        _REGISTERED = True
    return open_clip


def list_models() -> list[str]:
    """Every architecture name `load_encoder` accepts without a schema (open_clip's plus ours)."""
    return list(_open_clip().list_models())


def list_pretrained_tags(model: str) -> list[str]:
    """The pretrained tags open_clip knows for `model` (empty for project configs)."""
    return list(_open_clip().list_pretrained_tags_by_model(model.replace("/", "-")))


# --------------------------------------------------------------------------- weight resolution


def _unavailable_message(model: str, pretrained: str | None) -> str:
    """One line naming the model, why nothing could be downloaded, and the ways to get its weights."""
    why = hub.offline_reason(probe=False) or "offline or no network"
    if model.startswith(HF_HUB_PREFIX):
        repo = model[len(HF_HUB_PREFIX) :]
        if pretrained in NO_WEIGHTS:
            return (
                f"the config of encoder {model} is not in the local cache and cannot be downloaded "
                f"({why}): run once with network access, or use a built-in architecture "
                "name (see `rag-video models`) with --pretrained none"
            )
        return (
            f"weights for encoder {model} are not in the local cache and cannot be downloaded ({why}): "
            f"run once with network access, or `hf download {repo}` on a connected machine "
            "and copy the Hugging Face cache, or use --pretrained none for random weights"
        )
    return (
        f"weights for encoder {model}/{pretrained} are not in the local cache and cannot be downloaded "
        f"({why}): run once with network access, or download the checkpoint and pass "
        "--pretrained /path/to/open_clip_pytorch_model.bin, or use --pretrained none for random weights"
    )


def _offline_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the weights could not be fetched' (hub offline / no network / not cached)."""
    import urllib.error

    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    return (
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        urllib.error.URLError,
        ConnectionError,
        TimeoutError,
    )


def _missing_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the hub answered: no such repository or file'."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
    )

    return (RepositoryNotFoundError, RemoteEntryNotFoundError, GatedRepoError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or during (open_clip re-wraps hub errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _classify_fetch_error(
    exc: BaseException, model: str, pretrained: str | None
) -> Exception | None:
    """Translate a weights-fetch failure into our errors, or None when it is something else."""
    offline, missing = _offline_error_types(), _missing_error_types()
    for link in _chain(exc):
        if isinstance(link, missing):
            name = (
                model
                if model.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX))
                else f"{model}/{pretrained}"
            )
            return UnknownModel(
                f"encoder {name!r} not found on the Hugging Face hub (missing or gated)"
            )
        if isinstance(link, offline):
            return EncoderUnavailable(_unavailable_message(model, pretrained))
    return None


@contextlib.contextmanager
def _fetch_errors(model: str, pretrained: str | None) -> Iterator[None]:
    """Turn hub/network failures while fetching weights or configs into EncoderUnavailable."""
    try:
        yield
    except (
        OSError,
        RuntimeError,
    ) as exc:  # open_clip wraps hub errors in FileNotFoundError/RuntimeError
        translated = _classify_fetch_error(exc, model, pretrained)
        if translated is None:
            raise
        raise translated from exc


def _check_model_name(open_clip: Any, model: str) -> None:
    """Raise UnknownModel unless `model` is a registered name or has a schema open_clip resolves."""
    if model.startswith(HF_HUB_PREFIX):
        if not model[len(HF_HUB_PREFIX) :]:
            raise UnknownModel(f"model={model!r}: empty hf-hub id")
        return
    if model.startswith(LOCAL_DIR_PREFIX):
        folder = Path(model[len(LOCAL_DIR_PREFIX) :])
        if not (folder / "open_clip_config.json").is_file():
            raise UnknownModel(f"model={model!r}: no open_clip_config.json in {folder}")
        return
    if open_clip.get_model_config(model.replace("/", "-")) is None:
        raise UnknownModel(
            f"unknown encoder model={model!r} (see `rag-video models` for the names)"
        )


def _fetch_weights(open_clip: Any, model: str, pretrained: str | None) -> None:
    """Make sure the weights are local (downloading them when allowed) before the model is built.

    open_clip falls back to random weights when an ``hf-hub:`` checkpoint is missing, and wraps hub
    errors in generic exceptions, so availability is settled here first.
    """
    from open_clip.pretrained import download_pretrained, download_pretrained_from_hf

    if model.startswith(LOCAL_DIR_PREFIX) or (
        pretrained in NO_WEIGHTS and not model.startswith(HF_HUB_PREFIX)
    ):
        return
    if pretrained is None or not os.path.isfile(pretrained):
        hub.offline()  # one quick probe per process; unreachable means local cache only
    with _fetch_errors(model, pretrained):
        if model.startswith(HF_HUB_PREFIX):
            repo = model[len(HF_HUB_PREFIX) :]
            download_pretrained_from_hf(repo, filename="open_clip_config.json")
            if pretrained not in NO_WEIGHTS:
                download_pretrained_from_hf(
                    repo
                )  # open_clip would silently fall back to random weights
            return
        if pretrained in NO_WEIGHTS or os.path.isfile(pretrained):
            return
        tag_cfg = open_clip.get_pretrained_cfg(model.replace("/", "-"), pretrained)
        if not tag_cfg:
            tags = ", ".join(list_pretrained_tags(model)) or "none known"
            raise UnknownModel(
                f"pretrained={pretrained!r} is neither a pretrained tag of {model} ({tags}) nor a file"
            )
        download_pretrained(tag_cfg)


# --------------------------------------------------------------------------- device and precision


def resolve_device(device: str | None) -> str:
    """`device` as given, or ``cuda`` when a GPU is present, else ``cpu``."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError as exc:
        raise UnknownModel(f"device={device!r} is not a torch device") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise UnknownModel(f"device={device!r} requested but CUDA is not available")
    return str(device)


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` → fp16 on CUDA, bf16 on CPUs with native bf16, fp32 otherwise; others pass through."""
    if precision not in PRECISIONS:
        raise UnknownModel(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if cpu_supports_bf16() else "fp32"


def _dtype(precision: str) -> torch.dtype:
    """The input/low-precision dtype of a resolved precision."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


# --------------------------------------------------------------------------- preprocessing


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _check_image(i: int, image: np.ndarray) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.ndim != 3
        or image.shape[2] != 3
        or image.dtype != np.uint8
    ):
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(
            f"images[{i}] must be an HxWx3 uint8 RGB array, got shape={shape} dtype={dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"images[{i}] is empty: shape={image.shape}")


class Preprocessor:
    """Batched torch version of open_clip's eval transform (resize, center crop, normalise)."""

    def __init__(self, cfg: dict[str, Any]):
        self.size = _pair(cfg.get("size", 224))
        self.mean = tuple(float(m) for m in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        self.std = tuple(float(s) for s in cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
        self.resize_mode = cfg.get("resize_mode", "shortest")
        self.fill = float(cfg.get("fill_color", 0))
        interpolation = cfg.get("interpolation", "bicubic")
        self.interpolation = "bilinear" if interpolation == "bilinear" else "bicubic"
        if self.resize_mode not in ("shortest", "longest", "squash"):
            raise UnknownModel(f"resize_mode={self.resize_mode!r} is not supported")

    def __call__(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """(n, 3, H, W) float32 model input from HxWx3 uint8 RGB arrays (any sizes)."""
        import torch

        out = torch.empty((len(images), 3, *self.size), dtype=torch.float32)
        for shape, indices in self._groups(images).items():
            batch = torch.from_numpy(np.stack([images[i] for i in indices]))
            out[indices] = self._resize(batch.permute(0, 3, 1, 2).float(), shape[:2])
        mean = torch.tensor(self.mean).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std).view(1, 3, 1, 1) * 255.0
        return out.sub_(mean).div_(std)

    @staticmethod
    def _groups(images: Sequence[np.ndarray]) -> dict[tuple[int, ...], list[int]]:
        """Image indices grouped by shape, so each group is resized in one call."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            _check_image(i, image)
            groups.setdefault(image.shape, []).append(i)
        return groups

    def _resize(self, batch: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """(n, 3, h, w) 0..255 floats → (n, 3, H, W) per the resize mode."""
        if self.resize_mode == "squash":
            return self._interpolate(batch, self.size)
        if self.resize_mode == "longest":
            return self._fit_and_pad(batch, hw)
        return self._crop_and_resize(batch, hw)

    def _interpolate(self, batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        import torch.nn.functional as F

        if tuple(batch.shape[-2:]) == size:
            return batch
        resized = F.interpolate(
            batch, size=size, mode=self.interpolation, antialias=True, align_corners=False
        )
        return resized.clamp_(0.0, 255.0)

    def _crop_and_resize(self, batch: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Resize the short side to fit, then center crop (torchvision Resize + CenterCrop geometry)."""
        (h, w), (th, tw) = hw, self.size
        if th == tw:  # torchvision Resize(int): short side exact, long side truncated
            short, long = min(h, w), max(h, w)
            new_long = int(th * long / short)
            nh, nw = (th, new_long) if h <= w else (new_long, th)
        else:  # open_clip ResizeKeepRatio
            ratio = min(h / th, w / tw)
            nh, nw = round(h / ratio), round(w / ratio)
        resized = self._interpolate(batch, (nh, nw))
        top, left = int(round((nh - th) / 2.0)), int(round((nw - tw) / 2.0))
        return resized[:, :, top : top + th, left : left + tw]

    def _fit_and_pad(self, batch: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Resize the long side to fit and pad the rest with the fill colour, centered."""
        import torch

        (h, w), (th, tw) = hw, self.size
        ratio = max(h / th, w / tw)
        nh, nw = max(1, min(th, round(h / ratio))), max(1, min(tw, round(w / ratio)))
        resized = self._interpolate(batch, (nh, nw))
        out = torch.full((batch.shape[0], 3, th, tw), self.fill, dtype=batch.dtype)
        top, left = (th - nh) // 2, (tw - nw) // 2
        out[:, :, top : top + nh, left : left + nw] = resized
        return out


# --------------------------------------------------------------------------- the encoder


class Encoder:
    """A loaded open_clip model: images and texts in, float32 L2-normalised vectors out.

    Attributes: `model_id` (``"{model}/{pretrained}"``), `dim`, `device`, `precision` (resolved:
    ``fp32``/``bf16``/``fp16``), `image_size` (short side of the model input, pixels), `batch_size`.
    """

    def __init__(
        self,
        model: Any,
        *,
        name: str,
        pretrained: str | None,
        device: str,
        precision: str,
        batch_size: int = 64,
    ):
        self.model = model
        self.name = name
        self.pretrained = "none" if pretrained in NO_WEIGHTS else str(pretrained)
        self.model_id = f"{name}/{self.pretrained}"
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.preprocess = Preprocessor(getattr(model.visual, "preprocess_cfg", {}) or {})
        self.image_size = min(self.preprocess.size)
        self.dim = int(self._output_dim())
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        return f"Encoder({self.model_id!r}, dim={self.dim}, device={self.device!r}, precision={self.precision!r})"

    def _output_dim(self) -> int:
        """Embedding size from the towers' attributes, or from one blank image when they lack it."""
        for tower in (getattr(self.model, "visual", None), getattr(self.model, "text", None)):
            dim = getattr(tower, "output_dim", None)
            if isinstance(dim, int):
                return dim
        blank = np.zeros((*self.preprocess.size, 3), dtype=np.uint8)
        return int(self._encode_image_batch([blank]).shape[1])

    @property
    def tokenizer(self) -> Any:
        """open_clip's tokenizer for the model (built on first use)."""
        if self._tokenizer is None:
            with _fetch_errors(self.name, self.pretrained):
                self._tokenizer = _open_clip().get_tokenizer(self.name)
        return self._tokenizer

    def encode_images(
        self, images: Sequence[np.ndarray], *, batch_size: int | None = None
    ) -> np.ndarray:
        """(n, dim) float32 L2-normalised embeddings of HxWx3 uint8 RGB arrays of any sizes."""
        step = self._batch_size(batch_size)
        chunks = [
            self._encode_image_batch(images[i : i + step]) for i in range(0, len(images), step)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), dtype=np.float32)

    def encode_text(self, texts: Sequence[str], *, batch_size: int | None = None) -> np.ndarray:
        """(n, dim) float32 L2-normalised embeddings of `texts`."""
        if isinstance(texts, str):
            raise ValueError(f"texts must be a list of strings, got a single string {texts[:40]!r}")
        step = self._batch_size(batch_size)
        chunks = [
            self._encode_text_batch(list(texts[i : i + step])) for i in range(0, len(texts), step)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), dtype=np.float32)

    def _batch_size(self, batch_size: int | None) -> int:
        size = self.batch_size if batch_size is None else batch_size
        if size < 1:
            raise ValueError(f"batch_size={size!r} must be >= 1")
        return size

    def _encode_image_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            pixels = self.preprocess(images).to(self.device, dtype=_dtype(self.precision))
            return _normalised(self.model.encode_image(pixels))

    def _encode_text_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer(texts).to(self.device)
            return _normalised(self.model.encode_text(tokens))


def _normalised(features: torch.Tensor) -> np.ndarray:
    """float32 numpy rows of unit length (zero rows stay zero)."""
    import torch.nn.functional as F

    return F.normalize(features.float(), dim=-1).cpu().numpy().astype(np.float32, copy=False)


# --------------------------------------------------------------------------- loading


def _build_model(open_clip: Any, model: str, pretrained: str | None, precision: str) -> Any:
    """The open_clip model on CPU: pretrained weights, or random weights seeded from the name.

    bf16/fp16 use open_clip's own mixed precision (OpenAI-style: matmul weights in low precision,
    LayerNorm in fp32), cast after the fp32 initialisation so random weights match across precisions.
    """
    import torch

    if pretrained in NO_WEIGHTS:
        logger.warning(
            "encoder %s uses random weights (--pretrained none): similarities are only meaningful "
            "for near-duplicates",
            model,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_for(model))
            with _fetch_errors(model, pretrained):
                return open_clip.create_model(
                    model,
                    pretrained=None,
                    load_weights=False,
                    pretrained_text=False,
                    precision=precision,
                )
    tag = None if pretrained == SCHEMA_WEIGHTS else pretrained
    with _fetch_errors(model, pretrained):
        return open_clip.create_model(
            model, pretrained=tag, require_pretrained=True, precision=precision
        )


def load_encoder(
    model: str = "ViT-B-32",
    pretrained: str | None = "laion2b_s34b_b79k",
    *,
    device: str | None = None,
    precision: str = "auto",
    batch_size: int = 64,
) -> Encoder:
    """Load an open_clip encoder.

    `model`: an open_clip architecture name (see `list_models`), ``hf-hub:org/repo`` or
    ``local-dir:/path``. `pretrained`: a pretrained tag, a checkpoint file path, or None/``"none"``
    for random weights seeded from the model name (identical in every process). `device`: None picks
    CUDA when present, else CPU. `precision`: ``auto`` (fp16 on CUDA, bf16 on CPUs with native bf16,
    else fp32) or ``fp32``/``bf16``/``fp16``; low precisions run open_clip's mixed precision (matmul
    weights and activations in bf16/fp16, LayerNorm in fp32; outputs are always float32). Autocast is
    not used: under autocast torch's nn.MultiheadAttention leaves its fused inference path and copies
    expanded weights on every call (half the CPU time of ViT-B-32).

    Raises `EncoderUnavailable` when the weights are neither cached nor downloadable, and
    `UnknownModel` (a ValueError) for names, tags, devices or precisions that do not resolve.
    """
    if precision not in PRECISIONS:
        raise UnknownModel(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    asked = (model, pretrained, os.environ.get("HF_HOME"), os.environ.get("HF_HUB_CACHE"))
    if asked in _UNAVAILABLE:  # this process already found these weights unobtainable
        raise EncoderUnavailable(_UNAVAILABLE[asked])
    open_clip = _open_clip()
    _check_model_name(open_clip, model)
    if model.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX)) and pretrained not in NO_WEIGHTS:
        pretrained = (
            SCHEMA_WEIGHTS  # the schema source names its own weights; a tag would be ignored
        )
    elif pretrained not in NO_WEIGHTS and os.path.isfile(os.path.expanduser(pretrained)):
        pretrained = os.path.expanduser(pretrained)
    resolved_device = resolve_device(device)
    resolved_precision = resolve_precision(precision, resolved_device)
    try:
        _fetch_weights(open_clip, model, pretrained)
        net = _build_model(open_clip, model, pretrained, resolved_precision)
    except EncoderUnavailable as exc:
        _UNAVAILABLE[asked] = str(exc)
        raise
    net = net.to(resolved_device).eval().requires_grad_(False)
    encoder = Encoder(
        net,
        name=model,
        pretrained=pretrained,
        device=resolved_device,
        precision=resolved_precision,
        batch_size=batch_size,
    )
    logger.info("loaded %r", encoder)
    return encoder


__all__ = [
    "Encoder",
    "EncoderUnavailable",
    "UnknownModel",
    "cpu_supports_bf16",
    "list_models",
    "list_pretrained_tags",
    "load_encoder",
    "model_dim",
]
