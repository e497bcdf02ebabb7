"""Is the Hugging Face hub usable? One answer per process, shared by every model loader.

The open_clip encoders (`rag_video.embed.weights`) and the diffusers pipelines
(`rag_video.generate.adapters`) both ask `offline()`. It is True when ``HF_HUB_OFFLINE``
(or ``TRANSFORMERS_OFFLINE``) is set, in the environment or in huggingface_hub's constants, or when
one quick TCP probe of the hub failed. Without the probe, huggingface_hub retries an unreachable hub
for about a minute before giving up. The probe runs at most once per process; when it fails,
huggingface_hub's own offline flag is set too, so every library in the process uses only the local
cache from then on.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
PROBE_TIMEOUT_S = 3.0
_probe: dict[str, bool] = {}  # {"reachable": bool}: the answer of this process's one probe


def _env_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().upper() in TRUE_VALUES
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _constants():
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub comes with open_clip and diffusers
        return None
    return constants


def host() -> str:
    """The hub's host name (``HF_ENDPOINT`` respected)."""
    from urllib.parse import urlparse

    constants = _constants()
    endpoint = (
        getattr(constants, "ENDPOINT", None)
        or os.environ.get("HF_ENDPOINT")
        or "https://huggingface.co"
    )
    return urlparse(endpoint).hostname or "huggingface.co"


def offline_reason(*, probe: bool = True) -> str | None:
    """Why this process must use the local cache only, or None when the hub can be used.

    `probe`: when nothing says offline yet, try one TCP connection to the hub (once per process;
    later calls reuse the answer)."""
    if _env_offline():
        return "HF_HUB_OFFLINE is set"
    if _probe.get("reachable") is False:  # this process's probe failed (it also set the flag below)
        return f"{host()} is unreachable"
    constants = _constants()
    if constants is not None and constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    if probe and "reachable" not in _probe:
        _probe["reachable"] = _reachable(host(), PROBE_TIMEOUT_S)
        if not _probe["reachable"]:
            log.info(
                "the model hub (%s) is unreachable: this process uses the local cache only", host()
            )
            if constants is not None:
                constants.HF_HUB_OFFLINE = True
            return f"{host()} is unreachable"
    return None


def offline(*, probe: bool = True) -> bool:
    """True when model files must come from the local cache (see the module docstring)."""
    return offline_reason(probe=probe) is not None


def _reachable(hostname: str, timeout: float) -> bool:
    try:
        socket.create_connection((hostname, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def reset() -> None:
    """Forget the probe's answer (tests)."""
    _probe.clear()
