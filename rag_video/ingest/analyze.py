"""Per-file work of ingest: probe → one decode pass → shots, keyframes, thumbnails, stats.

This is the unit of work of every runner (local processes or Ray): it takes a path and returns
its `sources` row (a `schema.SourceRow`), its shot rows (dicts keyed by the shots table's columns)
and the keyframe images to embed. It never touches storage and never imports torch (except
inside the `transnet` detector).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag_video.ingest import keyframes as kf
from rag_video.ingest.detect.base import BLOCK_FRAMES
from rag_video.ingest.shots import DetectorError, FrameTimes, make_detector, spans_from_boundaries
from rag_video.ingest.sidecar import Sidecar, read_sidecar
from rag_video.licenses import to_spdx
from rag_video.media import hwdecode
from rag_video.media.decode import decode, prefetched
from rag_video.media.image import decode_rgb, encode_rgb
from rag_video.media.probe import MediaError, VideoInfo, probe
from rag_video.media.timecode import frames_of
from rag_video.schema import SourceRow

log = logging.getLogger(__name__)

PIPELINE_VERSION = (
    "2"  # 2: minimum shot in seconds on timestamps, shots of black, zoom-compensated cuts
)
GENERATED_TAG = "rag-video"


@dataclass(frozen=True)
class IngestOptions:
    """What shapes a file's shots; part of the pipeline version recorded per source."""

    detector: str = "adaptive"
    min_shot: float = 0.6
    samples_per_second: float = 3.0
    rgb_short_side: int = 224
    decode_device: str = "auto"  # not in the pipeline version: cuts do not depend on it

    @property
    def pipeline_version(self) -> str:
        return f"{PIPELINE_VERSION}:{self.detector}:{self.min_shot:g}"


@dataclass
class FileResult:
    """What ingest learned about one file: its sources row, shot rows and keyframes to embed."""

    source: SourceRow
    shots: list[dict] = field(default_factory=list)
    keyframes: list[list[np.ndarray]] = field(default_factory=list)  # RGB per shot
    seconds: float = 0.0
    frames: int = 0

    @property
    def ok(self) -> bool:
        return self.source.ok


def failed_result(
    path: Path, source_id: str, size: int, mtime: float, error: str, options: IngestOptions
) -> FileResult:
    """The result of a file that could not be ingested: a `sources` row saying why."""
    return FileResult(
        source=SourceRow.failed(
            source_id=source_id,
            path=str(path),
            size_bytes=size,
            mtime=mtime,
            error=error,
            pipeline_version=options.pipeline_version,
        )
    )


RAW_SAMPLE_BUDGET = 256 * 2**20  # bytes of sampled frames held raw; later ones wait as JPEG


@dataclass
class _Pass:
    """Everything gathered from the single decode pass."""

    times: list[float] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)
    samples: dict[int, np.ndarray | bytes] = field(
        default_factory=dict
    )  # frame index → RGB at embed size
    raw_bytes: int = 0

    def keep(self, index: int, rgb: np.ndarray) -> None:
        """Hold a sampled frame until the shot boundaries are known: raw while the budget lasts,
        then as JPEG, so an hour-long file still fits in memory."""
        if self.raw_bytes + rgb.nbytes <= RAW_SAMPLE_BUDGET:
            self.samples[index] = rgb
            self.raw_bytes += rgb.nbytes
        else:
            self.samples[index] = encode_rgb(rgb, "jpeg")

    def sample(self, index: int) -> np.ndarray:
        held = self.samples[index]
        return decode_rgb(held, "sampled frame") if isinstance(held, bytes) else held


def sample_interval_s(fps: float, samples_per_second: float) -> float:
    """Seconds between the frames sampled for keyframes: ``samples_per_second`` rounded to a whole
    number of frames at the average ``fps`` (so a constant-rate file is sampled every k-th frame),
    applied to the frames' timestamps (so a variable-rate one is sampled evenly in time)."""
    if not fps > 0:
        return 1.0 / samples_per_second
    return max(1, frames_of(1 / samples_per_second, fps)) / fps


