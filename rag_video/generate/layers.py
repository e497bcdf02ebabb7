"""Text burnt into the frames `assemble` writes: timed layers (subtitle captions, corner labels
such as "AI-generated"), each drawn once per span and blended onto every frame it covers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from rag_video.generate.manifest import Cue
from rag_video.media.captions import Overlay
from rag_video.media.subtitles import strip_tags
from rag_video.media.timecode import frames_of

if TYPE_CHECKING:
    from rag_video.generate.timing import SegmentPlan
    from rag_video.media.encode import VideoWriter

CaptionOverlay = Callable[[str, tuple[int, int]], Overlay]
"""Draws a text for frames of a size (as `media.captions.caption_overlay` does)."""


def caption_spans(
    plans: list[SegmentPlan], rate: Fraction, captions: Sequence[Cue] | None
) -> list[tuple[int, int, str]]:
    """(first frame, end frame, text) of every text shown: the cues, else each segment's
    caption."""
    if captions is None:
        return [
            (p.start, p.end, p.seg.caption or "") for p in plans if (p.seg.caption or "").strip()
        ]
    return [(frames_of(c.start_s, rate), frames_of(c.end_s, rate), c.text) for c in captions]


class Layer:
    """Timed text drawn onto the frames it spans, one overlay made per span (and reused)."""

    def __init__(self, spans: list[tuple[int, int, str]], draw: CaptionOverlay) -> None:
        self.spans = sorted(spans)
        self.draw = draw
        self._next = 0
        self._overlay: tuple[int, Overlay] | None = None

    def apply(self, frame: np.ndarray, index: int, size: tuple[int, int]) -> np.ndarray:
        while self._next < len(self.spans) and self.spans[self._next][1] <= index:
            self._next += 1
        if self._next == len(self.spans):
            return frame
        start, _, text = self.spans[self._next]
        if start > index or not text.strip():
            return frame
        if self._overlay is None or self._overlay[0] != self._next:
            self._overlay = (self._next, self.draw(strip_tags(text).strip(), size))
        return self._overlay[1].apply(frame)


class Output:
    """Writes frames to the encoder, with the text layers (captions, labels) drawn on them."""

    def __init__(self, writer: VideoWriter, layers: list[Layer], size: tuple[int, int]) -> None:
        self.writer = writer
        self.layers = layers
        self.size = size
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        for layer in self.layers:
            frame = layer.apply(frame, self.count, self.size)
        self.writer.write(frame)
        self.count += 1


__all__ = ["CaptionOverlay", "Layer", "Output", "caption_spans"]
