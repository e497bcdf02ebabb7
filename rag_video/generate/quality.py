"""The quality checks at the end of a make: :mod:`rag_video.qc` run on the rendered output
(under its temporary name, before the outputs are renamed into place), the report recorded as
the manifest's ``qc`` and summarised in one line on stderr.

``MakeOptions.qc``: ``off`` (no checks, ``qc`` is null), ``fast`` (picture and sound) or
``full`` (also the semantic check, which loads the library's image and text towers).
``MakeOptions.qc_thresholds`` overrides the defaults listed in :mod:`rag_video.qc.run`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag_video.errors import UsageError

if TYPE_CHECKING:
    from rag_video.generate.options import MakeOptions
    from rag_video.retrieve.query import Searcher

log = logging.getLogger(__name__)

QC_LEVELS = ("off", "fast", "full")
"""The values of make's --qc."""


def check_qc_options(level: str, thresholds: dict[str, Any] | None) -> None:
    """UsageError naming --qc or --qc-threshold and the bad value."""
    if level not in QC_LEVELS:
        raise UsageError(f"--qc {level!r}: expected one of {', '.join(QC_LEVELS)}")
    if not thresholds:
        return
    from rag_video.qc.base import ThresholdError
    from rag_video.qc.run import check_thresholds

    try:
        check_thresholds(thresholds)
    except ThresholdError as exc:
        raise UsageError(f"--qc-threshold: {str(exc).removeprefix('thresholds: ')}") from None


def summary(qc: dict[str, Any]) -> str:
    """One line: how many checks passed, failed (with where) and were skipped."""
    results = qc.get("results") or []
    failed = [r for r in results if not r["passed"]]
    skipped = [r for r in results if r["passed"] and r.get("skipped")]
    passed = len(results) - len(failed) - len(skipped)
    line = f"qc: {passed} passed, {len(failed)} failed"
    if failed:
        line += " (" + "; ".join(f"{r['name']} {r['detail']}" for r in failed) + ")"
    if skipped:
        line += f", {len(skipped)} skipped (" + ", ".join(r["name"] for r in skipped) + ")"
    if qc.get("error"):
        line += f": {qc['error']}"
    return line


def _encoder(searcher: Searcher) -> Any:
    """The encoder the library was embedded with, else the configured one; None (and a
    warning) when it cannot be loaded."""
    try:
        return searcher.any_encoder(("image", "text"))
    except UsageError as exc:
        log.warning("qc semantic: no encoder (%s)", exc)
        return None


def run_qc(
    video: Path, manifest: dict[str, Any], opts: MakeOptions, searcher: Searcher
) -> dict[str, Any] | None:
    """Check the rendered `video` against its `manifest`; the report dict for the manifest's
    ``qc`` (None with ``opts.qc == "off"``). A video the checks cannot decode is a failed
    report with an ``error``, not a failed make: the outputs are still written."""
    if opts.qc == "off":
        return None
    from rag_video.qc import QCError, run_checks

    full = opts.qc == "full"
    try:
        report = run_checks(
            video,
            manifest,
            level="full" if full else "fast",
            thresholds=opts.qc_thresholds,
            encoder=_encoder(searcher) if full else None,
        )
        qc: dict[str, Any] = {"level": opts.qc, **report.to_dict()}
    except QCError as exc:
        qc = {"level": opts.qc, "passed": False, "seconds": 0.0, "results": [], "error": str(exc)}
    log.warning("%s", summary(qc))
    return qc


__all__ = ["QC_LEVELS", "check_qc_options", "run_qc", "summary"]
