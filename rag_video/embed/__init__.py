"""Image and text encoders (open_clip), shared by ingest and retrieve.

`load_encoder` resolves a model name (any open_clip name, an ``hf-hub:`` id, a ``local-dir:``
folder, or one of the extra configs in ``rag_video/model_configs``) and its weights (a pretrained
tag, a local checkpoint file, or ``none`` for random weights seeded from the model name). The
returned `Encoder` preprocesses frames in batched torch ops (no PIL per image) and returns
float32, L2-normalised numpy vectors, whatever precision the model ran in.

The package, by job (imports run downward):

- `registry`: model names, the project's configs, open_clip registration, `model_dim`, seeds;
- `config`: `EncoderConfig`, the encoder config stored in the shots table's metadata;
- `weights`: fetching weights, the hub/offline policy, `EncoderUnavailable` and its message;
- `preprocess`: `Preprocessor`, open_clip's eval transform as batched torch ops;
- `build`: the open_clip model, both towers or the text tower alone from a checkpoint file;
- `encoder`: `Encoder`, the precision policy and `load_encoder`.

Device choice and the CPU's bf16 support live in `rag_video.devices`. torch and open_clip are
imported inside the functions that need them: importing this package (and `model_dim`) never
imports them.
"""

from __future__ import annotations

from rag_video.devices import cpu_supports_bf16
from rag_video.embed.config import EncoderConfig
from rag_video.embed.encoder import Encoder, load_encoder
from rag_video.embed.preprocess import Preprocessor
from rag_video.embed.registry import UnknownModel, list_models, list_pretrained_tags, model_dim
from rag_video.embed.weights import EncoderUnavailable

__all__ = [
    "Encoder",
    "EncoderConfig",
    "EncoderUnavailable",
    "Preprocessor",
    "UnknownModel",
    "cpu_supports_bf16",
    "list_models",
    "list_pretrained_tags",
    "load_encoder",
    "model_dim",
]
