"""Manifest signatures (`--sign-key`): an HMAC-SHA256 over the manifest, so verify and restore refuse a forged one.

The manifest holds every object's checksum, so signing it covers the whole backup: whoever can write to the bucket
but does not hold the key cannot edit an object and its checksum together. The key is a file's bytes (a mounted
Secret) or a KMS HMAC key (`kms:KEY_ID`, KeySpec HMAC_256: the key never leaves KMS). The MAC covers the
manifest's canonical YAML without the `signature` field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drkit.backup import documents
from drkit.errors import ConfigError, IntegrityError

FIELD = "signature"
MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class SignKey:
    """Makes and checks MACs; `scheme` is what the manifest records (`hmac-sha256` or `kms-hmac-sha256`)."""

    scheme: str
    mac: Callable[[bytes], bytes]
    valid: Callable[[bytes, bytes], bool]

    def __repr__(self) -> str:
        return f"SignKey({self.scheme!r})"  # never the key


def from_bytes(key: bytes, where: str) -> SignKey:
    """An HMAC key read from a file; a short one is refused (it would be guessable)."""
    key = key.strip()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"--sign-key {where}: the key is shorter than {MIN_KEY_BYTES} bytes",
            hint="generate one with `openssl rand -base64 32 > FILE`",
        )

    def mac(message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha256).digest()

    return SignKey("hmac-sha256", mac, lambda message, got: hmac.compare_digest(mac(message), got))


def from_kms(key_id: str, kms: Callable[[], Any]) -> SignKey:
    """A KMS HMAC key: GenerateMac to sign, VerifyMac to check."""
    from drkit.backup.sealing import kms_call

    def mac(message: bytes) -> bytes:
        return kms_call(kms, "generate_mac", KeyId=key_id, Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]

    def valid(message: bytes, got: bytes) -> bool:
        try:
            args = {"KeyId": key_id, "Message": message, "MacAlgorithm": "HMAC_SHA_256", "Mac": got}
            return bool(kms_call(kms, "verify_mac", **args)["MacValid"])
        except ConfigError as err:
            if "KMSInvalidMacException" in str(err):
                return False
            raise

    return SignKey("kms-hmac-sha256", mac, valid)


def _message(manifest: dict[str, Any]) -> bytes:
    return documents.dump({k: v for k, v in manifest.items() if k != FIELD})


def sign(manifest: dict[str, Any], key: SignKey) -> dict[str, Any]:
    """The `signature` field for this manifest."""
    return {"scheme": key.scheme, "mac": base64.b64encode(key.mac(_message(manifest))).decode()}


def check(manifest: dict[str, Any], key: SignKey | None, where: str) -> None:
    """Raise IntegrityError unless the manifest carries a signature `key` made for exactly these contents.

    No key (no --sign-key) checks nothing: an unsigned backup is as trustworthy as its bucket.
    """
    if key is None:
        return
    signature = manifest.get(FIELD)
    if not isinstance(signature, dict) or "mac" not in signature:
        raise IntegrityError(
            f"{where}: the manifest is not signed, and --sign-key requires a signed one",
            hint="restore a backup exported with --sign-key, or drop --sign-key if this one is trusted",
        )
    try:
        got = base64.b64decode(signature["mac"], validate=True)
    except ValueError:
        got = b""
    if signature.get("scheme") != key.scheme or not key.valid(_message(manifest), got):
        raise IntegrityError(
            f"{where}: the manifest's signature does not match --sign-key: it was altered after the export, or "
            "signed with another key",
            hint="nothing was written; restore another backup (`drkit list`) or check which key signed it",
        )
