"""Picture checks over the decoded luma planes (8-bit, limited range BT.709: black 16,
white 235): black runs, frozen runs, photosensitive flashes, seams of generated segments.

Manifest exemptions: frozen and seam checks skip planned stills (draft fills: a slow Ken
Burns move over one keyframe, or a title card; in a manifest that names no model, a fill
without a reference frame), held frames (source clips with speed < 1) and planned cuts (each
shot's ``out_start_s``, ±2 frames); flashes at planned cuts are not counted as seams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rag_video.qc.base import Check, CheckResult, QCInput, Span, runs


def _shots(m: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((m or {}).get("shots") or [])


def planned_cuts(m: dict[str, Any] | None) -> list[float]:
    """Output times of the planned cuts (shot starts after the first)."""
    return sorted({float(s["out_start_s"]) for s in _shots(m) if float(s["out_start_s"]) > 0})


PLANNED_STILLS = frozenset({"ken-burns", "title-card"})
"""Models of the draft renderer whose frames are (nearly) still by design."""


def planned_still(shot: dict[str, Any]) -> bool:
    """A shot meant to be (nearly) still: a draft's Ken Burns move or title card (or, when the
    manifest names no model, a fill without a reference frame)."""
    if shot.get("generator") == "draft" and shot.get("model") in PLANNED_STILLS:
        return True
    return shot.get("decision") == "fill" and not shot.get("reference") and not shot.get("model")


def exempt_spans(m: dict[str, Any] | None) -> list[Span]:
    """Output spans exempt from frozen/seam checks: planned stills and held (slowed) clips."""
    spans: list[Span] = []
    for s in _shots(m):
        if planned_still(s):
            spans.append((float(s["out_start_s"]), float(s["out_end_s"])))
        for c in s.get("source") or []:
            if float(c.get("speed", 1.0)) < 1 and c.get("out_start_s") is not None:
                spans.append((float(c["out_start_s"]), float(c["out_end_s"])))
    return spans


def _mask(n: int, fps: float, spans: list[Span], pad: int = 0) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for a, b in spans:
        out[max(0, int(round(a * fps)) - pad) : min(n, int(round(b * fps)) + pad + 1)] = True
    return out


def _diffs(luma: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each frame from the previous one (0 for the first)."""
    if len(luma) < 2:
        return np.zeros(len(luma))
    d = np.abs(np.diff(luma.astype(np.int16), axis=0)).mean(axis=(1, 2))
    return np.concatenate([[0.0], d])


def _fmt(spans: list[Span]) -> str:
    return ", ".join(f"{a:.2f}-{b:.2f}s" for a, b in spans[:5]) + (" …" if len(spans) > 5 else "")


@dataclass
class Black(Check):
    """Runs of black frames lasting at least `min_s` seconds. A frame is black when at least
    `min_fraction` of its pixels have luma ≤ `max_luma` (8-bit code; limited-range black is
    16), as ffmpeg's blackdetect judges it: a dark picture with some light in it (a night sky,
    stars) is not black, whatever its mean."""

    name = "black"
    max_luma: float = 32.0
    min_fraction: float = 0.98
    min_s: float = 0.5

    def run(self, video: QCInput) -> CheckResult:
        """Find black runs."""
        dark = (video.luma <= self.max_luma).reshape(len(video.luma), -1).mean(axis=1)
        spans = [
            (a / video.fps, b / video.fps)
            for a, b in runs(dark >= self.min_fraction)
            if (b - a) / video.fps >= self.min_s - 1e-9
        ]
        total = sum(b - a for a, b in spans)
        return CheckResult(self.name, not spans, total, self._set(), _fmt(spans) or "none", spans)

    def _set(self) -> dict[str, Any]:
        return {"max_luma": self.max_luma, "min_fraction": self.min_fraction, "min_s": self.min_s}


@dataclass
class Frozen(Check):
    """Runs of at least `min_s` seconds whose frame-to-frame mean absolute luma difference
    is below `max_diff` (8-bit codes), outside planned stills and held frames."""

    name = "frozen"
    max_diff: float = 0.5
    min_s: float = 2.0

    def run(self, video: QCInput) -> CheckResult:
        """Find frozen runs."""
        d = _diffs(video.luma)
        still = d < self.max_diff
        if len(still):
            still[0] = still[1] if len(still) > 1 else False
        still &= ~_mask(len(d), video.fps, exempt_spans(video.manifest))
        spans = [
            (max(0, a - 1) / video.fps, b / video.fps)
            for a, b in runs(still)
            if (b - a + 1) / video.fps >= self.min_s - 1e-9
        ]
        return CheckResult(
            self.name,
            not spans,
            sum(b - a for a, b in spans),
            {"max_diff": self.max_diff, "min_s": self.min_s},
            _fmt(spans) or "none",
            spans,
        )


