"""Rights-aware planning: what a source's licence (its SPDX id, :mod:`rag_video.licenses`) lets a
make do with its footage. The licence outranks the score and the script's ``decision:``.

- **Refused** sources take no part in the make: non-commercial licences (``NC``, and
  ``proprietary``, which grants nothing) with ``--commercial``; with ``--licenses``, any source
  whose licence (every part of an ``A AND B``) is not in the set, unknown licences included. A
  refused candidate is listed in the shot's ``dropped`` with ``why`` and ``license``.
- **No derivatives** (``ND``, ``proprietary``): the footage keeps its pixels. It may be trimmed
  and scaled (technical changes of format, not adaptations), so it is only ever reused:
  letterboxed instead of cropped or reframed, at real time (never slowed or frozen by coverage),
  never restyled (a restyle of it, the script's or the score's, becomes a reuse), never the
  reference or a boundary frame a fill is conditioned on. The shot's ``reason.licence`` says
  what the licence changed.
- **Unknown** licences (no licence, or text that maps to no SPDX id) restrict nothing unless
  ``--licenses`` is given: the make warns once and lists them in the manifest's ``rights``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag_video.errors import UsageError
from rag_video.licenses import KNOWN, Terms, parts, terms, to_spdx
from rag_video.store import Store, sql_in

log = logging.getLogger(__name__)

LETTERBOX: dict[str, Any] = {"mode": "letterbox", "w": 1.0, "h": 1.0, "track": [[0.0, 0.0, 0.0]]}
"""The crop track of a letterboxed clip (as :func:`rag_video.generate.reframe.crop_for` gives)."""
NO_DERIVATIVES = "reuse only (no derivatives)"
LISTED = 5  # refused candidates listed per shot: those among its best this many


@dataclass(frozen=True)
class RightsPolicy:
    """The make's rights options: ``--commercial`` and ``--licenses`` (None: any licence)."""

    commercial: bool = False
    licenses: frozenset[str] | None = None


def parse_licenses(value: str | Iterable[str] | None) -> frozenset[str] | None:
    """``"CC0-1.0,CC-BY-4.0"`` (or a list of ids) as a set of SPDX ids; free text that maps
    unambiguously is accepted. A bad id is a UsageError naming it and the known ids."""
    if value is None:
        return None
    items = [x.strip() for x in (value.split(",") if isinstance(value, str) else value)]
    items = [x for x in items if x]
    if not items:
        raise UsageError(f"--licenses {value!r}: expected SPDX ids such as CC0-1.0,CC-BY-4.0")
    out = set()
    for item in items:
        spdx = to_spdx(item)
        if spdx is None or len(parts(spdx)) != 1:
            raise UsageError(
                f"--licenses {item!r}: not a licence id; known: {', '.join(sorted(KNOWN))}"
            )
        out.add(spdx)
    return frozenset(out)


@dataclass(frozen=True)
class Licence:
    """One source's licence as planning sees it: the stored text, its SPDX id and terms."""

    stored: str | None
    spdx: str | None
    terms: Terms

    @property
    def known(self) -> bool:
        return self.terms.known

    @property
    def label(self) -> str:
        """The SPDX id, else the stored text, else "none"."""
        return self.spdx or self.stored or "none"

    @property
    def keeps_pixels(self) -> bool:
        """No derivatives: a known licence that does not permit them (unknown restricts nothing)."""
        return self.known and not self.terms.derivatives

    def refusal(self, policy: RightsPolicy) -> str | None:
        """Why `policy` refuses this licence's footage (None: allowed)."""
        if policy.licenses is not None:
            ids = parts(self.spdx)
            if not ids or any(i not in policy.licenses for i in ids):
                allowed = ",".join(sorted(policy.licenses))
                return f"licence {self.label}: not in --licenses {allowed}"
        if policy.commercial and self.known and not self.terms.commercial:
            return f"licence {self.label}: non-commercial, refused with --commercial"
        return None


def licence_of(text: str | None) -> Licence:
    """The licence of a source from its stored ``license`` (free text is mapped to SPDX)."""
    spdx = to_spdx(text)
    return Licence(text, spdx, terms(spdx))


