"""The encoder config stored with the shots table: which model made its vectors, and how.

`EncoderConfig` (model name, weights, dimension, preprocessing) is written once into the shots
table's schema metadata under `METADATA_KEY` when embeddings are first written, as LanceDB stores
its embedding functions' configs, and read back here. The per-row ``embed_model`` column stays
for SQL. A library written before the config was stored has only that column: `table_encoder`
and `encoder_of` then rebuild the model and weights from it (`from_model_id`), without
preprocessing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from rag_video.embed.registry import HF_HUB_PREFIX, LOCAL_DIR_PREFIX, NO_WEIGHTS

log = logging.getLogger(__name__)

METADATA_KEY = "rag_video.encoder"


def model_id(model: str, pretrained: str | None) -> str:
    """The ``"{model}/{pretrained}"`` id in the ``embed_model`` column (``none``: no weights)."""
    return f"{model}/{'none' if pretrained in NO_WEIGHTS else pretrained}"


def split_model_id(value: str) -> tuple[str, str]:
    """`model_id` back into (model, pretrained); hf-hub:/local-dir: names contain slashes."""
    if value.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX)):
        model, _, pretrained = value.rpartition("/")
    else:
        model, _, pretrained = value.partition("/")
    return model, pretrained or "none"


class EncoderConfig(BaseModel):
    """How the shots table's vectors were made. Preprocessing is None when only the
    ``embed_model`` column was there to read (a library from before the config was stored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model: str
    pretrained: str
    dim: int
    image_size: tuple[int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    interpolation: str | None = None
    resize_mode: str | None = None

    @property
    def model_id(self) -> str:
        """The value of the ``embed_model`` column for this encoder."""
        return model_id(self.model, self.pretrained)

    @classmethod
    def from_encoder(cls, encoder: Any) -> EncoderConfig:
        """The config of a loaded `Encoder` (its name, weights, width and preprocessing)."""
        pre = encoder.preprocess
        return cls(
            model=encoder.name,
            pretrained=encoder.pretrained,
            dim=encoder.dim,
            image_size=pre.size,
            mean=pre.mean,
            std=pre.std,
            interpolation=pre.interpolation,
            resize_mode=pre.resize_mode,
        )

    @classmethod
    def from_model_id(cls, value: str, dim: int) -> EncoderConfig:
        """What an ``embed_model`` value alone says: model and weights, no preprocessing."""
        model, pretrained = split_model_id(value)
        return cls(model=model, pretrained=pretrained, dim=dim)

    def to_metadata(self) -> dict[str, str]:
        """The schema-metadata entry that stores this config."""
        return {METADATA_KEY: self.model_dump_json()}

    @classmethod
    def from_metadata(cls, metadata: Mapping[Any, Any] | None) -> EncoderConfig | None:
        """The config in a schema's metadata (str or bytes keys), or None when there is none or
        it does not parse (then the caller falls back to the ``embed_model`` column)."""
        if not metadata:
            return None
        raw = metadata.get(METADATA_KEY, metadata.get(METADATA_KEY.encode()))
        if raw is None:
            return None
        try:
            return cls.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            log.warning("ignoring an unreadable encoder config in the shots table: %s", exc)
            return None


def encoder_of(shots: Any, value: str) -> EncoderConfig:
    """The config of the encoder `value` (an ``embed_model`` id) that embedded `shots` (a Lance
    dataset): the one stored in its metadata when it is that encoder's, else rebuilt from the id
    (a library from before the config was stored)."""
    stored = EncoderConfig.from_metadata(shots.schema.metadata)
    if stored is not None and stored.model_id == value:
        return stored
    return EncoderConfig.from_model_id(value, dim=shots.schema.field("embedding").type.list_size)


def table_encoder(shots: Any) -> EncoderConfig | None:
    """The encoder that embedded the shots table (a Lance dataset, or None before it exists), as
    `encoder_of` its ``embed_model`` column says; None while no row is embedded."""
    if shots is None:
        return None
    rows = shots.to_table(columns=["embed_model"], filter="embed_model IS NOT NULL", limit=1)
    return encoder_of(shots, rows.column("embed_model")[0].as_py()) if rows.num_rows else None
