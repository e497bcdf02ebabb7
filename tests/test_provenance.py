"""Content credentials (C2PA) on make's outputs: a final render made with the tiny diffusion
pipelines is signed with a throwaway CA's leaf certificate (made offline here) and `verify` reads
back exactly the ranges the models generated; without a key make writes OUT.c2pa.json and says so
once; tampered bytes, missing credentials and bad keys fail the way the README says."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

import av
import c2pa
import pytest
from click.testing import CliRunner
from helpers import TINY, make_footage

from rag_video import open_library
from rag_video.cli import main
from rag_video.errors import UsageError
from rag_video.generate.outputs import is_output_video
from rag_video.provenance import verify

SHOTS = [
    {"text": "a grey rabbit in a meadow", "duration": 0.6},
    {"text": "red cliffs", "duration": 0.5, "decision": "restyle", "style": "sepia"},
    {"text": "a dragon", "duration": 0.4, "decision": "fill"},
]
DRAFT = dict(size=(64, 64), fps=8, reuse_threshold=-1.0, fill_threshold=-2.0, audio=False)
NOTICE = "content credentials not signed"


def _cert(subject, issuer_name, public_key, signer_key, *, ca: bool):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rag-video tests"),
            ]
        )

    now = dt.datetime.now(dt.UTC)
    usage = dict.fromkeys(
        [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    usage.update(key_cert_sign=True, crl_sign=True) if ca else usage.update(digital_signature=True)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer_name))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
            critical=False,
        )
    return builder.sign(signer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA, a leaf it issued (EC P-256), and a self-signed leaf, as PEM files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root = tmp_path_factory.mktemp("pki")
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Test CA", "Test CA", ca_key.public_key(), ca_key, ca=True)
    leaf = _cert("rag-video test signer", "Test CA", key.public_key(), ca_key, ca=False)
    alone = _cert("self", "self", key.public_key(), key, ca=False)

    def pem(c):
        return c.public_bytes(serialization.Encoding.PEM)

    paths = {name: root / f"{name}.pem" for name in ("key", "chain", "ca", "self", "other_key")}
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths["other_key"].write_bytes(
        ca_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths["chain"].write_bytes(pem(leaf) + pem(ca))
    paths["ca"].write_bytes(pem(ca))
    paths["self"].write_bytes(pem(alone))
    return paths


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("provenance")
    files = make_footage(root / "footage")
    library = open_library(root / "lib", workers=1, **TINY)
    library.ingest([files["a"].parent])
    return library


@pytest.fixture(scope="module")
def script(lib) -> Path:
    path = lib.path.parent / "board.yaml"
    path.write_text(json.dumps({"title": "t", "shots": SHOTS}))
    return path


@pytest.fixture(scope="module")
def signed(lib, script, pki, tiny_pipelines_root) -> tuple[Path, dict]:
    """A final render with the tiny AnimateDiff (restyle) and SVD (fill) pipelines, signed."""
    import tiny_pipelines

    models = tiny_pipelines.build_all(tiny_pipelines_root, ["animatediff", "svd"])
    out = lib.path.parent / "final.mp4"
    manifest = lib.make(
        script,
        out,
        final=True,
        restyle_model=str(models["animatediff"]),
        fill_model=str(models["svd"]),
        gen_size=(64, 64),
        steps=4,
        c2pa_key=pki["key"],
        c2pa_cert=pki["chain"],
        **DRAFT,
    )
    return out, manifest


def _generated(manifest: dict) -> list[tuple]:
    return [
        (s["out_start_s"], s["out_end_s"], s["decision"], s["model"], s["generator"])
        for s in manifest["shots"]
        if s["decision"] != "reuse" and s["generator"] not in ("draft", "source")
    ]


def _ranges(result) -> list[tuple]:
    return [(r.start_s, r.end_s, r.decision, r.model, r.generator) for r in result.generated]


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))


def test_verify_lists_exactly_the_generated_ranges_of_a_signed_final_render(signed, pki):
    out, manifest = signed
    expected = _generated(manifest)
    assert [e[2] for e in expected] == ["restyle", "fill"]  # both made by a model
    assert manifest["provenance"] == {
        "signed": True,
        "sidecar": None,
        "generated": 2,
        "signer": "rag-video test signer",
        "issuer": "Test CA",
        "alg": "es256",
    }
    assert not out.with_suffix(".c2pa.json").exists()
    result = verify(out, trust_anchors=pki["ca"])
    assert result.ok and result.trusted and result.state == "Trusted", result
    assert result.signer == "rag-video test signer" and result.failures == []
    assert len(_ranges(result)) == len(expected)
    for got, want in zip(_ranges(result), expected, strict=True):
        assert got[:2] == pytest.approx(want[:2], abs=1e-3) and got[2:] == want[2:]
    sources = {c["path"] for s in manifest["shots"] for c in s["source"]}
    by_path = {i.path: i for i in result.ingredients}
    assert sources <= set(by_path)  # every clip shown (plus the fill's reference frame)
    for path, item in by_path.items():
        assert item.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()
        assert item.relationship == "componentOf"
    # still the same video, still recognised as a rag-video output (so make may replace it)
    assert _frames(out) == manifest["frames"] and is_output_video(out)


def test_an_untrusted_signer_is_reported_as_such(signed):
    out, manifest = signed
    result = verify(out)  # no trust anchors: the throwaway CA is nobody's
    assert result.ok and result.valid and not result.trusted and result.state == "Valid"
    assert result.failures == ["signingCredential.untrusted"]
    assert "untrusted signer" in result.message
    cli = CliRunner().invoke(main, ["verify", str(out)])
    assert cli.exit_code == 0, cli.output
    restyle = next(s for s in manifest["shots"] if s["decision"] == "restyle")
    line = (
        f"  {restyle['out_start_s']:.2f}–{restyle['out_end_s']:.2f} s restyle "
        f"(model {restyle['model']}, AnimateDiffVideoToVideoPipeline)"
    )
    assert line in cli.stdout.splitlines() and "generated ranges: 2" in cli.stdout
    assert "valid signature, untrusted signer (signingCredential.untrusted)" in cli.stdout


def test_verify_json_with_configured_trust_anchors(signed, pki):
    out, manifest = signed
    cli = CliRunner(env={"RAG_VIDEO_C2PA_TRUST_ANCHORS": str(pki["ca"])}).invoke(
        main, ["verify", str(out), "--json"]
    )
    assert cli.exit_code == 0, cli.output
    doc = json.loads(cli.stdout)
    assert doc["ok"] and doc["trusted"] and doc["state"] == "Trusted"
    assert [(g["start_s"], g["end_s"]) for g in doc["generated"]] == pytest.approx(
        [g[:2] for g in _generated(manifest)], abs=1e-3
    )


def test_changed_bytes_fail_verification(signed, pki, tmp_path):
    out, _ = signed
    data = bytearray(out.read_bytes())
    at = data.find(b"mdat") + 64  # inside the picture data
    data[at] ^= 0xFF
    bad = tmp_path / "tampered.mp4"
    bad.write_bytes(bytes(data))
    result = verify(bad, trust_anchors=pki["ca"])
    assert not result.ok and not result.valid and result.state == "Invalid"
    assert "assertion.bmffHash.mismatch" in result.failures
    cli = CliRunner().invoke(main, ["verify", str(bad)])
    assert cli.exit_code == 1 and "INVALID: assertion.bmffHash.mismatch" in cli.stdout
    # a damaged manifest box: credentials that cannot be read are invalid, not absent
    data = bytearray(out.read_bytes())
    box = data.find(bytes.fromhex("d8fec3d61b0e483c92975828877ec481"))
    data[box + 200 : box + 260] = b"x" * 60
    bad.write_bytes(bytes(data))
    broken = verify(bad)
    assert broken.embedded and not broken.ok and broken.message.startswith("INVALID")
    # not an MP4 at all: no credentials, one line
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    cli = CliRunner().invoke(main, ["verify", str(junk)])
    assert cli.exit_code == 1 and cli.stderr.count("\n") == 1
    assert cli.stderr.startswith("junk.mp4: no content credentials (not a readable MP4")


def test_unsigned_make_writes_the_sidecar_and_says_so_once(lib, script, pki, caplog):
    out = lib.path.parent / "draft.mp4"
    with caplog.at_level(logging.WARNING):
        manifest = lib.make(script, out, **DRAFT)
    notices = [r for r in caplog.records if NOTICE in r.getMessage()]
    assert len(notices) == 1 and "c2pa_key" in notices[0].getMessage()
    sidecar = out.with_suffix(".c2pa.json")
    assert manifest["provenance"] == {"signed": False, "sidecar": str(sidecar), "generated": 0}
    doc = json.loads(sidecar.read_text())
    assert doc["signed"] is False
    actions = doc["manifest"]["assertions"][0]["data"]["actions"]
    names = [a["action"] for a in actions]
    # a draft's restyle is a colour transfer and its fill a pan over a still: no model, so
    # nothing is labelled generated, and the first action is the one c2pa.created
    assert names[0] == "c2pa.created" and names.count("c2pa.created") == 1
    assert "c2pa.color_adjustments" in names and "c2pa.placed" in names
    assert not any("digitalSourceType" in a for a in actions[1:])
    saved = json.loads(out.with_suffix(".manifest.json").read_text())
    assert saved["provenance"]["sidecar"] == str(sidecar)
    result = verify(out)
    assert not result.ok and not result.embedded and result.sidecar == str(sidecar)
    cli = CliRunner().invoke(main, ["verify", str(out)])
    assert cli.exit_code == 1 and cli.stdout == ""
    assert cli.stderr.count("\n") == 1 and "no content credentials" in cli.stderr
    # signing the next make of the same output removes the stale sidecar
    again = lib.make(script, out, c2pa_key=pki["key"], c2pa_cert=pki["chain"], **DRAFT)
    assert again["provenance"]["signed"] and not sidecar.exists()
    assert verify(out, trust_anchors=pki["ca"]).trusted


def test_settings_sign_a_cli_make_and_a_file_without_credentials_exits_1(lib, script, pki):
    out = lib.path.parent / "cli.mp4"
    env = {"RAG_VIDEO_C2PA_KEY": str(pki["key"]), "RAG_VIDEO_C2PA_CERT": str(pki["chain"])}
    args = ["--library", str(lib.path), "--json", "make", str(script), "-o", str(out)]
    made = CliRunner(env=env).invoke(
        main,
        [*args, "--size", "64x64", "--fps", "8", "--reuse-threshold", "-1"]
        + ["--fill-threshold", "-2", "--no-audio"],
    )
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout)["provenance"]["signed"] and NOTICE not in made.stderr
    assert verify(out).valid
    footage = lib.path.parent / "footage" / "a.mp4"  # plain footage: no credentials at all
    cli = CliRunner().invoke(main, ["verify", str(footage)])
    assert cli.exit_code == 1 and cli.stderr == "a.mp4: no content credentials\n"


@pytest.mark.parametrize(
    ("key", "cert", "words"),
    [
        ("key", None, "c2pa_key"),
        (None, "chain", "set c2pa_key too"),
        ("key", "self", "self-signed"),
        ("other_key", "chain", "not the one of c2pa_key"),
        ("chain", "chain", "not a PEM private key"),
    ],
)
def test_bad_signing_settings_are_one_line_errors_before_rendering(lib, pki, key, cert, words):
    with pytest.raises(UsageError, match=words) as err:
        lib.make_options(c2pa_key=pki[key] if key else None, c2pa_cert=pki[cert] if cert else None)
    assert "\n" not in str(err.value)


def test_a_failed_signing_keeps_the_unsigned_video(lib, script, pki, monkeypatch, caplog):
    def refuse(self, *args, **kwargs):
        raise c2pa.C2paError("signing refused (injected)")

    monkeypatch.setattr(c2pa.Builder, "sign", refuse)
    out = lib.path.parent / "refused.mp4"
    with caplog.at_level(logging.WARNING):
        manifest = lib.make(script, out, c2pa_key=pki["key"], c2pa_cert=pki["chain"], **DRAFT)
    assert manifest["provenance"]["signed"] is False
    assert "injected" in manifest["provenance"]["error"]
    assert sum(NOTICE in r.getMessage() for r in caplog.records) == 1
    assert _frames(out) == manifest["frames"] and out.with_suffix(".c2pa.json").is_file()
    leftovers = [p.name for p in out.parent.iterdir() if ".partial" in p.name]
    assert leftovers == []


def test_verify_refuses_a_missing_file(tmp_path):
    cli = CliRunner().invoke(main, ["verify", str(tmp_path / "nope.mp4")])
    assert cli.exit_code == 2 and cli.stderr.startswith("error: VIDEO"), cli.stderr