def keeps_pixels(text: str | None) -> bool:
    """Whether footage under licence `text` must be shown as it is (no derivatives)."""
    return licence_of(text).keeps_pixels


def source_id_of(shot_id: str) -> str:
    """The source of a shot id (``<source_id>:<start_frame>``)."""
    return shot_id.split(":")[0]


@dataclass
class Licences:
    """The licences of the sources a make considers, by source id (with their paths)."""

    by_source: dict[str, Licence]
    paths: dict[str, str]

    @classmethod
    def read(cls, store: Store, source_ids: Iterable[str]) -> Licences:
        ids = sorted(set(source_ids))
        rows = (
            store.read(
                "sources", columns=["source_id", "path", "license"], where=sql_in("source_id", ids)
            ).to_pylist()
            if ids
            else []
        )
        return cls(
            {r["source_id"]: licence_of(r["license"]) for r in rows},
            {r["source_id"]: r["path"] for r in rows},
        )

    def of(self, shot_id: str) -> Licence:
        return self.by_source.get(source_id_of(shot_id), licence_of(None))


# ---------------------------------------------------------------- planning


def screen(
    rows: list[dict],
    scores: np.ndarray,
    dropped: list[list[dict]],
    licences: Licences,
    policy: RightsPolicy,
    listed: int = LISTED,
) -> frozenset[int]:
    """Refuse the candidates `policy` does not allow: their scores become -inf (in place), and
    each planned shot lists in `dropped` (in place) the refused ones among its `listed` best
    eligible candidates. Returns the columns whose footage keeps its pixels (no derivatives)."""
    refused = {
        j: why for j, r in enumerate(rows) if (why := licences.of(r["shot_id"]).refusal(policy))
    }
    if refused and rows:
        top = np.argsort(-np.nan_to_num(scores, nan=-np.inf, neginf=-np.inf), axis=1)[:, :listed]
        while len(dropped) < scores.shape[0]:
            dropped.append([])
        for i, columns in enumerate(top):
            for j in columns:
                if int(j) in refused and np.isfinite(scores[i, j]):
                    dropped[i].append(
                        {
                            "shot_id": rows[j]["shot_id"],
                            "score": float(scores[i, j]),
                            "why": refused[int(j)],
                            "license": licences.of(rows[j]["shot_id"]).label,
                        }
                    )
        scores[:, sorted(refused)] = -np.inf
    return frozenset(j for j, r in enumerate(rows) if licences.of(r["shot_id"]).keeps_pixels)


def clip_fit(licence: Licence, fit: str) -> str:
    """The fit of one clip: letterbox for footage that keeps its pixels, else ``fit``."""
    return "letterbox" if licence.keeps_pixels else fit


def reference_candidate(candidates: list[dict], licences: Licences) -> dict | None:
    """The best candidate a fill may be conditioned on: the first whose licence permits
    derivatives."""
    return next((c for c in candidates if not licences.of(c["shot_id"]).keeps_pixels), None)


def _with_notes(reason: Any, notes: list[str], changed: str | None) -> Any:
    """`reason` with the licence `notes` in its ``licence``; `changed` (a note that changed the
    decision) also leads its ``text``."""
    if not notes:
        return reason
    licence = "; ".join(dict.fromkeys([*(x for x in [reason.licence] if x), *notes]))
    text = f"{changed}; {reason.text}" if changed else reason.text
    return reason.model_copy(update={"licence": licence, "text": text})