@dataclass
class Flashes(Check):
    """Photosensitive flashes after ITU-R BT.1702: a flash is a pair of opposing changes of
    relative luminance ≥ `min_change` (fraction of full scale; ≈ 20 cd/m² on a 200 cd/m²
    display) where the darker state is below `max_dark` (≈ 160 cd/m²), over ≥ `min_area` of
    the screen. Fails when more than `max_per_s` flashes fall in any 1 s window."""

    name = "flashes"
    min_change: float = 0.1
    max_dark: float = 0.8
    min_area: float = 0.25
    max_per_s: float = 3.0

    def run(self, video: QCInput) -> CheckResult:
        """Count flashes per second."""
        n = len(video.luma)
        if n < 2:
            return CheckResult(self.name, True, 0.0, self._t(), "too short", [], None)
        codes = np.arange(256, dtype=np.float32)
        lum = (np.clip((codes - 16) / 219, 0, 1) ** 2.2)[video.luma]  # one power per code
        prev, cur = lum[:-1], lum[1:]
        delta = cur - prev
        dark_ok = np.minimum(prev, cur) < self.max_dark
        up = ((delta >= self.min_change) & dark_ok).reshape(n - 1, -1).mean(axis=1)
        down = ((delta <= -self.min_change) & dark_ok).reshape(n - 1, -1).mean(axis=1)
        sign = np.where(up >= self.min_area, 1, np.where(down >= self.min_area, -1, 0))
        times: list[float] = []
        last = 0
        for i, s in enumerate(sign):
            if s == 0:
                continue
            if last and s != last:
                times.append((i + 1) / video.fps)
                last = 0
            else:
                last = int(s)
        t = np.array(times)
        worst, spans = 0, []
        for i, t0 in enumerate(t):
            k = int(np.searchsorted(t, t0 + 1.0 - 1e-9) - i)
            worst = max(worst, k)
            if k > self.max_per_s:
                spans.append((float(t0), float(t[i + k - 1])))
        merged: list[Span] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return CheckResult(
            self.name,
            worst <= self.max_per_s,
            float(worst),
            self._t(),
            f"{len(t)} flashes, at most {worst} in 1 s",
            merged,
        )

    def _t(self) -> dict[str, float]:
        return {
            "min_change": self.min_change,
            "max_dark": self.max_dark,
            "min_area": self.min_area,
            "max_per_s": self.max_per_s,
        }


@dataclass
class Seams(Check):
    """Seams of generated segments (decision restyle/fill in the manifest): a frame whose
    difference from the previous exceeds `ratio` × the median difference of the
    surrounding `window_s` seconds (and `min_diff` codes), inside a generated segment or
    within ±2 frames of its edges, and not within ±2 frames of a planned cut, a planned still
    or held frames. Skipped without a manifest."""

    name = "seams"
    ratio: float = 4.0
    min_diff: float = 8.0
    window_s: float = 1.0

    def run(self, video: QCInput) -> CheckResult:
        """Find spikes at generated segments."""
        t = {"ratio": self.ratio, "min_diff": self.min_diff, "window_s": self.window_s}
        if video.manifest is None:
            return CheckResult(self.name, True, None, t, "", [], "no manifest")
        gen = [
            (float(s["out_start_s"]), float(s["out_end_s"]))
            for s in _shots(video.manifest)
            if s.get("decision") in ("restyle", "fill")
        ]
        if not gen:
            return CheckResult(self.name, True, None, t, "", [], "no generated segments")
        d = _diffs(video.luma)
        n, fps = len(d), video.fps
        where = _mask(n, fps, gen, pad=2)
        cuts = [(c, c) for c in planned_cuts(video.manifest)]
        where &= ~_mask(n, fps, cuts, pad=2) & ~_mask(n, fps, exempt_spans(video.manifest))
        half = max(1, int(round(self.window_s * fps / 2)))
        spans: list[Span] = []
        worst = 0.0
        for i in np.flatnonzero(where):
            if i == 0:
                continue
            local = np.median(np.delete(d[max(1, i - half) : i + half + 1], min(half, int(i) - 1)))
            r = float(d[i] / max(local, 0.5))
            if d[i] >= self.min_diff:
                worst = max(worst, r)
                if r > self.ratio:
                    spans.append(((i - 1) / fps, i / fps))
        return CheckResult(
            self.name, not spans, worst, t, _fmt(spans) or f"max spike {worst:.1f}× median", spans
        )


PICTURE: tuple[type[Check], ...] = (Black, Frozen, Flashes, Seams)
