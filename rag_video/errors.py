"""Exceptions shared across layers. Plug-in points keep their own beside their base class."""


class RagVideoError(Exception):
    """Base of every error rag-video raises on purpose; its message is one line for the user."""

    exit_code = 1


class UsageError(RagVideoError):
    """Bad usage or input that stops the command (exit 2)."""

    exit_code = 2


class LibraryLocked(RagVideoError):
    """Another process holds the library's write lock."""

    exit_code = 2


def one_line(exc: BaseException) -> str:
    """An exception's message as one line (runs of whitespace, newlines included, become one
    space), or its type's name when the message is empty."""
    return " ".join(str(exc).split()) or type(exc).__name__
