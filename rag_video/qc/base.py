"""The one check interface: a :class:`Check` has a `name`, settable thresholds (dataclass
fields with defaults) and :meth:`Check.run` returning a :class:`CheckResult`."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rag_video.errors import UsageError


class QCError(UsageError):
    """A file that cannot be checked (missing, unreadable)."""


class ThresholdError(ValueError):
    """A threshold name or value that no check accepts."""


Span = tuple[float, float]


@dataclass
class QCInput:
    """What the checks read, decoded once: `luma` (n, h, w) uint8 downscaled luma planes at
    `fps`, `audio` (n, channels) float32 at `rate` (None without audio), stream durations, and
    the manifest (dict) when given."""

    path: str
    fps: float
    luma: np.ndarray
    video_duration_s: float
    audio: np.ndarray | None = None
    rate: int = 0
    audio_duration_s: float | None = None
    manifest: dict[str, Any] | None = None
    frames: list[np.ndarray] = field(default_factory=list)  # RGB, one per shot (semantic)


@dataclass
class CheckResult:
    """One check's outcome. `value`: the measured figure; `spans`: (start_s, end_s) of the
    defects; `skipped`: why it did not run (then `passed` is True)."""

    name: str
    passed: bool
    value: float | None
    threshold: Any
    detail: str
    spans: list[Span] = field(default_factory=list)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = dataclasses.asdict(self)
        d["spans"] = [[round(a, 3), round(b, 3)] for a, b in self.spans]
        return d


@dataclass
class Check(ABC):
    """A quality check. Subclasses declare thresholds as dataclass fields with defaults."""

    name: ClassVar[str] = ""

    @abstractmethod
    def run(self, video: QCInput) -> CheckResult:
        """Run the check on `video`."""

    @classmethod
    def thresholds(cls) -> dict[str, Any]:
        """`{field: default}` of this check's thresholds."""
        return {f.name: f.default for f in dataclasses.fields(cls) if f.name != "encoder"}

    @classmethod
    def configured(cls, values: dict[str, Any]) -> Check:
        """An instance with `values` (field name → number) overriding the defaults."""
        known = cls.thresholds()
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ThresholdError(
                    f"thresholds: unknown name {cls.name}.{key!r} (known: {sorted(known)})"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ThresholdError(f"thresholds: {cls.name}.{key}={value!r} is not a number")
            if not np.isfinite(value):
                raise ThresholdError(f"thresholds: {cls.name}.{key}={value!r} is not finite")
            kwargs[key] = type(known[key])(value)
        return cls(**kwargs)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs (end exclusive) of the True runs in `mask`."""
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True)]
