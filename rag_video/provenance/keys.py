"""The signing key and certificate chain the user configures (`c2pa_key`, `c2pa_cert`), checked
before any rendering: both or neither, readable PEM, the key matching the chain's first
certificate, that certificate issued by a CA (c2pa refuses a self-signed signing certificate)
and valid now. Every problem is one UsageError naming the setting and its value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag_video.errors import UsageError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
    from cryptography.x509 import Certificate

_CURVES = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


@dataclass(frozen=True)
class Credentials:
    """A loaded signing identity: the PEM bytes c2pa signs with, its algorithm and who it is."""

    key_pem: bytes
    chain_pem: bytes  # the signing certificate first, then its issuers
    alg: str  # c2pa's name: es256 | es384 | es512 | ps256 | ed25519
    signer: str  # the signing certificate's common name (or its whole subject)
    issuer: str


def _read(setting: str, path: Path) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise UsageError(f"{setting} {str(path)!r}: cannot read it ({exc.strerror})") from None


def _alg(key: PrivateKeyTypes, where: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = _CURVES.get(key.curve.name)
        if alg is None:
            raise UsageError(
                f"{where}: EC curve {key.curve.name} is not one C2PA signs with "
                f"(P-256, P-384, P-521)"
            )
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"  # C2PA takes RSA only as RSASSA-PSS
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise UsageError(f"{where}: a {type(key).__name__} cannot sign C2PA manifests")


def _name(cert: Certificate, which: str) -> str:
    from cryptography.x509.oid import NameOID

    name = cert.subject if which == "subject" else cert.issuer
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return name.rfc4514_string()


def _check_leaf(leaf: Certificate, key: PrivateKeyTypes, where: str) -> None:
    from cryptography.hazmat.primitives import serialization

    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(*raw) != key.public_key().public_bytes(*raw):
        raise UsageError(f"{where}: its first certificate is not the one of c2pa_key")
    if leaf.issuer == leaf.subject:
        raise UsageError(
            f"{where}: the signing certificate is self-signed, which C2PA refuses; give a "
            f"certificate issued by a CA, followed by the CA's certificate"
        )
    now = datetime.now(UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise UsageError(
            f"{where}: the signing certificate is valid from {leaf.not_valid_before_utc:%Y-%m-%d} "
            f"to {leaf.not_valid_after_utc:%Y-%m-%d}, not now"
        )


def load_credentials(key: Path | None, cert: Path | None) -> Credentials | None:
    """The configured signing identity, or None when neither setting is given."""
    if key is None and cert is None:
        return None
    if key is None or cert is None:
        given, missing = ("c2pa_key", "c2pa_cert") if key is not None else ("c2pa_cert", "c2pa_key")
        value = key if key is not None else cert
        raise UsageError(
            f"{given} {str(value)!r}: set {missing} too (content credentials need both)"
        )
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key_pem, chain_pem = _read("c2pa_key", key), _read("c2pa_cert", cert)
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise UsageError(
            f"c2pa_key {str(key)!r}: the key is encrypted; give an unencrypted PEM key"
        ) from None
    except ValueError:
        raise UsageError(f"c2pa_key {str(key)!r}: not a PEM private key") from None
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise UsageError(f"c2pa_cert {str(cert)!r}: not a PEM certificate chain") from None
    alg = _alg(private, f"c2pa_key {str(key)!r}")
    _check_leaf(chain[0], private, f"c2pa_cert {str(cert)!r}")
    return Credentials(
        key_pem=key_pem,
        chain_pem=chain_pem,
        alg=alg,
        signer=_name(chain[0], "subject"),
        issuer=_name(chain[0], "issuer"),
    )


__all__ = ["Credentials", "load_credentials"]
