"""Encoder weights: fetching them before the model is built, and saying why they cannot be had.

Owns the hub policy of the encoders: one offline probe per process (`rag_video.hub`), the
translation of hub/network failures into `EncoderUnavailable` (not cached, no network) or
`UnknownModel` (the hub answered: no such repository or file), the one-line message telling the
user how to get the weights, and the per-process memo of weights already found unobtainable.
huggingface_hub and open_clip are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from rag_video import hub
from rag_video.embed.registry import (
    HF_HUB_PREFIX,
    LOCAL_DIR_PREFIX,
    NO_WEIGHTS,
    UnknownModel,
    list_pretrained_tags,
)
from rag_video.errors import RagVideoError


class EncoderUnavailable(RagVideoError):
    """The encoder's weights cannot be obtained (not cached, no network); the message says how."""


# (model, pretrained, HF_HOME, HF_HUB_CACHE) -> why its weights cannot be had (asked once a process)
_UNAVAILABLE: dict[tuple[str, str | None, str | None, str | None], str] = {}


def unavailable_message(model: str, pretrained: str | None) -> str:
    """One line: the model, why nothing could be downloaded, and the ways to get its weights."""
    why = hub.offline_reason(probe=False) or "offline or no network"
    if model.startswith(HF_HUB_PREFIX):
        repo = model[len(HF_HUB_PREFIX) :]
        if pretrained in NO_WEIGHTS:
            return (
                f"the config of encoder {model} is not in the local cache and cannot be downloaded "
                f"({why}): run once with network access, or use a built-in architecture "
                "name (see `rag-video models`) with --pretrained none"
            )
        return (
            f"weights for encoder {model} are not in the local cache and cannot be downloaded "
            f"({why}): run once with network access, or `hf download {repo}` on a connected "
            "machine and copy the Hugging Face cache, or use --pretrained none for random weights"
        )
    return (
        f"weights for encoder {model}/{pretrained} are not in the local cache and cannot be "
        f"downloaded ({why}): run once with network access, or download the checkpoint and pass "
        "--pretrained /path/to/open_clip_pytorch_model.bin, or use --pretrained none for random "
        "weights"
    )


@contextlib.contextmanager
def once_per_process(model: str, pretrained: str | None) -> Iterator[None]:
    """Raise at once the `EncoderUnavailable` this process already met for these weights.

    The key includes ``HF_HOME``/``HF_HUB_CACHE``, so another cache is asked again. An
    `EncoderUnavailable` raised inside the block is remembered under the same key.
    """
    asked = (model, pretrained, os.environ.get("HF_HOME"), os.environ.get("HF_HUB_CACHE"))
    if asked in _UNAVAILABLE:  # this process already found these weights unobtainable
        raise EncoderUnavailable(_UNAVAILABLE[asked])
    try:
        yield
    except EncoderUnavailable as exc:
        _UNAVAILABLE[asked] = str(exc)
        raise


def _offline_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the weights could not be fetched' (offline, no network, not cached)."""
    import urllib.error

    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    return (
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        urllib.error.URLError,
        ConnectionError,
        TimeoutError,
    )


def _missing_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the hub answered: no such repository or file'."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
    )

    return (RepositoryNotFoundError, RemoteEntryNotFoundError, GatedRepoError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or during (open_clip re-wraps hub errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _classify_fetch_error(
    exc: BaseException, model: str, pretrained: str | None
) -> Exception | None:
    """Translate a weights-fetch failure into our errors, or None when it is something else."""
    offline, missing = _offline_error_types(), _missing_error_types()
    for link in _chain(exc):
        if isinstance(link, missing):
            name = (
                model
                if model.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX))
                else f"{model}/{pretrained}"
            )
            return UnknownModel(
                f"encoder {name!r} not found on the Hugging Face hub (missing or gated)"
            )
        if isinstance(link, offline):
            return EncoderUnavailable(unavailable_message(model, pretrained))
    return None


@contextlib.contextmanager
def fetch_errors(model: str, pretrained: str | None) -> Iterator[None]:
    """Turn hub/network failures while fetching weights or configs into EncoderUnavailable."""
    try:
        yield
    except (
        OSError,
        RuntimeError,
    ) as exc:  # open_clip wraps hub errors in FileNotFoundError/RuntimeError
        translated = _classify_fetch_error(exc, model, pretrained)
        if translated is None:
            raise
        raise translated from exc


def fetch_weights(open_clip: Any, model: str, pretrained: str | None) -> str | None:
    """Make sure the weights are local (downloading them when allowed) before the model is built.

    Returns the local checkpoint file of a pretrained tag or file path (None for random weights
    and ``hf-hub:``/``local-dir:`` models). open_clip falls back to random weights when an
    ``hf-hub:`` checkpoint is missing, and wraps hub errors in generic exceptions, so
    availability is settled here first.
    """
    from open_clip.pretrained import download_pretrained, download_pretrained_from_hf

    if model.startswith(LOCAL_DIR_PREFIX) or (
        pretrained in NO_WEIGHTS and not model.startswith(HF_HUB_PREFIX)
    ):
        return None
    if pretrained is None or not os.path.isfile(pretrained):
        hub.offline()  # one quick probe per process; unreachable means local cache only
    with fetch_errors(model, pretrained):
        if model.startswith(HF_HUB_PREFIX):
            repo = model[len(HF_HUB_PREFIX) :]
            download_pretrained_from_hf(repo, filename="open_clip_config.json")
            if pretrained not in NO_WEIGHTS:
                download_pretrained_from_hf(
                    repo
                )  # open_clip would silently fall back to random weights
            return None
        if pretrained in NO_WEIGHTS:
            return None
        if os.path.isfile(pretrained):
            return pretrained
        tag_cfg = open_clip.get_pretrained_cfg(model.replace("/", "-"), pretrained)
        if not tag_cfg:
            tags = ", ".join(list_pretrained_tags(model)) or "none known"
            raise UnknownModel(
                f"pretrained={pretrained!r} is neither a pretrained tag of {model} ({tags}) "
                "nor a file"
            )
        return str(download_pretrained(tag_cfg)) or None
