"""Semantic consistency: CLIP similarity of each output shot's middle frame to its planned
text, with the library's encoder (``level="full"`` only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rag_video.qc.base import Check, CheckResult, QCInput


@dataclass
class Semantic(Check):
    """Mean cosine similarity of shot frames to their texts at least `min_similarity`
    (any shot below it is listed). With an encoder without weights the figures are reported,
    labelled "random weights", and not judged (they measure nothing)."""

    name = "semantic"
    min_similarity: float = 0.15
    encoder: Any = None

    def run(self, video: QCInput) -> CheckResult:
        """Score each shot."""
        t = {"min_similarity": self.min_similarity}
        shots = list((video.manifest or {}).get("shots") or [])
        if self.encoder is None or not shots or len(video.frames) != len(shots):
            return CheckResult(self.name, True, None, t, "", [], "no encoder or manifest")
        img = self.encoder.encode_images(video.frames)
        txt = self.encoder.encode_text([str(s.get("text", "")) for s in shots])
        sims = (img * txt).sum(axis=1)
        random = getattr(self.encoder, "pretrained", "") == "none"
        bad = [
            (float(s["out_start_s"]), float(s["out_end_s"]))
            for s, v in zip(shots, sims, strict=True)
            if v < self.min_similarity
        ]
        per = ", ".join(f"{v:.3f}" for v in sims)
        label = " (random weights: not judged)" if random else ""
        return CheckResult(
            self.name,
            random or not bad,
            float(np.mean(sims)),
            t,
            f"per shot: {per}{label}",
            bad,
        )
