"""Free-text licences to SPDX ids, and what each licence permits (derivatives, commercial use,
attribution, share-alike) with the credit line it requires."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSIONS = ("1.0", "2.0", "2.5", "3.0", "4.0")
_CC_PARTS = ("BY", "BY-SA", "BY-ND", "BY-NC", "BY-NC-SA", "BY-NC-ND")
_CC_IDS = {f"CC-{p}-{v}" for p in _CC_PARTS for v in _VERSIONS}
SPECIAL = {"CC0-1.0", "proprietary", "LicenseRef-PublicDomain"}
KNOWN = _CC_IDS | SPECIAL


@dataclass(frozen=True)
class Terms:
    """What a licence permits; ``known`` is False for an id this module does not know."""

    license_id: str | None
    derivatives: bool
    commercial: bool
    attribution: bool
    share_alike: bool
    known: bool


def _cc(text: str) -> str | None:
    """'cc by-sa 4.0', 'Creative Commons Attribution 3.0' → 'CC-BY-SA-4.0'."""
    t = text.upper().replace("CREATIVE COMMONS", "CC").replace("ATTRIBUTION", "BY")
    t = t.replace("NONCOMMERCIAL", "NC").replace("NON-COMMERCIAL", "NC")
    t = t.replace("SHAREALIKE", "SA").replace("SHARE-ALIKE", "SA").replace("NODERIVATIVES", "ND")
    t = t.replace("NODERIVS", "ND").replace("LICENSE", "").replace("INTERNATIONAL", "")
    tokens = [x for x in re.split(r"[\s\-_/]+", t) if x]
    if not tokens or tokens[0] != "CC":
        return None
    version = tokens[-1]
    if re.fullmatch(r"\d", version):
        version += ".0"
    if version not in _VERSIONS:
        return None
    cand = "CC-" + "-".join(tokens[1:-1]) + "-" + version
    return cand if cand in _CC_IDS else None


def parts(license_id: str | None) -> list[str]:
    """The ids of an SPDX ``A AND B`` expression (a file combining works under each); one id is
    a list of one."""
    if license_id is None:
        return []
    return [p for p in re.split(r"\s+AND\s+", license_id.strip()) if p]


def to_spdx(text: str | None) -> str | None:
    """The SPDX id for a free-text licence where that is unambiguous, else None. An ``A AND B``
    expression maps when each part does."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    if len(pieces := parts(raw)) > 1:
        ids = [to_spdx(p) for p in pieces]
        if any(i is None for i in ids):
            return None
        return " AND ".join(dict.fromkeys(i for i in ids if i is not None))
    low = " ".join(raw.lower().split())
    for known in KNOWN:
        if low == known.lower():
            return known
    if low in ("cc0", "cc0 1.0", "cc0-1.0", "cc zero"):
        return "CC0-1.0"
    if low in ("public domain", "publicdomain", "pd"):
        return "LicenseRef-PublicDomain"
    if low in ("proprietary", "all rights reserved", "(c) all rights reserved"):
        return "proprietary"
    return _cc(raw)


def terms(license_id: str | None) -> Terms:
    """The terms of an SPDX id from :func:`to_spdx`; an unknown id permits nothing. The terms of
    ``A AND B`` are what every part permits (attribution and share-alike when any part asks)."""
    if license_id is not None and len(ids := parts(license_id)) > 1:
        each = [terms(i) for i in ids]
        return Terms(
            license_id,
            derivatives=all(t.derivatives for t in each),
            commercial=all(t.commercial for t in each),
            attribution=any(t.attribution for t in each),
            share_alike=any(t.share_alike for t in each),
            known=all(t.known for t in each),
        )
    if license_id not in KNOWN or license_id is None:
        return Terms(license_id, False, False, False, False, False)
    if license_id in ("CC0-1.0", "LicenseRef-PublicDomain"):
        return Terms(license_id, True, True, False, False, True)
    if license_id == "proprietary":
        return Terms(license_id, False, False, False, False, True)
    elements = license_id.split("-")[1:-1]
    return Terms(
        license_id,
        derivatives="ND" not in elements,
        commercial="NC" not in elements,
        attribution="BY" in elements,
        share_alike="SA" in elements,
        known=True,
    )


def attribution_text(
    title: str, creator: str | None, license_id: str, url: str | None = None
) -> str:
    """The TASL credit line (Title, Author, Source, Licence) the licence asks for."""
    who = f" by {creator}" if creator else ""
    src = f" ({url})" if url else ""
    name = {"LicenseRef-PublicDomain": "public domain", "proprietary": "all rights reserved"}.get(
        license_id, license_id
    )
    return f'"{title}"{who}{src}, {name}'
