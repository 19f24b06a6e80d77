"""Signed evidence bundles through the real CLI: keygen, report --bundle --sign, verify --key.

The store comes from a real sweep over HTTP (test_bundle's `swept` fixture); every bundle is
written by `auditor report --out DIR --bundle` and each test tampers with its own copy.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.signing import PAYLOAD_TYPE, SIGNATURE, pae
from tests.test_bundle import swept  # noqa: F401 - a fixture, used by name

ENV = {"AUDITOR_CONFIG": "", "GITLAB_TOKEN": ""}


def _run(*args: str):  # noqa: ANN202 - click's Result
    return CliRunner().invoke(app, list(args), env=ENV, catch_exceptions=False)


def _keygen(path: Path, name: str | None = "Ada Auditor") -> None:
    extra = ["--name", name] if name else []
    result = _run("keygen", "--out", str(path), *extra)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    _keygen(folder / "release.key")
    _keygen(folder / "other.key", name=None)
    return folder


@pytest.fixture(scope="module")
def signed_pristine(swept: Path, keys: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("signed") / "out"
    result = _run(
        "report", "--db", str(swept), "--run", "1", "--out", str(out), "--bundle",
        "--sign", str(keys / "release.key"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "signed by Ada Auditor" in result.output
    return out


@pytest.fixture
def signed(signed_pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(signed_pristine, copy)
    return copy


def test_pae_matches_the_dsse_formula_and_documented_example() -> None:
    # DSSE protocol.md's example: PAE("http://example.com/HelloWorld", "hello world").
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    # Lengths are bytes, not characters.
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 " + "é".encode()
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_keygen_writes_0600_private_and_public_and_never_overwrites(keys: Path) -> None:
    private = keys / "release.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"-----BEGIN PRIVATE KEY-----" in private.read_bytes()
    assert b"-----BEGIN PUBLIC KEY-----" in (keys / "release.key.pub").read_bytes()
    before = private.read_bytes()
    again = _run("keygen", "--out", str(private))
    assert again.exit_code == 2
    assert f"{private} already exists" in again.output
    assert private.read_bytes() == before


def test_signed_bundle_verifies_with_the_right_key(signed: Path, keys: Path) -> None:
    doc = json.loads((signed / SIGNATURE).read_text())
    assert doc["payloadType"] == PAYLOAD_TYPE
    statement = json.loads(base64.b64decode(doc["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    manifest_sha = statement["subject"][0]["digest"]["sha256"]
    assert statement["predicate"]["run_id"] == 1
    assert statement["predicate"]["signer"] == "Ada Auditor"
    result = _run("verify", str(signed), "--key", str(keys / "release.key.pub"))
    assert result.exit_code == 0, result.output
    assert "signed by Ada Auditor (key " in result.output
    assert f"at {statement['predicate']['signed_at']}" in result.output
    assert f"manifest.json sha256 {manifest_sha}" in result.output
    # Without --key: as before, and it says a signature went unchecked.
    plain = _run("verify", str(signed))
    assert plain.exit_code == 0, plain.output
    assert "not checked" in plain.output


def test_wrong_key_fails_naming_the_signature(signed: Path, keys: Path) -> None:
    result = _run("verify", str(signed), "--key", str(keys / "other.key.pub"))
    assert result.exit_code == 1
    assert "signature" in result.output and "signed by" not in result.output


def test_changed_payload_fails(signed: Path, keys: Path) -> None:
    path = signed / SIGNATURE
    doc = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(doc["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(doc))
    result = _run("verify", str(signed), "--key", str(keys / "release.key.pub"))
    assert result.exit_code == 1
    assert "signature: does not verify" in result.output


def test_changed_manifest_with_its_file_fails_on_the_signed_digest(
    signed: Path, keys: Path
) -> None:
    """Someone who rewrites a file and the manifest with it: only the signature catches it."""
    from auditor.bundle import MANIFEST, file_sha256, seal_manifest

    target = signed / "report.json"
    target.write_bytes(target.read_bytes() + b" ")
    manifest = json.loads((signed / MANIFEST).read_text())
    for entry in manifest["files"]:
        if entry["path"] == "report.json":
            entry["sha256"], entry["size"] = file_sha256(target)
    (signed / MANIFEST).write_bytes(seal_manifest(manifest))
    assert _run("verify", str(signed)).exit_code == 0  # unsigned check is fooled
    result = _run("verify", str(signed), "--key", str(keys / "release.key.pub"))
    assert result.exit_code == 1
    assert "manifest.json changed" in result.output


def test_changed_file_fails_naming_the_file(signed: Path, keys: Path) -> None:
    target = signed / "junit.xml"
    target.write_bytes(target.read_bytes().replace(b"<", b" <", 1))
    result = _run("verify", str(signed), "--key", str(keys / "release.key.pub"))
    assert result.exit_code == 1
    assert "changed: junit.xml" in result.output


def test_unsigned_bundle_with_key_is_not_signed(signed: Path, keys: Path) -> None:
    (signed / SIGNATURE).unlink()
    result = _run("verify", str(signed), "--key", str(keys / "release.key.pub"))
    assert result.exit_code == 1
    assert "not signed" in result.output


def test_sign_without_bundle_and_bad_keys_are_usage_errors(
    swept: Path,  # noqa: F811
    keys: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    no_bundle = _run(
        "report", "--db", str(swept), "--out", str(out), "--sign", str(keys / "release.key")
    )
    assert no_bundle.exit_code == 2 and "--sign" in no_bundle.output
    for bad in (keys / "release.key.pub", tmp_path / "missing.key"):
        result = _run(
            "report", "--db", str(swept), "--out", str(out), "--bundle", "--sign", str(bad)
        )
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert not out.exists()  # nothing half-written


def _secret(path: Path) -> bytes:
    """The base64 body of a private key PEM (what must never leak)."""
    return b"".join(
        line
        for line in path.read_bytes().splitlines()
        if line and not line.startswith((b"-", b"#"))
    )


def test_private_key_never_appears_in_output_or_bundle(keys: Path, signed: Path) -> None:
    body = _secret(keys / "release.key")
    assert len(body) > 40
    verified = _run("verify", str(signed), "--key", str(keys / "release.key.pub"))
    assert body.decode() not in verified.output
    third = _run("keygen", "--out", str(keys / "third.key"))
    assert _secret(keys / "third.key").decode() not in third.output
    for path in signed.rglob("*"):
        if path.is_file():
            assert body not in path.read_bytes(), path
