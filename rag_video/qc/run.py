"""Run the checks on a file: decode once, run each check, report.

Threshold names are ``"<check>.<field>"``: black.max_luma (32), black.min_fraction (0.98),
black.min_s (0.5), frozen.max_diff (0.5), frozen.min_s (2.0), flashes.min_change (0.1),
flashes.max_dark (0.8), flashes.min_area (0.25), flashes.max_per_s (3), seams.ratio (4.0),
seams.min_diff (8.0), seams.window_s (1.0), loudness.target_lufs (-14), loudness.tolerance_lu
(1), loudness.max_true_peak_dbtp (-1), av_duration.max_frames (1), av_duration.priming_s
(0.0214), semantic.min_similarity (0.15).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rag_video.qc.base import Check, CheckResult, QCError, QCInput, ThresholdError
from rag_video.qc.picture import PICTURE
from rag_video.qc.semantic import Semantic
from rag_video.qc.sound import SOUND

log = logging.getLogger(__name__)

STEP = 4
"""Luma is subsampled by taking every STEP-th pixel in each direction."""

CHECKS: tuple[type[Check], ...] = (*PICTURE, *SOUND, Semantic)


@dataclass
class QCReport:
    """All results; `passed` when every check passed (skipped ones count as passed)."""

    passed: bool
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "results": [r.to_dict() for r in self.results],
        }


def _split(thresholds: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    by: dict[str, dict[str, Any]] = {c.name: {} for c in CHECKS}
    for key, value in (thresholds or {}).items():
        check, _, name = str(key).partition(".")
        if check not in by or not name:
            raise ThresholdError(
                f"thresholds: unknown name {key!r} (use <check>.<field>, checks: {sorted(by)})"
            )
        by[check][name] = value
    return by


def check_thresholds(thresholds: dict[str, Any] | None) -> None:
    """Raise ThresholdError for a name no check has or a value that is not a finite number."""
    by = _split(thresholds)
    for c in CHECKS:
        c.configured(by[c.name])


def manifest_thresholds(manifest: dict[str, Any] | None) -> dict[str, float]:
    """Defaults a make's manifest sets: its mix's loudness target and true-peak ceiling
    (``sound.target_lufs``, ``sound.max_true_peak_dbtp``, from make's --loudness and
    --true-peak) as loudness.target_lufs and loudness.max_true_peak_dbtp."""
    sound = (manifest or {}).get("sound")
    if not isinstance(sound, dict):
        return {}
    return {
        f"loudness.{name}": float(sound[name])
        for name in ("target_lufs", "max_true_peak_dbtp")
        if isinstance(sound.get(name), int | float) and not isinstance(sound.get(name), bool)
    }


def decode(path: str, manifest: dict[str, Any] | None, *, frames: bool) -> QCInput:
    """Decode `path` once: subsampled luma of every frame, audio, and (with `frames`) one RGB
    frame in the middle of each manifest shot."""
    import av

    p = Path(path)
    if not p.is_file():
        raise QCError(f"video_path: no such file {path!r}")
    mids = [
        (float(s["out_start_s"]) + float(s["out_end_s"])) / 2
        for s in (manifest or {}).get("shots") or []
    ]
    try:
        with av.open(str(p)) as c:
            vs = c.streams.video[0]
            vs.thread_type = "AUTO"
            fps = float(vs.average_rate or 25)
            planes: list[np.ndarray] = []
            picks: list[np.ndarray] = []
            for fr in c.decode(vs):
                pl = fr.planes[0]
                buf = np.frombuffer(memoryview(pl), np.uint8).reshape(pl.height, pl.line_size)
                planes.append(buf[::STEP, : pl.width : STEP].copy())
                if frames and len(picks) < len(mids) and (fr.time or 0) >= mids[len(picks)]:
                    picks.append(fr.to_ndarray(format="rgb24"))
        audio, rate = None, 0
        with av.open(str(p)) as c:
            if c.streams.audio:
                a = c.streams.audio[0]
                rs = av.AudioResampler(format="fltp", rate=a.rate)
                chunks = [o.to_ndarray() for fr in c.decode(a) for o in rs.resample(fr)]
                chunks += [o.to_ndarray() for o in rs.resample(None)]
                rate = a.rate
                audio = np.concatenate(chunks, axis=1).T.astype(np.float32) if chunks else None
    except av.FFmpegError as e:
        raise QCError(f"video_path: cannot decode {path!r}: {e}") from e
    luma = np.stack(planes) if planes else np.zeros((0, 1, 1), np.uint8)
    return QCInput(
        path=str(p),
        fps=fps,
        luma=luma,
        video_duration_s=len(planes) / fps,
        audio=audio,
        rate=rate,
        audio_duration_s=None if audio is None else len(audio) / rate,
        manifest=manifest,
        frames=picks,
    )


def run_checks(
    video_path: str | Path,
    manifest: dict[str, Any] | None = None,
    *,
    level: Literal["fast", "full"] = "fast",
    thresholds: dict[str, Any] | None = None,
    encoder: Any = None,
) -> QCReport:
    """Check `video_path` (with its manifest dict for exemptions, seams and semantic).
    `level="full"` adds the semantic check (needs `encoder`, e.g. ``Library.load_encoder()``).
    `thresholds` override the defaults (the module docstring's, then the manifest's own:
    :func:`manifest_thresholds`)."""
    if level not in ("fast", "full"):
        raise ValueError(f"level: must be 'fast' or 'full', got {level!r}")
    t0 = time.perf_counter()
    by = _split({**manifest_thresholds(manifest), **(thresholds or {})})
    checks = [c.configured(by[c.name]) for c in CHECKS if c is not Semantic or level == "full"]
    for c in checks:
        if isinstance(c, Semantic):
            c.encoder = encoder
    video = decode(str(video_path), manifest, frames=level == "full")
    results = [c.run(video) for c in checks]
    for r in results:
        if not r.passed:
            log.info("qc %s failed: %s", r.name, r.detail)
    return QCReport(all(r.passed for r in results), results, time.perf_counter() - t0)
