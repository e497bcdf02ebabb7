"""Encoder names: the project's model configs, open_clip's registry, dimensions and seeds.

Owns what a model *name* means: the extra configs in ``rag_video/model_configs``, the ``hf-hub:``
and ``local-dir:`` schemas, the pretrained labels that mean "no weights", the seed of random
weights, and `UnknownModel`. `model_dim` and `seed_for` never import torch or open_clip; the rest
import open_clip on first call.
"""

from __future__ import annotations

import importlib.util
import json
import zlib
from pathlib import Path
from typing import Any

from rag_video.errors import UsageError

CONFIG_DIR = Path(__file__).parent.parent / "model_configs"
NO_WEIGHTS = (None, "none", "None", "")
HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
SCHEMA_WEIGHTS = (
    "default"  # pretrained label of hf-hub:/local-dir: models, whose source names the weights
)


class UnknownModel(UsageError, ValueError):
    """A model name, pretrained tag, precision or device that does not resolve."""


# ----------------------------------------------------------------------- light helpers (no torch)


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


def seed_for(model: str) -> int:
    """Stable (cross-process, cross-platform) seed for the random weights of `model`."""
    return zlib.crc32(model.encode("utf-8"))


# --------------------------------------------------------------------------- open_clip registry


_REGISTERED = False


def open_clip_module() -> Any:
    """Import open_clip and register the project's extra configs once."""
    global _REGISTERED
    import open_clip

    if not _REGISTERED:
        open_clip.add_model_config(CONFIG_DIR)
        _REGISTERED = True
    return open_clip


def list_models() -> list[str]:
    """Every architecture name `load_encoder` accepts without a schema (open_clip's plus ours)."""
    return list(open_clip_module().list_models())


def list_pretrained_tags(model: str) -> list[str]:
    """The pretrained tags open_clip knows for `model` (empty for project configs)."""
    return list(open_clip_module().list_pretrained_tags_by_model(model.replace("/", "-")))


def check_model_name(open_clip: Any, model: str) -> None:
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