def _decode_pass(path: Path, info: VideoInfo, detector, options: IngestOptions) -> _Pass:
    """Decode once (in a background thread), feeding the detector and the motion values blocks
    of :data:`BLOCK_FRAMES` small frames, and keeping the sampled RGB frames."""
    every_s = sample_interval_s(info.fps, options.samples_per_second)
    hwdecode.configure(options.decode_device)  # NVDEC or the CPU for this process
    state, prev = _Pass(), None
    block: list[np.ndarray] = []

    def measure() -> np.ndarray:
        first = len(state.motion)
        frames = np.stack(block)
        detector.process_block(first, frames, np.asarray(state.times[first:], np.float64))
        state.motion.extend(kf.motion_values(prev, frames))
        block.clear()
        return frames[-1]

    for frame in prefetched(
        decode(
            path,
            detect_size=detector.frame_size,
            rgb_short_side=options.rgb_short_side,
            rgb_every_s=every_s,
        )
    ):
        state.times.append(frame.time_s)
        block.append(frame.small)
        if frame.rgb is not None:
            state.keep(frame.index, frame.rgb)
        if len(block) == BLOCK_FRAMES:
            prev = measure()
    if block:
        measure()
    return state


def _shot_rows(
    source_id: str,
    path: Path,
    info: VideoInfo,
    spans,
    state: _Pass,
    times: FrameTimes,
    car: Sidecar,
) -> tuple[list[dict], list[list[np.ndarray]]]:
    motion = np.asarray(state.motion, dtype=np.float32)
    sampled = sorted(state.samples)
    rows, images = [], []
    for span in spans:
        picks = kf.pick_keyframes(span.start_frame, span.end_frame, info.fps, sampled, times=times)
        rgbs = [state.sample(i) for i in picks]
        start_s, end_s = times.at(span.start_frame), times.at(span.end_frame)
        rows.append(
            {
                "shot_id": f"{source_id}:{span.start_frame}",
                "source_id": source_id,
                "path": str(path),
                "fps": info.fps,
                "width": info.width,
                "height": info.height,
                "start_frame": span.start_frame,
                "end_frame": span.end_frame,
                "start_s": start_s,
                "end_s": end_s,
                "duration_s": end_s - start_s,
                "transition_in": span.transition_in,
                "keyframe_times": [state.times[i] for i in picks],
                "thumbnail": kf.thumbnail_jpeg(rgbs[len(rgbs) // 2]),
                **kf.shot_stats(rgbs, motion[span.start_frame + 1 : span.end_frame]),
                "text": car.text_for(start_s, end_s),
            }
        )
        images.append(rgbs)
    return rows, images


def _source_row(
    source_id: str,
    path: Path,
    size: int,
    mtime: float,
    info: VideoInfo,
    times: FrameTimes,
    car: Sidecar,
    options: IngestOptions,
) -> SourceRow:
    tags = " ".join(info.tags.values()).lower()
    return SourceRow(
        source_id=source_id,
        path=str(path),
        size_bytes=size,
        mtime=mtime,
        duration_s=times.end_s,
        fps=info.fps,
        frames=len(times),
        width=info.width,
        height=info.height,
        rotation=info.rotation,
        video_codec=info.video_codec,
        has_audio=info.has_audio,
        title=car.title,
        description=car.description,
        tags=car.tags,
        license=to_spdx(car.license) or car.license,  # the SPDX id when unambiguous
        creator=car.creator,
        generated=GENERATED_TAG in tags,
        status="ok",
        ingested_at=datetime.now(UTC),
        pipeline_version=options.pipeline_version,
    )


def analyze_file(
    path: Path, source_id: str, size: int, mtime: float, options: IngestOptions
) -> FileResult:
    """Cut one file into shots with keyframes and stats; a bad file becomes a failed result."""
    started = time.perf_counter()
    try:
        info = probe(path)
        detector = make_detector(options.detector, fps=info.fps, min_shot_s=options.min_shot)
        state = _decode_pass(path, info, detector, options)
        if not state.times:
            raise MediaError("no video frames decoded")
        times = FrameTimes.from_starts(state.times, fps=info.fps)
        boundaries = detector.finish(len(times), times.end_s)
        spans = spans_from_boundaries(boundaries, times, options.min_shot)
    except (MediaError, DetectorError) as exc:
        return failed_result(path, source_id, size, mtime, str(exc), options)
    car = read_sidecar(path)
    shots, images = _shot_rows(source_id, path, info, spans, state, times, car)
    source = _source_row(source_id, path, size, mtime, info, times, car, options)
    return FileResult(source, shots, images, time.perf_counter() - started, len(times))