def enforce(jobs: list[Any], licences: Licences, policy: RightsPolicy) -> list[Any]:
    """The shots (`ShotJob`s) with the licences' rules applied to what they show and draw on:
    restyles of no-derivative footage become reuses, its clips are letterboxed, a fill never
    starts from it; each clip carries its licence. A clip whose licence `policy` refuses (a saved
    manifest made under other options) is a UsageError naming the shot."""
    out = []
    for job in jobs:
        notes: list[str] = []
        changed = None
        clips = []
        for clip in job.source:
            lic = licences.of(clip.shot_id)
            why = lic.refusal(policy)
            if why is not None:
                raise UsageError(f"shots.{job.index}: source {clip.path!r}: {why}")
            change: dict[str, Any] = {"license": lic.spdx or lic.stored}
            if lic.keeps_pixels:
                change["crop"] = dict(LETTERBOX)
                notes.append(
                    f"licence {lic.label}: {NO_DERIVATIVES}: shown as it is, letterboxed, "
                    "at real time"
                )
            clips.append(clip.model_copy(update=change))
        update: dict[str, Any] = {"source": clips}
        held = [lic for c in job.source if (lic := licences.of(c.shot_id)).keeps_pixels]
        if job.decision == "restyle" and held:
            who = "the script's" if job.reason.override == "restyle" else "the score's"
            update["decision"] = "reuse"
            changed = f"licence {held[0].label}: {NO_DERIVATIVES}, so {who} restyle is a reuse"
            notes.insert(0, changed)
        ref = job.reference
        if ref and licences.of(ref["shot_id"]).keeps_pixels and job.decision == "fill":
            update["reference"] = None
            lic = licences.of(ref["shot_id"])
            notes.append(f"licence {lic.label}: not used as the fill's reference frame")
        update["reason"] = _with_notes(job.reason, notes, changed)
        out.append(job.model_copy(update=update))
    return out


# ---------------------------------------------------------------- reporting


def summary(jobs: list[Any], licences: Licences, policy: RightsPolicy) -> dict[str, Any]:
    """The manifest's ``rights``: the options, every source used with its licence and what it
    allowed, the unknown licences, and the candidates refused (by licence)."""
    used: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for sid in job.media_shot_ids():
            src = source_id_of(sid)
            lic = licences.of(sid)
            used.setdefault(
                src,
                {
                    "path": licences.paths.get(src, ""),
                    "license": lic.label,
                    "known": lic.known,
                    "derivatives": not lic.keeps_pixels,
                    "commercial": lic.terms.commercial if lic.known else None,
                    "attribution": lic.terms.attribution,
                },
            )
    refused: dict[str, dict[str, Any]] = {}
    for job in jobs:
        for d in job.dropped:
            if "license" in d:
                entry = refused.setdefault(d["shot_id"], {**d, "shots": []})
                entry["shots"].append(job.index)
    unknown = [u for u in used.values() if not u["known"]]
    return {
        "commercial": policy.commercial,
        "licenses": sorted(policy.licenses) if policy.licenses is not None else None,
        "sources": sorted(used.values(), key=lambda u: u["path"]),
        "unknown": [{"path": u["path"], "license": u["license"]} for u in unknown],
        "refused": list(refused.values()),
    }


def warn_unknown(rights: Mapping[str, Any]) -> None:
    """One warning for the make's sources with an unknown licence (listed in the manifest)."""
    unknown = rights.get("unknown") or []
    if unknown:
        names = ", ".join(str(u["path"]).rsplit("/", 1)[-1] for u in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        log.warning(
            "%d source(s) used have no licence rag-video knows (%s%s): used without "
            "restriction; listed in the manifest's rights.unknown (give --licenses to refuse them)",
            len(unknown),
            names,
            more,
        )


__all__ = [
    "LETTERBOX",
    "Licence",
    "Licences",
    "RightsPolicy",
    "clip_fit",
    "enforce",
    "keeps_pixels",
    "licence_of",
    "parse_licenses",
    "reference_candidate",
    "screen",
    "summary",
    "warn_unknown",
]


def for_saved(store: Store, jobs: list[Any], policy: RightsPolicy) -> list[Any]:
    """A saved manifest's shots (``make --from``, a review's revision) with the licences' rules
    applied again (:func:`enforce`)."""
    ids = (source_id_of(sid) for job in jobs for sid in job.media_shot_ids())
    return enforce(jobs, Licences.read(store, ids), policy)


def report(store: Store, jobs: list[Any], policy: RightsPolicy) -> dict[str, Any]:
    """The manifest's ``rights`` for the make's shots (:func:`summary`); warns once about
    unknown licences."""
    ids = (source_id_of(sid) for job in jobs for sid in job.media_shot_ids())
    rights = summary(jobs, Licences.read(store, ids), policy)
    warn_unknown(rights)
    return rights
