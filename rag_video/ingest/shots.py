"""Shot detection, as ingest and the tests use it: the names of :mod:`rag_video.ingest.detect`.

The contract lives in :mod:`.detect.base` (``ShotDetector``, ``DetectorError``, ``Boundary``,
``ShotSpan``, ``FrameTimes``, :func:`make_detector`, :func:`spans_from_boundaries`); each detector
family has its own module: :mod:`.detect.scenedetect` (PySceneDetect's content, threshold and
histogram detectors), :mod:`.detect.combined` (``adaptive``, the default, with its per-frame
measures in :mod:`.detect.measures`) and :mod:`.detect.transnet` (TransNetV2). To add a detector,
subclass ``ShotDetector`` in a module of its own and name it in ``make_detector``.
"""

from rag_video.ingest.detect.base import (
    DEFAULT_DETECTOR,
    DETECTORS,
    KINDS,
    SMALL_SIZE,
    Boundary,
    DetectorError,
    FrameTimes,
    ShotDetector,
    ShotSpan,
    last_frame_duration,
    make_detector,
    spans_from_boundaries,
)
from rag_video.ingest.detect.combined import CombinedDetector
from rag_video.ingest.detect.scenedetect import SceneDetectDetector
from rag_video.ingest.detect.transnet import TRANSNET_EXTRA_MSG, TRANSNET_SIZE, TransNetDetector

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "KINDS",
    "SMALL_SIZE",
    "TRANSNET_EXTRA_MSG",
    "TRANSNET_SIZE",
    "Boundary",
    "CombinedDetector",
    "DetectorError",
    "FrameTimes",
    "SceneDetectDetector",
    "ShotDetector",
    "ShotSpan",
    "TransNetDetector",
    "last_frame_duration",
    "make_detector",
    "spans_from_boundaries",
]
