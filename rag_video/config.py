"""Settings: defaults < config file (rag-video.toml) < environment (RAG_VIDEO_*) < CLI flags.

The config file is looked up at $RAG_VIDEO_CONFIG, else `rag-video.toml` inside the library, else
`rag-video.toml` in the working directory. Unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag_video.errors import UsageError

ENV_PREFIX = "RAG_VIDEO_"
Detector = Literal["adaptive", "content", "threshold", "histogram", "transnet"]
IndexType = Literal["auto", "flat", "hnsw", "ivf", "ivfpq"]
DETECTORS: tuple[str, ...] = get_args(Detector)
INDEX_TYPES: tuple[str, ...] = get_args(IndexType)
DEFAULT_LIBRARY = "rag-video-library"


class Settings(BaseModel):
    """Every tunable of rag-video, with its default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    library: Path = Path(DEFAULT_LIBRARY)
    # ingest
    detector: Detector = "adaptive"
    min_shot: float = Field(0.6, ge=0)
    workers: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1)
    embed: bool = True
    commit_batch: int = Field(32, ge=1)  # sources landed per commit (three Lance writes per batch)
    # embeddings
    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    device: str = "auto"
    precision: str = "auto"
    embed_batch: int = Field(64, ge=1)
    # index
    index_type: IndexType = "auto"
    tombstone_share: float = Field(0.2, gt=0, le=1)
    # make
    reuse_threshold: float = 0.28
    fill_threshold: float = 0.20
    restyle_model: str | None = None
    fill_model: str | None = None
    lock_timeout: float = Field(30.0, ge=0)


def _config_file(library: Path | None) -> Path | None:
    explicit = os.environ.get(ENV_PREFIX + "CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"RAG_VIDEO_CONFIG={explicit}: no such file")
        return path
    for candidate in ([library / "rag-video.toml"] if library else []) + [Path("rag-video.toml")]:
        if candidate.is_file():
            return candidate
    return None


def _env_values() -> dict[str, Any]:
    values = {}
    for name in Settings.model_fields:
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = raw
    return values


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from every layer; `overrides` (CLI flags) win, None means 'not given'."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    env = _env_values()
    library = Path(overrides.get("library") or env.get("library") or DEFAULT_LIBRARY)
    values: dict[str, Any] = {}
    path = _config_file(library)
    if path:
        try:
            values.update(tomllib.loads(path.read_text()))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"config file {path}: {exc}") from None
    values.update(env)
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(f"setting {where}={err.get('input')!r}: {err['msg']}") from None
