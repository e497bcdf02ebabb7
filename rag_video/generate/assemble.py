"""Assemble planned segments into one H.264 + AAC mp4: conform, transitions, audio, subtitles.

Timing is exact and planned by `timing` (segment ``i`` owns output frames ``[b[i-1], b[i])``,
rounding carried; a crossfade is centred on its seam and borrows the neighbours' handles, so it
never shortens the video).

Work streams segment by segment: each source range is decoded (seek + decode, only that range),
conformed and encoded as it goes; only a crossfade's few frames are held back. Audio is written per
segment beside its video: the sources' own audio (silence for segments without any), a music file
trimmed to the video and faded out, or none. Captions go to an SRT file and, with a
``caption_overlay``, onto the frames. The mp4 is written under a temporary name and renamed at the
end: a failure anywhere leaves neither the output nor the temporary file (nor the SRT).

This module owns the orchestration; a segment's span comes from `timing`, its frames from
`segment_frames`, its sound from `soundtrack`, its burnt-in text from `layers`. (It stays whole at
~400 lines: `Segment`, `Placement` and `AssemblyReport` are the contract the streaming loop below
honours.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from rag_video.generate.layers import CaptionOverlay, Layer, Output, caption_spans
from rag_video.generate.manifest import Cue, Sound
from rag_video.generate.segment_frames import blend, segment_frames
from rag_video.generate.soundtrack import SAMPLE_RATE, AudioTrack, SoundSpec, parse_audio
from rag_video.generate.timing import SegmentPlan, plan_segments, probe_all
from rag_video.media.clip import check_fit
from rag_video.media.encode import VideoWriter, frame_rate, temporary_path
from rag_video.media.probe import MediaError
from rag_video.media.subtitles import format_srt

log = logging.getLogger(__name__)

KINDS = ("source", "frames", "stream", "file")
TRANSITIONS = ("cut", "crossfade")
AUDIO_MODES = ("sources", "none")


@dataclass
class Segment:
    """One planned piece of the output.

    ``kind``:

    - ``source``: the range ``[in_s, out_s)`` of the original file ``path`` (seconds from its
      video stream's start). ``handle_before_s``/``handle_after_s`` say how much of the source
      before ``in_s`` / after ``out_s`` may be shown during crossfades.
    - ``frames``: in-memory RGB uint8 frames (a sequence, stretched or held to the planned length;
      or any iterable, taken in order and held at its end — then ``duration_s`` is required).
    - ``stream``: RGB uint8 frames made on demand: ``stream()`` is called when assembly reaches
      the segment and its iterable is taken in order and held at its end (``duration_s`` is
      required). A drafted shot streams into the output encoder this way, never written to a file.
    - ``file``: a drafted/generated segment file ``path``, from ``in_s`` (default 0).

    ``duration_s`` is the planned duration; by default ``out_s - in_s`` (source, and file with
    ``out_s``), the file's duration (file), or ``len(frames) / fps`` (frames). ``caption`` is the
    on-screen text; ``audio`` uses the segment's own sound when it has some; ``rotation`` overrides
    the probed display rotation; ``name`` labels the segment in the report. ``crop`` is a crop
    track (:mod:`rag_video.generate.reframe`) overriding ``fit`` for this segment. ``speed`` (0 < s
    <= 1) retimes a source range: ``[in_s, out_s)`` plays over ``(out_s - in_s) / speed`` seconds
    (retimed segments carry no source sound); a source range shorter than the planned duration
    holds its last frame for the rest.
    """

    kind: str
    path: str | os.PathLike[str] | None = None
    in_s: float = 0.0
    out_s: float | None = None
    frames: Sequence[np.ndarray] | Iterable[np.ndarray] | None = None
    duration_s: float | None = None
    handle_before_s: float = 0.0
    handle_after_s: float = 0.0
    caption: str | None = None
    audio: bool = True
    rotation: int | None = None
    name: str | None = None
    crop: dict | None = None
    speed: float = 1.0
    stream: Callable[[], Iterable[np.ndarray]] | None = None

    @property
    def file_path(self) -> str | os.PathLike[str]:
        """``path`` of a source or file segment (``__post_init__`` requires it for those)."""
        if self.path is None:
            raise ValueError(f"Segment of kind={self.kind!r} has no path")
        return self.path

    def __post_init__(self) -> None:
        if not 0 < self.speed <= 1:
            raise ValueError(f"Segment.speed must be in (0, 1], got {self.speed!r}")
        if self.kind not in KINDS:
            raise ValueError(f"Segment.kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind in ("source", "file") and self.path is None:
            raise ValueError(f"Segment.path is required for kind={self.kind!r}")
        if self.kind == "source" and (self.out_s is None or not self.out_s > self.in_s):
            raise ValueError(
                f"Segment.out_s must be after in_s={self.in_s!r} for a source, got {self.out_s!r}"
            )
        if self.kind == "frames" and self.frames is None:
            raise ValueError("Segment.frames is required for kind='frames'")
        if self.kind == "stream" and (self.stream is None or self.duration_s is None):
            raise ValueError("Segment.stream and duration_s are required for kind='stream'")
        if self.in_s < 0:
            raise ValueError(f"Segment.in_s must be >= 0, got {self.in_s!r}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"Segment.duration_s must be positive, got {self.duration_s!r}")
        if self.handle_before_s < 0 or self.handle_after_s < 0:
            raise ValueError(
                "Segment handles must be >= 0, got "
                f"{self.handle_before_s!r}, {self.handle_after_s!r}"
            )


@dataclass(frozen=True)
class Placement:
    """Where one segment landed in the output.

    ``start_frame``/``end_frame`` (exclusive) and ``start_s``/``end_s`` are the segment's own span
    (seams at the middle of crossfades). ``in_s``/``out_s`` are the times of ``path`` shown at the
    span's first frame and just after its last (``None`` for frames and stream segments).
    ``crossfade_frames`` is the length of the crossfade into this segment (0 for a cut);
    ``held_frames`` counts frames held because a handle was too short for a crossfade.
    """

    index: int
    kind: str
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    path: str | None
    in_s: float | None
    out_s: float | None
    crossfade_frames: int
    held_frames: int
    has_audio: bool
    caption: str | None
    name: str | None

    @property
    def frames(self) -> int:
        """Number of output frames of this segment's span."""
        return self.end_frame - self.start_frame


@dataclass
class AssemblyReport:
    """What :func:`assemble` wrote."""

    path: Path
    fps: float
    size: tuple[int, int]
    frames: int
    duration_s: float
    transition: str
    audio: str  # "mix" | "sources" | "music" | "none"
    has_audio: bool
    subtitles_path: Path | None
    segments: list[Placement] = field(default_factory=list)
    sound: Sound | None = None  # the stems and loudness of the mix (None without audio)
    seconds: float = 0.0
    encode_seconds: float = 0.0


# ------------------------------------------------------------------------------------ assemble


def _write_srt_tmp(
    tmp: Path, final: Path, spans: list[tuple[int, int, str]], rate: Fraction
) -> None:
    cues = [(float(a / rate), float(b / rate), text) for a, b, text in spans]
    try:
        tmp.write_text(format_srt(cues), encoding="utf-8")
    except OSError as exc:
        raise MediaError(f"cannot write subtitles {final}: {exc.strerror or exc}") from None


def _take(it: Iterator[np.ndarray], plan: SegmentPlan) -> np.ndarray:
    frame = next(it, None)
    if frame is None:
        raise MediaError(f"segment {plan.index}: ran out of frames")
    return frame


def _render(
    plans: list[SegmentPlan],
    out: Output,
    audio: AudioTrack,
    rate: Fraction,
    size: tuple[int, int],
    fit: str,
) -> None:
    """Stream every segment: its audio block, its crossfade with the previous tail, its own
    frames."""
    tail: list[np.ndarray] = []
    for plan in plans:
        if audio.enabled:
            out.writer.write_audio(audio.block(plan))
        if plan.n == 0:
            continue
        with contextlib.closing(segment_frames(plan, rate, size, fit)) as it:
            f_in = plan.xfade_in
            for k in range(f_in):
                out.write(blend(tail[k], _take(it, plan), (k + 1) / (f_in + 1)))
            after_prev = plans[plan.index - 1].post if plan.index else 0
            before_next = _before_next(plans, plan)
            for _ in range(plan.n - after_prev - before_next):
                out.write(_take(it, plan))
            tail = [_take(it, plan) for _ in range(before_next + plan.post)]


def _mode(audio: str | os.PathLike[str] | SoundSpec | None) -> str:
    if isinstance(audio, SoundSpec):
        return "mix"
    if audio is None or audio in ("none", "sources"):
        return str(audio or "none")
    return "music"


def _before_next(plans: list[SegmentPlan], plan: SegmentPlan) -> int:
    return plans[plan.index + 1].pre if plan.index + 1 < len(plans) else 0


def _placements(plans: list[SegmentPlan], rate: Fraction, has_audio: bool) -> list[Placement]:
    out = []
    for p in plans:
        seg = p.seg
        in_s = float(seg.in_s) if seg.kind not in ("frames", "stream") else None
        out.append(
            Placement(
                index=p.index,
                kind=seg.kind,
                start_frame=p.start,
                end_frame=p.end,
                start_s=float(p.start / rate),
                end_s=float(p.end / rate),
                path=str(seg.path) if seg.path is not None else None,
                in_s=in_s,
                out_s=in_s + float(p.n / rate) if in_s is not None else None,
                crossfade_frames=p.xfade_in,
                held_frames=p.held,
                has_audio=has_audio and seg.audio and p.info is not None and p.info.has_audio,
                caption=seg.caption,
                name=seg.name,
            )
        )
    return out


def _check_args(
    segments: Sequence[Segment],
    size: tuple[int, int],
    fit: str,
    transition: str,
    crossfade_s: float,
) -> None:
    if not segments:
        raise ValueError("segments must not be empty")
    check_fit(fit)
    if transition not in TRANSITIONS:
        raise ValueError(f"transition must be one of {TRANSITIONS}, got {transition!r}")
    if not crossfade_s >= 0:
        raise ValueError(f"crossfade_s must be >= 0, got {crossfade_s!r}")
    for i, seg in enumerate(segments):
        if not isinstance(seg, Segment):
            raise ValueError(f"segments[{i}] must be a Segment, got {type(seg).__name__}")


def assemble(
    segments: Sequence[Segment],
    out_path: str | os.PathLike[str],
    *,
    fps: float | Fraction,
    size: tuple[int, int],
    fit: str = "crop",
    transition: str = "cut",
    crossfade_s: float = 0.5,
    audio: str | os.PathLike[str] | SoundSpec | None = "sources",
    music_fade_s: float = 1.0,
    subtitles_path: str | os.PathLike[str] | None = None,
    captions: Sequence[Cue] | None = None,
    caption_overlay: CaptionOverlay | None = None,
    labels: Sequence[Cue] | None = None,
    label_overlay: CaptionOverlay | None = None,
    crf: int = 20,
    preset: str = "veryfast",
    metadata: dict[str, str] | None = None,
) -> AssemblyReport:
    """Render ``segments`` into ``out_path`` (H.264 + AAC mp4) lasting exactly their planned sum.

    Args:
        fps / size: output frame rate and ``(width, height)`` (even).
        fit: ``crop`` (cover, centre cut) or ``letterbox`` (fit inside, black bars).
        transition: ``cut`` or ``crossfade`` (``crossfade_s`` long, centred on each seam, capped
            by the neighbours' lengths; borrows handles, holds frames when they are short).
        audio: a `soundtrack.SoundSpec` (narration, music and source stems, mixed and
            mastered), ``"sources"`` (each segment's own audio, silence where none; no track
            when no segment has audio), ``"none"``, or a music file path (any other string is
            one): trimmed or looped to the video, faded out over ``music_fade_s``.
        subtitles_path: write the captions there as SRT. captions: timed cues (output
            seconds) shown instead of the segments' captions. caption_overlay: draws each
            caption onto its frames (e.g. `media.captions.caption_overlay`); None: not burnt in.
        labels / label_overlay: more timed text (e.g. "AI-generated" over generated segments)
            and how it is drawn (e.g. a `media.captions.label_overlay` corner label).
        crf / preset: x264 quality and speed. metadata: extra container tags.

    Raises ``MediaError`` for unreadable inputs or outputs and ``ValueError`` for bad arguments;
    either way no output (and no temporary file) is left behind.
    """
    t0 = time.perf_counter()
    _check_args(segments, size, fit, transition, crossfade_s)
    rate = frame_rate(fps)
    spec = parse_audio(audio, music_fade_s)
    infos = probe_all(segments)
    plans = plan_segments(segments, rate, transition, crossfade_s, infos)
    total = plans[-1].end
    if total == 0:
        raise ValueError(f"segments last less than one frame at {float(rate):g} fps")
    track = AudioTrack(spec, plans, rate, total)
    spans = caption_spans(plans, rate, captions)
    out_path = Path(out_path)
    srt = Path(subtitles_path) if subtitles_path is not None else None
    srt_tmp = temporary_path(srt) if srt is not None else None
    try:
        with VideoWriter(
            out_path,
            fps=rate,
            size=size,
            crf=crf,
            preset=preset,
            audio=track.enabled,
            sample_rate=SAMPLE_RATE,
            channels=2,
            metadata=metadata,
        ) as writer:
            if srt is not None and srt_tmp is not None:
                _write_srt_tmp(srt_tmp, srt, spans, rate)
            layers = [Layer(spans, caption_overlay)] if caption_overlay is not None else []
            if labels and label_overlay is not None:
                layers.append(Layer(caption_spans(plans, rate, labels), label_overlay))
            output = Output(writer, layers, writer.size)
            _render(plans, output, track, rate, writer.size, fit)
            if output.count != total:
                raise MediaError(f"internal: wrote {output.count} frames, planned {total}")
        if srt is not None and srt_tmp is not None:
            os.replace(srt_tmp, srt)
    finally:
        if srt_tmp is not None:
            srt_tmp.unlink(missing_ok=True)
    report = AssemblyReport(
        path=out_path,
        fps=float(rate),
        size=writer.size,
        frames=total,
        duration_s=float(total / rate),
        transition=transition,
        audio=_mode(audio),
        has_audio=track.enabled,
        subtitles_path=srt,
        segments=_placements(plans, rate, track.enabled),
        sound=track.mixed.sound if track.mixed is not None else None,
        seconds=time.perf_counter() - t0,
        encode_seconds=writer.encode_seconds,
    )
    log.info(
        "assembled %s: %d segments, %d frames (%.3fs) in %.2fs",
        out_path,
        len(plans),
        total,
        report.duration_s,
        report.seconds,
    )
    return report


__all__ = [
    "AUDIO_MODES",
    "AssemblyReport",
    "CaptionOverlay",
    "KINDS",
    "Placement",
    "SAMPLE_RATE",
    "Segment",
    "TRANSITIONS",
    "assemble",
]
