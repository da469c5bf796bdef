"""Signed artifacts: an Ed25519 signature over a statement of every file's sha256.

A signature is the JSON file :data:`SIGNATURE_FILE` next to what it signs (in a model's
MLflow directory, in an environment's published folder), so it travels with the artifact::

    {"statement": {"subject": "model:churn@3", "files": {"model.pkl": "<sha256>", ...},
                   "key_id": "<16 hex>", "signed_at": "...", "signed_by": "alice"},
     "signature": "<base64 Ed25519 signature of the statement's canonical JSON>"}

Settings: ``signing_key`` (a PEM private key: artifacts are signed when they are published
or registered), ``trusted_keys`` (a YAML file ``keys: {NAME: PEM public key}``) and
``verify`` (``enforce``, ``warn`` or ``off``; default ``enforce`` with a trust file, else
``off``). A key's id is the first 16 hex digits of the sha256 of its raw public key.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mlplatform import files
from mlplatform.config import Settings
from mlplatform.errors import ConfigError, SignatureError
from mlplatform.identity import current_actor
from mlplatform.specfiles import read_mapping

__all__ = [
    "SIGNATURE_FILE",
    "Verified",
    "verify_mode",
    "key_id",
    "signing_key",
    "require_key",
    "trusted_keys",
    "sign",
    "verify",
    "digests_of",
    "generate",
]

log = logging.getLogger(__name__)

SIGNATURE_FILE = "mlp-signature.json"
_KEY_HINT = "make one with: mlp keys generate PATH"


@dataclass(frozen=True)
class Verified:
    """Who vouched for an artifact: the trusted key's name and id, when and by whom it was signed."""

    subject: str
    key_name: str
    key_id: str
    signed_at: str
    signed_by: str

    def describe(self) -> str:
        return f"{self.subject} signed by key {self.key_name} ({self.key_id}), {self.signed_by} at {self.signed_at}"


def verify_mode(settings: Settings) -> str:
    """``enforce``, ``warn`` or ``off``: the setting, else ``enforce`` when a trust file is set, else ``off``."""
    mode = settings.verify or ("enforce" if settings.trusted_keys else "off")
    if mode != "off" and not settings.trusted_keys:
        raise ConfigError(
            f"verify is '{mode}' but no trusted_keys file is set",
            "set trusted_keys (MLP_TRUSTED_KEYS) to the trust file, or verify: off",
        )
    return mode


def key_id(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of the sha256 of the raw public key."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    return digest.finalize().hex()[:16]


def signing_key(settings: Settings) -> Ed25519PrivateKey | None:
    """The private key of ``signing_key`` (None when the setting is empty).

    Raises:
        ConfigError: the file is missing or is not an unencrypted Ed25519 private key in PEM.
    """
    if not settings.signing_key:
        return None
    path = Path(settings.signing_key)
    if not path.is_file():
        raise ConfigError(f"signing_key {path} does not exist", f"point signing_key at a private key PEM; {_KEY_HINT}")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"signing_key {path} is not an unencrypted PEM private key ({exc})", _KEY_HINT) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing_key {path} is a {type(key).__name__}, not an Ed25519 key", _KEY_HINT)
    return key


def require_key(settings: Settings) -> Ed25519PrivateKey:
    """The private key of ``signing_key``, which must be set.

    Raises:
        ConfigError: ``signing_key`` is not set, missing, or not an Ed25519 private key in PEM.
    """
    private = signing_key(settings)
    if private is None:
        raise ConfigError("no signing_key is set: nothing can sign", f"set signing_key (MLP_SIGNING_KEY); {_KEY_HINT}")
    return private


def _public_key(pem: Any, name: str, path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(str(pem).encode())
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"trust file {path}: key '{name}' is not a PEM public key ({exc})",
            "paste the public key PEM that 'mlp keys generate' wrote",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"trust file {path}: key '{name}' is a {type(key).__name__}, not an Ed25519 key", _KEY_HINT)
    return key


def trusted_keys(settings: Settings) -> dict[str, tuple[str, Ed25519PublicKey]]:
    """The trust file's keys by key id: ``{key_id: (name, public key)}``.

    Raises:
        ConfigError: the file is missing, not ``keys: {NAME: PEM}``, or holds a key that is not Ed25519.
    """
    if not settings.trusted_keys:
        raise ConfigError(
            "no trusted_keys file is set: no signature can be checked",
            "set trusted_keys (MLP_TRUSTED_KEYS) to a trust file; write one with: mlp keys generate PATH --trust FILE",
        )
    path = Path(settings.trusted_keys)
    if not path.is_file():
        raise ConfigError(
            f"trusted_keys file {path} does not exist", f"write one with: mlp keys generate PATH --trust {path}"
        )
    keys = read_mapping(path, ConfigError, "trust file").get("keys")
    if not isinstance(keys, dict) or not keys:
        raise ConfigError(f"trust file {path} has no 'keys' mapping", "write keys: {NAME: PEM public key, ...}")
    out: dict[str, tuple[str, Ed25519PublicKey]] = {}
    for name, pem in keys.items():
        public = _public_key(pem, str(name), path)
        out[key_id(public)] = (str(name), public)
    return out


class _TrustDumper(yaml.SafeDumper):
    """Writes the trust file's PEM keys as literal blocks, as a person would paste them."""


_TrustDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)


