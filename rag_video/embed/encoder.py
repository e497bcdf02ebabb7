"""The open_clip encoder: loading a model and turning frames and texts into unit vectors.

Owns `Encoder` (batched image/text encoding, float32 L2-normalised numpy out whatever precision
the model runs in), the precision policy (``auto`` → fp16 on CUDA; on CPU, images in bf16 where it
is native and texts always in fp32, by a text-only fp32 twin when the model itself runs in bf16)
and `load_encoder`,
which resolves the name (`registry`), the weights (`weights`) and the device
(`rag_video.devices`) before `build` makes the model with the towers asked for. torch and
open_clip are imported inside the functions that need them.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_video.devices import UnknownDevice, cpu_supports_bf16, resolve_device
from rag_video.embed import weights
from rag_video.embed.build import TOWERS, build_model, check_towers
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
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# model name -> its open_clip tokenizer (building one reads and parses the BPE vocabulary)
_TOKENIZERS: dict[str, Any] = {}


# --------------------------------------------------------------------------- precision


def _device(device: str | None) -> str:
    """`rag_video.devices.resolve_device`, its refusals reported as UnknownModel (a UsageError)."""
    try:
        return resolve_device(device, check=True)
    except UnknownDevice as exc:
        raise UnknownModel(str(exc)) from exc


def resolve_precision(precision: str, device: str, towers: Collection[str] = TOWERS) -> str:
    """``auto`` → fp16 on CUDA; on CPU bf16 where it is native and fp32 otherwise, and fp32 for a
    text-only encoder (texts on CPU run in fp32: CPU bf16 kernels cost seconds on their first call
    and are slower on a few dozen tokens).

    The other precisions pass through; one not in `PRECISIONS` raises UnknownModel.
    """
    if precision not in PRECISIONS:
        raise UnknownModel(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if "image" in towers and cpu_supports_bf16() else "fp32"


def _dtype(precision: str) -> torch.dtype:
    """The input/low-precision dtype of a resolved precision."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


# --------------------------------------------------------------------------- the encoder


class Encoder:
    """A loaded open_clip model: images and texts in, float32 L2-normalised vectors out.

    Attributes: `model_id` (``"{model}/{pretrained}"``), `dim`, `device`, `precision` (resolved:
    ``fp32``/``bf16``/``fp16``), `image_size` (short side of the model input, pixels), `batch_size`,
    `towers` (``("image", "text")``, or ``("text",)`` for a text-only encoder).
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
        towers: Collection[str] = TOWERS,
        text_twin: Callable[[], Encoder] | None = None,
    ):
        self.model = model
        self.towers = check_towers(towers)
        self._twin_loader = text_twin
        self._twin: Encoder | None = None
        self.name = name
        self.pretrained = "none" if pretrained in NO_WEIGHTS else str(pretrained)
        self.model_id = model_id(name, self.pretrained)
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.preprocess = Preprocessor(getattr(model.visual, "preprocess_cfg", {}) or {})
        self.image_size = min(self.preprocess.size)
        self.dim = int(self._output_dim())

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
        """open_clip's tokenizer for the model (built once a process, on first use)."""
        if self.name not in _TOKENIZERS:
            with weights.fetch_errors(self.name, self.pretrained):
                _TOKENIZERS[self.name] = open_clip_module().get_tokenizer(self.name)
        return _TOKENIZERS[self.name]

    def encode_images(
        self, images: Sequence[np.ndarray], *, batch_size: int | None = None
    ) -> np.ndarray:
        """(n, dim) float32 L2-normalised embeddings of HxWx3 uint8 RGB arrays of any sizes."""
        if "image" not in self.towers:
            raise ValueError(f"{self!r} was loaded without its image tower (towers={self.towers})")
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

        if self._twin_loader is not None:  # texts run in the twin's precision (fp32)
            if self._twin is None:
                self._twin = self._twin_loader()
            return self._twin._encode_text_batch(texts)

        with torch.inference_mode():
            tokens = self.tokenizer(texts).to(self.device)
            return _normalised(_encode_tokens(self.model, tokens))


