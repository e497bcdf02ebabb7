"""Quality checks of a rendered output: picture (black, frozen, flashes, seams), sound
(loudness, true peak, A/V duration) and semantic (CLIP similarity to the planned text).

Entry point: :func:`rag_video.qc.run.run_checks`. Each check is a :class:`Check`.
"""

from rag_video.qc.base import Check, CheckResult, QCError, QCInput, ThresholdError
from rag_video.qc.run import QCReport, run_checks

__all__ = ["Check", "CheckResult", "QCError", "QCInput", "QCReport", "ThresholdError", "run_checks"]
