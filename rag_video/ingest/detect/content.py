"""PySceneDetect's AdaptiveDetector (default weights, no edges, ``min_scene_len`` of one frame),
computed over blocks of frames with numpy: the same candidates, bit for bit, at a fraction of
the per-frame Python.

ContentDetector's score of frame ``i`` is the mean absolute HSV difference to frame ``i-1``
(hue, saturation and value averaged; 0 for the first frame); AdaptiveDetector flags frame ``j``
when its score is at least ``min_content_val`` and at least ``threshold`` times the mean score
of the ``window_width`` frames on either side.
"""

from __future__ import annotations

import numpy as np


class AdaptiveScores:
    """Streaming, block-wise AdaptiveDetector: :meth:`add` returns the candidates a block
    settles."""

    def __init__(self, *, threshold: float, window_width: int, min_content_val: float) -> None:
        if window_width < 1:
            raise ValueError(f"window_width must be at least 1, got {window_width}")
        self.threshold, self.width, self.min_content_val = threshold, window_width, min_content_val
        self._last_hsv: np.ndarray | None = None
        self.scores: list[float] = []  # every frame's score, in order

    def add(self, frames_bgr: np.ndarray) -> list[int]:
        """Score a block (n×h×w×3 uint8 BGR, the frames after the previous block) and return
        the frames flagged among those whose windows are now complete, ascending."""
        import cv2

        n, h, w = frames_bgr.shape[:3]
        if n == 0:
            return []
        hsv = cv2.cvtColor(frames_bgr.reshape(n * h, w, 3), cv2.COLOR_BGR2HSV).reshape(n, h, w, 3)
        stacked = hsv if self._last_hsv is None else np.concatenate([self._last_hsv[None], hsv])
        sums = (
            np.abs(np.diff(stacked.astype(np.int16), axis=0))
            .sum(axis=(1, 2), dtype=np.int64)
            .astype(np.float64)
        )
        parts = sums / float(h * w)  # (frames, 3): delta hue, sat, lum as PySceneDetect has them
        block = (parts[:, 0] + parts[:, 1] + parts[:, 2] + 0.0) / 3.0
        if self._last_hsv is None:
            block = np.concatenate([[0.0], block])
        self._last_hsv = hsv[-1].copy()
        before = len(self.scores)
        self.scores.extend(block.tolist())
        return self._flag(max(self.width, before - self.width), len(self.scores) - self.width)

    def _flag(self, lo: int, hi: int) -> list[int]:
        """Frames ``j`` in ``[lo, hi)`` that AdaptiveDetector flags (the arithmetic is Python's,
        in PySceneDetect's order)."""
        if hi <= lo:
            return []
        s, w = self.scores, self.width
        found = []
        for j in range(lo, hi):
            target = s[j]
            if target < self.min_content_val:
                continue
            total: float = 0  # Python's sum() starts from the int 0
            for k in range(j - w, j + w + 1):
                if k != j:
                    total += s[k]
            average = total / (2.0 * w)
            if abs(average) < 0.00001:
                ratio = 255.0 if target >= self.min_content_val else 0.0
            else:
                ratio = min(target / average, 255.0)
            if ratio >= self.threshold:
                found.append(j)
        return found