def _canonical(statement: Mapping[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def digests_of(root: Path, unsigned: frozenset[str] = frozenset()) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative POSIX path; the signature file and ``unsigned`` left out."""
    skipped = unsigned | {SIGNATURE_FILE}
    return {
        path.relative_to(root).as_posix(): files.sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() not in skipped
    }


def sign(settings: Settings, subject: str, digests: Mapping[str, str]) -> bytes:
    """The signature file's bytes for ``subject`` with these file digests.

    Raises:
        ConfigError: no ``signing_key`` is set, or it is not an Ed25519 private key.
    """
    private = require_key(settings)
    statement = {
        "subject": subject,
        "files": dict(sorted(digests.items())),
        "key_id": key_id(private.public_key()),
        "signed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "signed_by": current_actor(),
    }
    signature = base64.b64encode(private.sign(_canonical(statement))).decode()
    log.info("signed %s with key %s", subject, statement["key_id"])
    return (json.dumps({"statement": statement, "signature": signature}, indent=2) + "\n").encode()


def _sign_command(subject: str) -> str:
    kind, _, ref = subject.partition(":")
    return f"mlp models sign {ref}" if kind == "model" else f"mlp env sign {subject}"


def _statement(subject: str, envelope: bytes) -> tuple[dict[str, Any], bytes]:
    try:
        data = json.loads(envelope)
        statement, signature = data["statement"], base64.b64decode(data["signature"], validate=True)
        if not isinstance(statement.get("files"), dict) or not {"key_id", "subject"} <= set(statement):
            raise ValueError("the statement lacks files, key_id or subject")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise SignatureError(
            f"{subject}: {SIGNATURE_FILE} is not a signature file ({type(exc).__name__}: {exc})",
            f"sign it again with: {_sign_command(subject)}",
        ) from exc
    return statement, signature


def _check(settings: Settings, subject: str, actual: Mapping[str, str], envelope: bytes | None, where: str) -> Verified:
    if envelope is None:
        raise SignatureError(
            f"{subject} is not signed: no {SIGNATURE_FILE} in {where}",
            f"sign it with: {_sign_command(subject)} (or set verify: warn)",
        )
    statement, signature = _statement(subject, envelope)
    trust = trusted_keys(settings)
    signer = str(statement["key_id"])
    if signer not in trust:
        raise SignatureError(
            f"{subject} is signed by unknown key {signer}: not in the trust file {settings.trusted_keys}",
            "add the signer's public key to the trust file, or sign it again with a trusted key",
        )
    name, public = trust[signer]
    try:
        public.verify(signature, _canonical(statement))
    except InvalidSignature as exc:
        raise SignatureError(
            f"{subject}: the signature in {SIGNATURE_FILE} does not verify with key {name} ({signer}): "
            "the signed statement was altered",
            f"sign it again with: {_sign_command(subject)}",
        ) from exc
    if statement["subject"] != subject:
        raise SignatureError(
            f"{SIGNATURE_FILE} in {where} signs {statement['subject']}, not {subject}",
            f"copy the artifact's own signature back, or sign it with: {_sign_command(subject)}",
        )
    _compare(subject, dict(statement["files"]), actual, f"key {name} ({signer})")
    return Verified(subject, name, signer, str(statement.get("signed_at")), str(statement.get("signed_by")))


def _compare(subject: str, signed: dict[str, str], actual: Mapping[str, str], key: str) -> None:
    hint = "the artifact was altered after it was signed: restore it from a trusted copy or publish it again"
    for name in sorted(set(signed) | set(actual)):
        if name not in actual:
            raise SignatureError(f"{subject} {name}: missing, but signed by {key}", hint)
        if name not in signed:
            raise SignatureError(f"{subject} {name}: not in the files signed by {key}", hint)
        if signed[name] != actual[name]:
            raise SignatureError(
                f"{subject} {name}: sha256 {actual[name][:16]}... differs from {signed[name][:16]}... signed by {key}",
                hint,
            )


def verify(
    settings: Settings, subject: str, actual: Mapping[str, str], envelope: bytes | None, where: str
) -> Verified | None:
    """Check ``subject``'s signature file against its files' actual sha256 before it is loaded.

    Args:
        actual: the files' sha256 as found now, by relative path.
        envelope: the signature file's bytes (None: the artifact has none).
        where: where the artifact is, for the message.

    Returns:
        Who signed it, or None when verification is off or (``warn``) failed with one WARNING.

    Raises:
        SignatureError: (``enforce``) unsigned, unknown key, bad signature, or a file that differs.
        ConfigError: a bad trust file, or ``verify`` on without one.
    """
    mode = verify_mode(settings)
    if mode == "off":
        return None
    try:
        verified = _check(settings, subject, actual, envelope, where)
    except SignatureError as exc:
        if mode == "enforce":
            raise
        log.warning("%s (verify: warn, loading it anyway)", exc.render())
        return None
    log.debug("verified %s", verified.describe())
    return verified


def generate(private_path: Path, name: str, trust_path: Path | None = None) -> str:
    """Write a new Ed25519 private key (mode 0600) and add its public key to ``trust_path``; return its id.

    Raises:
        ConfigError: ``private_path`` exists, or the trust file is malformed or already names ``name``.
    """
    if private_path.exists():
        raise ConfigError(f"{private_path} exists", "choose a new path; an existing key is never overwritten")
    private = Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if trust_path is not None:
        trust = read_mapping(trust_path, ConfigError, "trust file") if trust_path.is_file() else {}
        keys = trust.setdefault("keys", {})
        if not isinstance(keys, dict) or name in keys:
            raise ConfigError(
                f"trust file {trust_path} already has a key '{name}' or no 'keys' mapping", "pick another --name"
            )
        keys[name] = public_pem.decode()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    with files.replacing(private_path) as partial:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as fh:
            fh.write(pem)  # readable by its owner only from the first byte
    files.write_atomic(private_path.with_name(private_path.name + ".pub"), public_pem)
    if trust_path is not None:
        files.write_atomic(trust_path, yaml.dump(trust, Dumper=_TrustDumper, sort_keys=False))
    return key_id(private.public_key())