def _encode_tokens(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """open_clip's `CLIP.encode_text`, run on the tokens up to the longest text's end token.

    With a causal mask and the end token's feature pooled (``argmax``: it has the highest id), the
    padding after it never reaches the output, so the rest of the 77-token context is skipped
    (the result matches the full run to float rounding). Other text towers run whole.
    """
    import torch

    mask = getattr(model, "attn_mask", None)
    if (
        getattr(model, "text_pool_type", None) != "argmax"
        or not isinstance(mask, torch.Tensor)
        or not hasattr(model, "token_embedding")
    ):
        return model.encode_text(tokens)
    ends = tokens.argmax(dim=-1)
    n = int(ends.max()) + 1
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens[:, :n]).to(cast_dtype)
    x = x + model.positional_embedding[:n].to(cast_dtype)
    x = model.transformer(x, attn_mask=mask[:n, :n])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), ends]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def _normalised(features: torch.Tensor) -> np.ndarray:
    """float32 numpy rows of unit length (zero rows stay zero)."""
    import torch.nn.functional as F

    return F.normalize(features.float(), dim=-1).cpu().numpy().astype(np.float32, copy=False)


# --------------------------------------------------------------------------- loading


def load_encoder(
    model: str = "ViT-B-32",
    pretrained: str | None = "laion2b_s34b_b79k",
    *,
    device: str | None = None,
    precision: str = "auto",
    batch_size: int = 64,
    towers: Collection[str] = TOWERS,
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
    call (half the CPU time of ViT-B-32). With ``auto`` on CPU texts always run in fp32 (a
    text-only fp32 twin, loaded on the first text, when the model runs in bf16), so every
    encoder of a library gives its queries the same vectors. `towers`: ``("text",)`` loads the
    text tower alone when the weights are a plain open_clip checkpoint file (a tag's download or
    a path; the rest load whole), for a plan or search that only encodes texts.

    Raises `EncoderUnavailable` when the weights are neither cached nor downloadable, and
    `UnknownModel` (a ValueError) for names, tags, devices or precisions that do not resolve.
    """
    if precision not in PRECISIONS:
        raise UnknownModel(f"precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    towers = check_towers(towers)
    started = time.perf_counter()
    with weights.once_per_process(model, pretrained):
        open_clip = open_clip_module()  # the first call imports torch and open_clip
        imported = time.perf_counter() - started
        check_model_name(open_clip, model)
        if model.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX)) and pretrained not in NO_WEIGHTS:
            pretrained = (
                SCHEMA_WEIGHTS  # the schema source names its own weights; a tag would be ignored
            )
        elif pretrained not in NO_WEIGHTS and os.path.isfile(os.path.expanduser(pretrained)):
            pretrained = os.path.expanduser(pretrained)
        resolved_device = _device(device)
        resolved_precision = resolve_precision(precision, resolved_device, towers)
        checkpoint = weights.fetch_weights(open_clip, model, pretrained)
        net = build_model(
            open_clip, model, pretrained, resolved_precision, checkpoint=checkpoint, towers=towers
        )
    net = net.to(resolved_device).eval().requires_grad_(False)
    loaded = ("image", "text") if hasattr(net.visual, "parameters") else ("text",)
    twin: Callable[[], Encoder] | None = None
    if precision == "auto" and resolved_precision != "fp32" and resolved_device == "cpu":
        twin = functools.partial(
            load_encoder, model, pretrained, device="cpu", precision="fp32", towers=("text",)
        )

    encoder = Encoder(
        net,
        name=model,
        pretrained=pretrained,
        device=resolved_device,
        precision=resolved_precision,
        batch_size=batch_size,
        towers=loaded,
        text_twin=twin,
    )
    seconds = time.perf_counter() - started
    logger.info(
        "loaded %r in %.2f s (%.2f s of imports)",
        encoder,
        seconds,
        imported,
        extra={"encoder_load_s": round(seconds, 3), "encoder_import_s": round(imported, 3)},
    )
    return encoder
