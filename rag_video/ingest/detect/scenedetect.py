"""PySceneDetect's own detectors (``content``, ``threshold``, ``histogram``) behind the
:class:`~rag_video.ingest.detect.base.ShotDetector` contract, fed frame by frame with their
timestamps."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np

from rag_video.ingest.detect.base import (
    SMALL_SIZE,
    Boundary,
    DetectorError,
    ShotDetector,
    _finalise,
    _OrderedInput,
)


class SceneDetectDetector(ShotDetector):
    """A PySceneDetect detector (``content`` | ``threshold`` | ``histogram``) fed frame by frame.

    Frames reach PySceneDetect with their timestamps (PySceneDetect 0.7's pts-backed
    timecodes) and its minimum scene length is given in seconds, so its own filters (such as
    ContentDetector's merging of fast cuts) work in time; its cuts are mapped back to decoded
    frame indices by time. ThresholdDetector places its split by frame numbers, so it is fed
    frame numbers with its minimum off. The minimum shot is then applied once more, in seconds on
    the frames' timestamps, the same way for every detector.
    """

    frame_size = SMALL_SIZE
    _PTS_PER_SECOND = 1_000_000

    def __init__(self, name: str, *, fps: float, min_shot_s: float) -> None:
        self.name, self.fps, self.min_shot_s = name, float(fps), float(min_shot_s)
        self.kind = "fade" if name == "threshold" else "cut"
        self._by_frame_number = name == "threshold"
        self._detector = _build_scenedetect(name, 0 if self._by_frame_number else self.min_shot_s)
        self._input = _OrderedInput(self.frame_size, self.fps)
        self._cuts: list[int] = []

    def _timecode(self, index: int) -> Any:
        from scenedetect import FrameTimecode
        from scenedetect.common import Timecode

        if self._by_frame_number:
            return FrameTimecode(index, fps=self.fps)
        pts = round(self._input.times[index] * self._PTS_PER_SECOND)
        return FrameTimecode(
            Timecode(pts=pts, time_base=Fraction(1, self._PTS_PER_SECOND)), fps=self.fps
        )

    def _frames_of(self, timecodes: Iterable[Any]) -> list[int]:
        """Decoded frame indices of the timecodes PySceneDetect returned."""
        if self._by_frame_number:
            return [tc.frame_num for tc in timecodes]
        slack = 1.0 / self._PTS_PER_SECOND
        return [bisect.bisect_left(self._input.times, tc.seconds - slack) for tc in timecodes]

    def process(self, index: int, frame_bgr: np.ndarray, time_s: float | None = None) -> None:
        frame = self._input.accept(index, frame_bgr, time_s)
        self._cuts.extend(
            self._frames_of(self._detector.process_frame(self._timecode(index), frame))
        )

    def finish(self, n_frames: int, end_s: float | None = None) -> list[Boundary]:
        if self._input.count:
            self._cuts.extend(
                self._frames_of(self._detector.post_process(self._timecode(self._input.count - 1)))
            )
        times = self._input.frame_times(n_frames, end_s)
        return _finalise(((f, self.kind) for f in self._cuts), times, self.min_shot_s)


def _build_scenedetect(name: str, min_scene_len: float) -> Any:
    """The PySceneDetect detector for ``name``, tuned for 64×36 frames; ``min_scene_len`` is in
    seconds (a float) or frames (an int), as PySceneDetect takes it."""
    from scenedetect.detectors import (
        ContentDetector,
        HistogramDetector,
        ThresholdDetector,
    )

    if name == "content":
        return ContentDetector(threshold=27.0, min_scene_len=min_scene_len, kernel_size=3)
    if name == "threshold":
        return ThresholdDetector(threshold=12, min_scene_len=min_scene_len, fade_bias=0.0)
    if name == "histogram":
        return HistogramDetector(threshold=0.2, bins=64, min_scene_len=min_scene_len)
    raise DetectorError(f"unknown PySceneDetect detector {name!r}")
