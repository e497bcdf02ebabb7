"""rag-video: a retrieval-augmented video asset engine."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Library", "open_library", "__version__"]


def __getattr__(name: str):
    # Lazy so that `import rag_video` (and the CLI's --help) stays light.
    if name in ("Library", "open_library"):
        from rag_video import library

        return getattr(library, name)
    raise AttributeError(name)
