"""Signed evidence bundles: an Ed25519 signature over a bundle's manifest, in DSSE form.

`manifest.sig.json` is a DSSE envelope (https://github.com/secure-systems-lab/dsse) whose
payload is an in-toto Statement v1 naming `manifest.json` by its SHA-256; the predicate says
which run, which GitLab, which tool version, when and by whom. The signature is over DSSE's
pre-authentication encoding (PAE) of the payload type and the payload, so neither can be
swapped without the signature failing. Since the manifest lists every other file by hash,
one signature covers the whole bundle.

Keys are Ed25519: the private key as PKCS8 PEM (optionally preceded by a `# signer: NAME`
line, the key's holder, which goes into every statement it signs), the public key as
SubjectPublicKeyInfo PEM. A key id is the SHA-256 (hex) of the raw 32-byte public key.

`cryptography` is imported inside the functions: only signing and checking pay for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNATURE = "manifest.sig.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://auditor.dev/bundle/v1"
_SIGNER_PREFIX = "# signer: "


class SigningError(Exception):
    """A key cannot be made, read or used; the message is one line for the user."""


class SignatureInvalid(Exception):
    """A signature does not hold; the message is one line naming what failed."""


@dataclass(frozen=True)
class SigningKey:
    """A private key and the name of its holder (None when keygen was given no --name)."""

    key: Ed25519PrivateKey
    signer: str | None


@dataclass(frozen=True)
class Signed:
    """What a valid signature says: who signed which manifest digest, when, for which run."""

    signer: str
    keyid: str
    signed_at: str
    manifest_sha256: str
    run_id: object
    gitlab_url: object


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def keyid(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate(out: Path, signer: str | None) -> tuple[Path, str]:
    """Write a new private key to `out` (mode 0600, never over an existing file) and its
    public key to `out.pub`. Returns the public key's path and the key id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if signer is not None and (not signer.strip() or "\n" in signer or "\r" in signer):
        raise SigningError("--name must be one non-empty line")
    public_path = out.with_name(out.name + ".pub")
    if out.exists() or out.is_symlink():
        raise SigningError(f"{out} already exists; not overwritten")
    if public_path.exists() or public_path.is_symlink():
        raise SigningError(f"{public_path} already exists; not overwritten")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    head = f"{_SIGNER_PREFIX}{signer.strip()}\n".encode() if signer else b""
    try:
        # O_EXCL: never replace a key someone has; 0600 from the start, not chmod-ed after.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningError(f"{out} already exists; not overwritten") from None
    except OSError as exc:
        raise SigningError(f"cannot create {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(head + pem)
    public = key.public_key()
    try:
        with public_path.open("xb") as fh:
            fh.write(
                public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
    except OSError as exc:
        raise SigningError(f"cannot create {public_path}: {exc.strerror}") from None
    return public_path, keyid(public)


def load_private(path: Path) -> SigningKey:
    """The Ed25519 private key at `path`, or SigningError (never showing the file's text)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read key {path}: {exc.strerror}") from None
    signer = None
    first, _, rest = data.partition(b"\n")
    if first.startswith(_SIGNER_PREFIX.encode()):
        signer = first[len(_SIGNER_PREFIX) :].decode("utf-8", "replace").strip() or None
        data = rest
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningError(f"{path} is not an unencrypted PEM private key") from None
    except Exception:  # noqa: BLE001 - cryptography's unsupported-algorithm errors vary
        raise SigningError(f"{path} is not a private key this tool can use") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an Ed25519 private key")
    return SigningKey(key, signer)


def load_public(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key at `path`, or SigningError."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise SigningError(f"{path} is not a PEM public key") from None
    except Exception:  # noqa: BLE001
        raise SigningError(f"{path} is not a public key this tool can use") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path} is not an Ed25519 public key")
    return key


def statement(
    manifest_sha256: str,
    *,
    run_id: int,
    gitlab_url: str,
    tool_version: str,
    signed_at: str,
    signer: str,
) -> dict[str, Any]:
    """The in-toto Statement v1 a bundle signature carries."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "manifest.json", "digest": {"sha256": manifest_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "run_id": run_id,
            "gitlab_url": gitlab_url,
            "tool_version": tool_version,
            "signed_at": signed_at,
            "signer": signer,
        },
    }


def sign(key: SigningKey, doc: dict[str, Any]) -> bytes:
    """The DSSE envelope (JSON bytes) of a statement, signed over PAE."""
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
    sig = key.key.sign(pae(PAYLOAD_TYPE, payload))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [
            {
                "keyid": keyid(key.key.public_key()),
                "sig": base64.b64encode(sig).decode("ascii"),
            }
        ],
    }
    return (json.dumps(envelope, indent=2) + "\n").encode("ascii")


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise SignatureInvalid(f"{SIGNATURE}: {what} is missing")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid(f"{SIGNATURE}: {what} is not base64") from None


def check(envelope: bytes, public_key: Ed25519PublicKey, manifest_sha256: str) -> Signed:
    """Verify an envelope against a public key and the manifest's actual SHA-256.

    Order matters: the signature is checked before anything in the payload is believed.
    """
    from cryptography.exceptions import InvalidSignature

    try:
        doc = json.loads(envelope)
    except (UnicodeDecodeError, ValueError):
        raise SignatureInvalid(f"{SIGNATURE}: not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("payloadType") != PAYLOAD_TYPE:
        raise SignatureInvalid(f"{SIGNATURE}: not a DSSE envelope of {PAYLOAD_TYPE}")
    payload = _b64(doc.get("payload"), "payload")
    signatures = doc.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise SignatureInvalid(f"{SIGNATURE}: no signatures")
    wanted = keyid(public_key)
    ours = [s for s in signatures if isinstance(s, dict) and s.get("keyid") == wanted]
    if not ours:
        raise SignatureInvalid(
            f"signature: not made with this key (key {wanted[:8]}…); wrong key or re-signed"
        )
    message = pae(PAYLOAD_TYPE, payload)
    for entry in ours:
        try:
            public_key.verify(_b64(entry.get("sig"), "sig"), message)
            break
        except InvalidSignature:
            continue
    else:
        raise SignatureInvalid(
            f"signature: does not verify with key {wanted[:8]}… (statement or payload changed)"
        )
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise SignatureInvalid("signature: the signed statement is not JSON") from None
    if not isinstance(body, dict):
        body = {}
    subject, predicate = body.get("subject"), body.get("predicate")
    if (
        body.get("_type") != STATEMENT_TYPE
        or body.get("predicateType") != PREDICATE_TYPE
        or not isinstance(subject, list)
        or len(subject) != 1
        or not isinstance(subject[0], dict)
        or subject[0].get("name") != "manifest.json"
        or not isinstance(subject[0].get("digest"), dict)
        or not isinstance(predicate, dict)
    ):
        raise SignatureInvalid("signature: the signed statement is not an auditor bundle statement")
    signed_digest = subject[0]["digest"].get("sha256")
    if signed_digest != manifest_sha256:
        raise SignatureInvalid(
            f"signature: signed manifest.json sha256 {signed_digest} but the bundle's is "
            f"{manifest_sha256} (manifest.json changed)"
        )
    return Signed(
        signer=str(predicate.get("signer")),
        keyid=wanted,
        signed_at=str(predicate.get("signed_at")),
        manifest_sha256=manifest_sha256,
        run_id=predicate.get("run_id"),
        gitlab_url=predicate.get("gitlab_url"),
    )
