"""One small adapter per supported diffusers pipeline class, and loading a model into one.

Modules, importing downward: `base` (the adapter protocol, frame and message helpers) ← `sd`
and `ltx` (one module per pipeline family; a new family is added beside them) ← `resolve`
(model names, hub/offline checks, pipeline class → adapter registry) ← `loading`
(`load_pipeline`: dtype, device placement, VAE switches).
"""

from rag_video.generate.adapters.base import (
    Adapter,
    FillAdapter,
    RestyleAdapter,
    StepCounter,
    effective_strength,
    first_line,
    frames_from_output,
    to_pil,
)
from rag_video.generate.adapters.loading import load_pipeline, quiet_library, resolve_dtype
from rag_video.generate.adapters.ltx import LTXFill, LTXRestyle
from rag_video.generate.adapters.resolve import (
    ADAPTERS,
    FILL_ADAPTERS,
    RESTYLE_ADAPTERS,
    ModelSpec,
    UnsupportedModel,
    hub_offline,
    parse_model_spec,
    read_pipeline_class,
    resolve_adapter,
    supported_pipelines,
)
from rag_video.generate.adapters.sd import AnimateDiffRestyle, SVDFill

__all__ = [
    "ADAPTERS",
    "FILL_ADAPTERS",
    "RESTYLE_ADAPTERS",
    "Adapter",
    "AnimateDiffRestyle",
    "FillAdapter",
    "LTXFill",
    "LTXRestyle",
    "ModelSpec",
    "RestyleAdapter",
    "SVDFill",
    "StepCounter",
    "UnsupportedModel",
    "effective_strength",
    "first_line",
    "frames_from_output",
    "hub_offline",
    "load_pipeline",
    "parse_model_spec",
    "quiet_library",
    "read_pipeline_class",
    "resolve_adapter",
    "resolve_dtype",
    "supported_pipelines",
    "to_pil",
]
