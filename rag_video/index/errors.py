"""The index's one error type, at the bottom of the package so every index module can raise it."""

from __future__ import annotations

from rag_video.errors import RagVideoError


class IndexUnavailable(RagVideoError):
    """The index cannot be built, loaded, saved or used; the message says why in one line."""
