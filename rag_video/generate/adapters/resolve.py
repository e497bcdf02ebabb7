"""Which adapter serves a model: model names, the hub/offline checks and the pipeline class.

A model is a diffusers model id or a local folder saved with `save_pretrained`, or
`BASE+ADAPTER` (an SD-1.5 pipeline plus an AnimateDiff motion adapter). Its pipeline class is
read from `model_index.json` (`_class_name`) and looked up in the adapter registry by role. Every
failure is a one-line `ModelUnavailable` / `UnsupportedModel`; nothing here loads weights
(that is `loading.py`).

Supported:
  restyle  AnimateDiffVideoToVideoPipeline  SD-1.5 UNet + motion adapter, `strength` SDEdit
           LTXConditionPipeline             the clip VAE-encoded as initial latents,
                                            `denoise_strength`
  fill     StableVideoDiffusionPipeline     image-to-video from one keyframe (no text)
           LTXConditionPipeline             image conditions at the first and/or last frame
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rag_video.generate.adapters.base import Adapter, FillAdapter, RestyleAdapter, first_line
from rag_video.generate.adapters.ltx import LTXFill, LTXRestyle
from rag_video.generate.adapters.sd import AnimateDiffRestyle, SVDFill
from rag_video.generate.base import GenerationError, ModelUnavailable

RESTYLE_ADAPTERS: dict[str, type[RestyleAdapter]] = {
    a.pipeline_class: a for a in (AnimateDiffRestyle, LTXRestyle)
}
FILL_ADAPTERS: dict[str, type[FillAdapter]] = {a.pipeline_class: a for a in (SVDFill, LTXFill)}
ADAPTERS: dict[str, Mapping[str, type[Adapter]]] = {
    "restyle": RESTYLE_ADAPTERS,
    "fill": FILL_ADAPTERS,
}


class UnsupportedModel(ModelUnavailable):
    """The model's pipeline class has no adapter for the requested role (a usage error, exit 2)."""


#: Pipeline classes an SD-1.5 base named before `+ADAPTER` may have.
SD15_BASE_CLASSES = (
    "StableDiffusionPipeline",
    "AnimateDiffPipeline",
    "AnimateDiffVideoToVideoPipeline",
)


def supported_pipelines(role: str) -> list[str]:
    """Pipeline class names that can serve `role` ("restyle" or "fill")."""
    return sorted(_adapters_for(role))


def _adapters_for(role: str) -> Mapping[str, type[Adapter]]:
    if role not in ADAPTERS:
        raise GenerationError(f"role={role!r} is not one of {sorted(ADAPTERS)}")
    return ADAPTERS[role]


@dataclass(frozen=True)
class ModelSpec:
    """A model as named by the user: a pipeline id/folder, plus an optional motion adapter."""

    name: str
    base: str
    motion_adapter: str | None = None


def parse_model_spec(name: str) -> ModelSpec:
    """Split `BASE+ADAPTER` (hub ids cannot contain `+`; an existing path is taken whole)."""
    name = str(name).strip()
    if not name:
        raise ModelUnavailable("model name is empty: pass a diffusers model id or a local folder")
    if "+" in name and not Path(name).expanduser().exists():
        base, adapter = name.split("+", 1)
        return ModelSpec(name, base.strip(), adapter.strip())
    return ModelSpec(name, name)


def hub_offline() -> bool:
    """The same answer the encoders got (the environment, or this process's one hub probe)."""
    from rag_video import hub

    return hub.offline()


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~"))
        or name.count("/") > 1
        or "\\" in name
        or Path(name).expanduser().exists()
    )


def _fetch_hint(name: str) -> str:
    return f"run `hf download {name}` with network access, or pass a local folder"


def unavailable(name: str, exc: BaseException | None = None) -> ModelUnavailable:
    """The one-line error for a model that cannot be loaded."""
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            return ModelUnavailable(
                f"model folder {name} does not exist: pass a folder saved with "
                "save_pretrained or a diffusers model id"
            )
        reason = first_line(exc) if exc else "not a diffusers pipeline folder (no model_index.json)"
        return ModelUnavailable(f"model folder {name} cannot be loaded: {reason}")
    if hub_offline():
        return ModelUnavailable(f"model {name} is not available offline: {_fetch_hint(name)}")
    reason = f" ({first_line(exc)})" if exc else ""
    return ModelUnavailable(f"model {name} cannot be loaded{reason}: {_fetch_hint(name)}")


def read_pipeline_class(name: str) -> str:
    """The `_class_name` in a model's model_index.json (local folder, hub cache or hub)."""
    path = Path(name).expanduser()
    if path.is_dir():
        index = path / "model_index.json"
        if not index.is_file():
            if (path / "config.json").is_file() and "MotionAdapter" in (
                path / "config.json"
            ).read_text():
                raise ModelUnavailable(
                    f"model folder {name} is a motion adapter: name the model "
                    "BASE+ADAPTER with an SD-1.5 pipeline as BASE"
                )
            raise unavailable(name)
        try:
            return str(json.loads(index.read_text())["_class_name"])
        except (ValueError, KeyError) as exc:
            raise ModelUnavailable(
                f"model folder {name} has an unreadable model_index.json: {first_line(exc)}"
            ) from exc
    if _looks_like_path(name):
        raise unavailable(name)
    from diffusers import DiffusionPipeline

    try:
        config = DiffusionPipeline.load_config(name, local_files_only=hub_offline())
    except Exception as exc:  # hub/OS errors of every kind become the one-line message
        raise unavailable(name, exc) from exc
    return str(config["_class_name"])


def check_motion_adapter(name: str) -> None:
    """ModelUnavailable unless the motion adapter's config can be read (folder, cache or hub)."""
    from diffusers import MotionAdapter

    try:
        MotionAdapter.load_config(name, local_files_only=hub_offline())
    except Exception as exc:
        raise unavailable(name, exc) from exc


def resolve_adapter(spec: ModelSpec, role: str) -> type[Adapter]:
    """The adapter class for a model in a role; UnsupportedModel lists the supported classes."""
    adapters = _adapters_for(role)
    class_name = read_pipeline_class(spec.base)
    if spec.motion_adapter is not None:
        if class_name not in SD15_BASE_CLASSES or "AnimateDiffVideoToVideoPipeline" not in adapters:
            raise UnsupportedModel(
                f"{role} model {spec.name}: a motion adapter needs an SD-1.5 base "
                f"({', '.join(SD15_BASE_CLASSES)}) in the restyle role; "
                f"{spec.base} is a {class_name}"
            )
        return adapters["AnimateDiffVideoToVideoPipeline"]
    if class_name not in adapters:
        raise UnsupportedModel(
            f"{role} model {spec.name} is a {class_name}; supported for {role}: "
            f"{', '.join(sorted(adapters))}"
        )
    return adapters[class_name]
