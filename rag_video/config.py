"""Settings: defaults < config file (rag-video.toml) < environment (RAG_VIDEO_*) < CLI flags.

The config file is looked up at $RAG_VIDEO_CONFIG, else `rag-video.toml` inside the library, else
`rag-video.toml` in the working directory. Unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from rag_video.errors import UsageError

ENV_PREFIX = "RAG_VIDEO_"
CONFIG_NAME = "rag-video.toml"
Detector = Literal["adaptive", "content", "threshold", "histogram", "transnet"]
IndexType = Literal["auto", "flat", "hnsw", "ivf", "ivfpq"]
DecodeDevice = Literal["auto", "cpu", "cuda"]  # media.hwdecode: auto = NVDEC when present
DETECTORS: tuple[str, ...] = get_args(Detector)
INDEX_TYPES: tuple[str, ...] = get_args(IndexType)
DEFAULT_LIBRARY = "rag-video-library"


class Settings(BaseSettings):
    """Every tunable of rag-video, with its default."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_assignment=True
    )

    library: Path = Path(DEFAULT_LIBRARY)
    # ingest
    detector: Detector = "adaptive"
    min_shot: float = Field(0.6, ge=0)
    workers: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1)
    embed: bool = True
    decode_device: DecodeDevice = "auto"
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
    voice: str = "espeak:en-us"  # narration voice, ENGINE:VOICE (`rag-video voices` lists them)
    # content credentials (C2PA, rag_video/provenance): the signing key and its certificate
    # chain (PEM, signing certificate first); the CA certificates `verify` trusts
    c2pa_key: Path | None = None
    c2pa_cert: Path | None = None
    c2pa_trust_anchors: Path | None = None
    lock_timeout: float = Field(30.0, ge=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init kwargs (CLI flags) win over the environment, which wins over the config file."""
        given = init_settings.init_kwargs if isinstance(init_settings, InitSettingsSource) else {}
        library = given.get("library") or env_settings().get("library") or DEFAULT_LIBRARY
        return init_settings, env_settings, ConfigFileSource(settings_cls, Path(library))


class ConfigFileSource(InitSettingsSource):
    """The TOML config file's values (none when there is no file); a bad file is a UsageError."""

    def __init__(self, settings_cls: type[BaseSettings], library: Path):
        self.path = config_file(library)
        values: dict[str, Any] = {}
        if self.path is not None:
            try:
                values = tomllib.loads(self.path.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise UsageError(f"config file {self.path}: {exc}") from None
        super().__init__(settings_cls, values)


def config_file(library: Path | None) -> Path | None:
    """$RAG_VIDEO_CONFIG (which must exist), else the library's rag-video.toml, else the cwd's."""
    explicit = os.environ.get(ENV_PREFIX + "CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"RAG_VIDEO_CONFIG={explicit}: no such file")
        return path
    for candidate in ([library / CONFIG_NAME] if library else []) + [Path(CONFIG_NAME)]:
        if candidate.is_file():
            return candidate
    return None


def load_settings(**overrides: Any) -> Settings:
    """Resolve settings from every layer; `overrides` (CLI flags) win, None means 'not given'."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(f"setting {where}={err.get('input')!r}: {err['msg']}") from None
