"""Read a video's content credentials back: is there a C2PA manifest, does its signature hold
(c2pa checks the claim signature and the hash of every byte of the MP4 outside the manifest),
is the signer trusted (only against the trust anchors given: there is no default list), what
went in (ingredients), and which time ranges a model generated.

`trusted` is separate from `valid`: a throwaway or in-house CA gives a valid signature from an
untrusted signer (`signingCredential.untrusted`), and the result says exactly that.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag_video.errors import UsageError
from rag_video.provenance.credentials import ACTIONS_LABEL, META, TRAINED
from rag_video.provenance.sign import c2pa_context, sidecar_path

UNTRUSTED = "signingCredential.untrusted"
C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")  # the manifest store's BMFF box


@dataclass(frozen=True)
class GeneratedRange:
    """A time range of the output a model generated."""

    start_s: float
    end_s: float
    decision: str | None  # restyle | fill
    model: str | None
    generator: str | None

    def describe(self) -> str:
        """`0.00–4.00 s fill (model X, Pipeline)`."""
        who = ", ".join(
            x for x in (f"model {self.model}" if self.model else None, self.generator) if x
        )
        return f"{self.start_s:.2f}–{self.end_s:.2f} s {self.decision or 'generated'}" + (
            f" ({who})" if who else ""
        )


@dataclass(frozen=True)
class Ingredient:
    """A source file the output was made from, as its manifest records it."""

    title: str
    path: str | None
    sha256: str | None
    relationship: str | None


@dataclass
class Verification:
    """What `rag-video verify` found in one video."""

    path: str
    embedded: bool  # a C2PA manifest is in the file
    state: str | None  # c2pa's validation state: Trusted | Valid | Invalid
    valid: bool  # the signature and the content hashes hold
    trusted: bool  # and the signer chains to a configured trust anchor
    message: str
    signer: str | None = None
    issuer: str | None = None
    alg: str | None = None
    claim_generator: str | None = None
    failures: list[str] = field(default_factory=list)  # validation failure codes
    ingredients: list[Ingredient] = field(default_factory=list)
    generated: list[GeneratedRange] = field(default_factory=list)
    sidecar: str | None = None  # an unsigned OUT.c2pa.json beside a video without credentials

    @classmethod
    def missing(cls, path: Path, message: str) -> Verification:
        """No credentials in `path` (`message` says why)."""
        return cls(
            path=str(path), embedded=False, state=None, valid=False, trusted=False, message=message
        )

    @property
    def ok(self) -> bool:
        """Credentials present and valid (trusted or not)."""
        return self.embedded and self.valid

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with `ok`."""
        return {**asdict(self), "ok": self.ok}


def generated_ranges(actions: list[dict[str, Any]]) -> list[GeneratedRange]:
    """The ranges of the actions whose digital source type is a trained model's, in time order."""
    out = []
    for a in actions:
        if a.get("digitalSourceType") != TRAINED:
            continue
        p = a.get("parameters") or {}
        if "out_start_s" not in p or "out_end_s" not in p:
            continue
        agent = a.get("softwareAgent")
        out.append(
            GeneratedRange(
                start_s=float(p["out_start_s"]),
                end_s=float(p["out_end_s"]),
                decision=p.get("decision"),
                model=p.get("model"),
                generator=p.get("generator")
                or (agent.get("name") if isinstance(agent, dict) else None),
            )
        )
    return sorted(out, key=lambda r: (r.start_s, r.end_s))


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            return list((assertion.get("data") or {}).get("actions") or [])
    return []


def _ingredients(manifest: dict[str, Any]) -> list[Ingredient]:
    out = []
    for item in manifest.get("ingredients") or []:
        meta = item.get("metadata") or {}
        out.append(
            Ingredient(
                title=str(item.get("title") or ""),
                path=meta.get(META + "path"),
                sha256=meta.get(META + "sha256"),
                relationship=item.get("relationship"),
            )
        )
    return out


def _from_sidecar(path: Path) -> Verification:
    side = sidecar_path(path)
    found = Verification.missing(path, f"{path.name}: no content credentials")
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
        definition = doc["manifest"]
        actions = next(
            a["data"]["actions"] for a in definition["assertions"] if a["label"] == ACTIONS_LABEL
        )
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return found
    found.sidecar = str(side)
    found.ingredients = _ingredients(definition)
    found.generated = generated_ranges(actions)
    found.message += f" (an unsigned manifest is beside it: {side.name})"
    return found


def _has_manifest_box(path: Path) -> bool:
    """Whether the file holds C2PA's BMFF `uuid` box (so a read failure is broken credentials,
    not a file that never had any)."""
    import mmap

    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(b"uuid" + C2PA_UUID) >= 0
    except (OSError, ValueError):  # ValueError: an empty file cannot be mapped
        return False


def verify(path: str | Path, *, trust_anchors: str | Path | None = None) -> Verification:
    """Read and validate the content credentials of `path`; `trust_anchors` is a PEM file of CA
    certificates to trust. A missing file is a UsageError; a file without credentials or with
    broken ones is a result (`ok` false), not an error."""
    import c2pa

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"VIDEO: no such file {str(path)!r}")
    anchors = None
    if trust_anchors is not None:
        try:
            anchors = Path(trust_anchors).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"trust anchors {str(trust_anchors)!r}: cannot read them ({exc})"
            ) from None
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader.try_create("video/mp4", fh, context=c2pa_context(True, anchors))
            if reader is None:
                return _from_sidecar(path)
            with reader:
                store = json.loads(reader.json())
    except OSError as exc:
        raise UsageError(f"VIDEO {str(path)!r}: cannot read it ({exc.strerror})") from None
    except c2pa.C2paError as exc:
        reason = "".join(c if c.isprintable() else "?" for c in " ".join(str(exc).split()))
        if not _has_manifest_box(path):
            return Verification.missing(
                path, f"{path.name}: no content credentials (not a readable MP4: {reason})"
            )
        return Verification(
            path=str(path),
            embedded=True,
            state="Invalid",
            valid=False,
            trusted=False,
            message=f"INVALID: the content credentials cannot be read ({reason})",
        )
    return _result(path, store)


def _result(path: Path, store: dict[str, Any]) -> Verification:
    manifest = (store.get("manifests") or {}).get(store.get("active_manifest"), {})
    state = store.get("validation_state")
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    failures = [f["code"] for f in results.get("failure") or []]
    valid = state in ("Valid", "Trusted")
    trusted = state == "Trusted"
    info = manifest.get("signature_info") or {}
    gen = (manifest.get("claim_generator_info") or [{}])[0]
    if trusted:
        message = "valid signature, trusted signer"
    elif valid:
        untrusted = UNTRUSTED in failures
        message = "valid signature, untrusted signer" + (f" ({UNTRUSTED})" if untrusted else "")
    else:
        message = "INVALID: " + (", ".join(c for c in failures if c != UNTRUSTED) or str(state))
    return Verification(
        path=str(path),
        embedded=True,
        state=state,
        valid=valid,
        trusted=trusted,
        message=message,
        signer=info.get("common_name") or info.get("issuer"),
        issuer=info.get("issuer"),
        alg=str(info["alg"]).lower() if info.get("alg") else None,
        claim_generator=" ".join(str(gen.get(k)) for k in ("name", "version") if gen.get(k))
        or None,
        failures=failures,
        ingredients=_ingredients(manifest),
        generated=generated_ranges(_actions(manifest)),
    )


__all__ = ["GeneratedRange", "Ingredient", "Verification", "generated_ranges", "verify"]
