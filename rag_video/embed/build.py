"""Building the open_clip model: both towers, or the text tower alone from a checkpoint file.

A plan made of texts needs only the text tower: `build_model` then builds the architecture on
torch's meta device (no random initialisation), drops the vision tower and assigns the text
tensors read from the checkpoint (safetensors: only those tensors are read; torch files are
memory-mapped). A checkpoint it cannot read that way (another key layout, an old pickle) falls
back to the full build. Random weights always take the full build, so they stay identical to
the ones ingest used. torch and open_clip are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from rag_video.embed import weights
from rag_video.embed.registry import NO_WEIGHTS, SCHEMA_WEIGHTS, seed_for

logger = logging.getLogger(__name__)

TOWERS = ("image", "text")
VISUAL_PREFIX = "visual."


def check_towers(towers: Collection[str]) -> tuple[str, ...]:
    """`towers` as a sorted tuple; a ValueError naming the value for an empty or unknown one."""
    chosen = tuple(sorted(set(towers)))
    if not chosen or any(t not in TOWERS for t in chosen):
        raise ValueError(f"towers={tuple(towers)!r} must be a non-empty subset of {TOWERS}")
    return chosen


def build_model(
    open_clip: Any,
    model: str,
    pretrained: str | None,
    precision: str,
    *,
    checkpoint: str | None = None,
    towers: Collection[str] = TOWERS,
) -> Any:
    """The open_clip model on CPU with the towers asked for (at least those).

    `checkpoint`: the local weights file of `pretrained` when known; the text tower alone is
    built only from one. bf16/fp16 use open_clip's own mixed precision (OpenAI-style: matmul
    weights in low precision, LayerNorm in fp32).
    """
    if "image" not in towers and checkpoint is not None and pretrained not in NO_WEIGHTS:
        net = _text_only(open_clip, model, pretrained, checkpoint, precision)
        if net is not None:
            return net
        logger.debug("text tower of %s: %s is not a plain open_clip checkpoint", model, checkpoint)
    return _full(open_clip, model, pretrained, precision)


def _full(open_clip: Any, model: str, pretrained: str | None, precision: str) -> Any:
    """Both towers: pretrained weights, or random weights seeded from the name (cast after the
    fp32 initialisation so random weights match across precisions)."""
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


class AbsentTower:
    """Stands for the vision tower of a text-only model: keeps what the encoder reads from it
    (preprocessing config, image size, output width) and refuses to run."""

    def __init__(self, visual: Any):
        self.preprocess_cfg = getattr(visual, "preprocess_cfg", {})
        self.image_size = getattr(visual, "image_size", None)
        self.output_dim = getattr(visual, "output_dim", None)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("this encoder was loaded without its image tower")


def _text_only(
    open_clip: Any, model: str, pretrained: str | None, checkpoint: str, precision: str
) -> Any | None:
    """The model without its vision tower, text tensors assigned from `checkpoint`; None when the
    checkpoint's keys or shapes are not the model's own (the caller then builds it whole)."""
    import torch

    quiet = _NotRandom()  # open_clip warns on the root logger that no weights were loaded
    logging.getLogger().addFilter(quiet)
    try:
        with weights.fetch_errors(model, pretrained), torch.device("meta"):
            net = open_clip.create_model(
                model,
                pretrained=None,
                load_weights=False,
                pretrained_text=False,
                device="meta",
                precision="fp32",
            )
    finally:
        logging.getLogger().removeFilter(quiet)
    expected = {k: v for k, v in net.state_dict().items() if not k.startswith(VISUAL_PREFIX)}
    state = _text_state(checkpoint)
    if state is None or set(state) != set(expected):
        return None
    if any(state[k].shape != v.shape for k, v in expected.items()):
        return None
    visual = net.visual
    del net.visual  # a submodule: replaced by a plain attribute below
    net.visual = AbsentTower(visual)
    net.load_state_dict(state, strict=False, assign=True)
    if getattr(net, "attn_mask", None) is not None:  # a non-persistent buffer: not in the file
        net.attn_mask = torch.full((net.context_length,) * 2, float("-inf")).triu_(1)
    if any(t.is_meta for t in (*net.parameters(), *net.buffers())):
        return None
    net = net.float()
    if precision in ("bf16", "fp16"):
        from open_clip.model import convert_weights_to_lp

        convert_weights_to_lp(net, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
    return net


class _NotRandom(logging.Filter):
    """Drops open_clip's "initialized randomly" warning: the meta model gets its weights next."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()


def _text_state(checkpoint: str) -> dict[str, Any] | None:
    """The non-vision tensors of an open_clip checkpoint (safetensors: only those are read;
    torch files: memory-mapped), or None when the file cannot be read that way."""
    import torch

    if checkpoint.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(checkpoint, framework="pt") as f:
            names = [k for k in f.keys() if not k.startswith(VISUAL_PREFIX)]  # noqa: SIM118
            return {k: f.get_tensor(k) for k in names}
    try:
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, ValueError, OSError, EOFError, AttributeError) as exc:
        logger.debug("cannot memory-map %s (%s)", checkpoint, exc)
        return None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not loaded:
        return None
    if all(isinstance(k, str) and k.startswith("module.") for k in loaded):
        loaded = {k[len("module.") :]: v for k, v in loaded.items()}
    if not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        return None
    return {k: v for k, v in loaded.items() if not k.startswith(VISUAL_PREFIX)}
