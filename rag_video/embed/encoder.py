"""The open_clip encoder: loading a model and turning frames and texts into unit vectors.

Owns `Encoder` (batched image/text encoding, float32 L2-normalised numpy out whatever precision
the model runs in), the precision policy (``auto`` → fp16 on CUDA, bf16 on CPUs with native bf16,
else fp32) and `load_encoder`, which resolves the name (`registry`), the weights (`weights`) and
the device (`rag_video.devices`) before building the model. torch and open_clip are imported
inside the functions that need them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_video.devices import UnknownDevice, cpu_supports_bf16, resolve_device
from rag_video.embed import weights
from rag_video.embed.config import model_id
from rag_video.embed.preprocess import Preprocessor
from rag_video.embed.registry import (
    HF_HUB_PREFIX,
    LOCAL_DIR_PREFIX,
    NO_WEIGHTS,
    SCHEMA_WEIGHTS,
    UnknownModel,
    check_model_name,
    open_clip_module,
    seed_for,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


# --------------------------------------------------------------------------- precision


def _device(device: str | None) -> str:
    """`rag_video.devices.resolve_device`, its refusals reported as UnknownModel (a UsageError)."""
    try:
        return resolve_device(device, check=True)
    except UnknownDevice as exc:
        raise UnknownModel(str(exc)) from exc


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` → fp16 on CUDA, bf16 on CPUs with native bf16, fp32 otherwise.

    The other precisions pass through; one not in `PRECISIONS` raises UnknownModel.
    """
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
        self.model_id = model_id(name, self.pretrained)
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.preprocess = Preprocessor(getattr(model.visual, "preprocess_cfg", {}) or {})
        self.image_size = min(self.preprocess.size)
        self.dim = int(self._output_dim())
        self._tokenizer: Any = None

    def __repr__(self) -> str:
        return (
            f"Encoder({self.model_id!r}, dim={self.dim}, device={self.device!r}, "
            f"precision={self.precision!r})"
        )

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
            with weights.fetch_errors(self.name, self.pretrained):
                self._tokenizer = open_clip_module().get_tokenizer(self.name)
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
    LayerNorm in fp32), cast after the fp32 initialisation so random weights match across
    precisions.
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
            with weights.fetch_errors(model, pretrained):
                return open_clip.create_model(
                    model,
                    pretrained=None,
                    load_weights=False,
                    pretrained_text=False,
                    precision=precision,
                )
    tag = None if pretrained == SCHEMA_WEIGHTS else pretrained
    with weights.fetch_errors(model, pretrained):
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
    for random weights seeded from the model name (identical in every process). `device`: None
    or ``auto`` picks CUDA when present, else CPU. `precision`: ``auto`` (fp16 on CUDA, bf16 on
    CPUs with native bf16, else fp32) or ``fp32``/``bf16``/``fp16``; low precisions run
    open_clip's mixed precision (matmul weights and activations in bf16/fp16, LayerNorm in fp32;
    outputs are always float32). Autocast is not used: under autocast torch's
    nn.MultiheadAttention leaves its fused inference path and copies expanded weights on every
    call (half the CPU time of ViT-B-32).

    Raises `EncoderUnavailable` when the weights are neither cached nor downloadable, and
    `UnknownModel` (a ValueError) for names, tags, devices or precisions that do not resolve.
    """
    if precision not in PRECISIONS:
        raise UnknownModel(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    with weights.once_per_process(model, pretrained):
        open_clip = open_clip_module()
        check_model_name(open_clip, model)
        if model.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX)) and pretrained not in NO_WEIGHTS:
            pretrained = (
                SCHEMA_WEIGHTS  # the schema source names its own weights; a tag would be ignored
            )
        elif pretrained not in NO_WEIGHTS and os.path.isfile(os.path.expanduser(pretrained)):
            pretrained = os.path.expanduser(pretrained)
        resolved_device = _device(device)
        resolved_precision = resolve_precision(precision, resolved_device)
        weights.fetch_weights(open_clip, model, pretrained)
        net = _build_model(open_clip, model, pretrained, resolved_precision)
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
